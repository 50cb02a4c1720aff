/** Assertion helpers for the network tests. */
import assert from 'node:assert/strict';
import { ValidationError } from '../../common/index.js';

/** `fn` throws a ValidationError whose location names `field` (and whose reason matches `reason`). */
export function throwsField(fn: () => unknown, field: string, reason?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ValidationError, `expected ValidationError, got ${String(e)}`);
    assert.equal(e.location.field, field);
    if (reason) assert.match(e.reason, reason);
    return true;
  });
}

/** GcWatch tells full (mark-compact) collections from scavenges, so a run's p99 can be traced to one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { GcWatch } from '../../bench/tail.js';

test('GcWatch counts a full collection as major and a scavenge as not, and marks the operations they overlapped', async () => {
  setFlagsFromString('--expose-gc');
  // With no options gc() is a full collection; { type: 'minor' } a scavenge.
  const gc = runInNewContext('gc') as (options?: { type: 'minor' }) => void;
  const watch = new GcWatch();
  watch.start();
  const t0 = performance.now();
  gc({ type: 'minor' });
  gc();
  const t1 = performance.now();
  await watch.stop();
  // One span covering both collections, one long after them.
  const later = performance.now() + 1000;
  const fields = watch.fields([
    [t0, t1],
    [later, later + 1],
  ]);
  assert.equal(fields.gc_major_pauses, 1);
  assert.ok(fields.gc_pauses >= 2, `gc_pauses ${fields.gc_pauses}`);
  assert.ok(fields.gc_major_max_ms > 0 && fields.gc_major_max_ms <= fields.gc_pause_max_ms);
  assert.equal(fields.ops_during_gc, 1);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capReasons } from '../../scheduler/pending-reasons.js';

test('reasons of up to N hosts are kept verbatim', () => {
  const r = [{ host: 'a', reason: 'offline' }, { host: 'b', reason: 'x' }, { host: 'b', reason: 'y' }];
  assert.deepEqual(capReasons(r, 2), r);
});

test('beyond N hosts, the rest fold into counts per reason, most frequent first', () => {
  const r = [
    { host: 'a', reason: 'offline' },
    { host: 'b', reason: 'full' },
    { host: 'c', reason: 'full' },
    { host: 'd', reason: 'offline' },
    { host: 'd', reason: 'full' },
    { host: 'e', reason: 'full' },
  ];
  assert.deepEqual(capReasons(r, 1), [
    { host: 'a', reason: 'offline' },
    { host: null, reason: '4 more hosts: 4× full; 1× offline' },
  ]);
});

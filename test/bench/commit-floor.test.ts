/** The open loop's commit floor: durable group commit, on a real SQLite file, read back from a connection of its own. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { silentLogger } from '../../common/index.js';
import { openCommitFloor } from '../../bench/commit-floor.js';
import type { VmSpec } from '../../scheduler/index.js';

const spec = (name: string): VmSpec => ({ name, pci: [] }) as unknown as VmSpec;

test('submissions in flight together share a commit, and each is stored when its answer comes', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'floor-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const floor = await openCommitFloor({ dataDir: dir, logger: silentLogger() });
  const reader = new Database(path.join(dir, 'pcisched.db'), { readonly: true });
  try {
    const stored = (id: number) => reader.prepare('SELECT "name" FROM "BenchFloorVm" WHERE "id" = ?').get(id) as { name: string } | undefined;
    const first = await floor.submit(spec('vm-a'));
    assert.deepEqual(first, { id: 1, state: 'allocated' });
    // Answered means committed: another connection sees the row.
    assert.deepEqual(stored(1), { name: 'vm-a' });
    assert.deepEqual(floor.stats(), { batches: 1, submits: 1, releases: 0 });

    // Ten sent in one turn join one batch, with the release sent beside them.
    const answers = await Promise.all([...Array.from({ length: 10 }, (_, i) => floor.submit(spec(`vm-${i}`))), floor.release(1)]);
    assert.deepEqual(
      answers.slice(0, 10).map((vm) => (vm as { id: number }).id),
      Array.from({ length: 10 }, (_, i) => i + 2),
    );
    assert.deepEqual(floor.stats(), { batches: 2, submits: 11, releases: 1 });
    assert.equal(stored(1), undefined);
    assert.deepEqual(stored(11), { name: 'vm-9' });
    assert.equal(await floor.storedRows(), 10);
  } finally {
    reader.close();
    await floor.close();
  }
});

test('more than a batch holds waits for the next one', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'floor-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const floor = await openCommitFloor({ dataDir: dir, logger: silentLogger() });
  try {
    await Promise.all(Array.from({ length: 100 }, (_, i) => floor.submit(spec(`vm-${i}`))));
    // 64 a batch, as the scheduler's group commit.
    assert.deepEqual(floor.stats(), { batches: 2, submits: 100, releases: 0 });
    assert.equal(await floor.storedRows(), 100);
  } finally {
    await floor.close();
  }
});

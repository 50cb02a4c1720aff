/**
 * Group commit against a real SQLite file: many submissions and releases in
 * flight at once become few transactions, every answer is what the database
 * holds, and a batch the database refuses (another writer moved a host on)
 * falls back to one-at-a-time placement without double-booking anything.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { silentLogger, systemClock, type DeviceReport } from '../../common/index.js';
import { Scheduler, openSqliteDatabase, parseJsonSpec, type BatchEvent, type OpenedDatabase } from '../../scheduler/index.js';
import { baseReport } from '../helpers/device-report.js';

const FACTS = { kernelCmdline: 'intel_iommu=on iommu=pt', cpuVendor: 'GenuineIntel', iommuEnabled: true, loadedModules: ['vfio_pci'], iommuGroupCount: 8 };

/** `n` GPUs, each alone in its IOMMU group. */
function gpus(n: number): DeviceReport[] {
  return Array.from({ length: n }, (_, i) => ({ ...baseReport(`0000:0${i + 1}:00.0`), vendor: '10de', device: '1b80', class: '0300', iommuGroup: 10 + i }));
}

/** Batches as the scheduler's observer heard of them, without their timings. */
type Seen = Array<Omit<BatchEvent, 'decideMs' | 'commitMs'>>;

async function withScheduler(fn: (s: Scheduler, db: OpenedDatabase, batches: Seen) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pcisched-gc-'));
  const db = await openSqliteDatabase({ dataDir: dir, logger: silentLogger() });
  const batches: Seen = [];
  const observer = {
    batch({ decideMs, commitMs, ...rest }: BatchEvent) {
      assert.ok(decideMs >= 0 && commitMs >= 0);
      batches.push(rest);
    },
    replicaSync() {},
  };
  const s = await Scheduler.open({ db: db.db, clock: systemClock, logger: silentLogger(), observer });
  try {
    await fn(s, db, batches);
  } finally {
    await s.stop();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const gpuVm = (name?: string) => parseJsonSpec({ ...(name ? { name } : {}), pci: [{ vendor: '10de' }] });

test('a burst of submissions: each answer matches the database, no device twice, the rest pending with a reason', async () => {
  await withScheduler(async (s, db) => {
    for (const name of ['h1', 'h2']) await s.probeSnapshot({ name, session: 's', generation: 1, intervalMs: 3_600_000, facts: FACTS, devices: gpus(3) });
    const vms = await Promise.all(Array.from({ length: 10 }, (_, i) => s.submit(gpuVm(i % 2 === 0 ? undefined : `named-${i}`))));
    const placed = vms.filter((v) => v.state === 'allocated');
    assert.equal(placed.length, 6);
    assert.equal(vms.filter((v) => v.state === 'pending').length, 4);
    for (const v of vms.filter((x) => x.state === 'pending')) {
      const reason = v.pendingReasons[0]!.reason;
      assert.match(reason, /is held by VM \d+|no free device matches PCI\[0\]/);
      // A VM named in a reason is a real, placed one (ids are handed out before deciding).
      const holder = /held by VM (\d+)/.exec(reason);
      if (holder) assert.ok(placed.some((p) => p.id === Number(holder[1])), reason);
    }
    const seen = new Set(placed.map((v) => `${v.host} ${v.devices[0]!.address}`));
    assert.equal(seen.size, 6, 'a device went to two VMs');
    assert.deepEqual(new Set(vms.map((v) => v.id)).size, 10);
    // Unnamed VMs are named after their id, as a single submission would be.
    for (const v of vms) assert.equal(v.name, v.spec.name || `vm-${v.id}`);
    for (const v of vms) {
      const stored = await s.getVm(v.id);
      assert.equal(stored.state, v.state);
      assert.equal(stored.name, v.name);
      assert.deepEqual(stored.devices, v.devices);
    }
    const raw = new Database(db.file, { readonly: true });
    try {
      assert.equal(raw.prepare('SELECT count(*) FROM "Allocation"').pluck().get(), 6);
      assert.equal(raw.prepare('SELECT count(DISTINCT "deviceId") FROM "Allocation"').pluck().get(), 6);
    } finally {
      raw.close();
    }
  });
});

test('releases in flight with submissions free devices the same batch can hand out again', async () => {
  await withScheduler(async (s) => {
    await s.probeSnapshot({ name: 'h1', session: 's', generation: 1, intervalMs: 3_600_000, facts: FACTS, devices: gpus(2) });
    const [a, b] = await Promise.all([s.submit(gpuVm('a')), s.submit(gpuVm('b'))]);
    assert.equal(a!.state, 'allocated');
    assert.equal(b!.state, 'allocated');
    const [released, c, again] = await Promise.all([s.release(a!.id), s.submit(gpuVm('c')), s.release(a!.id)]);
    assert.equal(released!.state, 'released');
    assert.equal(again!.state, 'released', 'releasing twice is harmless');
    assert.equal(c!.state, 'allocated');
    assert.deepEqual(c!.devices.map((d) => d.address), a!.devices.map((d) => d.address));
    await assert.rejects(s.release(9999), /VM 9999 not found|not found/i);
  });
});

test('another writer moves a host on: the batch is refused, then each VM is placed alone and nothing is booked twice', async () => {
  await withScheduler(async (s, db, batches) => {
    await s.probeSnapshot({ name: 'h1', session: 's', generation: 1, intervalMs: 3_600_000, facts: FACTS, devices: gpus(3) });
    // A second scheduler (a replica) took GPU 1 and bumped the host's version behind our back.
    const raw = new Database(db.file);
    try {
      const host = raw.prepare('SELECT "id" FROM "Host" WHERE "name" = ?').get('h1') as { id: number };
      const dev = raw.prepare('SELECT "id" FROM "Device" WHERE "hostId" = ? AND "address" = ?').get(host.id, '0000:01:00.0') as { id: number };
      const now = Date.now();
      const vm = raw.prepare(`INSERT INTO "Vm" ("name", "state", "hostId", "template", "createdAt", "updatedAt") VALUES ('other', 'allocated', ?, '{}', ?, ?)`).run(host.id, now, now);
      raw.prepare('INSERT INTO "Allocation" ("deviceId", "vmId", "companion") VALUES (?, ?, 0)').run(dev.id, vm.lastInsertRowid);
      raw.prepare('UPDATE "Host" SET "allocVersion" = "allocVersion" + 1 WHERE "id" = ?').run(host.id);
    } finally {
      raw.close();
    }
    const vms = await Promise.all([s.submit(gpuVm('x')), s.submit(gpuVm('y')), s.submit(gpuVm('z'))]);
    const placed = vms.filter((v) => v.state === 'allocated');
    assert.equal(placed.length, 2, 'two GPUs were left');
    assert.ok(placed.every((v) => v.devices[0]!.address !== '0000:01:00.0'), 'the GPU the other writer took was booked again');
    assert.equal(vms.find((v) => v.state === 'pending')?.pendingReasons.length ? 1 : 0, 1);
    // Ids stay unique across the refused batch and the fallback.
    assert.equal(new Set(vms.map((v) => v.id)).size, 3);
    assert.equal(s.getHost('h1').devicesUsed, 3);
    // The observer heard of the refusal; the VMs then went one by one, outside batches.
    assert.deepEqual(batches, [{ submits: 3, releases: 0, placed: 0, pending: 0, outcome: 'refused' }]);
  });
});

test('a database that fails a batch: its callers get the error at once, memory follows the database again, later batches work', async () => {
  await withScheduler(async (s, db, batches) => {
    await s.probeSnapshot({ name: 'h1', session: 's', generation: 1, intervalMs: 3_600_000, facts: FACTS, devices: gpus(3) });
    const kept = await s.submit(gpuVm('kept'));
    // A failure that is not a constraint: the insert's trigger writes to a table that does not exist.
    const raw = new Database(db.file);
    raw.exec(`CREATE TRIGGER "broken" BEFORE INSERT ON "Vm" BEGIN INSERT INTO "nowhere" VALUES (1); END`);
    try {
      const results = await Promise.allSettled([s.submit(gpuVm('a')), s.submit(gpuVm('b')), s.release(kept.id)]);
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.match(String((r as PromiseRejectedResult).reason), /no such table: (main\.)?nowhere/);
      }
    } finally {
      raw.exec('DROP TRIGGER "broken"');
      raw.close();
    }
    // Nothing of the failed batch stayed in memory (reloaded on the queue, before any other decision):
    // the kept VM still holds its GPU, the others are free.
    await s.settled();
    const held = s.getHost('h1').devices.filter((d) => d.vm !== null);
    assert.deepEqual(held.map((d) => d.vm), [kept.id]);
    assert.equal((await s.getVm(kept.id)).state, 'allocated');
    const after = await Promise.all([s.submit(gpuVm('c')), s.submit(gpuVm('d')), s.submit(gpuVm('e'))]);
    assert.deepEqual(after.map((v) => v.state), ['allocated', 'allocated', 'pending']);
    assert.deepEqual(batches, [
      { submits: 1, releases: 0, placed: 1, pending: 0, outcome: 'committed' },
      { submits: 2, releases: 1, placed: 0, pending: 0, outcome: 'failed' },
      { submits: 3, releases: 0, placed: 2, pending: 1, outcome: 'committed' },
    ]);
  });
});

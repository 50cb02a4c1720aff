/**
 * The liveness sweep on a cluster larger than one slice: it lets the event
 * loop run between slices, and still marks offline exactly the hosts whose
 * heartbeats stopped, in memory and in the database.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../common/index.js';
import { Scheduler, openSqliteDatabase } from '../../scheduler/index.js';
import { baseReport } from '../helpers/device-report.js';
import { HandClock } from '../helpers/hand-clock.js';

const FACTS = { kernelCmdline: 'intel_iommu=on iommu=pt', cpuVendor: 'GenuineIntel', iommuEnabled: true, loadedModules: ['vfio_pci'], iommuGroupCount: 1 };
const HOSTS = 1100; // more than one slice of the sweep (1,024)

test('the liveness sweep yields to the event loop between slices and marks offline exactly the hosts that went quiet', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pcisched-sweep-'));
  const opened = await openSqliteDatabase({ dataDir: dir, logger: silentLogger() });
  const clock = new HandClock('2026-11-23T19:00:00Z');
  const s = await Scheduler.open({ db: opened.db, clock, logger: silentLogger() });
  try {
    const name = (i: number) => `h${String(i).padStart(4, '0')}`;
    for (let i = 0; i < HOSTS; i++) {
      await s.probeSnapshot({ name: name(i), session: 's', generation: 1, intervalMs: 1000, facts: FACTS, devices: [{ ...baseReport('0000:01:00.0'), iommuGroup: 1 }] });
    }
    // Nothing is due: the walk alone still leaves the loop free between slices.
    let ran = false;
    setImmediate(() => (ran = true));
    await s.sweepLiveness();
    assert.equal(ran, true, 'the sweep held the event loop for the whole walk');
    assert.equal(s.listHosts().filter((h) => h.state === 'online').length, HOSTS);

    // Even hosts keep sending heartbeats; odd ones go quiet for four intervals.
    clock.advance(2000);
    for (let i = 0; i < HOSTS; i += 2) assert.equal(await s.probeHeartbeat(name(i), 1, 's'), true);
    clock.advance(2000);
    await s.sweepLiveness();
    const offline = s.listHosts().filter((h) => h.state === 'offline').map((h) => h.name);
    assert.deepEqual(offline, Array.from({ length: HOSTS / 2 }, (_, k) => name(2 * k + 1)));
    const stored = await opened.db.host.groupBy({ by: ['state'], _count: true, orderBy: { state: 'asc' } });
    assert.deepEqual(stored.map((r) => [r.state, r._count]), [['offline', HOSTS / 2], ['online', HOSTS / 2]]);
  } finally {
    await s.stop();
    await opened.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

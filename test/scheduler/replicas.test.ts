/**
 * Scheduler replicas on one PostgreSQL database, beyond never booking a device
 * twice (postgres.test.ts):
 * - liveness: a host is online through the replica its probe streams to, every
 *   replica shows it so, a replica that starts or stops leaves the others'
 *   hosts alone, and the hosts of a replica whose lease lapsed go offline (and
 *   come back when that replica turns out to be alive);
 * - pending VMs: a VM submitted to one replica is placed by the replica that
 *   holds a host it fits on, and `vm show` gives each host's verdict from the
 *   replica that holds it.
 * Each replica has its own clock, moved by hand.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { silentLogger, type DeviceReport } from '../../common/index.js';
import { HostHeldError, Scheduler, openPostgresDatabase, parseJsonSpec, type OpenedDatabase, type SyncEvent } from '../../scheduler/index.js';
import { baseReport } from '../helpers/device-report.js';
import { HandClock } from '../helpers/hand-clock.js';
import { freshDatabase, pgUnavailable } from '../helpers/postgres.js';

const skip = pgUnavailable();
const FACTS = { kernelCmdline: 'intel_iommu=on iommu=pt', cpuVendor: 'GenuineIntel', iommuEnabled: true, loadedModules: ['vfio_pci'], iommuGroupCount: 8 };
const GPU: DeviceReport = { ...baseReport('0000:01:00.0'), vendor: '10de', device: '1b80', class: '0300', iommuGroup: 10 };
const LEASE_MS = 10_000;

interface Replica {
  scheduler: Scheduler;
  clock: HandClock;
  /** Its sync passes, as its observer saw them. */
  syncs: SyncEvent[];
}

/** Replicas on one fresh database (at `url`); `open(id)` starts one (each with its own connection and clock). */
async function withCluster(fn: (open: (id: string) => Promise<Replica>, rows: () => Promise<Record<string, [string, string | null]>>, url: string) => Promise<void>): Promise<void> {
  const fresh = await freshDatabase();
  const dbs: OpenedDatabase[] = [];
  const running: Scheduler[] = [];
  const open = async (id: string): Promise<Replica> => {
    const opened = await openPostgresDatabase({ url: fresh.url, logger: silentLogger() });
    dbs.push(opened);
    const clock = new HandClock();
    const syncs: SyncEvent[] = [];
    const observer = { batch() {}, replicaSync: (e: SyncEvent) => void syncs.push(e) };
    const scheduler = await Scheduler.open({ db: opened.db, clock, logger: silentLogger(), replicaId: id, replicaLeaseMs: LEASE_MS, observer });
    running.push(scheduler);
    return { scheduler, clock, syncs };
  };
  /** Host name → [state, replicaId] as the database holds them. */
  const rows = async () => {
    const client = new pg.Client({ connectionString: fresh.url });
    await client.connect();
    try {
      const { rows: found } = await client.query<{ name: string; state: string; replicaId: string | null }>('SELECT "name", "state", "replicaId" FROM "Host" ORDER BY "name"');
      return Object.fromEntries(found.map((r) => [r.name, [r.state, r.replicaId] as [string, string | null]]));
    } finally {
      await client.end();
    }
  };
  try {
    await fn(open, rows, fresh.url);
  } finally {
    await Promise.all(running.map((s) => s.stop().catch(() => undefined)));
    await Promise.all(dbs.map((d) => d.close()));
    await fresh.drop();
  }
}

const snapshot = (name: string) => ({ name, session: 's', generation: 1, intervalMs: 1000, facts: FACTS, devices: [GPU] });
const view = (s: Scheduler, host: string) => [s.getHost(host).state, s.getHost(host).replica];

test('a replica that starts leaves online the hosts whose probes stream to a live replica, and shows them online through it', { skip }, async () => {
  await withCluster(async (open, rows) => {
    const a = await open('a');
    await a.scheduler.probeSnapshot(snapshot('h1'));
    assert.deepEqual(await rows(), { h1: ['online', 'a'] });

    const b = await open('b');
    assert.deepEqual(await rows(), { h1: ['online', 'a'] }, 'a starting replica marked a live replica’s host offline');
    assert.deepEqual(view(b.scheduler, 'h1'), ['online', 'a']);
    assert.deepEqual(view(a.scheduler, 'h1'), ['online', 'a']);
    // B shows it online but cannot ask its probe to prepare: it places nothing there.
    const pending = await b.scheduler.submit(parseJsonSpec({ name: 'v', pci: [{ vendor: '10de' }] }));
    assert.equal(pending.state, 'pending');
    assert.deepEqual(pending.pendingReasons, [{ host: 'h1', reason: 'probe streams to scheduler replica a; this replica cannot prepare it' }]);
    assert.equal((await a.scheduler.submit(parseJsonSpec({ name: 'w', pci: [{ vendor: '10de' }] }))).state, 'allocated');
  });
});

test('hosts of a replica whose lease lapsed go offline everywhere, and that replica claims back the hosts it still hears from', { skip }, async () => {
  await withCluster(async (open, rows) => {
    const a = await open('a');
    const b = await open('b');
    await a.scheduler.probeSnapshot(snapshot('h1'));
    await b.scheduler.syncFromDatabase();
    assert.deepEqual(view(b.scheduler, 'h1'), ['online', 'a']);

    // Within the lease nothing moves; A stalls (renews nothing) past it.
    b.clock.advance(LEASE_MS - 1000);
    await b.scheduler.syncFromDatabase();
    assert.deepEqual(await rows(), { h1: ['online', 'a'] });
    b.clock.advance(2000);
    await b.scheduler.syncFromDatabase();
    assert.deepEqual(await rows(), { h1: ['offline', null] });
    assert.deepEqual(view(b.scheduler, 'h1'), ['offline', null]);

    // A was alive after all, and its probe still streams to it: its next pass takes the host back.
    a.clock.advance(LEASE_MS + 1000);
    assert.equal(await a.scheduler.probeHeartbeat('h1', 1, 's'), true);
    await a.scheduler.syncFromDatabase();
    assert.deepEqual(await rows(), { h1: ['online', 'a'] });
    await b.scheduler.syncFromDatabase();
    assert.deepEqual(view(b.scheduler, 'h1'), ['online', 'a']);
  });
});

test('a probe that moved to another replica stays online there when the first one times it out', { skip }, async () => {
  await withCluster(async (open, rows) => {
    const a = await open('a');
    const b = await open('b');
    await a.scheduler.probeSnapshot(snapshot('h1'));
    // The probe reconnects to B (A's stream broke) and sends its snapshot there.
    await b.scheduler.probeSnapshot(snapshot('h1'));
    assert.deepEqual(await rows(), { h1: ['online', 'b'] });
    // A misses the heartbeats of a stream it no longer has.
    a.clock.advance(10_000);
    await a.scheduler.sweepLiveness();
    assert.deepEqual(await rows(), { h1: ['online', 'b'] }, 'A’s timeout overwrote B’s hold');
    await a.scheduler.syncFromDatabase();
    assert.deepEqual(view(a.scheduler, 'h1'), ['online', 'b']);
    // B times it out too: offline for all.
    b.clock.advance(10_000);
    await b.scheduler.sweepLiveness();
    assert.deepEqual(await rows(), { h1: ['offline', null] });
    await a.scheduler.syncFromDatabase();
    assert.deepEqual(view(a.scheduler, 'h1'), ['offline', null]);
  });
});

test('a second probe under a host name that another replica holds is refused there, until that replica lets the host go or its lease lapses', { skip }, async () => {
  await withCluster(async (open, rows) => {
    const a = await open('a');
    const b = await open('b');
    await a.scheduler.syncFromDatabase(); // A's lease
    await a.scheduler.probeSnapshot(snapshot('h1')); // probe session 's'
    const heldByA = (err: unknown) => err instanceof HostHeldError && err.host === 'h1' && err.replicaId === 'a' && err.session === 's';
    // A cloned hypervisor (session 't', no devices) reaches B: its snapshot is refused and stores nothing.
    const clone = { ...snapshot('h1'), session: 't', devices: [] };
    await assert.rejects(b.scheduler.probeSnapshot(clone), heldByA);
    assert.deepEqual(await rows(), { h1: ['online', 'a'] });
    await b.scheduler.syncFromDatabase();
    assert.deepEqual(view(b.scheduler, 'h1'), ['online', 'a']);
    assert.equal(b.scheduler.getHost('h1').devices.length, 1, 'the clone did not replace the devices');
    // Now that B knows the host, the clone's hello and heartbeats are refused too.
    await assert.rejects(b.scheduler.probeHello('h1', 't', 1000), heldByA);
    await assert.rejects(b.scheduler.probeHeartbeat('h1', 1, 't'), heldByA);
    assert.deepEqual(await rows(), { h1: ['online', 'a'] });
    assert.deepEqual(view(b.scheduler, 'h1'), ['online', 'a']);
    // The first probe keeps its host through A.
    assert.equal(await a.scheduler.probeHeartbeat('h1', 1, 's'), true);

    // A's lease lapses (A stalled): B may give the host to the probe that reached it.
    b.clock.advance(LEASE_MS + 1000);
    await b.scheduler.probeSnapshot(clone);
    assert.deepEqual(await rows(), { h1: ['online', 'b'] });
    await b.scheduler.syncFromDatabase(); // B's lease
    // A comes back and renews. Its probe still streams to it, but B holds the
    // host for another probe: A lets it go, and its probe's next news is refused.
    a.clock.advance(LEASE_MS + 1000);
    await a.scheduler.syncFromDatabase();
    assert.deepEqual(view(a.scheduler, 'h1'), ['online', 'b']);
    await assert.rejects(a.scheduler.probeHeartbeat('h1', 1, 's'), (err: unknown) => err instanceof HostHeldError && err.replicaId === 'b' && err.session === 't');
    await assert.rejects(a.scheduler.probeHello('h1', 's', 1000), (err: unknown) => err instanceof HostHeldError && err.replicaId === 'b' && err.session === 't');
    assert.deepEqual(await rows(), { h1: ['online', 'b'] });

    // Once B lets the host go (heartbeats missed), the first probe may take it back.
    b.clock.advance(10_000);
    await b.scheduler.sweepLiveness();
    assert.deepEqual(await rows(), { h1: ['offline', null] });
    await a.scheduler.probeSnapshot(snapshot('h1'));
    assert.deepEqual(await rows(), { h1: ['online', 'a'] });
  });
});

test('a probe whose stream ended at one replica may come back through another at once with a new session; back at the same replica, it holds the host again', { skip }, async () => {
  await withCluster(async (open, rows) => {
    const a = await open('a');
    const b = await open('b');
    await a.scheduler.syncFromDatabase();
    await b.scheduler.syncFromDatabase();
    await a.scheduler.probeSnapshot(snapshot('h1')); // probe session 's'
    const restarted = { ...snapshot('h1'), session: 't' };
    const heldByA = (err: unknown) => err instanceof HostHeldError && err.replicaId === 'a' && err.session === 's';
    // While the stream of 's' is open at A, a new session is refused at B.
    await assert.rejects(b.scheduler.probeSnapshot(restarted), heldByA);
    await a.scheduler.probeGone('h1', 'x'); // not the session A holds it for: nothing changes
    await assert.rejects(b.scheduler.probeSnapshot(restarted), heldByA);

    // The same probe's stream ends and it comes back to A: A holds the host again, and B still refuses others.
    await a.scheduler.probeGone('h1', 's');
    assert.deepEqual(await rows(), { h1: ['online', 'a'] }, 'online until the sweep');
    assert.deepEqual(view(a.scheduler, 'h1'), ['online', 'a']);
    assert.equal(await a.scheduler.probeHeartbeat('h1', 1, 's'), true);
    await assert.rejects(b.scheduler.probeSnapshot(restarted), heldByA);

    // Its stream ends again, and the probe restarts (session 't') through B: B takes the host at once.
    await a.scheduler.probeGone('h1', 's');
    await b.scheduler.probeSnapshot(restarted);
    assert.deepEqual(await rows(), { h1: ['online', 'b'] });
    // A's next pass sees that and lets the host go; the old session's news is refused there now.
    await a.scheduler.syncFromDatabase();
    assert.deepEqual(view(a.scheduler, 'h1'), ['online', 'b']);
    await assert.rejects(a.scheduler.probeHeartbeat('h1', 1, 's'), (err: unknown) => err instanceof HostHeldError && err.replicaId === 'b' && err.session === 't');
    assert.equal(await b.scheduler.probeHeartbeat('h1', 1, 't'), true);
  });
});

test('a replica that stops gives its hosts up at once; one that restarts finds them offline', { skip }, async () => {
  await withCluster(async (open, rows) => {
    const a = await open('a');
    const b = await open('b');
    await a.scheduler.probeSnapshot(snapshot('h1'));
    await b.scheduler.probeSnapshot(snapshot('h2'));
    await a.scheduler.stop();
    assert.deepEqual(await rows(), { h1: ['offline', null], h2: ['online', 'b'] });
    await b.scheduler.syncFromDatabase();
    assert.deepEqual([view(b.scheduler, 'h1'), view(b.scheduler, 'h2')], [['offline', null], ['online', 'b']]);
  });
});

test("a VM pending on one replica is placed by the replica whose probe holds a host it fits on; each host's reason comes from the replica that holds it", { skip }, async () => {
  await withCluster(async (open) => {
    const a = await open('a');
    const b = await open('b');
    await a.scheduler.probeSnapshot(snapshot('h1'));
    // h2, held by B, has a NIC but no GPU.
    await b.scheduler.probeSnapshot({ ...snapshot('h2'), devices: [{ ...GPU, vendor: '8086', device: '1572', class: '0200' }] });
    await b.scheduler.syncFromDatabase();
    const gpuVm = (name: string) => parseJsonSpec({ name, pci: [{ vendor: '10de' }] });

    const v1 = await b.scheduler.submit(gpuVm('v1'));
    assert.equal(v1.state, 'pending');
    assert.deepEqual(v1.pendingReasons.map((r) => r.host).sort(), ['h1', 'h2']);
    assert.ok(v1.pendingReasons.some((r) => r.host === 'h1' && r.reason === 'probe streams to scheduler replica a; this replica cannot prepare it'));

    // A takes it up and places it on h1, the host whose probe it holds.
    await a.scheduler.syncFromDatabase();
    await a.scheduler.settled();
    const placed = await b.scheduler.getVm(v1.id);
    assert.deepEqual([placed.state, placed.host], ['allocated', 'h1']);

    // v2 fits nowhere. Each replica tries it; each host's reason is its holder's verdict, not "streams elsewhere".
    const v2 = await b.scheduler.submit(gpuVm('v2'));
    assert.equal(v2.state, 'pending');
    await a.scheduler.syncFromDatabase();
    await a.scheduler.settled();
    await b.scheduler.syncFromDatabase();
    await b.scheduler.settled();
    const stored = await a.scheduler.getVm(v2.id);
    assert.equal(stored.state, 'pending');
    // h1's verdict is A's (its GPU's group is held by v1), h2's is B's: neither replica alone could give both.
    assert.deepEqual(stored.pendingReasons, [
      { host: 'h1', reason: `IOMMU group 10 is held by VM ${v1.id}` },
      { host: 'h2', reason: 'no free device matches PCI[0] (10de::)' },
    ]);
  });
});

test('a pass reads only the hosts written since the last one, and still sees a write that commits after it from an older transaction', { skip }, async () => {
  await withCluster(async (open, _rows, url) => {
    const a = await open('a');
    const b = await open('b');
    for (let i = 0; i < 20; i++) await b.scheduler.probeSnapshot(snapshot(`n${i}`));
    await b.scheduler.probeSnapshot(snapshot('h1'));
    assert.equal((await a.scheduler.syncFromDatabase()).length, 21);
    assert.deepEqual(a.syncs.map((e) => [e.hostsRead, e.hostsReloaded]), [[21, 21]], 'the first pass reads every host');
    // With nothing written, a pass reads no host row. (It rereads rows written
    // while any transaction it saw running was, and other tests may share the
    // server: so once those have finished.)
    for (let i = 0; i < 50 && a.syncs.at(-1)!.hostsRead > 0; i++) {
      assert.deepEqual(await a.scheduler.syncFromDatabase(), []);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(a.syncs.at(-1)!.hostsRead, 0);

    // Another writer (a replica registering a host, say) takes its transaction id first and commits last.
    const side = new pg.Client({ connectionString: url });
    await side.connect();
    try {
      await side.query('BEGIN');
      await side.query(`INSERT INTO "Host" ("name", "registeredAt") VALUES ('late', now())`);
      await b.scheduler.probeSnapshot(snapshot('early'));
      // A sees the newer transaction's host, not the uncommitted one's.
      assert.deepEqual(await a.scheduler.syncFromDatabase(), ['early']);
      assert.throws(() => a.scheduler.getHost('late'), /late/);
      await side.query('COMMIT');
    } finally {
      await side.end();
    }
    // A watermark at the newest write seen ('early') would miss this one for good.
    assert.deepEqual(await a.scheduler.syncFromDatabase(), ['late']);
    assert.equal(a.scheduler.getHost('late').name, 'late');
    // A placement through B moves its host on: A reloads that host alone, and sees the device taken.
    const vm = await b.scheduler.submit(parseJsonSpec({ name: 'v', pci: [{ vendor: '10de' }] }));
    assert.equal(vm.state, 'allocated');
    assert.deepEqual(await a.scheduler.syncFromDatabase(), [vm.host]);
    assert.deepEqual(a.scheduler.getHost(vm.host!).devices.map((d) => d.vm), [vm.id]);
    assert.deepEqual(await a.scheduler.syncFromDatabase(), []);
  });
});

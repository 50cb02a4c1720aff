/**
 * The scheduler on a real PostgreSQL server (PCISCHED_TEST_PG_URL; .ci/run
 * starts one): migrations applied once and recorded as Prisma does, the hot
 * SQL on the generic adapter path, group commit, and two scheduler replicas
 * on one database that never book a device twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { ConfigError, UnavailableError, createLogger, silentLogger, systemClock, type DeviceReport } from '../../common/index.js';
import { Scheduler, openPostgresDatabase, parseJsonSpec, type OpenedDatabase, type VmRecord } from '../../scheduler/index.js';
import { POSTGRES_MIGRATIONS_DIR, directSql, readMigrations, requirePostgresVersion } from '../../scheduler/db/index.js';
import { baseReport } from '../helpers/device-report.js';
import { exercise } from '../helpers/direct-sql-checks.js';
import { freshDatabase, pgUnavailable } from '../helpers/postgres.js';

const skip = pgUnavailable();
const FACTS = { kernelCmdline: 'intel_iommu=on iommu=pt', cpuVendor: 'GenuineIntel', iommuEnabled: true, loadedModules: ['vfio_pci'], iommuGroupCount: 8 };

/** `n` GPUs, each alone in its IOMMU group. */
function gpus(n: number): DeviceReport[] {
  return Array.from({ length: n }, (_, i) => ({ ...baseReport(`0000:0${i + 1}:00.0`), vendor: '10de', device: '1b80', class: '0300', iommuGroup: 10 + i }));
}

const gpuVm = (name: string) => parseJsonSpec({ name, pci: [{ vendor: '10de' }] });

/** A fresh database, `replicas` opened connections to it, dropped afterwards. */
async function withDatabase(replicas: number, fn: (dbs: OpenedDatabase[], url: string) => Promise<void>): Promise<void> {
  const fresh = await freshDatabase();
  const opened: OpenedDatabase[] = [];
  try {
    // Opened at once: the replicas race for the migration lock.
    opened.push(...(await Promise.all(Array.from({ length: replicas }, () => openPostgresDatabase({ url: fresh.url, logger: silentLogger() })))));
    await fn(opened, fresh.url);
  } finally {
    await Promise.all(opened.map((o) => o.close()));
    await fresh.drop();
  }
}

/** Log lines (messages) the schedulers wrote, for checking which path a batch took. */
type Messages = string[];

async function withSchedulers(replicas: number, fn: (schedulers: Scheduler[], url: string, logged: Messages) => Promise<void>): Promise<void> {
  const logged: Messages = [];
  const logger = createLogger({ name: 'pg-test', level: 'info', destination: { write: (line: string) => void logged.push(String(JSON.parse(line).msg)) } });
  await withDatabase(replicas, async (dbs, url) => {
    const schedulers = await Promise.all(dbs.map((d, i) => Scheduler.open({ db: d.db, clock: systemClock, logger, replicaId: `replica-${i}` })));
    try {
      await fn(schedulers, url, logged);
    } finally {
      await Promise.all(schedulers.map((s) => s.stop()));
    }
  });
}

/** Live allocations as PostgreSQL holds them: device address per VM. */
async function allocations(url: string): Promise<Array<{ vmId: number; host: string; address: string }>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ vmId: number; host: string; address: string }>(
      'SELECT a."vmId", h."name" AS host, d."address" FROM "Allocation" a JOIN "Device" d ON d."id" = a."deviceId" JOIN "Host" h ON h."id" = d."hostId" ORDER BY a."vmId"',
    );
    return rows;
  } finally {
    await client.end();
  }
}

test('migrations: two replicas starting at once apply each one once, recorded with its checksum', { skip }, async () => {
  await withDatabase(2, async (_dbs, url) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>('SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" ORDER BY migration_name');
      const expected = readMigrations(POSTGRES_MIGRATIONS_DIR);
      assert.ok(expected.length > 0);
      assert.deepEqual(rows.map((r) => [r.migration_name, r.checksum]), expected.map((m) => [m.name, m.checksum]));
      assert.ok(rows.every((r) => r.finished_at !== null));
    } finally {
      await client.end();
    }
  });
});

test('direct SQL on PostgreSQL: all or nothing, RETURNING rows, constraint codes, interactive transactions', { skip }, async () => {
  await withDatabase(1, async ([opened]) => {
    const sql = directSql(opened!.db);
    assert.equal(sql.provider, 'postgres');
    await exercise(sql, opened!.db);
  });
});

test('group commit on PostgreSQL: a burst gets answers the database agrees with, no device twice', { skip }, async () => {
  await withSchedulers(1, async ([s], url) => {
    for (const name of ['h1', 'h2']) await s!.probeSnapshot({ name, session: 's', generation: 1, intervalMs: 3_600_000, facts: FACTS, devices: gpus(3) });
    const vms = await Promise.all(Array.from({ length: 10 }, (_, i) => s!.submit(gpuVm(`v${i}`))));
    const placed = vms.filter((v) => v.state === 'allocated');
    assert.equal(placed.length, 6);
    assert.equal(new Set(vms.map((v) => v.id)).size, 10);
    const held = await allocations(url);
    assert.deepEqual(held.map((a) => [a.vmId, a.host, a.address]), placed.map((v) => [v.id, v.host, v.devices[0]!.address]).sort((a, b) => Number(a[0]) - Number(b[0])));
    // A release frees the device for a pending VM, and the database says so.
    const freed = await s!.release(placed[0]!.id);
    assert.equal(freed.state, 'released');
    await s!.settled();
    const after = await allocations(url);
    assert.equal(after.length, 6);
    assert.ok(!after.some((a) => a.vmId === placed[0]!.id));
    // Snapshot ingest on PostgreSQL: a held device that disappears is kept, flagged missing.
    await s!.probeSnapshot({ name: 'h1', session: 's', generation: 2, intervalMs: 3_600_000, facts: FACTS, devices: gpus(1) });
    const h1 = s!.getHost('h1');
    assert.equal(h1.devices.length, 1 + after.filter((a) => a.host === 'h1' && a.address !== '0000:01:00.0').length);
  });
});

test('two scheduler replicas on one PostgreSQL database never book a device twice', { skip }, async () => {
  await withSchedulers(2, async ([a, b], url, logged) => {
    // Both replicas hear the same hosts (as after a probe moved between them).
    for (const s of [a!, b!]) {
      for (const name of ['h1', 'h2']) await s.probeSnapshot({ name, session: 's', generation: 1, intervalMs: 3_600_000, facts: FACTS, devices: gpus(3) });
    }
    const answers: VmRecord[] = (
      await Promise.all([
        Promise.all(Array.from({ length: 8 }, (_, i) => a!.submit(gpuVm(`a${i}`)))),
        Promise.all(Array.from({ length: 8 }, (_, i) => b!.submit(gpuVm(`b${i}`)))),
      ])
    ).flat();
    await Promise.all([a!.settled(), b!.settled()]);
    // Ids come from the table's sequence: unique across replicas.
    assert.equal(new Set(answers.map((v) => v.id)).size, 16);
    const held = await allocations(url);
    const devices = held.map((h) => `${h.host} ${h.address}`);
    assert.equal(new Set(devices).size, devices.length, `a device booked twice: ${devices.join(', ')}`);
    assert.ok(held.length <= 6);
    // Every placement a replica acknowledged is what the database holds.
    for (const v of answers.filter((x) => x.state === 'allocated')) {
      assert.deepEqual(held.filter((h) => h.vmId === v.id).map((h) => `${h.host} ${h.address}`), [`${v.host} ${v.devices[0]!.address}`], `VM ${v.id}`);
    }
    // The replicas chose the same devices; the database refused the later batch,
    // and that replica reloaded the hosts and placed its VMs one at a time.
    assert.ok(logged.includes('group commit refused; reloading hosts and committing one by one'), logged.join(' | '));
    // So it learned the other's placements: every device is in use.
    assert.equal(held.length, 6);
  });
});

test('replicas stay coherent: a release through another replica reaches the one that placed the VM, whose pending VM then gets the device', { skip }, async () => {
  await withSchedulers(2, async ([a, b], url) => {
    await a!.probeSnapshot({ name: 'h1', session: 's', generation: 1, intervalMs: 3_600_000, facts: FACTS, devices: gpus(3) });
    const [a0, a1, a2, waiting] = await Promise.all(['a0', 'a1', 'a2', 'a3'].map((n) => a!.submit(gpuVm(n))));
    assert.deepEqual([a0, a1, a2, waiting].map((v) => v!.state), ['allocated', 'allocated', 'allocated', 'pending']);

    // B has never seen h1 nor these VMs: the release finds the host through the VM row.
    assert.equal((await b!.release(a0!.id)).state, 'released');
    assert.deepEqual(await a!.syncFromDatabase(), ['h1']);
    await a!.settled();
    const placedNow = await a!.getVm(waiting!.id);
    assert.equal(placedNow.state, 'allocated');
    assert.equal(placedNow.devices[0]!.address, a0!.devices[0]!.address);

    // B learns h1 and its VMs from the database: online through A, whose probe stream it is, so B places nothing on it.
    assert.deepEqual(await b!.syncFromDatabase(), ['h1']);
    assert.deepEqual([b!.getHost('h1').state, b!.getHost('h1').replica], ['online', 'replica-0']);
    assert.deepEqual(b!.getHost('h1').devices.map((d) => d.vm).sort(), [a1!.id, a2!.id, waiting!.id].sort());
    const b0 = await b!.submit(gpuVm('b0'));
    assert.equal(b0.state, 'pending');
    // A release of a VM B now knows frees it in B's memory too, and A hears of it.
    assert.equal((await b!.release(a1!.id)).state, 'released');
    assert.ok(b!.getHost('h1').devices.some((d) => d.address === a1!.devices[0]!.address && d.vm === null));
    assert.deepEqual(await a!.syncFromDatabase(), ['h1']);
    // A also takes up B's pending VM, and places it on the freed device, through its own probe.
    await a!.settled();
    const placedByA = await b!.getVm(b0.id);
    assert.deepEqual([placedByA.state, placedByA.host, placedByA.devices[0]!.address], ['allocated', 'h1', a1!.devices[0]!.address]);
    // Nothing changed since: a pass reloads nothing.
    assert.deepEqual(await a!.syncFromDatabase(), []);
    assert.deepEqual((await allocations(url)).map((x) => x.vmId).sort(), [a2!.id, waiting!.id, b0.id].sort());
    // B drops the VM from its own pending list at its next pass, which also learns the placement.
    assert.equal(b!.stats().pendingVms, 1);
    assert.deepEqual(await b!.syncFromDatabase(), ['h1']);
    assert.equal(b!.stats().pendingVms, 0);
    assert.equal(b!.getHost('h1').devices.find((d) => d.address === a1!.devices[0]!.address)?.vm, b0.id);
  });
});

test('a database URL that is not PostgreSQL, or a server that cannot be reached, is a clear error without the password', async () => {
  await assert.rejects(openPostgresDatabase({ url: 'mysql://root@127.0.0.1/x', logger: silentLogger() }), (err: unknown) => err instanceof ConfigError && /--database-url: expected a postgresql:\/\/ URL/.test(err.message));
  await assert.rejects(openPostgresDatabase({ url: 'postgresql://pcisched:s3cret@127.0.0.1:1/x', logger: silentLogger() }), (err: unknown) => {
    assert.ok(err instanceof UnavailableError);
    assert.match(err.message, /^cannot use PostgreSQL at postgresql:\/\/pcisched:\*\*\*@127\.0\.0\.1:1\/x: .*ECONNREFUSED/);
    assert.doesNotMatch(err.message, /s3cret/);
    return true;
  });
});

test('a server older than PostgreSQL 13 is refused at start with the version it runs, without the password', () => {
  const url = 'postgresql://pcisched:s3cret@db.example:5432/pcisched';
  assert.throws(() => requirePostgresVersion('120017', url), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.message, '--database-url: PostgreSQL 13 or later is needed; postgresql://pcisched:***@db.example:5432/pcisched runs server_version_num 120017');
    return true;
  });
  assert.throws(() => requirePostgresVersion('', url), ConfigError);
  for (const ok of ['130000', '150018', '170002']) requirePostgresVersion(ok, url);
});

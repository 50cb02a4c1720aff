/**
 * Group commit: the writes of many submissions and releases in one
 * transaction, with a fixed number of statements per batch however many VMs
 * it carries.
 *
 * Why raw statements on the driver adapter (db/direct-sql.ts): Prisma 6's
 * client plans every query in Wasm before running it, about 1 ms for a typed
 * query and 0.2 ms for a raw one on this 2-vCPU VM (measured; Prisma 7.4
 * caches plans, 6.19 does not). The adapter runs the same statement in
 * about 0.03 ms, and one multi-row statement carries the whole batch. The
 * statements are decided before the transaction starts: VM ids come from
 * the caller (see `maxVmId`), and the host version check makes a statement
 * itself fail (NOT NULL) when a host moved on, which rolls the batch back.
 * The statements are standard SQL with quoted identifiers, as PostgreSQL
 * reads them too. The guarantees stay in the schema: `Allocation.deviceId`
 * is unique, and so is `Vm.id`.
 */
import { Prisma, DirectSqlError, directSql, sqlDate, isConstraintViolation, type Db, type SqlResult, type SqlRow, type SqlStep } from './db/index.js';
import { PlacementConflictError, toRecord, type VmRecord } from './vm-store.js';

export interface NewVmRow {
  id: number;
  name: string;
  state: 'pending' | 'allocated';
  hostId: number | null;
  template: string;
  devices: string;
  pendingReasons: string;
}

export interface BatchAllocation {
  vmId: number;
  deviceId: number;
  request: number | null;
  companion: boolean;
}

export interface BatchWrite {
  /** Hosts placed on, with the allocVersion the placements were computed against. */
  placedOn: Array<{ id: number; expected: number }>;
  /** Hosts that only lost devices: bumped whatever their version. */
  freedOn: number[];
  /** VMs to free now (no probe to ask first). */
  releases: number[];
  /**
   * Released VMs whose host memory does not know (placed by another scheduler
   * replica): their hosts are bumped too, found through the VM rows, so that
   * replica sees the release.
   */
  releasesElsewhere: number[];
  /** Whether any released VM may hold network leases. */
  releasesLeases: boolean;
  /** Devices the releases free that are no longer reported: deleted with the release. */
  goneDevices: number[];
  vms: NewVmRow[];
  allocations: BatchAllocation[];
}

/** Released VMs as they are now, with the host they left; VMs already released or unknown are absent. */
export type Released = Array<{ vm: VmRecord; hostId: number | null }>;

export async function commitBatch(db: Db, write: BatchWrite, now: Date, hostName: (id: number | null) => string | null): Promise<Released> {
  const steps: SqlStep[] = [];
  let releasedAt = -1;
  // Releases first: a device freed by a release may be taken again by a
  // later submission in the same batch.
  if (write.releases.length > 0) {
    const ids = Prisma.join(write.releases);
    steps.push({ sql: Prisma.sql`DELETE FROM "Allocation" WHERE "vmId" IN (${ids})` });
    if (write.releasesLeases) steps.push({ sql: Prisma.sql`DELETE FROM "Lease" WHERE "vmId" IN (${ids})` });
    if (write.goneDevices.length > 0) {
      steps.push({ sql: Prisma.sql`DELETE FROM "Device" WHERE "missing" = true AND "id" IN (${Prisma.join(write.goneDevices)})` });
    }
  }
  // Before the VM rows change: hosts of VMs released elsewhere are found through them.
  const hostStep = bumpHosts(write);
  if (hostStep) steps.push({ sql: hostStep });
  if (write.releases.length > 0) {
    releasedAt = steps.length;
    steps.push({
      rows: true,
      sql: Prisma.sql`
      UPDATE "Vm" SET "state" = 'released', "pendingReasons" = '[]', "updatedAt" = ${now}
      WHERE "id" IN (${Prisma.join(write.releases)}) AND "state" <> 'released' RETURNING *`,
    });
  }
  if (write.vms.length > 0) {
    const values = write.vms.map((v) => Prisma.sql`(${v.id}, ${v.name}, ${v.state}, ${v.hostId}, ${v.template}, ${v.devices}, ${v.pendingReasons}, ${now}, ${now})`);
    steps.push({
      sql: Prisma.sql`
      INSERT INTO "Vm" ("id", "name", "state", "hostId", "template", "devices", "pendingReasons", "createdAt", "updatedAt")
      VALUES ${Prisma.join(values)}`,
    });
  }
  if (write.allocations.length > 0) {
    const values = write.allocations.map((a) => Prisma.sql`(${a.deviceId}, ${a.vmId}, ${a.request}, ${a.companion})`);
    steps.push({ sql: Prisma.sql`INSERT INTO "Allocation" ("deviceId", "vmId", "request", "companion") VALUES ${Prisma.join(values)}` });
  }
  if (steps.length === 0) return [];
  let results: SqlResult[];
  try {
    results = await directSql(db).transaction(steps);
  } catch (err) {
    if (err instanceof DirectSqlError && isConstraintViolation(err)) {
      throw new PlacementConflictError(`batch refused by the database (${err.code}): ${err.message}`, { cause: err });
    }
    throw err;
  }
  if (releasedAt === -1) return [];
  return (results[releasedAt] as SqlRow[]).map((row) => {
    const vm = vmFromRow(row, hostName);
    return { vm, hostId: row.hostId === null ? null : Number(row.hostId) };
  });
}

/** A `RETURNING *` row of "Vm" as the adapter hands it over (integers may be strings, dates ISO text). */
function vmFromRow(row: SqlRow, hostName: (id: number | null) => string | null): VmRecord {
  const hostId = row.hostId === null ? null : Number(row.hostId);
  return toRecord({
    id: Number(row.id),
    name: String(row.name),
    state: String(row.state),
    hostId,
    template: String(row.template),
    devices: String(row.devices),
    nics: String(row.nics),
    pendingReasons: String(row.pendingReasons),
    lastError: row.lastError === null ? null : String(row.lastError),
    createdAt: sqlDate(row.createdAt),
    updatedAt: sqlDate(row.updatedAt),
    host: nameOf(hostName, hostId),
  });
}

/**
 * One UPDATE for every host the batch touches. A host placed on must still
 * be at the version the placement saw; if not, the CASE yields NULL, the NOT
 * NULL column refuses it and the whole batch rolls back.
 */
function bumpHosts(write: BatchWrite): Prisma.Sql | null {
  const ids = [...write.placedOn.map((h) => h.id), ...write.freedOn];
  if (ids.length === 0 && write.releasesElsewhere.length === 0) return null;
  const current = write.placedOn.map((h) => Prisma.sql`("id" = ${h.id} AND "allocVersion" = ${h.expected})`);
  if (write.freedOn.length > 0) current.push(Prisma.sql`"id" IN (${Prisma.join(write.freedOn)})`);
  const where = ids.length > 0 ? [Prisma.sql`"id" IN (${Prisma.join(ids)})`] : [];
  if (write.releasesElsewhere.length > 0) {
    const elsewhere = Prisma.sql`"id" IN (SELECT "hostId" FROM "Vm" WHERE "id" IN (${Prisma.join(write.releasesElsewhere)}) AND "state" <> 'released' AND "hostId" IS NOT NULL)`;
    // A host placed on keeps its version check, whatever else the batch freed there.
    const placed = write.placedOn.length > 0 ? Prisma.sql` AND "id" NOT IN (${Prisma.join(write.placedOn.map((h) => h.id))})` : Prisma.empty;
    current.push(Prisma.sql`(${elsewhere}${placed})`);
    where.push(elsewhere);
  }
  return Prisma.sql`
    UPDATE "Host" SET "allocVersion" = CASE WHEN ${Prisma.join(current, ' OR ')} THEN "allocVersion" + 1 ELSE NULL END
    WHERE ${Prisma.join(where, ' OR ')}`;
}

/** The highest VM id in use: on SQLite, ids for a batch are handed out above it. VMs are never deleted. */
export async function maxVmId(db: Db): Promise<number> {
  const rows = await db.$queryRaw<Array<{ m: number | bigint | null }>>`SELECT MAX("id") AS "m" FROM "Vm"`;
  return Number(rows[0]?.m ?? 0);
}

/**
 * Ids for `count` new VMs. SQLite has one writer, the scheduler, which counts
 * on from `after` (the highest id it knows). PostgreSQL may have several
 * scheduler replicas: ids come from the table's own sequence, which Prisma's
 * one-at-a-time creates use too.
 */
export async function nextVmIds(db: Db, count: number, after: number): Promise<number[]> {
  if (count === 0) return [];
  const sql = directSql(db);
  if (sql.provider !== 'postgres') return Array.from({ length: count }, (_, i) => after + 1 + i);
  const [rows] = await sql.transaction([{ rows: true, sql: Prisma.sql`SELECT nextval(pg_get_serial_sequence('"Vm"', 'id')) AS "id" FROM generate_series(1, ${count})` }]);
  return (rows as SqlRow[]).map((r) => Number(r.id));
}

function nameOf(hostName: (id: number | null) => string | null, id: number | null): { name: string } | null {
  const name = hostName(id);
  return name === null ? null : { name };
}

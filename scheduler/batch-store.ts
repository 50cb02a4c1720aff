/**
 * Group commit: the writes of many submissions and releases in one
 * transaction, with a fixed number of statements per batch however many VMs
 * it carries.
 *
 * Why raw statements in Prisma's batch transaction: Prisma 6's JS engine
 * compiles every typed query before running it (about 1 ms each on this
 * 2-vCPU VM, measured; Prisma 7.4 caches the plans, 6.19 does not). A
 * parameterised `$executeRaw` in a `$transaction([...])` batch costs about
 * 0.25 ms, half what it costs in an interactive transaction, and one
 * multi-row statement carries the whole batch. A batch transaction cannot
 * branch on results, so everything is decided before: VM ids come from the
 * caller (see `maxVmId`), and the host version check makes the statement
 * itself fail (NOT NULL) when a host moved on, which rolls the batch back.
 * The statements are standard SQL with quoted identifiers, as PostgreSQL
 * reads them too. The guarantees stay in the schema: `Allocation.deviceId`
 * is unique, and so is `Vm.id`.
 */
import { Prisma, type Db } from './db/index.js';
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
  /** Whether any released VM may hold network leases. */
  releasesLeases: boolean;
  /** Devices the releases free that are no longer reported: deleted with the release. */
  goneDevices: number[];
  vms: NewVmRow[];
  allocations: BatchAllocation[];
}

/** Released VMs as they are now, with the host they left; VMs already released or unknown are absent. */
export type Released = Array<{ vm: VmRecord; hostId: number | null }>;

/** Row shape of `SELECT *` on "Vm" through the adapter. */
type VmRow = Parameters<typeof toRecord>[0];

export async function commitBatch(db: Db, write: BatchWrite, now: Date, hostName: (id: number | null) => string | null): Promise<Released> {
  const statements: Array<Prisma.PrismaPromise<unknown>> = [];
  let releasedAt = -1;
  // Releases first: a device freed by a release may be taken again by a
  // later submission in the same batch.
  if (write.releases.length > 0) {
    const ids = Prisma.join(write.releases);
    statements.push(db.$executeRaw`DELETE FROM "Allocation" WHERE "vmId" IN (${ids})`);
    if (write.releasesLeases) statements.push(db.$executeRaw`DELETE FROM "Lease" WHERE "vmId" IN (${ids})`);
    if (write.goneDevices.length > 0) {
      statements.push(db.$executeRaw`DELETE FROM "Device" WHERE "missing" = true AND "id" IN (${Prisma.join(write.goneDevices)})`);
    }
    releasedAt = statements.length;
    statements.push(db.$queryRaw<VmRow[]>`
      UPDATE "Vm" SET "state" = 'released', "pendingReasons" = '[]', "updatedAt" = ${now}
      WHERE "id" IN (${ids}) AND "state" <> 'released' RETURNING *`);
  }
  const hostStatement = bumpHosts(db, write);
  if (hostStatement) statements.push(hostStatement);
  if (write.vms.length > 0) {
    const values = write.vms.map((v) => Prisma.sql`(${v.id}, ${v.name}, ${v.state}, ${v.hostId}, ${v.template}, ${v.devices}, ${v.pendingReasons}, ${now}, ${now})`);
    statements.push(db.$executeRaw`
      INSERT INTO "Vm" ("id", "name", "state", "hostId", "template", "devices", "pendingReasons", "createdAt", "updatedAt")
      VALUES ${Prisma.join(values)}`);
  }
  if (write.allocations.length > 0) {
    const values = write.allocations.map((a) => Prisma.sql`(${a.deviceId}, ${a.vmId}, ${a.request}, ${a.companion})`);
    statements.push(db.$executeRaw`INSERT INTO "Allocation" ("deviceId", "vmId", "request", "companion") VALUES ${Prisma.join(values)}`);
  }
  if (statements.length === 0) return [];
  let results: unknown[];
  try {
    results = await db.$transaction(statements);
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError) {
      throw new PlacementConflictError(`batch refused by the database (${err.code}): ${err.message.split('\n').pop()}`, { cause: err });
    }
    throw err;
  }
  if (releasedAt === -1) return [];
  return (results[releasedAt] as VmRow[]).map((row) => ({ vm: toRecord({ ...row, host: nameOf(hostName, row.hostId) }), hostId: row.hostId }));
}

/**
 * One UPDATE for every host the batch touches. A host placed on must still
 * be at the version the placement saw; if not, the CASE yields NULL, the NOT
 * NULL column refuses it and the whole batch rolls back.
 */
function bumpHosts(db: Db, write: BatchWrite): Prisma.PrismaPromise<number> | null {
  const ids = [...write.placedOn.map((h) => h.id), ...write.freedOn];
  if (ids.length === 0) return null;
  const current = write.placedOn.map((h) => Prisma.sql`("id" = ${h.id} AND "allocVersion" = ${h.expected})`);
  if (write.freedOn.length > 0) current.push(Prisma.sql`"id" IN (${Prisma.join(write.freedOn)})`);
  return db.$executeRaw`
    UPDATE "Host" SET "allocVersion" = CASE WHEN ${Prisma.join(current, ' OR ')} THEN "allocVersion" + 1 ELSE NULL END
    WHERE "id" IN (${Prisma.join(ids)})`;
}

/** The highest VM id in use: ids for a batch are handed out above it. VMs are never deleted. */
export async function maxVmId(db: Db): Promise<number> {
  const rows = await db.$queryRaw<Array<{ m: number | bigint | null }>>`SELECT MAX("id") AS "m" FROM "Vm"`;
  return Number(rows[0]?.m ?? 0);
}

function nameOf(hostName: (id: number | null) => string | null, id: number | null): { name: string } | null {
  const name = hostName(id);
  return name === null ? null : { name };
}

/**
 * Persistence of hosts and their devices: probe snapshots in, host rows out.
 * Only changes are written; an unchanged snapshot or a heartbeat writes nothing.
 */
import { ConflictError, type Clock, type DeviceReport, type HostFacts } from '../common/index.js';
import { Prisma, directSql, sqlDate, type Db, type SqlRow } from './db/index.js';
import type { ReplicaLease } from './replica-lease.js';

export interface StoredDevice {
  id: number;
  report: DeviceReport;
  missing: boolean;
  /** VM holding it, or null. */
  vmId: number | null;
}

export interface StoredHost {
  id: number;
  name: string;
  state: 'online' | 'offline';
  lastSeenAt: Date | null;
  registeredAt: Date;
  generation: number;
  session: string;
  intervalMs: number;
  facts: HostFacts;
  allocVersion: number;
  /** The scheduler replica whose probe stream holds the host online; null when offline. */
  replicaId: string | null;
  devices: StoredDevice[];
}

export interface SnapshotInput {
  name: string;
  session: string;
  generation: number;
  intervalMs: number;
  facts: HostFacts;
  devices: DeviceReport[];
}

const EMPTY_FACTS: HostFacts = { kernelCmdline: '', cpuVendor: '', iommuEnabled: false, loadedModules: [], iommuGroupCount: 0 };

const hostInclude = { devices: { include: { allocation: { select: { vmId: true } } }, orderBy: { address: 'asc' } } } as const;

type HostRow = NonNullable<Awaited<ReturnType<Db['host']['findUnique']>>> & {
  devices: Array<{ id: number; report: string; missing: boolean; allocation: { vmId: number } | null }>;
};

function toStoredHost(row: HostRow): StoredHost {
  return {
    id: row.id,
    name: row.name,
    state: row.state === 'online' ? 'online' : 'offline',
    lastSeenAt: row.lastSeenAt,
    registeredAt: row.registeredAt,
    generation: row.generation,
    session: row.session,
    intervalMs: row.intervalMs,
    facts: { ...EMPTY_FACTS, ...(JSON.parse(row.facts) as Partial<HostFacts>) },
    allocVersion: row.allocVersion,
    replicaId: row.state === 'online' ? row.replicaId : null,
    devices: row.devices.map((d) => ({
      id: d.id,
      report: JSON.parse(d.report) as DeviceReport,
      missing: d.missing,
      vmId: d.allocation?.vmId ?? null,
    })),
  };
}

/**
 * A probe may not take its host: another scheduler replica holds it online
 * for a probe with another session (two hypervisors under one host name).
 */
export class HostHeldError extends ConflictError {
  constructor(
    readonly host: string,
    readonly replicaId: string,
    readonly session: string,
  ) {
    super(`host ${host} is already connected through scheduler replica ${replicaId} from another probe (session ${session}): give each hypervisor its own host name`);
  }
}

export class HostStore {
  /** This scheduler process: recorded on the hosts its probes hold online. */
  private readonly replicaId: string;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly lease: Pick<ReplicaLease, 'replicaId' | 'heldElsewhere'>,
  ) {
    this.replicaId = lease.replicaId;
  }

  async loadAll(): Promise<StoredHost[]> {
    const rows = await this.db.host.findMany({ include: hostInclude, orderBy: { id: 'asc' } });
    return rows.map((r) => toStoredHost(r as HostRow));
  }

  async load(name: string): Promise<StoredHost | null> {
    const row = await this.db.host.findUnique({ where: { name }, include: hostInclude });
    return row ? toStoredHost(row as HostRow) : null;
  }

  /**
   * Stores a full snapshot: new devices are added, changed ones updated, free
   * devices that dropped out are removed and allocated ones flagged missing.
   * Returns whether the device set changed (capacity may have changed).
   *
   * Raw statements in one interactive transaction on the direct path
   * (db/direct-sql.ts): a registration storm stores thousands of 32-device
   * snapshots, and Prisma 6 plans every query it runs (about 1 ms a typed
   * one, more for a 32-row createMany; 0.2 ms a raw one). The stored host is
   * built from the input and the returned ids rather than read back.
   */
  async ingestSnapshot(input: SnapshotInput): Promise<{ host: StoredHost; devicesChanged: boolean }> {
    const now = this.clock.now();
    const facts = JSON.stringify(input.facts);
    return directSql(this.db).interactive(async (tx) => {
      const [host] = await tx.rows(Prisma.sql`
        INSERT INTO "Host" ("name", "state", "replicaId", "lastSeenAt", "registeredAt", "generation", "session", "intervalMs", "facts")
        VALUES (${input.name}, 'online', ${this.replicaId}, ${now}, ${now}, ${input.generation}, ${input.session}, ${input.intervalMs}, ${facts})
        ON CONFLICT ("name") DO UPDATE SET "state" = 'online', "replicaId" = excluded."replicaId", "lastSeenAt" = excluded."lastSeenAt", "generation" = excluded."generation",
          "session" = excluded."session", "intervalMs" = excluded."intervalMs", "facts" = excluded."facts"
        WHERE NOT ${this.lease.heldElsewhere(input.session)}
        RETURNING "id", "registeredAt", "allocVersion"`);
      // The insert met the row and the WHERE refused to update it.
      if (!host) throw (await this.heldError(tx.rows, input.name))!;
      const hostId = Number(host.id);
      // Integers may come back as bigint, booleans as 0/1: normalised here.
      const existing = (
        await tx.rows(Prisma.sql`
        SELECT d."id", d."address", d."report", d."missing", a."vmId" FROM "Device" d
        LEFT JOIN "Allocation" a ON a."deviceId" = d."id" WHERE d."hostId" = ${hostId}`)
      ).map((r) => ({ id: Number(r.id), address: String(r.address), report: String(r.report), missing: Boolean(r.missing), vmId: r.vmId === null ? null : Number(r.vmId) }));
      const byAddress = new Map(existing.map((d) => [d.address, d]));
      const devices: StoredDevice[] = [];
      const added: Array<{ dev: DeviceReport; report: string }> = [];
      let changed = false;
      for (const dev of input.devices) {
        const report = JSON.stringify(dev);
        const old = byAddress.get(dev.address);
        byAddress.delete(dev.address);
        if (!old) {
          added.push({ dev, report });
          continue;
        }
        if (old.report !== report || old.missing) {
          changed = true;
          const c = deviceColumns(dev);
          await tx.run(Prisma.sql`
            UPDATE "Device" SET "shortAddress" = ${c.shortAddress}, "vendor" = ${c.vendor}, "device" = ${c.device}, "class" = ${c.class},
              "iommuGroup" = ${c.iommuGroup}, "report" = ${report}, "missing" = false WHERE "id" = ${old.id}`);
        }
        devices.push({ id: old.id, report: dev, missing: false, vmId: old.vmId });
      }
      if (added.length > 0) {
        changed = true;
        const values = added.map(({ dev, report }) => {
          const c = deviceColumns(dev);
          return Prisma.sql`(${hostId}, ${c.address}, ${c.shortAddress}, ${c.vendor}, ${c.device}, ${c.class}, ${c.iommuGroup}, ${report})`;
        });
        const rows = await tx.rows(Prisma.sql`
          INSERT INTO "Device" ("hostId", "address", "shortAddress", "vendor", "device", "class", "iommuGroup", "report")
          VALUES ${Prisma.join(values)} RETURNING "id", "address"`);
        const ids = new Map(rows.map((r) => [String(r.address), Number(r.id)]));
        for (const { dev } of added) devices.push({ id: ids.get(dev.address)!, report: dev, missing: false, vmId: null });
      }
      const gone = [...byAddress.values()];
      const free = gone.filter((d) => d.vmId === null).map((d) => d.id);
      const held = gone.filter((d) => d.vmId !== null);
      const nowMissing = held.filter((d) => !d.missing).map((d) => d.id);
      if (free.length > 0) await tx.run(Prisma.sql`DELETE FROM "Device" WHERE "id" IN (${Prisma.join(free)})`);
      if (nowMissing.length > 0) await tx.run(Prisma.sql`UPDATE "Device" SET "missing" = true WHERE "id" IN (${Prisma.join(nowMissing)})`);
      if (free.length > 0 || nowMissing.length > 0) changed = true;
      for (const d of held) devices.push({ id: d.id, report: JSON.parse(d.report) as DeviceReport, missing: true, vmId: d.vmId });
      // Placements computed against the old device set must not commit.
      let allocVersion = Number(host!.allocVersion);
      if (changed) {
        await tx.run(Prisma.sql`UPDATE "Host" SET "allocVersion" = "allocVersion" + 1 WHERE "id" = ${hostId}`);
        allocVersion += 1;
      }
      devices.sort((a, b) => (a.report.address < b.report.address ? -1 : a.report.address > b.report.address ? 1 : 0));
      const stored: StoredHost = {
        id: hostId,
        name: input.name,
        state: 'online',
        lastSeenAt: now,
        registeredAt: sqlDate(host.registeredAt),
        generation: input.generation,
        session: input.session,
        intervalMs: input.intervalMs,
        facts: { ...EMPTY_FACTS, ...input.facts },
        allocVersion,
        replicaId: this.replicaId,
        devices,
      };
      return { host: stored, devicesChanged: changed };
    });
  }

  /** After a restart of the only scheduler (SQLite) no probe is connected: every host is offline until its probe reconnects. */
  async markAllOffline(): Promise<void> {
    await this.db.host.updateMany({ where: { state: 'online' }, data: { state: 'offline', replicaId: null } });
  }

  /**
   * Records a liveness transition (not every heartbeat: those stay in memory).
   * Online: this replica holds the host. Offline only while no other replica
   * holds it: a probe that reconnected elsewhere stays online there.
   */
  async setState(name: string, state: 'online', lastSeenAt: Date, session: string, snapshotSession: boolean): Promise<void>;
  async setState(name: string, state: 'offline', lastSeenAt: null): Promise<void>;
  async setState(name: string, state: 'online' | 'offline', lastSeenAt: Date | null, session?: string, snapshotSession?: boolean): Promise<void> {
    if (state === 'online') {
      // The stored snapshot is this probe's: its session goes back (letGo emptied it). Another probe's snapshot sets its own.
      const sessionSet = snapshotSession ? Prisma.sql`, "session" = ${session}` : Prisma.empty;
      // Throws HostHeldError when another replica holds the host for another probe.
      const updated = await this.rows(Prisma.sql`UPDATE "Host" SET "state" = 'online', "replicaId" = ${this.replicaId}, "lastSeenAt" = ${lastSeenAt}${sessionSet}
        WHERE "name" = ${name} AND NOT ${this.lease.heldElsewhere(session!)} RETURNING "id"`);
      const held = updated.length === 0 ? await this.heldError((sql) => this.rows(sql), name) : null;
      if (held) throw held;
    } else {
      await this.db.host.updateMany({ where: { name, OR: [{ replicaId: this.replicaId }, { replicaId: null }] }, data: { state, replicaId: null } });
    }
  }

  /**
   * The probe's stream here ended. The host stays online through this
   * replica (until its sweep: the probe may be back in a moment), but with
   * no probe session holding it, so that another replica may give it to a
   * restarted probe at once. setState('online') puts the session back.
   */
  async letGo(name: string): Promise<void> {
    await directSql(this.db).transaction([
      { sql: Prisma.sql`UPDATE "Host" SET "session" = '' WHERE "name" = ${name} AND "replicaId" = ${this.replicaId} AND "state" = 'online'` },
    ]);
  }

  /** One statement on the direct path, its rows. */
  private async rows(sql: Prisma.Sql): Promise<SqlRow[]> {
    const [rows] = await directSql(this.db).transaction([{ rows: true, sql }]);
    return rows as SqlRow[];
  }

  /** Why `name` could not be taken: the replica and session holding it (null if the host row is gone). */
  private async heldError(rows: (sql: Prisma.Sql) => Promise<SqlRow[]>, name: string): Promise<HostHeldError | null> {
    const [row] = await rows(Prisma.sql`SELECT "replicaId", "session" FROM "Host" WHERE "name" = ${name}`);
    return row ? new HostHeldError(name, String(row.replicaId), String(row.session)) : null;
  }

  /** Online again through this replica, if the database lost it meanwhile (another replica found this one's lease lapsed). False if another replica holds it. */
  async reclaim(name: string, lastSeenAt: Date | null): Promise<boolean> {
    const { count } = await this.db.host.updateMany({
      where: { name, state: 'offline' },
      data: { state: 'online', replicaId: this.replicaId, ...(lastSeenAt ? { lastSeenAt } : {}) },
    });
    return count > 0;
  }
}

function deviceColumns(d: DeviceReport) {
  return {
    address: d.address,
    shortAddress: d.shortAddress,
    vendor: d.vendor,
    device: d.device,
    class: d.class,
    iommuGroup: d.iommuGroup,
  };
}

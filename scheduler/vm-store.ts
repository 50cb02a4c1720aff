/**
 * Persistence of VMs and their allocations. A placement commits in one
 * transaction, all devices or none; the unique deviceId on Allocation and the
 * host's allocVersion check make a double booking impossible even with
 * several writers.
 */
import type { Clock } from '../common/index.js';
import { ConflictError, NotFoundError } from '../common/index.js';
import type { VmSpec } from './spec.js';
import { Prisma, directSql, type Db, type SqlRow } from './db/index.js';
import { allocateLeases, type NicLease, type NicPlan } from './network-store.js';
import { isElsewhereReason } from './pending-reasons.js';

export const VM_STATES = ['pending', 'allocated', 'ready', 'prepare_failed', 'releasing', 'released'] as const;

export type VmState = (typeof VM_STATES)[number];

export interface VmListFilter {
  states?: VmState[];
  /** Only VMs with a larger id: the id of the last VM of the page before. */
  after?: number;
  limit?: number;
}

export interface VmDevice {
  address: string;
  shortAddress: string;
  vendor: string;
  device: string;
  class: string;
  /** Index of the PCI request it answers; null for a companion. */
  request: number | null;
  companion: boolean;
}

export interface PendingReason {
  host: string | null;
  reason: string;
}

export interface VmRecord {
  id: number;
  name: string;
  state: VmState;
  host: string | null;
  devices: VmDevice[];
  nics: NicLease[];
  pendingReasons: PendingReason[];
  /** Last prepare/unprepare error reported by the host. */
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
  spec: VmSpec;
}

export interface AllocationInput {
  deviceId: number;
  request: number | null;
  companion: boolean;
}

/** The placement lost a race (host changed, device taken, VM released): retry on fresh state. */
export class PlacementConflictError extends ConflictError {}

const vmInclude = { host: { select: { name: true } } } as const;

type VmRow = Awaited<ReturnType<Db['vm']['findFirstOrThrow']>> & { host: { name: string } | null };

export function toRecord(row: VmRow): VmRecord {
  return {
    id: row.id,
    name: row.name,
    state: row.state as VmState,
    host: row.host?.name ?? null,
    devices: JSON.parse(row.devices) as VmDevice[],
    nics: JSON.parse(row.nics) as NicLease[],
    pendingReasons: JSON.parse(row.pendingReasons) as PendingReason[],
    lastError: row.lastError,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    spec: JSON.parse(row.template) as VmSpec,
  };
}

export class VmStore {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async create(spec: VmSpec): Promise<VmRecord> {
    const now = this.clock.now();
    const row = await this.db.vm.create({
      data: { name: spec.name, state: 'pending', template: JSON.stringify(spec), createdAt: now, updatedAt: now },
      include: vmInclude,
    });
    // OpenNebula names an unnamed VM one-<id>; we do the same with our prefix.
    if (!spec.name) return this.rename(row.id, `vm-${row.id}`);
    return toRecord(row);
  }

  private async rename(id: number, name: string): Promise<VmRecord> {
    const row = await this.db.vm.update({ where: { id }, data: { name }, include: vmInclude });
    return toRecord(row);
  }

  async get(id: number): Promise<VmRecord> {
    const row = await this.db.vm.findUnique({ where: { id }, include: vmInclude });
    if (!row) throw new NotFoundError('VM', String(id));
    return toRecord(row);
  }

  /** VMs by ascending id: in `states` when given, with ids above `after`, at most `limit` of them. */
  async list(filter: VmListFilter = {}): Promise<VmRecord[]> {
    const rows = await this.db.vm.findMany({
      where: { ...(filter.states ? { state: { in: filter.states } } : {}), ...(filter.after !== undefined ? { id: { gt: filter.after } } : {}) },
      include: vmInclude,
      orderBy: { id: 'asc' },
      ...(filter.limit !== undefined ? { take: filter.limit } : {}),
    });
    return rows.map(toRecord);
  }

  /** Moves a VM between states only if it is in one of `from`; returns whether it moved. */
  async transition(id: number, from: VmState[], to: VmState, lastError: string | null = null): Promise<boolean> {
    const moved = await this.db.vm.updateMany({ where: { id, state: { in: from } }, data: { state: to, lastError, updatedAt: this.clock.now() } });
    return moved.count === 1;
  }

  async listOnHost(hostId: number, states: VmState[]): Promise<VmRecord[]> {
    const rows = await this.db.vm.findMany({ where: { hostId, state: { in: states } }, include: vmInclude, orderBy: { id: 'asc' } });
    return rows.map(toRecord);
  }

  /**
   * Records why a VM is still pending. For a host whose probe streams to
   * another replica, this one can only say so; where the stored reasons hold
   * that replica's own verdict on the host (it tried the VM too), the verdict
   * is kept instead.
   */
  async setPending(id: number, reasons: PendingReason[]): Promise<void> {
    if (!reasons.some((r) => r.host !== null && isElsewhereReason(r.reason))) {
      await this.db.vm.updateMany({ where: { id, state: 'pending' }, data: { pendingReasons: JSON.stringify(reasons), updatedAt: this.clock.now() } });
      return;
    }
    await this.db.$transaction(async (tx) => {
      const row = await tx.vm.findUnique({ where: { id }, select: { state: true, pendingReasons: true } });
      if (row?.state !== 'pending') return;
      const stored = JSON.parse(row.pendingReasons) as PendingReason[];
      const merged = reasons.flatMap((r) => {
        if (r.host === null || !isElsewhereReason(r.reason)) return [r];
        const judged = stored.filter((s) => s.host === r.host && !isElsewhereReason(s.reason));
        return judged.length > 0 ? judged : [r];
      });
      await tx.vm.updateMany({ where: { id, state: 'pending' }, data: { pendingReasons: JSON.stringify(dedupe(merged)), updatedAt: this.clock.now() } });
    });
  }

  /**
   * Ids of the VMs the database holds pending, in order (other replicas'
   * too). Raw SQL: the replica sync pass asks every second, and Prisma
   * Client's planning cost more than the query.
   */
  async pendingIds(): Promise<number[]> {
    const [rows] = await directSql(this.db).transaction([{ rows: true, sql: Prisma.sql`SELECT "id" FROM "Vm" WHERE "state" = 'pending' ORDER BY "id"` }]);
    return (rows as SqlRow[]).map((r) => Number(r.id));
  }

  /**
   * Commits a placement: bumps the host's allocVersion only if it is still the
   * one the placement was computed against, inserts one Allocation per device
   * (unique per device), and moves the VM from pending to allocated.
   */
  async commitPlacement(vmId: number, hostId: number, expectedVersion: number, allocations: AllocationInput[], devices: VmDevice[], nics: NicPlan[] = []): Promise<VmRecord> {
    try {
      return await this.db.$transaction(async (tx) => {
        const bumped = await tx.host.updateMany({
          where: { id: hostId, allocVersion: expectedVersion },
          data: { allocVersion: { increment: 1 } },
        });
        if (bumped.count !== 1) throw new PlacementConflictError(`host ${hostId} changed since placement was computed`);
        const moved = await tx.vm.updateMany({
          where: { id: vmId, state: 'pending' },
          data: { state: 'allocated', hostId, devices: JSON.stringify(devices), pendingReasons: '[]', updatedAt: this.clock.now() },
        });
        if (moved.count !== 1) throw new PlacementConflictError(`VM ${vmId} is no longer pending`);
        await tx.allocation.createMany({ data: allocations.map((a) => ({ ...a, vmId })) });
        if (nics.length > 0) {
          const leases = await allocateLeases(tx, vmId, nics);
          await tx.vm.update({ where: { id: vmId }, data: { nics: JSON.stringify(leases) } });
        }
        return toRecord(await tx.vm.findUniqueOrThrow({ where: { id: vmId }, include: vmInclude }));
      });
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && (err.code === 'P2002' || err.code === 'P2003')) {
        throw new PlacementConflictError(`device already allocated or gone (${err.code})`, { cause: err });
      }
      throw err;
    }
  }

  /**
   * Releases a VM: frees its devices, removes devices that are free and no
   * longer reported, and marks it released. Releasing twice is harmless.
   * Returns the record and the host whose capacity changed (null if none).
   */
  async release(id: number): Promise<{ vm: VmRecord; hostId: number | null }> {
    return this.db.$transaction(async (tx) => {
      const vm = await tx.vm.findUnique({ where: { id } });
      if (!vm) throw new NotFoundError('VM', String(id));
      if (vm.state === 'released') {
        return { vm: toRecord(await tx.vm.findUniqueOrThrow({ where: { id }, include: vmInclude })), hostId: null };
      }
      const held = await tx.allocation.findMany({ where: { vmId: id }, select: { deviceId: true } });
      await tx.allocation.deleteMany({ where: { vmId: id } });
      await tx.lease.deleteMany({ where: { vmId: id } });
      if (held.length > 0) {
        await tx.device.deleteMany({ where: { id: { in: held.map((h) => h.deviceId) }, missing: true } });
      }
      if (vm.hostId !== null) {
        await tx.host.update({ where: { id: vm.hostId }, data: { allocVersion: { increment: 1 } } });
      }
      const row = await tx.vm.update({
        where: { id },
        data: { state: 'released', pendingReasons: '[]', updatedAt: this.clock.now() },
        include: vmInclude,
      });
      return { vm: toRecord(row), hostId: vm.hostId };
    });
  }
}

/** The same host and reason once, first place kept (a host's entries may come from two replicas' passes). */
function dedupe(reasons: PendingReason[]): PendingReason[] {
  const seen = new Set<string>();
  return reasons.filter((r) => {
    const key = `${r.host}\u0000${r.reason}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

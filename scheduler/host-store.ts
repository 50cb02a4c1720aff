/**
 * Persistence of hosts and their devices: probe snapshots in, host rows out.
 * Only changes are written; an unchanged snapshot or a heartbeat writes nothing.
 */
import type { Clock, DeviceReport, HostFacts } from '../common/index.js';
import type { Db } from './db/index.js';

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
    devices: row.devices.map((d) => ({
      id: d.id,
      report: JSON.parse(d.report) as DeviceReport,
      missing: d.missing,
      vmId: d.allocation?.vmId ?? null,
    })),
  };
}

export class HostStore {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

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
   */
  async ingestSnapshot(input: SnapshotInput): Promise<{ host: StoredHost; devicesChanged: boolean }> {
    const now = this.clock.now();
    return this.db.$transaction(async (tx) => {
      const host = await tx.host.upsert({
        where: { name: input.name },
        create: {
          name: input.name,
          state: 'online',
          lastSeenAt: now,
          registeredAt: now,
          generation: input.generation,
          session: input.session,
          intervalMs: input.intervalMs,
          facts: JSON.stringify(input.facts),
        },
        update: {
          state: 'online',
          lastSeenAt: now,
          generation: input.generation,
          session: input.session,
          intervalMs: input.intervalMs,
          facts: JSON.stringify(input.facts),
        },
      });
      const existing = await tx.device.findMany({
        where: { hostId: host.id },
        select: { id: true, address: true, report: true, missing: true, allocation: { select: { id: true } } },
      });
      const byAddress = new Map(existing.map((d) => [d.address, d]));
      let changed = false;
      const added: Array<{ hostId: number; report: string } & ReturnType<typeof deviceColumns>> = [];
      for (const dev of input.devices) {
        const report = JSON.stringify(dev);
        const old = byAddress.get(dev.address);
        byAddress.delete(dev.address);
        if (!old) {
          added.push({ hostId: host.id, ...deviceColumns(dev), report });
        } else if (old.report !== report || old.missing) {
          changed = true;
          await tx.device.update({ where: { id: old.id }, data: { ...deviceColumns(dev), report, missing: false } });
        }
      }
      // One statement each for the common bulk cases: a new host, a host that lost devices.
      if (added.length > 0) {
        changed = true;
        await tx.device.createMany({ data: added });
      }
      const gone = [...byAddress.values()];
      const free = gone.filter((d) => !d.allocation).map((d) => d.id);
      const nowMissing = gone.filter((d) => d.allocation && !d.missing).map((d) => d.id);
      if (free.length > 0) await tx.device.deleteMany({ where: { id: { in: free } } });
      if (nowMissing.length > 0) await tx.device.updateMany({ where: { id: { in: nowMissing } }, data: { missing: true } });
      if (free.length > 0 || nowMissing.length > 0) changed = true;
      // Placements computed against the old device set must not commit.
      if (changed) await tx.host.update({ where: { id: host.id }, data: { allocVersion: { increment: 1 } } });
      const row = await tx.host.findUniqueOrThrow({ where: { id: host.id }, include: hostInclude });
      return { host: toStoredHost(row as HostRow), devicesChanged: changed };
    });
  }

  /** Records a liveness transition (not every heartbeat: those stay in memory). */
  async setState(name: string, state: 'online' | 'offline', lastSeenAt: Date | null): Promise<void> {
    await this.db.host.updateMany({ where: { name }, data: { state, ...(lastSeenAt ? { lastSeenAt } : {}) } });
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

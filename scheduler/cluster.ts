/**
 * The scheduler's in-memory view of the cluster: hosts with their devices and
 * who holds them. It is rebuilt per host from the database after each change
 * this process commits, so placement never reads the database; the host's
 * allocVersion in the database catches changes made elsewhere.
 */
import type { DeviceReport, HostFacts } from '../common/index.js';
import { hostReadiness, deviceAssignability, type Assignability, type HostReadiness } from '../passthrough/index.js';
import type { StoredDevice, StoredHost } from './host-store.js';

/** The shape the matcher reads: reports plus allocation state. */
export interface DeviceState extends DeviceReport {
  missing: boolean;
  heldBy: number | null;
  assignable: boolean;
  unassignableReasons: string[];
}

export interface HostState {
  name: string;
  online: boolean;
  devices: DeviceState[];
}

/** A stored host plus what is derived in memory: liveness, indexes, assessments, the matcher's view. */
export interface MemHost extends Omit<StoredHost, 'state'> {
  online: boolean;
  deviceIds: Map<string, number>;
  /** Derived from facts and reports; recomputed only when those change. */
  readiness: HostReadiness;
  assessments: Map<string, Assignability>;
  /** Rebuilt on every change, never mutated, so matcher caches keyed by it stay valid. */
  view: HostState;
}

export function toMemHost(stored: StoredHost, online: boolean, lastSeenAt: Date | null): MemHost {
  const { state: _state, ...rest } = stored;
  const host: MemHost = {
    ...rest,
    online,
    lastSeenAt,
    deviceIds: new Map(stored.devices.map((d) => [d.report.address, d.id])),
    ...assess(stored),
    view: { name: stored.name, online, devices: [] },
  };
  rebuildView(host);
  return host;
}

/** Host readiness and each device's assignability, from what the probe reported. */
function assess(stored: StoredHost): { readiness: HostReadiness; assessments: Map<string, Assignability> } {
  const reports = stored.devices.filter((d) => !d.missing).map((d) => d.report);
  const readiness = hostReadiness(stored.facts, reports);
  const reported = new Set(reports.map((r) => r.address));
  return { readiness, assessments: new Map(reports.map((r) => [r.address, deviceAssignability(r, { readiness, reported })])) };
}

export function rebuildView(host: MemHost): void {
  host.view = {
    name: host.name,
    online: host.online,
    devices: host.devices.map((d) => {
      const a = host.assessments.get(d.report.address);
      return { ...d.report, missing: d.missing, heldBy: d.vmId, assignable: a?.assignable ?? false, unassignableReasons: a?.reasons ?? ['not reported'] };
    }),
  };
}

/**
 * Records in memory what a placement or release did. Holders change in
 * place (the caller reports the host to the matcher's cache), so the
 * matcher's per-host index survives; the device list is rebuilt only when a
 * release drops devices that are no longer reported.
 */
export function setHolder(host: MemHost, addresses: Iterable<string>, vmId: number | null): void {
  const set = new Set(addresses);
  let dropped = false;
  for (const d of host.devices) {
    if (!set.has(d.report.address)) continue;
    d.vmId = vmId;
    if (vmId === null && d.missing) dropped = true;
  }
  if (dropped) {
    host.devices = host.devices.filter((d) => !(d.missing && d.vmId === null));
    host.deviceIds = new Map(host.devices.map((d) => [d.report.address, d.id]));
    rebuildView(host);
    return;
  }
  for (const v of host.view.devices) if (set.has(v.address)) v.heldBy = vmId;
}

export interface HostDeviceView extends DeviceReport {
  missing: boolean;
  /** VM holding the device, or null. */
  vm: number | null;
  assignable: boolean;
  /** Why the device cannot be assigned (empty when assignable). */
  reasons: string[];
  warnings: string[];
  notes: string[];
}

/** The REST/CLI representation of a host. */
export interface HostView {
  id: number;
  name: string;
  state: 'online' | 'offline';
  lastSeenAt: string | null;
  registeredAt: string;
  generation: number;
  facts: HostFacts;
  readiness: HostReadiness;
  devicesTotal: number;
  devicesUsed: number;
  devices: HostDeviceView[];
  /** VMs whose devices the host failed to give back (unprepare errors). */
  unprepareFailures: Array<{ vm: number; error: string }>;
}

export function hostView(host: MemHost, failures?: ReadonlyMap<number, string>): HostView {
  const devices = host.devices.map((d) => {
    const a = host.assessments.get(d.report.address);
    return {
      ...d.report,
      missing: d.missing,
      vm: d.vmId,
      assignable: a?.assignable ?? false,
      reasons: a?.reasons ?? ['no longer reported by the probe'],
      warnings: a?.warnings ?? [],
      notes: a?.notes ?? [],
    };
  });
  return {
    id: host.id,
    name: host.name,
    state: host.online ? 'online' : 'offline',
    lastSeenAt: host.lastSeenAt?.toISOString() ?? null,
    registeredAt: host.registeredAt.toISOString(),
    generation: host.generation,
    facts: host.facts,
    readiness: host.readiness,
    devicesTotal: devices.length,
    devicesUsed: devices.filter((d) => d.vm !== null).length,
    devices,
    unprepareFailures: [...(failures ?? [])].map(([vm, error]) => ({ vm, error })),
  };
}

/**
 * The scheduler's in-memory view of the cluster: hosts with their devices and
 * who holds them. It is rebuilt per host from the database after each change
 * this process commits, so placement never reads the database; the host's
 * allocVersion in the database catches changes made elsewhere.
 *
 * Memory: one object per device and per host, each kind with one hidden
 * class (built field by field, never by spreading: V8 gives each object
 * spread from a megamorphic site its own map, ~1 KB per device at 10k
 * hosts), and strings, lists and assessments shared through an Interner.
 */
import type { DeviceReport, HostFacts } from '../common/index.js';
import { hostReadiness, deviceAssignability, type Assignability, type HostReadiness } from '../passthrough/index.js';
import type { StoredHost } from './host-store.js';
import type { Interner } from './interner.js';

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

/** A device as the scheduler holds it: what the matcher reads, its row id and its assessment. */
export interface MemDevice extends DeviceState {
  id: number;
  assessment: Assignability;
}

/** A stored host plus what is derived in memory: liveness, assessments, the matcher's view. */
export interface MemHost extends Omit<StoredHost, 'state' | 'devices'> {
  online: boolean;
  /** In address order; the same array as `view.devices`. */
  devices: MemDevice[];
  /** Derived from facts and reports; recomputed only when those change. */
  readiness: HostReadiness;
  /**
   * The matcher's input. Changed in place (holders, online) and reported to
   * the PlacementCache; replaced only when the device list changes.
   */
  view: HostState & { devices: MemDevice[]; layout: number | null };
  /** The device layout's number (see the matcher's `HostState.layout`), -1 for none; the view carries it while nothing is held. */
  layout: number;
}

const GONE: Assignability = Object.freeze({ assignable: false, reasons: ['no longer reported by the probe'], warnings: [], notes: [] });

export function toMemHost(stored: StoredHost, online: boolean, lastSeenAt: Date | null, interner: Interner): MemHost {
  const storedDevices = stored.devices;
  const reports = storedDevices.filter((d) => !d.missing).map((d) => d.report);
  const readiness = hostReadiness(stored.facts, reports);
  const reported = new Set(reports.map((r) => r.address));
  const parts = storedDevices.map((d) => {
    const report = interner.report(d.report);
    const assessment = d.missing ? GONE : interner.assessment(deviceAssignability(report, { readiness, reported }));
    return { report, assessment, missing: d.missing };
  });
  const devices = storedDevices.map((d, i) => memDevice(parts[i]!.report, d.id, d.missing, d.vmId, parts[i]!.assessment));
  const facts: HostFacts = {
    kernelCmdline: interner.str(stored.facts.kernelCmdline),
    cpuVendor: interner.str(stored.facts.cpuVendor),
    iommuEnabled: stored.facts.iommuEnabled,
    loadedModules: interner.list(stored.facts.loadedModules),
    iommuGroupCount: stored.facts.iommuGroupCount,
  };
  const layout = interner.layout(parts);
  // Field by field, as devices are: spread from `stored`, every host got a
  // hidden class of its own (1,992 maps for 2,000 hosts), and each read of a
  // host field went through a megamorphic lookup (~0.5 µs; the liveness
  // sweep alone took 13 ms at 10k hosts).
  const host: MemHost = {
    id: stored.id,
    name: stored.name,
    lastSeenAt,
    registeredAt: stored.registeredAt,
    generation: stored.generation,
    session: stored.session,
    intervalMs: stored.intervalMs,
    facts,
    allocVersion: stored.allocVersion,
    replicaId: stored.replicaId,
    online,
    devices,
    readiness,
    layout,
    view: { name: stored.name, online, devices, layout: null },
  };
  host.view.layout = pristineLayout(host);
  return host;
}

/** The layout number while the host holds nothing and misses nothing, else null. */
function pristineLayout(host: MemHost): number | null {
  if (host.layout < 0) return null;
  for (const d of host.devices) if (d.heldBy !== null || d.missing) return null;
  return host.layout;
}

/** Field by field, in one order, so every device shares one hidden class. */
function memDevice(r: DeviceReport, id: number, missing: boolean, heldBy: number | null, assessment: Assignability): MemDevice {
  return {
    address: r.address,
    shortAddress: r.shortAddress,
    vendor: r.vendor,
    device: r.device,
    class: r.class,
    progIf: r.progIf,
    subsystemVendor: r.subsystemVendor,
    subsystemDevice: r.subsystemDevice,
    revision: r.revision,
    vendorName: r.vendorName,
    deviceName: r.deviceName,
    className: r.className,
    subsystemName: r.subsystemName,
    numaNode: r.numaNode,
    iommuGroup: r.iommuGroup,
    groupMembers: r.groupMembers,
    driver: r.driver,
    sriov: r.sriov,
    physfn: r.physfn,
    numVfs: r.numVfs,
    totalVfs: r.totalVfs,
    virtfns: r.virtfns,
    netInterfaces: r.netInterfaces,
    pcieRoot: r.pcieRoot,
    resetMethods: r.resetMethods,
    groupReservedRegions: r.groupReservedRegions,
    id,
    missing,
    heldBy,
    assignable: assessment.assignable,
    unassignableReasons: assessment.reasons,
    assessment,
  };
}

/** The probe's report of a device, without the scheduler's fields. */
export function reportOf(d: MemDevice): DeviceReport {
  const { id: _id, missing: _missing, heldBy: _heldBy, assignable: _assignable, unassignableReasons: _reasons, assessment: _assessment, ...report } = d;
  return report;
}

export function deviceAt(host: MemHost, address: string): MemDevice | undefined {
  return host.devices.find((d) => d.address === address);
}

/** Liveness changes in place; the caller reports the host to the matcher's cache. */
export function setOnline(host: MemHost, online: boolean): void {
  host.online = online;
  host.view.online = online;
}

/**
 * Records in memory what a placement or release did. Holders change in
 * place (the caller reports the host to the matcher's cache), so the
 * matcher's per-host index survives; the device list is replaced only when a
 * release drops devices that are no longer reported.
 */
export function setHolder(host: MemHost, addresses: Iterable<string>, vmId: number | null): void {
  const set = new Set(addresses);
  let dropped = false;
  for (const d of host.devices) {
    if (!set.has(d.address)) continue;
    d.heldBy = vmId;
    if (vmId === null && d.missing) dropped = true;
  }
  if (dropped) {
    host.devices = host.devices.filter((d) => !(d.missing && d.heldBy === null));
    host.view = { name: host.name, online: host.online, devices: host.devices, layout: null };
    // The layout was digested with the dropped devices; unshared until the next snapshot.
    host.layout = -1;
  }
  host.view.layout = pristineLayout(host);
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
  /** Online through this replica's probe stream or, on a shared database, another's. */
  state: 'online' | 'offline';
  /** The scheduler replica the host's probe streams to; null when offline. */
  replica: string | null;
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

/**
 * The replica the host's probe streams to, `self` being this one; null when
 * offline. Memory decides for a stream held here, the database's holder for
 * one held elsewhere.
 */
export function replicaOf(host: MemHost, self: string): string | null {
  return host.online ? self : host.replicaId !== self ? host.replicaId : null;
}

/** `self`: this scheduler's replica id. */
export function hostView(host: MemHost, self: string, failures?: ReadonlyMap<number, string>): HostView {
  const devices = host.devices.map((d) => ({
    ...reportOf(d),
    missing: d.missing,
    vm: d.heldBy,
    assignable: d.assessment.assignable,
    reasons: d.assessment.reasons,
    warnings: d.assessment.warnings,
    notes: d.assessment.notes,
  }));
  const replica = replicaOf(host, self);
  return {
    id: host.id,
    name: host.name,
    state: replica === null ? 'offline' : 'online',
    replica,
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

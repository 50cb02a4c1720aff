/**
 * The scheduler's in-memory view of the cluster: hosts with their devices and
 * who holds them. It is rebuilt per host from the database after each change
 * this process commits, so placement never reads the database; the host's
 * allocVersion in the database catches changes made elsewhere.
 */
import type { DeviceReport, HostFacts } from '../common/index.js';
import type { StoredDevice, StoredHost } from './host-store.js';

/** The shape the matcher reads: reports plus allocation state. */
export interface DeviceState extends DeviceReport {
  missing: boolean;
  heldBy: number | null;
}

export interface HostState {
  name: string;
  online: boolean;
  devices: DeviceState[];
}

export interface MemHost {
  id: number;
  name: string;
  online: boolean;
  lastSeenAt: Date | null;
  registeredAt: Date;
  generation: number;
  session: string;
  intervalMs: number;
  facts: HostFacts;
  allocVersion: number;
  devices: StoredDevice[];
  deviceIds: Map<string, number>;
  /** Rebuilt on every change, never mutated, so matcher caches keyed by it stay valid. */
  view: HostState;
}

export function toMemHost(stored: StoredHost, online: boolean, lastSeenAt: Date | null): MemHost {
  const host: MemHost = {
    id: stored.id,
    name: stored.name,
    online,
    lastSeenAt,
    registeredAt: stored.registeredAt,
    generation: stored.generation,
    session: stored.session,
    intervalMs: stored.intervalMs,
    facts: stored.facts,
    allocVersion: stored.allocVersion,
    devices: stored.devices,
    deviceIds: new Map(stored.devices.map((d) => [d.report.address, d.id])),
    view: { name: stored.name, online, devices: [] },
  };
  rebuildView(host);
  return host;
}

export function rebuildView(host: MemHost): void {
  host.view = {
    name: host.name,
    online: host.online,
    devices: host.devices.map((d) => ({ ...d.report, missing: d.missing, heldBy: d.vmId })),
  };
}

/** Records in memory what a committed placement or release did. */
export function setHolder(host: MemHost, addresses: Iterable<string>, vmId: number | null): void {
  const set = new Set(addresses);
  host.devices = host.devices
    .filter((d) => !(vmId === null && d.missing && set.has(d.report.address)))
    .map((d) => (set.has(d.report.address) ? { ...d, vmId } : d));
  host.deviceIds = new Map(host.devices.map((d) => [d.report.address, d.id]));
  rebuildView(host);
}

export interface HostDeviceView extends DeviceReport {
  missing: boolean;
  /** VM holding the device, or null. */
  vm: number | null;
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
  devicesTotal: number;
  devicesUsed: number;
  devices: HostDeviceView[];
}

export function hostView(host: MemHost): HostView {
  const devices = host.devices.map((d) => ({ ...d.report, missing: d.missing, vm: d.vmId }));
  return {
    id: host.id,
    name: host.name,
    state: host.online ? 'online' : 'offline',
    lastSeenAt: host.lastSeenAt?.toISOString() ?? null,
    registeredAt: host.registeredAt.toISOString(),
    generation: host.generation,
    facts: host.facts,
    devicesTotal: devices.length,
    devicesUsed: devices.filter((d) => d.vm !== null).length,
    devices,
  };
}

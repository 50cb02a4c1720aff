/**
 * The gRPC contract between probe and scheduler: the generated ProbeService
 * (ts-proto output under gen/, never edited), the channel options both ends
 * use, and conversion between wire messages and the shared report types.
 */
import type { ChannelOptions } from '@grpc/grpc-js';
import type { DeviceReport, HostFacts, SriovRole } from '../common/index.js';
import type { Device, HostFacts as WireHostFacts } from '../gen/proto/pcisched/v1/probe.js';

export {
  ProbeServiceService,
  ProbeServiceClient,
  ConnectRequest,
  ConnectResponse,
  type ProbeServiceServer,
  type Hello,
  type Snapshot,
  type Heartbeat,
  type PrepareCommand,
  type PrepareResult,
  type DeviceResult,
  type Device as WireDevice,
} from '../gen/proto/pcisched/v1/probe.js';

/**
 * Explicit message size limit on both ends. A 256-device snapshot is ~300 KB;
 * 16 MiB leaves room for hosts with thousands of VFs without letting one bad
 * peer make the other allocate without bound.
 */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export const channelOptions: ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  // Detect dead peers on idle streams between heartbeats.
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 10_000,
};

export { checkHostName, checkDeviceReports } from './report-check.js';

const orNull = <T>(v: T | undefined): T | null => (v === undefined ? null : v);
const orUndef = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

export function deviceToWire(d: DeviceReport): Device {
  return {
    ...d,
    numaNode: orUndef(d.numaNode),
    iommuGroup: orUndef(d.iommuGroup),
    groupMembers: d.groupMembers.map((m) => ({ address: m.address, class: m.class })),
    driver: orUndef(d.driver),
    physfn: orUndef(d.physfn),
    numVfs: orUndef(d.numVfs),
    totalVfs: orUndef(d.totalVfs),
    pcieRoot: orUndef(d.pcieRoot),
  };
}

const SRIOV_ROLES: readonly string[] = ['pf', 'vf', 'no'];

export function deviceFromWire(d: Device): DeviceReport {
  return {
    address: d.address,
    shortAddress: d.shortAddress,
    vendor: d.vendor,
    device: d.device,
    class: d.class,
    progIf: d.progIf,
    subsystemVendor: d.subsystemVendor,
    subsystemDevice: d.subsystemDevice,
    revision: d.revision,
    vendorName: d.vendorName,
    deviceName: d.deviceName,
    className: d.className,
    subsystemName: d.subsystemName,
    numaNode: orNull(d.numaNode),
    iommuGroup: orNull(d.iommuGroup),
    groupMembers: d.groupMembers.map((m) => ({ address: m.address, class: m.class })),
    driver: orNull(d.driver),
    sriov: (SRIOV_ROLES.includes(d.sriov) ? d.sriov : 'no') as SriovRole,
    physfn: orNull(d.physfn),
    numVfs: orNull(d.numVfs),
    totalVfs: orNull(d.totalVfs),
    virtfns: [...d.virtfns],
    netInterfaces: [...d.netInterfaces],
    pcieRoot: orNull(d.pcieRoot),
    resetMethods: [...d.resetMethods],
    groupReservedRegions: [...d.groupReservedRegions],
  };
}

export function factsToWire(f: HostFacts): WireHostFacts {
  return {
    kernelCmdline: f.kernelCmdline,
    cpuVendor: f.cpuVendor,
    iommuEnabled: f.iommuEnabled,
    loadedModules: [...f.loadedModules],
    iommuGroupCount: f.iommuGroupCount,
  };
}

export function factsFromWire(f: WireHostFacts | undefined): HostFacts {
  return {
    kernelCmdline: f?.kernelCmdline ?? '',
    cpuVendor: f?.cpuVendor ?? '',
    iommuEnabled: f?.iommuEnabled ?? false,
    loadedModules: [...(f?.loadedModules ?? [])],
    iommuGroupCount: f?.iommuGroupCount ?? 0,
  };
}

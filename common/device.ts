/**
 * The device and host facts a probe reports. Field names here are the JSON
 * contract of `probe scan --json`, the REST API and the CEL `device` variable.
 */

export type SriovRole = 'pf' | 'vf' | 'no';

export interface GroupMember {
  address: string;
  /** 4 hex digits, class and subclass; `0604` is a PCI bridge. */
  class: string;
}

export interface DeviceReport {
  /** Full address, `0000:01:00.0`. */
  address: string;
  /** As lspci prints it: `01:00.0`, with the domain only when it is not 0000. */
  shortAddress: string;
  vendor: string;
  device: string;
  /** Class and subclass, 4 hex digits (OpenNebula's CLASS). */
  class: string;
  progIf: string;
  subsystemVendor: string;
  subsystemDevice: string;
  revision: string;
  vendorName: string;
  deviceName: string;
  className: string;
  subsystemName: string;
  /** null when the kernel says -1. */
  numaNode: number | null;
  /** null when the device has no IOMMU group (IOMMU off). */
  iommuGroup: number | null;
  /** Every other device of the IOMMU group, whether the filter reports it or not. */
  groupMembers: GroupMember[];
  driver: string | null;
  sriov: SriovRole;
  /** The PF's address, for a VF. */
  physfn: string | null;
  numVfs: number | null;
  totalVfs: number | null;
  /** The VFs' addresses, for a PF. */
  virtfns: string[];
  netInterfaces: string[];
  /** The PCIe root port above the device, from its sysfs path. */
  pcieRoot: string | null;
  resetMethods: string[];
  /** Types of the IOMMU group's reserved regions: msi, direct, direct-relaxable, reserved. */
  groupReservedRegions: string[];
}

export interface HostFacts {
  kernelCmdline: string;
  cpuVendor: string;
  iommuEnabled: boolean;
  loadedModules: string[];
  iommuGroupCount: number;
}

export interface HostReport {
  host: HostFacts & { name: string };
  devices: DeviceReport[];
}

export const PCI_BRIDGE_CLASS = '0604';

/** `dddd:bb:dd.f`; VMD and some hypervisors use 5-digit domains (`10000:e1:00.0`). */
export const PCI_ADDRESS_RE = /^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/;

export function isPciAddress(s: string): boolean {
  return PCI_ADDRESS_RE.test(s);
}

/** As `lspci -mm` prints it: `01:00.0`, with the domain only when it is not 0000. */
export function shortAddress(address: string): string {
  return address.startsWith('0000:') && address.length === 12 ? address.slice(5) : address;
}

/** `vvvv:dddd:cccc`, as OpenNebula's TYPE. */
export function deviceType(d: Pick<DeviceReport, 'vendor' | 'device' | 'class'>): string {
  return `${d.vendor}:${d.device}:${d.class}`;
}

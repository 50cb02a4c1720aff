/**
 * Plain DeviceReport building blocks shared by the plain-data builders of the
 * matcher and passthrough tests.
 */
import { shortAddress, type DeviceReport, type GroupMember } from '../../common/index.js';

/** Every field at a neutral value: an 8086 network endpoint bound to vfio-pci, alone in no group. */
export function baseReport(address: string): DeviceReport {
  return {
    address,
    shortAddress: shortAddress(address),
    vendor: '8086', device: '0001', class: '0200', progIf: '00',
    subsystemVendor: '0000', subsystemDevice: '0000', revision: '00',
    vendorName: '', deviceName: '', className: '', subsystemName: '',
    numaNode: 0, iommuGroup: null, groupMembers: [], driver: 'vfio-pci',
    sriov: 'no', physfn: null, numVfs: null, totalVfs: null, virtfns: [],
    netInterfaces: [], pcieRoot: null, resetMethods: ['flr'], groupReservedRegions: ['msi'],
  };
}

/** Puts devices in one IOMMU group; `extra` lists members the host did not report. */
export function group<T extends DeviceReport>(id: number, devices: T[], extra: GroupMember[] = []): T[] {
  for (const d of devices) {
    d.iommuGroup = id;
    d.groupMembers = [...devices.filter((o) => o !== d).map((o) => ({ address: o.address, class: o.class })), ...extra];
  }
  return devices;
}

/**
 * Plain-data builders for the passthrough tests: a DeviceReport with
 * sensible defaults (an endpoint alone in its group, bound to vfio-pci, with
 * FLR), IOMMU groups, and host facts (Intel, IOMMU on, VFIO loaded).
 */
import type { DeviceReport, HostFacts } from '../../common/index.js';
import { baseReport, group } from '../helpers/device-report.js';

export { group };
import { hostReadiness, type HostReadiness } from '../../passthrough/index.js';

export function dev(address: string, over: Partial<DeviceReport> = {}): DeviceReport {
  const m = /([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(address);
  const group = m ? parseInt(m[1]!, 16) * 32 + parseInt(m[2]!, 16) + 100 : 100;
  return {
    ...baseReport(address),
    device: '1533',
    iommuGroup: group,
    resetMethods: ['flr', 'bus'],
    ...over,
  };
}

export function facts(over: Partial<HostFacts> = {}): HostFacts {
  return {
    kernelCmdline: 'BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet intel_iommu=on iommu=pt',
    cpuVendor: 'GenuineIntel',
    iommuEnabled: true,
    loadedModules: ['kvm', 'kvm_intel', 'vfio', 'vfio_iommu_type1', 'vfio_pci'],
    iommuGroupCount: 20,
    ...over,
  };
}

export function ready(over: Partial<HostFacts> = {}, devices: DeviceReport[] = []): HostReadiness {
  return hostReadiness(facts(over), devices);
}

export const reportedOf = (devices: readonly DeviceReport[]) => new Set(devices.map((d) => d.address));

/** A GTX 1060 (VGA + HDMI audio) in slot `bus`, both functions in `groupId`, on host drivers. */
export function nvidiaCard(bus: string, groupId: number, driver = 'nouveau'): DeviceReport[] {
  return group(groupId, [
    dev(`0000:${bus}:00.0`, { vendor: '10de', device: '1c03', class: '0300', driver, resetMethods: ['bus'] }),
    dev(`0000:${bus}:00.1`, { vendor: '10de', device: '10f1', class: '0403', driver: 'snd_hda_intel', resetMethods: ['bus'] }),
  ]);
}

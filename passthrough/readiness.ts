/**
 * Host readiness for passthrough: IOMMU state, VFIO modules, the kernel's
 * command-line flags and what stands in the way.
 */
import type { DeviceReport, HostFacts } from '../common/index.js';
import { iommuOptionState, normalizeName, parseKernelCmdline, type KernelFlags } from './kernel-cmdline.js';
import { hostText } from './messages.js';

export type CpuVendor = 'intel' | 'amd' | 'unknown';

export interface HostReadiness {
  cpuVendor: CpuVendor;
  iommuEnabled: boolean;
  kernel: KernelFlags;
  /** Module names as /sys/module spells them (underscores). */
  vfioLoaded: { vfio_pci: boolean; vfio_iommu_type1: boolean; vendor_reset: boolean };
  /**
   * `pcie_acs_override` is on the command line: groups are split by the
   * kernel's override, not isolated by hardware.
   */
  acsOverride: boolean;
  /** Each one stops passthrough on this host. */
  problems: string[];
  warnings: string[];
}

/** `/proc/cpuinfo`'s vendor_id → vendor. Hygon (a licensed Zen) uses the AMD IOMMU. */
export function cpuVendorOf(vendorId: string): CpuVendor {
  const v = vendorId.trim().toLowerCase();
  if (v === 'genuineintel' || v === 'intel') return 'intel';
  if (v === 'authenticamd' || v === 'amd' || v === 'hygongenuine') return 'amd';
  return 'unknown';
}

/** The x86 IOMMU parameters for a vendor, or null when the vendor is unknown. */
export function iommuParamFor(vendor: CpuVendor): { key: 'intel_iommu' | 'amd_iommu'; feature: string } | null {
  if (vendor === 'intel') return { key: 'intel_iommu', feature: 'VT-d' };
  if (vendor === 'amd') return { key: 'amd_iommu', feature: 'AMD-Vi (IOMMU)' };
  return null;
}

function iommuOffProblem(vendor: CpuVendor, k: KernelFlags): string {
  const p = iommuParamFor(vendor);
  if (p === null) return hostText.iommuOffUnknownCpu();
  const state = iommuOptionState(p.key === 'intel_iommu' ? k.intelIommu : k.amdIommu);
  if (state === false) return hostText.iommuOffExplicit(`${p.key}=off`, `${p.key}=on`);
  if (state === true) return hostText.iommuOffFirmware(`${p.key}=on`, p.feature);
  return hostText.iommuOffAdd([`${p.key}=on`, ...(k.iommuPt ? [] : ['iommu=pt'])]);
}

function cmdlineWarnings(k: KernelFlags): string[] {
  const out: string[] = [];
  for (const name of k.shadowed) {
    const occurrences = k.params.filter((p) => p.name === name);
    out.push(hostText.shadowed(name, occurrences.length, occurrences[occurrences.length - 1]!.raw));
  }
  // `video=vesafb:off,efifb:off` is a common idiom, but the kernel matches
  // only the entry's first name; later `NAME:off` items are ignored.
  for (const p of k.params) {
    if (p.name !== 'video' || p.value === null) continue;
    const first = p.value.slice(0, Math.max(0, p.value.indexOf(':')));
    const rest = [...p.value.matchAll(/,([A-Za-z0-9_-]+):off/g)].map((m) => m[1]!).filter((fb) => !k.videoOff.includes(fb));
    if (first !== '' && rest.length > 0) out.push(hostText.videoCombined(p.raw, first, rest));
  }
  return out;
}

export function hostReadiness(facts: HostFacts, devices: DeviceReport[]): HostReadiness {
  const kernel = parseKernelCmdline(facts.kernelCmdline);
  const cpuVendor = cpuVendorOf(facts.cpuVendor);
  const modules = new Set(facts.loadedModules.map(normalizeName));
  // A device already bound to vfio-pci proves the driver is there, built in or not.
  const vfioBound = devices.some((d) => d.driver !== null && normalizeName(d.driver) === 'vfio_pci');
  const vfioLoaded = {
    vfio_pci: modules.has('vfio_pci') || vfioBound,
    vfio_iommu_type1: modules.has('vfio_iommu_type1'),
    vendor_reset: modules.has('vendor_reset'),
  };
  const acsOverride = kernel.pcieAcsOverride !== null;

  const problems: string[] = [];
  const warnings: string[] = [];
  if (!facts.iommuEnabled) problems.push(iommuOffProblem(cpuVendor, kernel));
  if (!vfioLoaded.vfio_pci) problems.push(hostText.vfioPciNotLoaded());
  else if (!vfioLoaded.vfio_iommu_type1) warnings.push(hostText.vfioType1NotLoaded());

  if (cpuVendor === 'unknown') warnings.push(hostText.unknownCpu(facts.cpuVendor));
  if (acsOverride) {
    const values = kernel.pcieAcsOverride!;
    warnings.push(hostText.acsOverride(values.length > 0 ? values : ['']));
  }
  if (kernel.relaxRmrr) warnings.push(hostText.relaxRmrr());
  warnings.push(...cmdlineWarnings(kernel));
  if (facts.iommuEnabled) {
    const ungrouped = devices.filter((d) => d.iommuGroup === null).length;
    if (ungrouped > 0) warnings.push(hostText.ungrouped(ungrouped));
  }

  return { cpuVendor, iommuEnabled: facts.iommuEnabled, kernel, vfioLoaded, acsOverride, problems, warnings };
}

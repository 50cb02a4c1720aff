/**
 * Whether one reported device can be given to a VM through VFIO, why not,
 * and what to watch for when it is.
 */
import type { DeviceReport } from '../common/index.js';
import { amdResetBugFamily } from './amd-reset-bug.js';
import { deviceText } from './messages.js';
import { isBridge, isGpu, isVfioDriver } from './pci.js';
import type { HostReadiness } from './readiness.js';

export interface AssignabilityContext {
  readiness: HostReadiness;
  /** Addresses the probe reports on this host. */
  reported: ReadonlySet<string>;
}

export interface Assignability {
  assignable: boolean;
  /** Why not assignable; empty when assignable. */
  reasons: string[];
  /** Still assignable, but something to know first. */
  warnings: string[];
  /** Plain facts worth showing (SR-IOV role, devices that go along). */
  notes: string[];
}

/**
 * The other endpoints of a device's IOMMU group: members that are not
 * bridges (a bridge stays with the host; vfio accepts a group whose other
 * members are bridges), sorted.
 */
export function groupEndpoints(device: DeviceReport): string[] {
  return device.groupMembers
    .filter((m) => !isBridge(m.class) && m.address !== device.address)
    .map((m) => m.address)
    .sort();
}

/**
 * Reasons, in this order: host IOMMU off (then the group checks are moot),
 * PCI bridge, no IOMMU group, a `direct` (non-relaxable RMRR) reserved
 * region in the group, each group endpoint the probe does not report.
 * `direct-relaxable`, `msi` and `reserved` regions are fine.
 */
export function deviceAssignability(device: DeviceReport, ctx: AssignabilityContext): Assignability {
  const { readiness, reported } = ctx;
  const reasons: string[] = [];
  const warnings: string[] = [];
  const notes: string[] = [];
  const group = device.iommuGroup;

  if (!readiness.iommuEnabled) reasons.push(deviceText.iommuDisabled());
  if (isBridge(device.class)) reasons.push(deviceText.bridge());
  if (readiness.iommuEnabled) {
    if (group === null) {
      reasons.push(deviceText.noGroup());
    } else {
      if (device.groupReservedRegions.includes('direct')) {
        reasons.push(deviceText.rmrrDirect(group));
        if (readiness.kernel.relaxRmrr) warnings.push(deviceText.relaxRmrrIneffective());
      }
      const endpoints = groupEndpoints(device);
      for (const a of endpoints) if (!reported.has(a)) reasons.push(deviceText.unreportedEndpoint(group, a));
      const together = endpoints.filter((a) => reported.has(a));
      if (together.length > 0) notes.push(deviceText.companions(group, together));
    }
  }

  if (device.driver !== null && !isVfioDriver(device.driver)) warnings.push(deviceText.hostDriver(device.driver));
  if (isGpu(device.class) && !device.resetMethods.includes('flr')) warnings.push(deviceText.noFlr(device.resetMethods));
  const family = amdResetBugFamily(device.vendor, device.device);
  if (family !== null) {
    if (!readiness.vfioLoaded.vendor_reset) {
      warnings.push(deviceText.resetBug(family));
    } else if (device.resetMethods.length > 0 && !device.resetMethods.includes('device_specific')) {
      // Kernels with a reset_method file (5.15+) use vendor-reset only when
      // device_specific is selected; older ones have no file, and it hooks in.
      warnings.push(deviceText.resetBugNoDeviceSpecific(family, device.address));
    }
  }

  if (device.sriov === 'pf') {
    notes.push(device.numVfs ? deviceText.pfWithVfs(device.numVfs) : deviceText.pfNoVfs(device.totalVfs));
  } else if (device.sriov === 'vf') {
    notes.push(deviceText.vf(device.physfn));
  }

  return { assignable: reasons.length === 0, reasons, warnings, notes };
}

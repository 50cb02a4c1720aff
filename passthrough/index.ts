/**
 * Passthrough readiness: pure functions (no I/O) over what the probe reports.
 *
 *   parseKernelCmdline(cmdline)            /proc/cmdline → KernelFlags (IOMMU, ACS override,
 *                                          vfio-pci.ids, rd.driver.pre, blacklists, video=…:off)
 *   hostReadiness(facts, devices)          → HostReadiness: CPU vendor, IOMMU, VFIO modules,
 *                                          ACS override, problems (blocking) and warnings
 *   deviceAssignability(device, ctx)       → { assignable, reasons, warnings, notes } for one device
 *   adviseKernelParams(input)              → Advice: kernel parameters to ADD (never applied),
 *                                          a merged GRUB line, update commands, rpm-ostree kargs
 *   formatAdvice(advice)                   → text for `pcisched host advise NAME`
 *
 * Typical use:
 *
 *   const readiness = hostReadiness(report.host, report.devices);
 *   const reported = new Set(report.devices.map((d) => d.address));
 *   const a = deviceAssignability(device, { readiness, reported });
 *   const advice = adviseKernelParams({ hostName, readiness, devices: report.devices, chosen: [] });
 *   console.log(formatAdvice(advice));
 *
 * adviseKernelParams throws ValidationError when a chosen address is not reported by the host.
 * Every text these functions produce is in ./messages.ts.
 */
export { parseKernelCmdline, type KernelFlags, type KernelParam } from './kernel-cmdline.js';
export { hostReadiness, cpuVendorOf, type HostReadiness, type CpuVendor } from './readiness.js';
export { deviceAssignability, type Assignability, type AssignabilityContext } from './assignability.js';
export { adviseKernelParams, type Advice, type AdviseInput } from './advice.js';
export { formatAdvice } from './format-advice.js';
export { amdResetBugFamily } from './amd-reset-bug.js';

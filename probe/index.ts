/**
 * The probe: what PCI devices a host has, read from sysfs/procfs (never lspci).
 * Other folders import only from here.
 *
 *   const filter = loadFilterConfig('/etc/pcisched/pci.conf', logger); // ConfigError on bad input
 *   const scanner = createScanner({ hostRoot: '/', filter, logger, hostName: 'node1' });
 *   const report = scanner.scan();          // HostReport (common/device.ts); cheap to repeat
 *   process.stdout.write(formatScanTable(report)); // or JSON.stringify(scanToJson(report))
 *
 * - createScanner throws ConfigError for an unusable host root or an explicit pci.ids
 *   that cannot be read; scan() never throws for bad sysfs content: it logs a pino warning
 *   naming the file and reports the field empty (null, '' or []).
 * - Keep one scanner per host for repeated scans: it caches what cannot change while a
 *   device exists, re-reads what a change signal points at, and re-reads everything else
 *   within REFRESH_SCANS scans (the per-field guarantees are in scanner.ts). A filter
 *   change needs a new scanner.
 * - pci.conf follows OpenNebula's semantics; see pci-filter.ts for the rules and the
 *   few deliberate differences.
 */
export { createScanner, REFRESH_SCANS, type Scanner, type ScannerOptions } from './scanner.js';
export {
  defaultFilter,
  loadFilterConfig,
  matchesFilter,
  parseFilterConfig,
  type IdPattern,
  type NamePattern,
  type PciFilter,
} from './pci-filter.js';
export { formatScanTable, scanToJson } from './format.js';
export { shortAddress } from './pci-address.js';
// The gRPC agent lives in agent.ts (maintained separately); re-exported for the CLI.
export { ProbeAgent, type AgentOptions, type AgentEvent, type ReportSource } from './agent.js';
export { DevicePreparer, realSysfsWriter, type SysfsWriter, type PrepareOutcome, type DeviceOutcome, type PreparerOptions } from './preparer.js';

/**
 * Host-wide facts: kernel command line, CPU vendor, IOMMU state, loaded modules.
 *
 * The command line and the CPU vendor cannot change without a reboot (which restarts the
 * agent), and /proc/cpuinfo is large on many-core hosts, so both are read once per
 * HostFactsReader and kept; the rest is re-read on every scan.
 */
import { join } from 'node:path';
import type { HostFacts } from '../common/index.js';
import type { SysfsReader } from './sysfs-reader.js';

export class HostFactsReader {
  private cmdline: string | null = null;
  private cpuVendor: string | null = null;

  constructor(
    private readonly reader: SysfsReader,
    private readonly hostRoot: string,
  ) {}

  /** Names of the IOMMU groups (numbers, as strings); [] without an IOMMU. */
  listGroups(): string[] {
    return this.reader.listDir(join(this.hostRoot, 'sys/kernel/iommu_groups'), true).filter((g) => /^\d+$/.test(g));
  }

  read(groups: string[]): HostFacts {
    const r = this.reader;
    if (this.cmdline === null) this.cmdline = r.readText(join(this.hostRoot, 'proc/cmdline'))?.trim() ?? null;
    if (this.cpuVendor === null) {
      const cpuinfo = r.readLarge(join(this.hostRoot, 'proc/cpuinfo'));
      // Architectures without a vendor_id line (arm64) report ''.
      if (cpuinfo !== null) this.cpuVendor = /^vendor_id\s*:\s*(.*?)\s*$/m.exec(cpuinfo)?.[1] ?? '';
    }
    // sys/class/iommu exists only on kernels built with IOMMU support: absence is normal.
    const units = r.listDir(join(this.hostRoot, 'sys/class/iommu'), true);
    return {
      kernelCmdline: this.cmdline ?? '',
      cpuVendor: this.cpuVendor ?? '',
      iommuEnabled: units.length > 0 && groups.length > 0,
      loadedModules: r.listDir(join(this.hostRoot, 'sys/module')).sort(),
      iommuGroupCount: groups.length,
    };
  }
}

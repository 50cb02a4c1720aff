/**
 * Host-wide facts: kernel command line, CPU vendor, IOMMU state, loaded modules.
 *
 * The command line and the CPU vendor cannot change without a reboot (which restarts the
 * agent), and /proc/cpuinfo is large on many-core hosts, so both are read once per
 * HostFactsReader and kept. sys/module is listed on every scan. The IOMMU state (units in
 * sys/class/iommu, groups in sys/kernel/iommu_groups) is listed when the scanner asks:
 * groups come and go with devices, drivers and IOMMU drivers, which the scanner sees
 * first, and the number of groups is watched with one stat per scan.
 */
import { join } from 'node:path';
import type { HostFacts } from '../common/index.js';
import type { SysfsReader } from './sysfs-reader.js';

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class HostFactsReader {
  private cmdline: string | null = null;
  private cpuVendor: string | null = null;
  /** sys/module as last listed, and sorted. */
  private modulesRaw: string[] | null = null;
  private modules: string[] = [];
  /** Group names (numbers, as strings) as last listed; null before the first listing. */
  private groups: string[] | null = null;
  private units = 0;
  /** Link count of sys/kernel/iommu_groups at the last look; undefined = never looked. */
  private groupsLinks: number | null | undefined = undefined;

  constructor(
    private readonly reader: SysfsReader,
    private readonly hostRoot: string,
  ) {}

  /** Lists sys/module; true when the set of loaded modules changed. */
  refreshModules(): boolean {
    const raw = this.reader.listDir(join(this.hostRoot, 'sys/module'));
    if (this.modulesRaw !== null && sameList(raw, this.modulesRaw)) return false;
    const changed = this.modulesRaw !== null;
    this.modulesRaw = raw;
    this.modules = [...raw].sort();
    return changed;
  }

  /**
   * True when the number of IOMMU groups moved since the last call, for one stat: every
   * group is a subdirectory of iommu_groups, and a directory's link count is 2 + its
   * subdirectories (kernfs keeps it exact, as ext4 does).
   */
  groupCountMoved(): boolean {
    const links = this.reader.linkCount(join(this.hostRoot, 'sys/kernel/iommu_groups'));
    const moved = links !== this.groupsLinks;
    this.groupsLinks = links;
    return moved;
  }

  /** Lists the IOMMU units and groups; true when the set of groups changed. */
  refreshIommu(): boolean {
    const groups = this.reader.listDir(join(this.hostRoot, 'sys/kernel/iommu_groups'), true).filter((g) => /^\d+$/.test(g));
    this.refreshUnits();
    const changed = this.groups === null || !sameList(groups, this.groups);
    this.groups = groups;
    return changed;
  }

  /** Lists the IOMMU units only (a few entries): registered at boot or by a module load. */
  refreshUnits(): void {
    // sys/class/iommu exists only on kernels built with IOMMU support: absence is normal.
    this.units = this.reader.listDir(join(this.hostRoot, 'sys/class/iommu'), true).length;
  }

  get hasGroups(): boolean {
    return (this.groups?.length ?? 0) > 0;
  }

  /** Forgets the listings, as for a new reader. */
  reset(): void {
    this.modulesRaw = null;
    this.groups = null;
    this.groupsLinks = undefined;
  }

  /** The facts as last listed (call refreshModules and refreshIommu at least once first). */
  read(): HostFacts {
    const r = this.reader;
    if (this.cmdline === null) this.cmdline = r.readText(join(this.hostRoot, 'proc/cmdline'))?.trim() ?? null;
    if (this.cpuVendor === null) {
      const cpuinfo = r.readLarge(join(this.hostRoot, 'proc/cpuinfo'));
      // Architectures without a vendor_id line (arm64) report ''.
      if (cpuinfo !== null) this.cpuVendor = /^vendor_id\s*:\s*(.*?)\s*$/m.exec(cpuinfo)?.[1] ?? '';
    }
    const groupCount = this.groups?.length ?? 0;
    return {
      kernelCmdline: this.cmdline ?? '',
      cpuVendor: this.cpuVendor ?? '',
      iommuEnabled: this.units > 0 && groupCount > 0,
      loadedModules: [...this.modules],
      iommuGroupCount: groupCount,
    };
  }
}

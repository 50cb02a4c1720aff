/**
 * The scanner: reads every PCI device below a host root and reports those the filter
 * keeps. It never runs lspci; everything comes from sysfs/procfs under `hostRoot`.
 *
 * It is built for an agent that rescans every few seconds. Per device it keeps what
 * cannot change while the device exists (see device-reader.ts), keyed by address and
 * the identity (device, inode, birth time) of its sysfs directory, so a device removed
 * and re-added at the same address is read afresh. A rescan then costs, per device, one
 * stat and one iommu_group readlink (group membership) and, for reported devices only,
 * the driver link, numa_node, sriov_numvfs and net/ reads (see DeviceState for how each is
 * kept to about one syscall), plus one pread of reserved_regions per group of a reported
 * device. The filter only looks at static fields, so its verdict is cached with them.
 */
import { realpathSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigError, silentLogger, type DeviceReport, type HostReport, type Logger } from '../common/index.js';
import { closeDeviceState, readDynamicInfo, readIommuGroup, readStaticInfo, type StaticInfo } from './device-reader.js';
import { HostFactsReader } from './host-facts.js';
import { compareAddresses, isPciAddress } from './pci-address.js';
import { defaultFilter, matchesFilter, type PciFilter } from './pci-filter.js';
import { findPciIds, loadPciIds, type PciIds } from './pci-ids.js';
import { attrFile, closeAttr, SysfsReader, type AttrFile } from './sysfs-reader.js';

export interface ScannerOptions {
  /** The host's `/` as seen by this process (`--host-root`); default `/`. */
  hostRoot?: string;
  /** Reported as `host.name`; default os.hostname(). */
  hostName?: string;
  /** Which devices to report; default every device (`*:*`). */
  filter?: PciFilter;
  logger?: Logger;
  /**
   * pci.ids to name devices with, a path in this process's filesystem. Default: the
   * host's own, found below hostRoot as lspci finds it; numeric names when there is none.
   */
  pciIdsPath?: string;
}

export interface Scanner {
  readonly hostRoot: string;
  /** The pci.ids in use, or null (numeric names). */
  readonly pciIdsPath: string | null;
  /** Reads the host now. Never throws for bad sysfs content: it logs and reports what it can. */
  scan(): HostReport;
  /**
   * Releases the descriptors kept open between scans (a few per device). Optional for a
   * one-shot scan in a process about to exit; scan() after close() starts afresh.
   */
  close(): void;
}

interface Cached extends StaticInfo {
  /** The filter's verdict: it only looks at static fields. */
  reported: boolean;
  /** Scan generation that last saw the device; older entries are evicted. */
  seen: number;
  /** IOMMU group in the current scan. */
  group: number | null;
}

interface GroupState {
  /** Members in address order. */
  members: Cached[];
  regions: string[] | null;
}

/** A group's reserved_regions, read through a descriptor kept open; parsed again only when the text changes. */
interface RegionFile {
  file: AttrFile;
  /** Members when the file was opened; the same Cached objects mean the same devices. */
  members: Cached[];
  text: string | null;
  types: string[];
}

function sameMembers(a: Cached[], b: Cached[]): boolean {
  return a.length === b.length && a.every((m, i) => m === b[i]);
}

function openPciIds(hostRoot: string, explicit: string | undefined, logger: Logger): PciIds | null {
  if (explicit !== undefined) {
    try {
      return loadPciIds(explicit);
    } catch (err) {
      throw new ConfigError(`cannot read pci.ids: ${(err as Error).message}`, { file: explicit, field: 'pciIdsPath' }, { cause: err });
    }
  }
  const found = findPciIds(hostRoot);
  if (found === null) {
    logger.info({ hostRoot }, 'probe: no pci.ids below the host root; device names will be numeric, as lspci prints them');
    return null;
  }
  try {
    return loadPciIds(found);
  } catch (err) {
    logger.warn({ file: found, err: (err as Error).message }, `probe: cannot read ${found}; device names will be numeric`);
    return null;
  }
}

export function createScanner(options: ScannerOptions = {}): Scanner {
  const hostRoot = options.hostRoot ?? '/';
  const logger = options.logger ?? silentLogger();
  const filter = options.filter ?? defaultFilter();
  const hostName = options.hostName ?? hostname();
  try {
    if (!statSync(hostRoot).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new ConfigError(`host root ${hostRoot}: ${(err as Error).message}`, { field: 'hostRoot' }, { cause: err });
  }
  const db = openPciIds(hostRoot, options.pciIdsPath, logger);
  const reader = new SysfsReader(logger);
  const facts = new HostFactsReader(reader, hostRoot);
  const busDevices = join(hostRoot, 'sys/bus/pci/devices');
  const groupsDir = join(hostRoot, 'sys/kernel/iommu_groups');
  const cache = new Map<string, Cached>();
  let sysDevices: string | null = null;

  const realSysDevices = (): string => {
    if (sysDevices === null) {
      try {
        sysDevices = realpathSync(join(hostRoot, 'sys/devices'));
      } catch (err) {
        reader.warn(join(hostRoot, 'sys/devices'), 'cannot resolve', err);
        return join(hostRoot, 'sys/devices');
      }
    }
    return sysDevices;
  };

  const stat = (path: string) => {
    try {
      return statSync(path, { throwIfNoEntry: false }) ?? null;
    } catch (err) {
      reader.warn(path, 'cannot stat', err);
      return null;
    }
  };

  /** The device's static info, re-read when its directory is not the one we cached. */
  const staticInfo = (address: string, link: string, hit: Cached | undefined): Cached | null => {
    // The cached real path is half the price of going through the bus symlink; if it is
    // gone (the device moved under another bridge), resolve the link again.
    const st = (hit !== undefined ? stat(hit.dir) : null) ?? stat(link);
    if (st === null) {
      reader.warn(link, 'dangling device link');
      return null;
    }
    const id = hit?.identity;
    if (hit !== undefined && id!.ino === st.ino && id!.dev === st.dev && id!.birthtimeMs === st.birthtimeMs) return hit;
    if (hit !== undefined) closeDeviceState(hit.state);
    const identity = { dev: st.dev, ino: st.ino, birthtimeMs: st.birthtimeMs };
    const info = readStaticInfo(reader, address, link, identity, realSysDevices(), db);
    const cached: Cached = { ...info, reported: matchesFilter(filter, info), seen: 0, group: null };
    cache.set(address, cached);
    return cached;
  };

  /**
   * Region types of a group (MSI window, firmware RMRR/IVMD ranges...). The kernel builds
   * the file from the members at read time; one pread per group of a reported device.
   */
  let groups = new Map<number, GroupState>();
  const regionFiles = new Map<number, RegionFile>();
  const groupRegions = (group: number, state: GroupState): string[] => {
    if (state.regions !== null) return state.regions;
    let rf = regionFiles.get(group);
    if (rf === undefined) {
      rf = { file: attrFile(join(groupsDir, String(group), 'reserved_regions')), members: state.members, text: null, types: [] };
      regionFiles.set(group, rf);
    } else if (!sameMembers(rf.members, state.members)) {
      // New membership may mean a freed and re-created group: reopen the path.
      closeAttr(rf.file);
      rf.members = state.members;
    }
    const text = reader.readAttr(rf.file);
    if (text !== rf.text) {
      const types = new Set<string>();
      for (const line of (text ?? '').split('\n')) {
        const type = line.trim().split(/\s+/)[2];
        if (type) types.add(type);
      }
      rf.text = text;
      rf.types = [...types].sort();
    }
    return (state.regions = rf.types);
  };
  const closeRegionFiles = (keep: (group: number) => boolean) => {
    for (const [group, rf] of regionFiles) {
      if (keep(group)) continue;
      closeAttr(rf.file);
      regionFiles.delete(group);
    }
  };

  let generation = 0;
  const bySortKey = (a: Cached, b: Cached) => a.sortKey - b.sortKey || compareAddresses(a.address, b.address);

  return {
    hostRoot,
    pciIdsPath: db?.path ?? null,
    close(): void {
      for (const info of cache.values()) closeDeviceState(info.state);
      cache.clear();
      groups = new Map();
      closeRegionFiles(() => false);
    },
    scan(): HostReport {
      const gen = ++generation;
      const groupNames = facts.listGroups();
      const host = { name: hostName, ...facts.read(groupNames) };
      const hasGroups = groupNames.length > 0;
      const reported: Cached[] = [];
      groups = new Map();
      for (const name of reader.listDir(busDevices)) {
        const hit = cache.get(name);
        if (hit === undefined && !isPciAddress(name)) {
          reader.warn(join(busDevices, name), 'not a PCI address, ignored');
          continue;
        }
        const info = staticInfo(name, busDevices + '/' + name, hit);
        if (info === null) continue;
        info.seen = gen;
        if (info.reported) reported.push(info);
        // Membership comes from every device's iommu_group link, reported or not.
        info.group = hasGroups ? readIommuGroup(reader, info) : null;
        if (info.group !== null) {
          const g = groups.get(info.group);
          if (g === undefined) groups.set(info.group, { members: [info], regions: null });
          else g.members.push(info);
        }
      }
      for (const [address, info] of cache) {
        if (info.seen === gen) continue;
        closeDeviceState(info.state);
        cache.delete(address);
      }
      closeRegionFiles((group) => groups.has(group));
      for (const g of groups.values()) if (g.members.length > 1) g.members.sort(bySortKey);
      reported.sort(bySortKey);

      const devices = reported.map((s): DeviceReport => {
        const d = readDynamicInfo(reader, s);
        const g = s.group === null ? undefined : groups.get(s.group);
        return {
          address: s.address,
          shortAddress: s.shortAddress,
          vendor: s.vendor,
          device: s.device,
          class: s.class,
          progIf: s.progIf,
          subsystemVendor: s.subsystemVendor,
          subsystemDevice: s.subsystemDevice,
          revision: s.revision,
          vendorName: s.vendorName,
          deviceName: s.deviceName,
          className: s.className,
          subsystemName: s.subsystemName,
          numaNode: d.numaNode,
          iommuGroup: s.group,
          groupMembers: g === undefined ? [] : g.members.filter((m) => m !== s).map((m) => ({ address: m.address, class: m.class })),
          driver: d.driver,
          sriov: s.sriov,
          physfn: s.physfn,
          numVfs: d.numVfs,
          totalVfs: s.totalVfs,
          virtfns: d.virtfns,
          netInterfaces: d.netInterfaces,
          pcieRoot: s.pcieRoot,
          resetMethods: [...s.resetMethods],
          groupReservedRegions: g === undefined ? [] : [...groupRegions(s.group!, g)],
        };
      });
      return { host, devices };
    },
  };
}

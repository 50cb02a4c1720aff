/**
 * The scanner: reads every PCI device below a host root and reports those the filter
 * keeps. It never runs lspci; everything comes from sysfs/procfs under `hostRoot`.
 *
 * It is built for an agent that rescans every few seconds: a rescan re-reads what a cheap
 * change signal says may have changed, and re-validates everything else a share at a
 * time (every device, interface and IOMMU group has one of N = REFRESH_SCANS round-robin
 * slots and is re-read in full when its slot comes up). Freshness, per field:
 *
 * - devices added or removed (hotplug, VFs created or destroyed): next scan. One readdir
 *   of sys/bus/pci/devices per scan; when it changes, new devices are read in full and
 *   every cached device's directory identity (device, inode, birth time) is checked.
 * - a device removed and re-added at the same address: next scan if anything else in the
 *   listing or its driver changed meanwhile, else within N scans.
 * - driver: next scan (readdirs of sys/bus/pci/drivers and of each driver's directory,
 *   see driver-index.ts). A changed binding also re-reads that device's identity, IOMMU
 *   group and NUMA node at once.
 * - numVfs, virtfns: next scan (one pread of sriov_numvfs per PF; the virtfnN links are
 *   read again when the count changes). VFs re-created with the same count: within N.
 * - netInterfaces: next scan for an interface added, removed or renamed (one readdir of
 *   sys/class/net, see net-index.ts); two names swapped between two scans: within N.
 *   A host root without sys/class/net: every bound device's net/ is checked every scan.
 * - iommuGroupCount, iommuGroup, groupMembers: next scan. iommu_groups is listed when its
 *   link count moved (one stat per scan: a group is a subdirectory), on device or module
 *   changes, and again on the scan after, and every device's iommu_group link is then
 *   re-read (an IOMMU driver loaded as a module, or vfio's no-IOMMU groups made at bind
 *   time, give devices groups later). Short of those signals: within N scans.
 * - groupReservedRegions: next scan when the group's membership changes, else within N.
 * - iommuEnabled: with the group listing, and at least once in N scans.
 * - numaNode: within N scans (nothing but root, as a firmware workaround, rewrites it
 *   while the device exists); read at once for new and rebound devices.
 * - loadedModules: next scan (one readdir of sys/module).
 * - ids, names, class, revision, topology, SR-IOV capability, reset methods: once per
 *   device directory identity (see device-reader.ts). The filter only looks at these, so
 *   its verdict is cached with them.
 *
 * A steady-state rescan thus costs readdirs of sys/bus/pci/devices, sys/bus/pci/drivers
 * and each driver's directory, sys/module and sys/class/net, one stat, one pread per PF,
 * and 1/N of the full re-reads: about a hundred syscalls at 352 functions, where reading
 * each device's links and attributes took several per device. Reports are built from
 * cached values as new objects on every scan, so a caller may keep or modify them.
 */
import { realpathSync, statSync, type Stats } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigError, silentLogger, type DeviceReport, type GroupMember, type HostReport, type Logger } from '../common/index.js';
import { closeDeviceState, readIommuGroup, readNetDir, readNumaNode, readStaticInfo, readVfs, setDriver, type DeviceState, type StaticInfo } from './device-reader.js';
import { DriverIndex } from './driver-index.js';
import { GroupIndex } from './group-index.js';
import { HostFactsReader } from './host-facts.js';
import { NetIndex } from './net-index.js';
import { compareAddresses, isPciAddress } from './pci-address.js';
import { defaultFilter, matchesFilter, type PciFilter } from './pci-filter.js';
import { findPciIds, loadPciIds, type PciIds } from './pci-ids.js';
import { SysfsReader } from './sysfs-reader.js';

/**
 * Every device, network interface and IOMMU group is re-read in full at least once every
 * this many scans (1/N of them per scan): the bound on staleness for changes that leave
 * no cheaper trace. About five minutes at the agent's default 10 s interval; raising it
 * makes each rescan cheaper (at 352 functions, 1/16 per scan cost ~0.1 ms more than 1/32).
 */
export const REFRESH_SCANS = 32;

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
  /**
   * Reads the host: what changed since the last scan, per the guarantees above. A new
   * HostReport on every call; its device reports are frozen and are the same objects as
   * the last scan's for devices where nothing changed. Never throws for bad sysfs
   * content: it logs and reports what it can.
   */
  scan(): HostReport;
  /**
   * Releases the descriptors kept open between scans (a few per device). Optional for a
   * one-shot scan in a process about to exit; scan() after close() starts afresh.
   */
  close(): void;
}

/**
 * A device between scans, wrapping its static info rather than spreading it: V8 gave each
 * `{ ...info, reported, checked }` its own hidden class, and reading 256 such objects in
 * the report building cost ~1 ms per scan. Built by `cached()` only, so all share one.
 */
interface Cached {
  readonly address: string;
  readonly class: string;
  readonly sortKey: number;
  readonly info: StaticInfo;
  readonly state: DeviceState;
  /** The filter's verdict: it only looks at static fields. */
  readonly reported: boolean;
  /** Scan generation that last read the device's dynamic fields. */
  checked: number;
  /** The last report built for it (frozen), returned again while nothing in it changed. */
  last: DeviceReport | null;
}

function cached(info: StaticInfo, reported: boolean, checked: number): Cached {
  return { address: info.address, class: info.class, sortKey: info.sortKey, info, state: info.state, reported, checked, last: null };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const bySortKey = (a: Cached, b: Cached) => a.sortKey - b.sortKey || compareAddresses(a.address, b.address);

const NO_STRINGS: readonly string[] = Object.freeze([]);
const NO_MEMBERS: readonly Cached[] = Object.freeze([]);

/** A report's array, frozen; typed mutable because DeviceReport is the wire shape. */
const frozen = <T>(a: T[]): T[] => Object.freeze(a) as T[];

/** Whether a report's group members are still `members` without the device itself. */
function sameMembers(reported: readonly GroupMember[], members: readonly Cached[], self: Cached): boolean {
  if (members.length <= 1) return reported.length === 0;
  if (reported.length !== members.length - 1) return false;
  let i = 0;
  for (const m of members) {
    if (m === self) continue;
    const r = reported[i++]!;
    if (r.address !== m.address || r.class !== m.class) return false;
  }
  return true;
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
  const groups = new GroupIndex<Cached>(reader, join(hostRoot, 'sys/kernel/iommu_groups'));
  const drivers = new DriverIndex(reader, join(hostRoot, 'sys/bus/pci/drivers'));
  let net = new NetIndex(reader, join(hostRoot, 'sys/class/net'));
  const cache = new Map<string, Cached>();
  let sysDevices: string | null = null;

  /** sys/bus/pci/devices as last listed (null: never), and the PCI addresses in it. */
  let listing: string[] | null = null;
  let addresses: string[] = [];
  /** Cached devices in listing order; the reported ones in lspci order; addresses not read (dangling links, retried). */
  let entries: Cached[] = [];
  let reported: Cached[] = [];
  let unread: string[] = [];
  let generation = 0;
  /** Carried to the next scan while the kernel may still be probing: list groups and re-read group links again. */
  let settling = false;

  // Signals of the scan in progress.
  let gen = 0;
  let entriesChanged = false;
  let groupMoved = false;

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

  const stat = (path: string): Stats | null => {
    try {
      return statSync(path, { throwIfNoEntry: false }) ?? null;
    } catch (err) {
      reader.warn(path, 'cannot stat', err);
      return null;
    }
  };

  const groupOf = (c: Cached): number | null => (facts.hasGroups ? c.state.group : null);

  /** Reads a device in full: static info and every dynamic field a report needs. */
  const create = (address: string, st: Stats): Cached => {
    const identity = { dev: st.dev, ino: st.ino, birthtimeMs: st.birthtimeMs };
    const info = readStaticInfo(reader, address, `${busDevices}/${address}`, identity, realSysDevices(), db);
    const c = cached(info, matchesFilter(filter, info), gen);
    // Membership comes from every device's iommu_group link, reported or not.
    if (facts.hasGroups) readIommuGroup(reader, c.state);
    if (c.reported) {
      setDriver(c.state, drivers.of(address));
      readNumaNode(reader, c.state);
      readVfs(reader, c.state);
      if (!net.available) readNetDir(reader, c.state);
    }
    cache.set(address, c);
    entriesChanged = true;
    return c;
  };

  const tryCreate = (address: string): Cached | null => {
    const link = `${busDevices}/${address}`;
    const st = stat(link);
    if (st === null) {
      reader.warn(link, 'dangling device link');
      return null;
    }
    return create(address, st);
  };

  /** The device at c's address as it is now: c when its directory is the one cached, else a fresh read (or null: gone). */
  const revalidate = (c: Cached): Cached | null => {
    // The cached real path is half the price of going through the bus symlink; if it is
    // gone (the device moved under another bridge), resolve the link again.
    const st = stat(c.info.dir) ?? stat(`${busDevices}/${c.address}`);
    const id = c.info.identity;
    if (st !== null && id.ino === st.ino && id.dev === st.dev && id.birthtimeMs === st.birthtimeMs) return c;
    closeDeviceState(c.state);
    cache.delete(c.address);
    entriesChanged = true;
    return tryCreate(c.address);
  };

  /** A changed listing: hotplug is going on, so cached devices are re-validated too. */
  const applyListing = (names: string[]) => {
    const present = new Set<string>();
    for (const name of names) {
      if (!cache.has(name) && !isPciAddress(name)) {
        reader.warn(join(busDevices, name), 'not a PCI address, ignored');
        continue;
      }
      present.add(name);
      const hit = cache.get(name);
      if (hit !== undefined) revalidate(hit);
      else tryCreate(name);
    }
    for (const [address, c] of cache) {
      if (present.has(address)) continue;
      closeDeviceState(c.state);
      cache.delete(address);
    }
    listing = names;
    addresses = [...present];
    entriesChanged = true;
  };

  const rebuildEntries = () => {
    entries = [];
    unread = [];
    for (const address of addresses) {
      const c = cache.get(address);
      if (c !== undefined) entries.push(c);
      else unread.push(address);
    }
    reported = entries.filter((c) => c.reported).sort(bySortKey);
  };

  /** Identity, IOMMU group, NUMA node; false when the device was replaced or is gone (a replacement is read in full). */
  const deep = (c: Cached): boolean => {
    if (revalidate(c) !== c) return false;
    if (facts.hasGroups && readIommuGroup(reader, c.state)) groupMoved = true;
    if (c.reported) readNumaNode(reader, c.state);
    return true;
  };

  /** A device's per-scan reads: driver, VFs (and net/ without sys/class/net); everything when `full`. */
  const refresh = (c: Cached, full: boolean): void => {
    c.checked = gen;
    if (full && !deep(c)) return;
    if (!c.reported) return;
    // A rebind is when a device was most likely replaced, or gained a no-IOMMU group.
    if (setDriver(c.state, drivers.of(c.address)) && !full && !deep(c)) return;
    readVfs(reader, c.state);
    if (!net.available) readNetDir(reader, c.state);
  };

  /**
   * The device's report: the previous one while every field still holds, else a new one.
   * Reports are frozen and shared between scans: a steady rescan allocates no reports (the
   * young-generation GCs that fresh ones caused were the rescan's p99), and the agent tells
   * an unchanged scan by identity.
   */
  const report = (c: Cached): DeviceReport => {
    const st = c.state;
    const group = groupOf(c);
    const g = groups.get(group);
    const netInterfaces = st.driver === null ? NO_STRINGS : net.available ? net.of(c.address) : st.net;
    const regions = g === undefined || g.types === null ? NO_STRINGS : g.types;
    const last = c.last;
    if (
      last !== null &&
      last.numaNode === st.numaNode &&
      last.iommuGroup === group &&
      last.driver === st.driver &&
      last.numVfs === st.numVfs &&
      sameList(last.virtfns, st.virtfns) &&
      sameList(last.netInterfaces, netInterfaces) &&
      sameList(last.groupReservedRegions, regions) &&
      sameMembers(last.groupMembers, g === undefined ? NO_MEMBERS : g.members, c)
    ) {
      return last;
    }
    const s = c.info;
    const built: DeviceReport = {
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
      numaNode: st.numaNode,
      iommuGroup: group,
      groupMembers: frozen(g === undefined || g.members.length === 1 ? [] : g.members.filter((m) => m !== c).map((m) => Object.freeze({ address: m.address, class: m.class }))),
      driver: st.driver,
      sriov: s.sriov,
      physfn: s.physfn,
      numVfs: st.numVfs,
      totalVfs: s.totalVfs,
      // Copies: the scanner's own arrays change in place; a report never does.
      virtfns: frozen(st.virtfns.slice()),
      netInterfaces: frozen(netInterfaces.slice()),
      pcieRoot: s.pcieRoot,
      resetMethods: frozen(s.resetMethods.slice()),
      groupReservedRegions: frozen(regions.slice()),
    };
    c.last = Object.freeze(built) as DeviceReport;
    return c.last;
  };

  return {
    hostRoot,
    pciIdsPath: db?.path ?? null,
    close(): void {
      for (const c of cache.values()) closeDeviceState(c.state);
      cache.clear();
      groups.close();
      drivers.clear();
      facts.reset();
      net = new NetIndex(reader, join(hostRoot, 'sys/class/net'));
      listing = null;
      addresses = [];
      entries = [];
      reported = [];
      unread = [];
      settling = false;
    },
    scan(): HostReport {
      gen = ++generation;
      const slot = gen % REFRESH_SCANS;
      const first = listing === null;
      entriesChanged = false;
      groupMoved = false;

      // Before the devices: new ones are read with their driver, and whether
      // sys/class/net exists decides how net/ is read.
      drivers.refresh();
      net.refresh(slot, REFRESH_SCANS);
      const modulesChanged = facts.refreshModules();
      const names = reader.listDir(busDevices);
      const listingChanged = listing === null || !sameList(names, listing);
      if (listingChanged) applyListing(names);
      else for (const address of unread) tryCreate(address);
      if (entriesChanged) rebuildEntries();

      // This scan's share of full re-reads, then the per-scan reads of the reported devices.
      for (let i = slot; i < entries.length; i += REFRESH_SCANS) refresh(entries[i]!, true);
      for (const c of reported) if (c.checked !== gen) refresh(c, false);
      if (entriesChanged) rebuildEntries();

      const countMoved = facts.groupCountMoved();
      // A group made or freed moves the count (vfio's no-IOMMU groups come with a bind);
      // one freed and another made between two scans comes with a device change.
      const listIommu = first || countMoved || entriesChanged || modulesChanged || settling;
      const groupsChanged = listIommu && facts.refreshIommu();
      if (!listIommu && slot === 0) facts.refreshUnits();
      if ((groupsChanged || modulesChanged || settling) && facts.hasGroups) {
        for (const c of entries) if (readIommuGroup(reader, c.state)) groupMoved = true;
      }
      settling = (groupsChanged && !first) || modulesChanged;
      if (entriesChanged || groupMoved || groupsChanged) groups.rebuild(entries, groupOf);
      for (const c of reported) {
        const g = groups.get(groupOf(c));
        if (g === undefined || g.checked === gen) continue;
        g.checked = gen;
        groups.regions(g, groupsChanged || c.state.group! % REFRESH_SCANS === slot);
      }
      return { host: { name: hostName, ...facts.read() }, devices: reported.map(report) };
    },
  };
}

/**
 * Reads one PCI device directory. Split because the agent rescans every few seconds:
 * `readStaticInfo` covers what cannot change while the device exists (ids, names, class,
 * subsystem, revision, topology, SR-IOV capability, reset methods) and is cached by the
 * scanner; the small readers below cover one dynamic field each (IOMMU group, NUMA node,
 * VFs, net/; the driver comes from driver-index.ts), so the scanner can re-read exactly
 * what a change signal names.
 * How often each one runs is the scanner's business (see scanner.ts).
 */
import { basename, join, relative, sep } from 'node:path';
import { existsSync, realpathSync } from 'node:fs';
import type { DeviceReport } from '../common/index.js';
import { lookupNames, type DeviceNames, type PciIds } from './pci-ids.js';
import { addressSortKey, pcieRootFromPath, shortAddress } from './pci-address.js';
import { attrFile, closeAttr, parseHexAttr, parseIntAttr, type AttrFile, type SysfsReader } from './sysfs-reader.js';

/**
 * What the per-scan reads need, prepared once per device (joined paths, descriptors kept
 * open for the attributes), and the last value seen of every dynamic field: the scanner
 * re-reads only what a change signal or the refresh round robin says may have changed,
 * and builds reports from these values.
 */
export interface DeviceState {
  groupPath: string;
  netPath: string;
  virtfnPrefix: string;
  numaNodeFile: AttrFile;
  sriovNumVfs: AttrFile | null;
  /** Bound driver (driver-index.ts), null when unbound. */
  driver: string | null;
  /** Whether the last read found an iommu_group link (absent ones are checked without a throw). */
  hadGroup: boolean;
  /** Last iommu_group link target and its group number. */
  groupLink: string | null;
  group: number | null;
  numaNode: number | null;
  numVfs: number | null;
  /** VF addresses follow from the PF's SR-IOV capability and sriov_numvfs alone. */
  virtfns: string[];
  /** sriov_numvfs value `virtfns` was read for; null = read them again. */
  virtfnsFor: number | null;
  /** Interface names under net/, when the scanner lists them per device (no sys/class/net). */
  net: string[];
}

/** Releases the descriptors of a device that is gone or replaced. */
export function closeDeviceState(state: DeviceState): void {
  closeAttr(state.numaNodeFile);
  if (state.sriovNumVfs) closeAttr(state.sriovNumVfs);
}

/** What tells a device directory from one re-created at the same path (hotplug). */
export interface DirIdentity {
  dev: number;
  ino: number;
  birthtimeMs: number;
}

/** The report fields that cannot change while the device exists. */
type StaticReportFields = Pick<
  DeviceReport,
  'address' | 'shortAddress' | 'vendor' | 'device' | 'class' | 'progIf' | 'subsystemVendor' | 'subsystemDevice' | 'revision' | 'pcieRoot' | 'sriov' | 'totalVfs' | 'physfn'
>;

export interface StaticInfo extends DeviceNames, StaticReportFields {
  /** Identity of the device directory when this was read. */
  identity: DirIdentity;
  /** Real path of the device directory. */
  dir: string;
  state: DeviceState;
  sortKey: number;
  /**
   * Static too: reset_method is only rewritten by an administrator restricting resets,
   * and re-reading it costs a file read per device per scan.
   */
  resetMethods: string[];
}

function hexAttr(reader: SysfsReader, dir: string, name: string, digits: number): string {
  const path = join(dir, name);
  const text = reader.readText(path);
  if (text === null) return '';
  const value = parseHexAttr(text, digits);
  if (value === null) reader.warn(path, `unexpected content ${JSON.stringify(text.trim())}`);
  return value ?? '';
}

function countAttr(reader: SysfsReader, path: string, optional: boolean): number | null {
  return parseCount(reader, path, reader.readText(path, optional));
}

/**
 * @param busLink `ROOT/sys/bus/pci/devices/<address>`
 * @param sysDevices real path of `ROOT/sys/devices`, to locate the device in the topology
 */
export function readStaticInfo(
  reader: SysfsReader,
  address: string,
  busLink: string,
  identity: DirIdentity,
  sysDevices: string,
  db: PciIds | null,
): StaticInfo {
  let dir = busLink;
  try {
    dir = realpathSync(busLink);
  } catch (err) {
    reader.warn(busLink, 'cannot resolve link', err);
  }
  const rel = relative(sysDevices, dir).split(sep).join('/');
  const cls6 = hexAttr(reader, dir, 'class', 6);
  const ids = {
    vendor: hexAttr(reader, dir, 'vendor', 4),
    device: hexAttr(reader, dir, 'device', 4),
    class: cls6.slice(0, 4),
    subsystemVendor: hexAttr(reader, dir, 'subsystem_vendor', 4),
    subsystemDevice: hexAttr(reader, dir, 'subsystem_device', 4),
  };
  const totalVfs = countAttr(reader, join(dir, 'sriov_totalvfs'), true);
  const physfnLink = reader.readLink(join(dir, 'physfn'));
  const resetText = reader.readText(join(dir, 'reset_method'), true);
  return {
    identity,
    dir,
    state: {
      groupPath: join(dir, 'iommu_group'),
      netPath: join(dir, 'net'),
      virtfnPrefix: join(dir, 'virtfn'),
      numaNodeFile: attrFile(join(dir, 'numa_node')),
      sriovNumVfs: totalVfs !== null ? attrFile(join(dir, 'sriov_numvfs')) : null,
      driver: null,
      // "Had" at first, so a new device costs one readlink (most devices have a group).
      hadGroup: true,
      groupLink: null,
      group: null,
      numaNode: null,
      numVfs: null,
      virtfns: [],
      virtfnsFor: null,
      net: [],
    },
    sortKey: addressSortKey(address),
    address,
    shortAddress: shortAddress(address),
    ...ids,
    progIf: cls6.slice(4),
    revision: hexAttr(reader, dir, 'revision', 2),
    ...lookupNames(db, ids),
    pcieRoot: rel.startsWith('..') ? null : pcieRootFromPath(rel, address),
    sriov: physfnLink !== null ? 'vf' : totalVfs !== null ? 'pf' : 'no',
    totalVfs,
    physfn: physfnLink === null ? null : basename(physfnLink),
    resetMethods: resetText === null ? [] : resetText.split(/\s+/).filter(Boolean),
  };
}

/** Last component of a link target; path.basename validates and normalises, which shows at scale. */
function lastPart(link: string): string {
  return link.slice(link.lastIndexOf('/') + 1);
}

function parseCount(reader: SysfsReader, path: string, text: string | null): number | null {
  const n = parseIntAttr(text);
  if (text !== null && n === null) reader.warn(path, `unexpected content ${JSON.stringify(text.trim())}`);
  return n;
}

/**
 * True when net/ still holds exactly the interfaces of the last scan, checked without
 * listing it (a listing is ~5 syscalls): a directory's link count is 2 + its
 * subdirectories (kernfs keeps it exact, as ext4 does), and every interface is a
 * subdirectory; same count and every old name still there means the same set. A rename
 * or a new or removed interface fails the check and the directory is listed again.
 */
function sameNet(reader: SysfsReader, st: DeviceState): boolean {
  if (st.net.length === 0) return false;
  if (reader.linkCount(st.netPath) !== st.net.length + 2) return false;
  return st.net.every((name) => existsSync(`${st.netPath}/${name}`));
}

/**
 * The device's IOMMU group from its `iommu_group` link; null without one. Returns true
 * when the group changed. A device can gain a group after boot (an IOMMU driver loaded as
 * a module, or vfio's no-IOMMU mode at bind time).
 */
export function readIommuGroup(reader: SysfsReader, st: DeviceState): boolean {
  const link = st.hadGroup ? reader.readLinkExpected(st.groupPath) : reader.readLink(st.groupPath);
  st.hadGroup = link !== null;
  if (link === st.groupLink) return false;
  st.groupLink = link;
  const before = st.group;
  if (link === null) {
    st.group = null;
  } else {
    st.group = parseIntAttr(lastPart(link));
    if (st.group === null) reader.warn(st.groupPath, `unexpected link target ${link}`);
  }
  return st.group !== before;
}

/** Records the device's driver as the driver directories show it; true when the binding changed. */
export function setDriver(st: DeviceState, driver: string | null): boolean {
  if (driver === st.driver) return false;
  st.driver = driver;
  return true;
}

/** numa_node, through its kept-open descriptor; -1 (no NUMA) is reported as null. */
export function readNumaNode(reader: SysfsReader, st: DeviceState): void {
  const numa = parseCount(reader, st.numaNodeFile.path, reader.readAttr(st.numaNodeFile));
  st.numaNode = numa === null || numa < 0 ? null : numa;
}

/** A PF's sriov_numvfs and, when the count differs from the last read, its virtfnN links. */
export function readVfs(reader: SysfsReader, st: DeviceState): void {
  if (st.sriovNumVfs === null) return;
  const numVfs = parseCount(reader, st.sriovNumVfs.path, reader.readAttr(st.sriovNumVfs));
  st.numVfs = numVfs;
  if (numVfs === null) {
    st.virtfns = [];
    st.virtfnsFor = null;
    return;
  }
  if (numVfs === st.virtfnsFor) return;
  const virtfns: string[] = [];
  // virtfnN exist for N < sriov_numvfs; reading them by index avoids listing the directory.
  for (let i = 0; i < numVfs; i++) {
    const link = reader.readLinkExpected(st.virtfnPrefix + i);
    if (link !== null) virtfns.push(lastPart(link));
  }
  st.virtfns = virtfns;
  // A partial list (VFs still being created) is read again on the next scan.
  st.virtfnsFor = virtfns.length === numVfs ? numVfs : null;
}

/**
 * The interfaces under the device's own net/ directory, for hosts without sys/class/net.
 * Network interfaces are created by a bound driver; without one there are none to list.
 */
export function readNetDir(reader: SysfsReader, st: DeviceState): void {
  if (st.driver === null) st.net = [];
  else if (!sameNet(reader, st)) st.net = reader.listDir(st.netPath, true).sort();
}

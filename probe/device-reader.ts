/**
 * Reads one PCI device directory. Split in two because the agent rescans every few
 * seconds: `readStaticInfo` covers what cannot change while the device exists (ids,
 * names, class, subsystem, revision, topology, SR-IOV capability, reset methods) and is
 * cached by the scanner; `readDynamicInfo` covers what binding, SR-IOV reconfiguration
 * or udev can change (driver, VFs, net interfaces, NUMA node, IOMMU group link).
 */
import { basename, join, relative, sep } from 'node:path';
import { existsSync, realpathSync } from 'node:fs';
import type { DeviceReport } from '../common/index.js';
import { lookupNames, type DeviceNames, type PciIds } from './pci-ids.js';
import { addressSortKey, pcieRootFromPath, shortAddress } from './pci-address.js';
import { attrFile, closeAttr, parseHexAttr, parseIntAttr, type AttrFile, type SysfsReader } from './sysfs-reader.js';

/**
 * What the per-scan reads need, prepared once per device: joined paths (path.join is not
 * free at 256 devices x every few seconds), descriptors kept open for the attributes, and
 * what the last scan saw, so the common case costs one syscall per item: a link that was
 * there is read directly, one that was not is only checked for (cheap when absent, and a
 * failed readlink is an exception, which is costly in V8).
 */
export interface DeviceState {
  driverPath: string;
  groupPath: string;
  netPath: string;
  virtfnPrefix: string;
  numaNode: AttrFile;
  sriovNumVfs: AttrFile | null;
  hadDriver: boolean;
  hadGroup: boolean;
  /** Last iommu_group link target and its group number. */
  groupLink: string | null;
  group: number | null;
  /** Interface names the last scan found under net/. */
  net: string[];
  /** VF addresses follow from the PF's SR-IOV capability and sriov_numvfs alone. */
  virtfns: { numVfs: number; list: string[] } | null;
}

/** Releases the descriptors of a device that is gone or replaced. */
export function closeDeviceState(state: DeviceState): void {
  closeAttr(state.numaNode);
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

export interface DynamicInfo {
  driver: string | null;
  numaNode: number | null;
  numVfs: number | null;
  virtfns: string[];
  netInterfaces: string[];
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
      driverPath: join(dir, 'driver'),
      groupPath: join(dir, 'iommu_group'),
      netPath: join(dir, 'net'),
      virtfnPrefix: join(dir, 'virtfn'),
      numaNode: attrFile(join(dir, 'numa_node')),
      sriovNumVfs: totalVfs !== null ? attrFile(join(dir, 'sriov_numvfs')) : null,
      hadDriver: true,
      hadGroup: true,
      groupLink: null,
      group: null,
      net: [],
      virtfns: null,
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
 * The device's IOMMU group from its `iommu_group` link; null without one. Read on every
 * scan for every device (not only reported ones): group membership comes from these links.
 * A device can gain its group after boot (an IOMMU driver loaded as a module).
 */
export function readIommuGroup(reader: SysfsReader, info: StaticInfo): number | null {
  const st = info.state;
  const link = st.hadGroup ? reader.readLinkExpected(st.groupPath) : reader.readLink(st.groupPath);
  st.hadGroup = link !== null;
  if (link === null) return null;
  if (link === st.groupLink) return st.group;
  const n = parseIntAttr(lastPart(link));
  if (n === null) reader.warn(st.groupPath, `unexpected link target ${link}`);
  st.groupLink = link;
  st.group = n;
  return n;
}

/** The rest of what can change while the device exists, for reported devices only. */
export function readDynamicInfo(reader: SysfsReader, info: StaticInfo): DynamicInfo {
  const st = info.state;
  const driverLink = st.hadDriver ? reader.readLinkExpected(st.driverPath) : reader.readLink(st.driverPath);
  st.hadDriver = driverLink !== null;
  const driver = driverLink === null ? null : lastPart(driverLink);
  const numa = parseCount(reader, st.numaNode.path, reader.readAttr(st.numaNode));

  let numVfs: number | null = null;
  let virtfns: string[] = [];
  if (st.sriovNumVfs !== null) {
    numVfs = parseCount(reader, st.sriovNumVfs.path, reader.readAttr(st.sriovNumVfs));
    if (st.virtfns !== null && st.virtfns.numVfs === numVfs) {
      virtfns = st.virtfns.list;
    } else if (numVfs !== null) {
      // virtfnN exist for N < sriov_numvfs; reading them by index avoids listing the directory.
      for (let i = 0; i < numVfs; i++) {
        const link = reader.readLinkExpected(st.virtfnPrefix + i);
        if (link !== null) virtfns.push(lastPart(link));
      }
      st.virtfns = virtfns.length === numVfs ? { numVfs, list: virtfns } : null;
    }
  }

  // Network interfaces are created by a bound driver; without one there are none to list.
  let netInterfaces: string[] = [];
  if (driver !== null) {
    netInterfaces = sameNet(reader, st) ? st.net : reader.listDir(st.netPath, true).sort();
    st.net = netInterfaces;
  }
  // Copies: the cached arrays must not be shared with reports a caller may modify.
  return { driver, numaNode: numa === null || numa < 0 ? null : numa, numVfs, virtfns: [...virtfns], netInterfaces: [...netInterfaces] };
}

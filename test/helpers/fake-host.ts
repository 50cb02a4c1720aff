/**
 * A fake Linux host for tests: a temp directory ROOT laid out exactly like the
 * kernel's sysfs/procfs, so the probe (and lspci, via `-O sysfs.path=ROOT/sys/bus/pci`)
 * can read it as if it were `/`. Pass `host.root` as the probe's `--host-root`.
 *
 * API (all mutators are synchronous; the tree is always consistent after each call):
 *
 *   const host = await buildFakeHost({
 *     iommu: true,                       // sys/class/iommu/dmar0 (Intel) or ivhd0 (AMD); false = no IOMMU
 *     cpuVendor: 'GenuineIntel',         // proc/cpuinfo vendor_id; null = no vendor_id line
 *     cmdline: 'ro quiet intel_iommu=on', // proc/cmdline
 *     modules: ['vfio_pci', 'vfio_iommu_type1'], // sys/module/<name>/
 *     devices: [
 *       { address: '0000:00:01.0', vendor: '8086', device: '1901', class: '060400', iommuGroup: 1, driver: 'pcieport' },
 *       { address: '0000:01:00.0', vendor: '10de', device: '1b80', class: '030000', parent: '0000:00:01.0',
 *         iommuGroup: 1, driver: 'nvidia', numaNode: 0, resetMethods: ['bus'] },
 *     ],
 *     reservedRegions: { 1: ['msi', 'direct'] }, // default: every group gets ['msi']
 *     pciIds: FAKE_PCI_IDS,              // written to ROOT/usr/share/misc/pci.ids (default: none)
 *   });
 *   try { ...createScanner({ hostRoot: host.root, ... }) } finally { await host.cleanup(); }
 *
 * `buildFakeHostSync(options)` does the same without the Promise.
 * FakeHost: root, sysfsPciPath (ROOT/sys/bus/pci), addDevice(spec), removeDevice(addr)
 * (also removes the VFs of a PF and the devices below a bridge, like the kernel, and frees
 * emptied groups), bindDriver(addr, name | null) (moves the driver/<addr> links both ways),
 * deviceDir(addr) (the real dir under sys/devices), writeDeviceFile(addr, relPath, text),
 * removeDeviceFile(addr, relPath), loadModule(name), unloadModule(name),
 * writeRoot(relPath, text), cleanup(). Writes rewrite files in place, as sysfs does.
 * Network interfaces (`netInterfaces`, or any `net/IF/...` written with writeDeviceFile)
 * get their `sys/class/net/IF` link, as the kernel makes one per interface; removing
 * `net/IF` or `net` with removeDeviceFile, or the device, removes the links too.
 *
 * Device spec rules: `parent` is the upstream bridge/root port (omit for the root bus);
 * `sriovTotalVfs` makes a PF; a device with `physfn` is a VF of that PF (it sits next to
 * the PF, and the PF's virtfnN links and sriov_numvfs follow the VFs that exist).
 * Driver dirs (bind, unbind, new_id, remove_id) exist for every driver used, for
 * `options.drivers`, and for vfio-pci when `modules` has vfio_pci.
 * Besides the files the probe reads, each device gets `config` (256 bytes, a header that
 * agrees with the attribute files, with an SSVID capability for bridges), `resource` and
 * `irq`, which lspci needs:
 *   lspci -mm -O sysfs.path=$ROOT/sys/bus/pci -O hwdb.disable=1 -i $ROOT/usr/share/misc/pci.ids
 *
 * Ready-made scenarios (each returns a FakeHost with FAKE_PCI_IDS installed; pass options
 * to override any of theirs, e.g. `sriovNicHost({ modules: [] })`):
 *   gpuHostSharedGroup()  Intel, two GTX GPUs + HDMI audio and both root ports in group 1
 *                         (no ACS), USB 00:14.0 group 2 (direct-relaxable), PCH 00:1f.* group 3,
 *                         iGPU 00:02.0 group 4 (direct), host bridge 00:00.0 group 0 (no driver).
 *   gpuHostSplitGroups()  same devices after pcie_acs_override: 00:01.0 g1, 00:01.1 g5,
 *                         01:00.x g6, 02:00.x g7 (02:00.x bound to vfio-pci).
 *   sriovNicHost()        AMD; root port 0000:40:01.1 (g10, NUMA 1); ConnectX-5 PF 0000:41:00.0
 *                         (8 total, VFs 41:00.2-41:00.5: mlx5_core x2, vfio-pci, none) and PF
 *                         41:00.1 with 0 VFs; groups have msi + reserved regions.
 *   edgeCaseHost()        AMD; I210 NIC 0000:02:00.0 with no driver and NUMA -1 under root port
 *                         00:01.1; NVMe 0001:01:00.0 in domain 0001 under 0001:00:02.0;
 *                         a device on the root bus (00:08.0) with no reset_method.
 */
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync, existsSync, readlinkSync, readdirSync, unlinkSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname, relative, basename } from 'node:path';

export interface FakeDevice {
  /** Full address `dddd:bb:dd.f`. */
  address: string;
  vendor: string;
  device: string;
  /** 6 hex digits (class, subclass, prog-if); 4 digits get prog-if 00. */
  class: string;
  subsystemVendor?: string;
  subsystemDevice?: string;
  /** 2 hex digits, default `00`. */
  revision?: string;
  /** Address of the upstream bridge or root port; omit for a device on the root bus. */
  parent?: string;
  iommuGroup?: number | null;
  driver?: string | null;
  /** Default -1, as the kernel reports on non-NUMA machines. */
  numaNode?: number;
  /** Content of `reset_method`; omitted = no file (a device without reset methods). */
  resetMethods?: string[];
  /** Makes the device an SR-IOV PF. */
  sriovTotalVfs?: number;
  /** Makes the device a VF of this PF (which must exist already). */
  physfn?: string;
  netInterfaces?: string[];
}

export interface FakeHostOptions {
  /** Existing empty dir to build in; default a fresh mkdtemp dir. */
  root?: string;
  iommu?: boolean;
  cpuVendor?: string | null;
  cpus?: number;
  cmdline?: string;
  modules?: string[];
  /** Extra driver dirs under sys/bus/pci/drivers (vfio-pci is added when vfio_pci is loaded). */
  drivers?: string[];
  devices?: FakeDevice[];
  /** Region types per group: msi, direct, direct-relaxable, reserved. Default ['msi']. */
  reservedRegions?: Record<number, string[]>;
  /** pci.ids text to install; false/undefined installs none. */
  pciIds?: string | false;
  pciIdsLocation?: 'misc' | 'hwdata';
}

export interface FakeHost {
  readonly root: string;
  /** `ROOT/sys/bus/pci`, lspci's `sysfs.path`. */
  readonly sysfsPciPath: string;
  addDevice(spec: FakeDevice): void;
  removeDevice(address: string): void;
  bindDriver(address: string, driver: string | null): void;
  deviceDir(address: string): string;
  writeDeviceFile(address: string, name: string, text: string): void;
  removeDeviceFile(address: string, name: string): void;
  loadModule(name: string): void;
  unloadModule(name: string): void;
  /** Write any file below ROOT, e.g. `proc/cmdline`. */
  writeRoot(relPath: string, text: string): void;
  cleanup(): Promise<void>;
}

/** Address ranges the kernel prints for each region type (values as on real x86 hosts). */
const REGION_LINES: Record<string, string> = {
  'direct-relaxable': '0x000000007d000000 0x000000007f7fffff direct-relaxable',
  direct: '0x000000008b800000 0x000000008fffffff direct',
  msi: '0x00000000fee00000 0x00000000feefffff msi',
  reserved: '0x000000fd00000000 0x000000ffffffffff reserved',
};

const ADDR_RE = /^([0-9a-f]{4,5}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/;

function hexId(value: string, digits: number, what: string): string {
  if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(value)) throw new Error(`fake-host: ${what} must be ${digits} hex digits, got '${value}'`);
  return value.toLowerCase();
}

/** The 64-byte type 0/1 config header lspci reads; bridges get an SSVID capability at 0x40. */
function configSpace(d: Required<Pick<FakeDevice, 'vendor' | 'device' | 'class' | 'subsystemVendor' | 'subsystemDevice' | 'revision'>>): Buffer {
  const buf = Buffer.alloc(256);
  buf.writeUInt16LE(parseInt(d.vendor, 16), 0);
  buf.writeUInt16LE(parseInt(d.device, 16), 2);
  buf.writeUInt8(parseInt(d.revision, 16), 8);
  buf.writeUInt8(parseInt(d.class.slice(4, 6), 16), 9);
  buf.writeUInt8(parseInt(d.class.slice(2, 4), 16), 10);
  buf.writeUInt8(parseInt(d.class.slice(0, 2), 16), 11);
  const bridge = d.class.startsWith('0604');
  buf.writeUInt8(bridge ? 1 : 0, 14);
  if (bridge) {
    buf.writeUInt16LE(0x0010, 6); // status: capability list present
    buf.writeUInt8(0x40, 0x34);
    buf.writeUInt8(0x0d, 0x40); // PCI_CAP_ID_SSVID, next = 0
    buf.writeUInt16LE(parseInt(d.subsystemVendor, 16), 0x44);
    buf.writeUInt16LE(parseInt(d.subsystemDevice, 16), 0x46);
  } else {
    buf.writeUInt16LE(parseInt(d.subsystemVendor, 16), 0x2c);
    buf.writeUInt16LE(parseInt(d.subsystemDevice, 16), 0x2e);
  }
  return buf;
}

function link(linkPath: string, target: string): void {
  mkdirSync(dirname(linkPath), { recursive: true });
  rmSync(linkPath, { force: true });
  // Relative, like the kernel's links, so the tree works wherever ROOT is.
  symlinkSync(relative(dirname(linkPath), target), linkPath);
}

function addrKey(a: string): number[] {
  const m = ADDR_RE.exec(a);
  return m ? m.slice(1).map((x) => parseInt(x, 16)) : [];
}

function compareAddr(a: string, b: string): number {
  const x = addrKey(a);
  const y = addrKey(b);
  for (let i = 0; i < 4; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

export function buildFakeHostSync(options: FakeHostOptions = {}): FakeHost {
  const root = options.root ?? mkdtempSync(join(tmpdir(), 'pcisched-fakehost-'));
  const sys = join(root, 'sys');
  const busPci = join(sys, 'bus/pci');
  const groupsDir = join(sys, 'kernel/iommu_groups');
  const cpuVendor = options.cpuVendor === undefined ? 'GenuineIntel' : options.cpuVendor;
  const iommu = options.iommu ?? true;
  const regions = options.reservedRegions ?? {};
  const specs = new Map<string, FakeDevice>();
  const dirs = new Map<string, string>();

  const write = (p: string, text: string | Buffer) => {
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  };
  const ensureDriver = (name: string) => {
    const d = join(busPci, 'drivers', name);
    for (const f of ['bind', 'unbind', 'new_id', 'remove_id', 'uevent']) if (!existsSync(join(d, f))) write(join(d, f), '');
    return d;
  };

  mkdirSync(join(busPci, 'devices'), { recursive: true });
  mkdirSync(join(busPci, 'drivers'), { recursive: true });
  write(join(busPci, 'drivers_probe'), '');
  write(join(busPci, 'rescan'), '');
  mkdirSync(groupsDir, { recursive: true });
  mkdirSync(join(sys, 'class/iommu'), { recursive: true });
  mkdirSync(join(sys, 'class/net'), { recursive: true });
  if (iommu) {
    const unit = cpuVendor === 'AuthenticAMD' ? 'ivhd0' : 'dmar0';
    mkdirSync(join(sys, 'devices/virtual/iommu', unit), { recursive: true });
    link(join(sys, 'class/iommu', unit), join(sys, 'devices/virtual/iommu', unit));
  }
  mkdirSync(join(sys, 'module'), { recursive: true });
  const modules = options.modules ?? [];
  for (const m of modules) mkdirSync(join(sys, 'module', m), { recursive: true });
  for (const d of options.drivers ?? []) ensureDriver(d);
  if (modules.includes('vfio_pci')) ensureDriver('vfio-pci');
  write(join(root, 'proc/cmdline'), `${options.cmdline ?? 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0f3c2a7e ro quiet'}\n`);
  const cpuBlocks: string[] = [];
  for (let i = 0; i < (options.cpus ?? 2); i++) {
    cpuBlocks.push(`processor\t: ${i}\n${cpuVendor === null ? '' : `vendor_id\t: ${cpuVendor}\n`}cpu family\t: 6\nmodel name\t: Fake CPU\nflags\t\t: fpu vme de pse ${cpuVendor === 'AuthenticAMD' ? 'svm' : 'vmx'}\n`);
  }
  write(join(root, 'proc/cpuinfo'), cpuBlocks.join('\n') + '\n');
  if (options.pciIds) write(join(root, options.pciIdsLocation === 'hwdata' ? 'usr/share/hwdata/pci.ids' : 'usr/share/misc/pci.ids'), options.pciIds);

  const dirOf = (address: string): string => {
    const d = dirs.get(address);
    if (!d) throw new Error(`fake-host: no device ${address}`);
    return d;
  };

  /** Rewrites the PF's virtfnN links and sriov_numvfs from the VFs that exist now. */
  const syncVfs = (pf: string) => {
    const pfDir = dirOf(pf);
    for (const f of readdirSync(pfDir)) if (/^virtfn\d+$/.test(f)) unlinkSync(join(pfDir, f));
    const vfs = [...specs.values()].filter((s) => s.physfn === pf).map((s) => s.address).sort(compareAddr);
    vfs.forEach((vf, i) => link(join(pfDir, `virtfn${i}`), dirOf(vf)));
    write(join(pfDir, 'sriov_numvfs'), `${vfs.length}\n`);
  };

  /** sys/class/net/IF links into the device's net/ (all of them, or only `ifname`'s) follow net/. */
  const classNet = join(sys, 'class/net');
  const linkNet = (address: string, ifname: string) => link(join(classNet, ifname), join(dirOf(address), 'net', ifname));
  const unlinkNet = (address: string, ifname?: string) => {
    const netDir = join(dirOf(address), 'net');
    for (const name of ifname === undefined ? readdirSync(classNet) : [ifname]) {
      const p = join(classNet, name);
      if (isLink(p) && join(classNet, readlinkSync(p)) === join(netDir, name)) unlinkSync(p);
    }
  };

  const writeGroupRegions = (group: number) => {
    const types = regions[group] ?? ['msi'];
    write(join(groupsDir, String(group), 'reserved_regions'), types.map((t) => REGION_LINES[t] ?? `0x0000000000000000 0x0000000000000fff ${t}`).join('\n') + (types.length ? '\n' : ''));
    write(join(groupsDir, String(group), 'type'), 'DMA-FQ\n');
  };

  const host: FakeHost = {
    root,
    sysfsPciPath: busPci,
    addDevice(spec) {
      const m = ADDR_RE.exec(spec.address);
      if (!m) throw new Error(`fake-host: bad address '${spec.address}'`);
      if (specs.has(spec.address)) throw new Error(`fake-host: ${spec.address} exists`);
      const pf = spec.physfn ? specs.get(spec.physfn) : undefined;
      if (spec.physfn && !pf) throw new Error(`fake-host: PF ${spec.physfn} of ${spec.address} does not exist`);
      const parent = spec.parent ?? pf?.parent;
      const cls = hexId(spec.class.length === 4 ? `${spec.class}00` : spec.class, 6, 'class');
      const d = {
        vendor: hexId(spec.vendor, 4, 'vendor'),
        device: hexId(spec.device, 4, 'device'),
        class: cls,
        subsystemVendor: hexId(spec.subsystemVendor ?? '0000', 4, 'subsystemVendor'),
        subsystemDevice: hexId(spec.subsystemDevice ?? '0000', 4, 'subsystemDevice'),
        revision: hexId(spec.revision ?? '00', 2, 'revision'),
      };
      const base = parent ? dirOf(parent) : join(sys, 'devices', `pci${m[1]}:${m[2]}`);
      const dir = join(base, spec.address);
      mkdirSync(dir, { recursive: true });
      specs.set(spec.address, { ...spec, parent });
      dirs.set(spec.address, dir);
      const files: Record<string, string> = {
        vendor: `0x${d.vendor}\n`,
        device: `0x${d.device}\n`,
        class: `0x${d.class}\n`,
        subsystem_vendor: `0x${d.subsystemVendor}\n`,
        subsystem_device: `0x${d.subsystemDevice}\n`,
        revision: `0x${d.revision}\n`,
        numa_node: `${spec.numaNode ?? -1}\n`,
        driver_override: '(null)\n',
        irq: '0\n',
        enable: '1\n',
        remove: '',
        rescan: '',
        resource: '0x0000000000000000 0x0000000000000000 0x0000000000000000\n'.repeat(13),
        modalias: `pci:v0000${d.vendor}d0000${d.device}sv0000${d.subsystemVendor}sd0000${d.subsystemDevice}bc${cls.slice(0, 2)}sc${cls.slice(2, 4)}i${cls.slice(4)}\n`.toUpperCase().replace('PCI:V', 'pci:v'),
      };
      for (const [name, text] of Object.entries(files)) write(join(dir, name), text);
      write(join(dir, 'config'), configSpace(d));
      link(join(dir, 'subsystem'), busPci);
      if (spec.resetMethods) {
        write(join(dir, 'reset_method'), `${spec.resetMethods.join(' ')}\n`);
        write(join(dir, 'reset'), '');
      }
      if (spec.sriovTotalVfs !== undefined) {
        write(join(dir, 'sriov_totalvfs'), `${spec.sriovTotalVfs}\n`);
        write(join(dir, 'sriov_numvfs'), '0\n');
        write(join(dir, 'sriov_drivers_autoprobe'), '1\n');
      }
      for (const ifname of spec.netInterfaces ?? []) {
        write(join(dir, 'net', ifname, 'address'), '02:00:00:00:00:01\n');
        linkNet(spec.address, ifname);
      }
      link(join(busPci, 'devices', spec.address), dir);
      if (spec.iommuGroup !== undefined && spec.iommuGroup !== null) {
        const g = join(groupsDir, String(spec.iommuGroup));
        if (!existsSync(join(g, 'reserved_regions'))) writeGroupRegions(spec.iommuGroup);
        link(join(g, 'devices', spec.address), dir);
        link(join(dir, 'iommu_group'), g);
      }
      if (spec.driver) host.bindDriver(spec.address, spec.driver);
      if (spec.physfn) {
        link(join(dir, 'physfn'), dirOf(spec.physfn));
        syncVfs(spec.physfn);
      }
    },
    removeDevice(address) {
      const spec = specs.get(address);
      if (!spec) throw new Error(`fake-host: no device ${address}`);
      // Children and VFs go first, as with a kernel hot-unplug.
      for (const s of [...specs.values()]) if (s.physfn === address || (s.parent === address && !s.physfn)) if (specs.has(s.address)) host.removeDevice(s.address);
      if (spec.driver) host.bindDriver(address, null);
      rmSync(join(busPci, 'devices', address), { force: true });
      unlinkNet(address);
      if (spec.iommuGroup !== undefined && spec.iommuGroup !== null) {
        const g = join(groupsDir, String(spec.iommuGroup));
        rmSync(join(g, 'devices', address), { force: true });
        // The kernel frees a group when its last device leaves.
        if (readdirSync(join(g, 'devices')).length === 0) rmSync(g, { recursive: true, force: true });
      }
      rmSync(dirOf(address), { recursive: true, force: true });
      specs.delete(address);
      dirs.delete(address);
      if (spec.physfn && specs.has(spec.physfn)) syncVfs(spec.physfn);
    },
    bindDriver(address, driver) {
      const dir = dirOf(address);
      const spec = specs.get(address)!;
      if (isLink(join(dir, 'driver'))) {
        const old = basename(readlinkSync(join(dir, 'driver')));
        rmSync(join(busPci, 'drivers', old, address), { force: true });
        rmSync(join(dir, 'driver'), { force: true });
      }
      spec.driver = driver;
      if (driver) {
        const d = ensureDriver(driver);
        link(join(dir, 'driver'), d);
        link(join(d, address), dir);
      }
    },
    deviceDir: dirOf,
    writeDeviceFile(address, name, text) {
      write(join(dirOf(address), name), text);
      const ifname = /^net\/([^/]+)\//.exec(name)?.[1];
      if (ifname !== undefined) linkNet(address, ifname);
    },
    removeDeviceFile(address, name) {
      if (name === 'net' || name === 'net/') unlinkNet(address);
      else if (/^net\/[^/]+\/?$/.test(name)) unlinkNet(address, name.split('/')[1]!);
      rmSync(join(dirOf(address), name), { force: true, recursive: true });
    },
    loadModule(name) {
      mkdirSync(join(sys, 'module', name), { recursive: true });
    },
    unloadModule(name) {
      rmSync(join(sys, 'module', name), { recursive: true, force: true });
    },
    writeRoot(relPath, text) {
      write(join(root, relPath), text);
    },
    async cleanup() {
      await rm(root, { recursive: true, force: true });
    },
  };

  try {
    // Parents before children, PFs before VFs, whatever order the caller listed them in.
    const pending = [...(options.devices ?? [])];
    while (pending.length) {
      const i = pending.findIndex((s) => (!s.parent || specs.has(s.parent)) && (!s.physfn || specs.has(s.physfn)));
      if (i < 0) throw new Error(`fake-host: parent or PF missing for ${pending.map((s) => s.address).join(', ')}`);
      host.addDevice(pending.splice(i, 1)[0]!);
    }
  } catch (err) {
    // Do not leave a half-built temp dir behind when the caller never gets `cleanup`.
    if (options.root === undefined) rmSync(root, { recursive: true, force: true });
    throw err;
  }
  return host;
}

function isLink(p: string): boolean {
  try {
    readlinkSync(p);
    return true;
  } catch {
    return false;
  }
}

export async function buildFakeHost(options: FakeHostOptions = {}): Promise<FakeHost> {
  return buildFakeHostSync(options);
}

/** A small pci.ids with every id the scenarios use (names as in the real database). */
export const FAKE_PCI_IDS = `#
#\tList of PCI ID's (test excerpt)
#
1022  Advanced Micro Devices, Inc. [AMD]
\t1480  Starship/Matisse Root Complex
\t1483  Starship/Matisse GPP Bridge
\t148a  Starship/Matisse PCIe Dummy Function
10de  NVIDIA Corporation
\t10f0  GP104 High Definition Audio Controller
\t1b80  GP104 [GeForce GTX 1080]
\t\t1458 3702  GeForce GTX 1080 G1 Gaming
\t1b81  GP104 [GeForce GTX 1070]
144d  Samsung Electronics Co Ltd
\ta808  NVMe SSD Controller SM981/PM981/PM983
\t\t144d a801  SSD 970 EVO
1458  Gigabyte Technology Co., Ltd
15b3  Mellanox Technologies
\t1017  MT27800 Family [ConnectX-5]
\t\t15b3 0020  ConnectX-5 EN network interface card, 10/25GbE dual-port SFP28, PCIe3.0 x8, tall bracket ; MCX512A-ACAT
\t1018  MT27800 Family [ConnectX-5 Virtual Function]
8086  Intel Corporation
\t1533  I210 Gigabit Network Connection
\t1901  6th-10th Gen Core Processor PCIe Controller (x16)
\t1905  Xeon E3-1200 v5/E3-1500 v5/6th Gen Core Processor PCIe Controller (x8)
\t3e30  8th/9th Gen Core 8-core Desktop Processor Host Bridge/DRAM Registers [Coffee Lake S]
\t3e92  CoffeeLake-S GT2 [UHD Graphics 630]
\ta30d  HM470 Chipset LPC/eSPI Controller
\ta348  Cannon Lake PCH cAVS
\ta36d  Cannon Lake PCH USB 3.1 xHCI Host Controller
\ta3a3  Comet Lake PCH-V SMBus Host Controller

# List of known device classes, subclasses and programming interfaces
C 01  Mass storage controller
\t08  Non-Volatile memory controller
\t\t02  NVM Express
C 02  Network controller
\t00  Ethernet controller
C 03  Display controller
\t00  VGA compatible controller
\t\t00  VGA controller
\t02  3D controller
C 04  Multimedia controller
\t01  Multimedia audio controller
\t03  Audio device
C 06  Bridge
\t00  Host bridge
\t01  ISA bridge
\t04  PCI bridge
\t\t00  Normal decode
C 0c  Serial bus controller
\t03  USB controller
\t\t30  XHCI
\t05  SMBus
C 13  Non-Essential Instrumentation
`;

const INTEL_CMDLINE = 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0f3c2a7e ro quiet intel_iommu=on iommu=pt';
const AMD_CMDLINE = 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0f3c2a7e ro quiet amd_iommu=on iommu=pt';

function gpuDevices(split: boolean): FakeDevice[] {
  const g = (shared: number, own: number) => (split ? own : shared);
  const gpuDriver = (second: boolean, d: string) => (split && second ? 'vfio-pci' : d);
  return [
    { address: '0000:00:00.0', vendor: '8086', device: '3e30', class: '060000', subsystemVendor: '1458', subsystemDevice: '5000', revision: '0d', iommuGroup: 0 },
    { address: '0000:00:01.0', vendor: '8086', device: '1901', class: '060400', revision: '0d', iommuGroup: 1, driver: 'pcieport', resetMethods: ['pm'] },
    { address: '0000:00:01.1', vendor: '8086', device: '1905', class: '060400', revision: '0d', iommuGroup: g(1, 5), driver: 'pcieport', resetMethods: ['pm'] },
    { address: '0000:00:02.0', vendor: '8086', device: '3e92', class: '030000', subsystemVendor: '1458', subsystemDevice: 'd000', iommuGroup: 4, driver: 'i915', numaNode: 0 },
    { address: '0000:00:14.0', vendor: '8086', device: 'a36d', class: '0c0330', subsystemVendor: '1458', subsystemDevice: '5007', revision: '10', iommuGroup: 2, driver: 'xhci_hcd', numaNode: 0, resetMethods: ['pm'] },
    { address: '0000:00:1f.0', vendor: '8086', device: 'a30d', class: '060100', subsystemVendor: '1458', subsystemDevice: '5001', revision: '10', iommuGroup: 3 },
    { address: '0000:00:1f.3', vendor: '8086', device: 'a348', class: '040380', subsystemVendor: '1458', subsystemDevice: 'a182', revision: '10', iommuGroup: 3, driver: 'snd_hda_intel', numaNode: 0 },
    { address: '0000:00:1f.4', vendor: '8086', device: 'a3a3', class: '0c0500', subsystemVendor: '1458', subsystemDevice: '5001', revision: '10', iommuGroup: 3, driver: 'i801_smbus', numaNode: 0 },
    { address: '0000:01:00.0', vendor: '10de', device: '1b80', class: '030000', subsystemVendor: '1458', subsystemDevice: '3702', revision: 'a1', parent: '0000:00:01.0', iommuGroup: g(1, 6), driver: 'nvidia', numaNode: 0, resetMethods: ['bus'] },
    { address: '0000:01:00.1', vendor: '10de', device: '10f0', class: '040300', subsystemVendor: '1458', subsystemDevice: '3702', revision: 'a1', parent: '0000:00:01.0', iommuGroup: g(1, 6), driver: 'snd_hda_intel', numaNode: 0, resetMethods: ['bus'] },
    { address: '0000:02:00.0', vendor: '10de', device: '1b81', class: '030000', subsystemVendor: '10de', subsystemDevice: '1b81', revision: 'a1', parent: '0000:00:01.1', iommuGroup: g(1, 7), driver: gpuDriver(true, 'nvidia'), numaNode: 0, resetMethods: ['bus'] },
    { address: '0000:02:00.1', vendor: '10de', device: '10f0', class: '040300', subsystemVendor: '10de', subsystemDevice: '1b81', revision: 'a1', parent: '0000:00:01.1', iommuGroup: g(1, 7), driver: gpuDriver(true, 'snd_hda_intel'), numaNode: 0, resetMethods: ['bus'] },
  ];
}

export function gpuHostSharedGroup(extra: FakeHostOptions = {}): Promise<FakeHost> {
  return buildFakeHost({
    cpuVendor: 'GenuineIntel',
    cmdline: INTEL_CMDLINE,
    modules: ['kvm', 'kvm_intel', 'nvidia', 'snd_hda_intel', 'vfio', 'vfio_iommu_type1', 'vfio_pci'],
    devices: gpuDevices(false),
    reservedRegions: { 2: ['direct-relaxable', 'msi'], 4: ['direct', 'msi'] },
    pciIds: FAKE_PCI_IDS,
    ...extra,
  });
}

export function gpuHostSplitGroups(extra: FakeHostOptions = {}): Promise<FakeHost> {
  return gpuHostSharedGroup({ cmdline: `${INTEL_CMDLINE} pcie_acs_override=downstream`, devices: gpuDevices(true), ...extra });
}

export function sriovNicHost(extra: FakeHostOptions = {}): Promise<FakeHost> {
  const vf = (fn: number, group: number, driver: string | null, net?: string): FakeDevice => ({
    address: `0000:41:00.${fn}`, vendor: '15b3', device: '1018', class: '020000', parent: '0000:40:01.1', physfn: '0000:41:00.0',
    iommuGroup: group, driver, numaNode: 1, resetMethods: ['flr'], netInterfaces: net ? [net] : undefined,
  });
  const pf = (fn: number, group: number, net: string): FakeDevice => ({
    address: `0000:41:00.${fn}`, vendor: '15b3', device: '1017', class: '020000', subsystemVendor: '15b3', subsystemDevice: '0020', parent: '0000:40:01.1',
    iommuGroup: group, driver: 'mlx5_core', numaNode: 1, resetMethods: ['flr', 'bus'], sriovTotalVfs: 8, netInterfaces: [net],
  });
  return buildFakeHost({
    cpuVendor: 'AuthenticAMD',
    cmdline: AMD_CMDLINE,
    modules: ['kvm', 'kvm_amd', 'mlx5_core', 'vfio', 'vfio_iommu_type1', 'vfio_pci'],
    devices: [
      { address: '0000:40:00.0', vendor: '1022', device: '1480', class: '060000', subsystemVendor: '1022', subsystemDevice: '1480', iommuGroup: 9, numaNode: 1 },
      { address: '0000:40:01.1', vendor: '1022', device: '1483', class: '060400', iommuGroup: 10, driver: 'pcieport', numaNode: 1, subsystemVendor: '1022', subsystemDevice: '1453' },
      pf(0, 11, 'enp65s0f0np0'),
      pf(1, 12, 'enp65s0f1np1'),
      vf(2, 13, 'mlx5_core', 'enp65s0f0v0'),
      vf(3, 14, 'mlx5_core', 'enp65s0f0v1'),
      vf(4, 15, 'vfio-pci'),
      vf(5, 16, null),
    ],
    reservedRegions: Object.fromEntries([9, 10, 11, 12, 13, 14, 15, 16].map((g) => [g, ['msi', 'reserved']])),
    pciIds: FAKE_PCI_IDS,
    ...extra,
  });
}

export function edgeCaseHost(extra: FakeHostOptions = {}): Promise<FakeHost> {
  return buildFakeHost({
    cpuVendor: 'AuthenticAMD',
    cmdline: AMD_CMDLINE,
    modules: ['kvm', 'kvm_amd', 'nvme', 'vfio', 'vfio_iommu_type1', 'vfio_pci'],
    devices: [
      { address: '0000:00:01.1', vendor: '1022', device: '1483', class: '060400', iommuGroup: 1, driver: 'pcieport' },
      { address: '0000:02:00.0', vendor: '8086', device: '1533', class: '020000', subsystemVendor: '8086', subsystemDevice: '0001', revision: '03', parent: '0000:00:01.1', iommuGroup: 2, driver: null, numaNode: -1, resetMethods: ['flr', 'bus'] },
      { address: '0000:00:08.0', vendor: '1022', device: '148a', class: '130000', iommuGroup: 3, numaNode: 0 },
      { address: '0001:00:02.0', vendor: '1022', device: '1483', class: '060400', iommuGroup: 4, driver: 'pcieport', numaNode: 0 },
      { address: '0001:01:00.0', vendor: '144d', device: 'a808', class: '010802', subsystemVendor: '144d', subsystemDevice: 'a801', parent: '0001:00:02.0', iommuGroup: 5, driver: 'nvme', numaNode: 0, resetMethods: ['flr', 'bus'] },
    ],
    pciIds: FAKE_PCI_IDS,
    ...extra,
  });
}

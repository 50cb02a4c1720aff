/**
 * Synthetic clusters for the benchmark: N hosts × D devices as DeviceReport
 * objects (what a probe would report) with a realistic mix, the same layout
 * as FakeDevice specs for a fake sysfs tree, and VM templates as JSON bodies.
 *
 * One "block" of 32 reported devices, split over two NUMA nodes (buses
 * 01-7f on node 0, 81-ff on node 1, each card under its own root port):
 * - 4 NVIDIA GPUs (10de:1b80 / 10de:1b81, class 0300), each with its HDMI
 *   audio function (10de:10f0, class 0403) in the GPU's IOMMU group;
 * - 6 NVMe drives (144d:a808, class 0108);
 * - 2 ConnectX-5 PFs (15b3:1017) with 8 VFs each (15b3:1018), the PF and
 *   every VF in their own group.
 * Hosts "before the ACS override" (every fifth, `acsShared`) put both GPUs
 * of a NUMA node, their audio functions and their two root ports in one
 * group, as consumer boards without ACS do. Some split hosts carry
 * `pcie_acs_override` on the command line. Root ports (bridges) are group
 * members but not reported, as a pci.conf that lists endpoints does.
 * D need not be a multiple of 32: the last card is cut down (fewer VFs) or
 * the rest is filled with NVMe drives.
 */
import { shortAddress, type DeviceReport, type GroupMember, type HostFacts } from '../common/index.js';
import type { FakeDevice } from '../test/helpers/fake-host.js';
import { parseJsonSpec, type VmSpec } from '../scheduler/index.js';

export interface GenHost {
  name: string;
  facts: HostFacts;
  devices: DeviceReport[];
  /** Whether GPUs share IOMMU groups (no ACS, no override yet). */
  acsShared: boolean;
}

type CardKind = 'gpu' | 'nvme' | 'nic';

interface Fn
  extends Pick<
    DeviceReport,
    'address' | 'vendor' | 'device' | 'class' | 'progIf' | 'subsystemVendor' | 'subsystemDevice' | 'revision' | 'vendorName' | 'deviceName' | 'className' | 'subsystemName'
  > {
  numaNode: number;
  group: number;
  driver: string | null;
  rootPort: string;
  sriov: 'pf' | 'vf' | 'no';
  physfn: string | null;
  totalVfs: number | null;
  netInterfaces: string[];
  resetMethods: string[];
}

interface RootPort {
  address: string;
  numaNode: number;
  group: number;
  /** AMD or Intel root port ids. */
  device: string;
}

export interface HostLayout {
  rootPorts: RootPort[];
  fns: Fn[];
  cpuVendor: 'GenuineIntel' | 'AuthenticAMD';
  acsShared: boolean;
  acsOverride: boolean;
}

const NAMES = {
  nvidia: 'NVIDIA Corporation',
  samsung: 'Samsung Electronics Co Ltd',
  mellanox: 'Mellanox Technologies',
  amd: 'Advanced Micro Devices, Inc. [AMD]',
  intel: 'Intel Corporation',
};

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');
const hex4 = (n: number) => n.toString(16).padStart(4, '0');

export function hostName(i: number): string {
  return `node-${String(i).padStart(5, '0')}`;
}

/** Cards of one 32-device block, per NUMA node: 2 GPUs, 3 NVMe, 1 NIC. */
const BLOCK: CardKind[] = ['gpu', 'gpu', 'nvme', 'nvme', 'nvme', 'nic'];
const CARD_SIZE: Record<CardKind, number> = { gpu: 2, nvme: 1, nic: 9 };
const BUSES_PER_DOMAIN = 120;

/**
 * The physical layout of host `index` with `total` reported devices.
 *
 * Functions are built with Object.assign, not `{ ...common, address, … }`:
 * V8 adds each field written after a spread through a slow path (~25 µs an
 * object with nine, measured), which made generating a 32-device host cost
 * ~0.9 ms, a quarter of the place benchmark's 10k-host ingest.
 */
export function hostLayout(index: number, total: number): HostLayout {
  const rand = rng(0x9e3779b1 ^ index);
  const cpuVendor = index % 2 === 0 ? 'GenuineIntel' : 'AuthenticAMD';
  const acsShared = index % 5 === 0;
  const acsOverride = !acsShared && index % 10 === 1;
  const rootPorts: RootPort[] = [];
  const fns: Fn[] = [];
  let group = 1;
  let count = 0;
  const cardsOnNode = [0, 0];
  /** Group of the first GPU of the current pair, per node (ACS-shared hosts). */
  const pendingPair: Array<{ group: number } | null> = [null, null];

  const rootPortFor = (node: number, sharedGroup: number | null): { rp: RootPort; bus: number; domain: number } => {
    const c = cardsOnNode[node]!++;
    const domain = Math.floor(c / BUSES_PER_DOMAIN);
    const i = c % BUSES_PER_DOMAIN;
    const rpBus = node === 0 ? 0x00 : 0x80;
    const rp: RootPort = {
      address: `${hex4(domain)}:${hex2(rpBus)}:${hex2(1 + (i >> 3))}.${i & 7}`,
      numaNode: node,
      group: sharedGroup ?? group++,
      device: cpuVendor === 'AuthenticAMD' ? '1483' : '1901',
    };
    rootPorts.push(rp);
    return { rp, bus: rpBus + 1 + i, domain };
  };

  outer: for (;;) {
    for (const node of [0, 1]) {
      for (const kind of BLOCK) {
        const left = total - count;
        if (left <= 0) break outer;
        const k = left < CARD_SIZE[kind] && kind !== 'nic' ? 'nvme' : kind;
        if (k === 'gpu') {
          // ACS-shared: the second GPU of a pair joins the first one's group.
          const pair = acsShared ? pendingPair[node] : null;
          const sharedGroup = pair ? pair.group : acsShared ? group++ : null;
          const { rp, bus, domain } = rootPortFor(node, sharedGroup);
          const g = sharedGroup ?? group++;
          pendingPair[node] = acsShared && !pair ? { group: g } : null;
          const model = rand() < 0.5 ? { id: '1b80', name: 'GP104 [GeForce GTX 1080]' } : { id: '1b81', name: 'GP104 [GeForce GTX 1070]' };
          const vfio = rand() < 0.6;
          const base = `${hex4(domain)}:${hex2(bus)}:00`;
          const common = { numaNode: node, group: g, rootPort: rp.address, sriov: 'no' as const, physfn: null, totalVfs: null, netInterfaces: [], revision: 'a1', subsystemVendor: '1458', subsystemDevice: '3702', subsystemName: 'Device 3702', vendor: '10de', vendorName: NAMES.nvidia };
          fns.push(Object.assign({}, common, { address: `${base}.0`, device: model.id, class: '0300', progIf: '00', deviceName: model.name, className: 'VGA compatible controller', subsystemName: model.id === '1b80' ? 'GeForce GTX 1080 G1 Gaming' : 'Device 3702', driver: vfio ? 'vfio-pci' : 'nvidia', resetMethods: rand() < 0.3 ? ['flr', 'bus'] : ['bus'] }));
          fns.push(Object.assign({}, common, { address: `${base}.1`, device: '10f0', class: '0403', progIf: '00', deviceName: 'GP104 High Definition Audio Controller', className: 'Audio device', driver: vfio ? 'vfio-pci' : 'snd_hda_intel', resetMethods: ['bus'] }));
          count += 2;
        } else if (k === 'nvme') {
          const { rp, bus, domain } = rootPortFor(node, null);
          fns.push({
            address: `${hex4(domain)}:${hex2(bus)}:00.0`, vendor: '144d', device: 'a808', class: '0108', progIf: '02', subsystemVendor: '144d', subsystemDevice: 'a801', revision: '00',
            vendorName: NAMES.samsung, deviceName: 'NVMe SSD Controller SM981/PM981/PM983', className: 'Non-Volatile memory controller', subsystemName: 'SSD 970 EVO',
            numaNode: node, group: group++, driver: rand() < 0.2 ? 'vfio-pci' : 'nvme', rootPort: rp.address, sriov: 'no', physfn: null, totalVfs: null, netInterfaces: [], resetMethods: ['flr', 'bus'],
          });
          count += 1;
        } else {
          const { rp, bus, domain } = rootPortFor(node, null);
          const vfs = Math.min(8, left - 1);
          const pf = `${hex4(domain)}:${hex2(bus)}:00.0`;
          const nicCommon = { vendor: '15b3', class: '0200', progIf: '00', revision: '00', vendorName: NAMES.mellanox, className: 'Ethernet controller', numaNode: node, rootPort: rp.address };
          fns.push(Object.assign({}, nicCommon, {
            address: pf, device: '1017', subsystemVendor: '15b3', subsystemDevice: '0020', deviceName: 'MT27800 Family [ConnectX-5]', subsystemName: 'ConnectX-5 EN network interface card, 10/25GbE dual-port SFP28, PCIe3.0 x8, tall bracket ; MCX512A-ACAT',
            group: group++, driver: 'mlx5_core', sriov: 'pf' as const, physfn: null, totalVfs: 8, netInterfaces: [`enp${bus}s0f0np0`], resetMethods: ['flr', 'bus'],
          }));
          for (let v = 0; v < vfs; v++) {
            const fn = v + 2; // ARI: VFs follow the PF's two functions
            const driver = rand() < 0.7 ? 'vfio-pci' : 'mlx5_core';
            fns.push(Object.assign({}, nicCommon, {
              address: `${hex4(domain)}:${hex2(bus)}:${hex2(fn >> 3)}.${fn & 7}`, device: '1018', subsystemVendor: '15b3', subsystemDevice: '0020',
              deviceName: 'MT27800 Family [ConnectX-5 Virtual Function]', subsystemName: 'Device 0020', group: group++, driver, sriov: 'vf' as const, physfn: pf, totalVfs: null,
              netInterfaces: driver === 'mlx5_core' ? [`enp${bus}s0f0v${v}`] : [], resetMethods: ['flr'],
            }));
          }
          count += 1 + vfs;
        }
      }
    }
  }
  return { rootPorts, fns, cpuVendor, acsShared, acsOverride };
}

function factsOf(layout: HostLayout): HostFacts {
  const amd = layout.cpuVendor === 'AuthenticAMD';
  const cmdline = [
    'BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0f3c2a7e ro quiet',
    amd ? 'amd_iommu=on' : 'intel_iommu=on',
    'iommu=pt',
    ...(layout.acsOverride ? ['pcie_acs_override=downstream,multifunction'] : []),
  ].join(' ');
  const groups = new Set([...layout.rootPorts.map((r) => r.group), ...layout.fns.map((f) => f.group)]);
  return {
    kernelCmdline: cmdline,
    cpuVendor: layout.cpuVendor,
    iommuEnabled: true,
    loadedModules: ['kvm', amd ? 'kvm_amd' : 'kvm_intel', 'mlx5_core', 'nvidia', 'nvme', 'vfio', 'vfio_iommu_type1', 'vfio_pci'],
    iommuGroupCount: groups.size,
  };
}

/** DeviceReports for host `index` (D = `devices`), as a probe with an endpoint filter reports them. */
export function generateHost(index: number, devices: number): GenHost {
  const layout = hostLayout(index, devices);
  const members = new Map<number, GroupMember[]>();
  const addMember = (g: number, m: GroupMember) => {
    let list = members.get(g);
    if (!list) members.set(g, (list = []));
    list.push(m);
  };
  for (const rp of layout.rootPorts) addMember(rp.group, { address: rp.address, class: '0604' });
  for (const f of layout.fns) addMember(f.group, { address: f.address, class: f.class });
  for (const list of members.values()) list.sort((a, b) => (a.address < b.address ? -1 : 1));
  const vfsOf = new Map<string, string[]>();
  for (const f of layout.fns) if (f.physfn) vfsOf.set(f.physfn, [...(vfsOf.get(f.physfn) ?? []), f.address]);
  const reports: DeviceReport[] = layout.fns.map((f) => ({
    address: f.address,
    shortAddress: shortAddress(f.address),
    vendor: f.vendor,
    device: f.device,
    class: f.class,
    progIf: f.progIf,
    subsystemVendor: f.subsystemVendor,
    subsystemDevice: f.subsystemDevice,
    revision: f.revision,
    vendorName: f.vendorName,
    deviceName: f.deviceName,
    className: f.className,
    subsystemName: f.subsystemName,
    numaNode: f.numaNode,
    iommuGroup: f.group,
    groupMembers: members.get(f.group)!.filter((m) => m.address !== f.address),
    driver: f.driver,
    sriov: f.sriov,
    physfn: f.physfn,
    numVfs: f.sriov === 'pf' ? (vfsOf.get(f.address)?.length ?? 0) : null,
    totalVfs: f.totalVfs,
    virtfns: f.sriov === 'pf' ? (vfsOf.get(f.address) ?? []) : [],
    netInterfaces: f.netInterfaces,
    pcieRoot: f.rootPort,
    resetMethods: f.resetMethods,
    groupReservedRegions: ['msi'],
  }));
  return { name: hostName(index), facts: factsOf(layout), devices: reports, acsShared: layout.acsShared };
}

/**
 * The same host as FakeDevice specs for buildFakeHostSync (root ports
 * included as real bridges), with the modules and command line to match.
 */
export function fakeHostSpec(index: number, devices: number): { devices: FakeDevice[]; modules: string[]; cmdline: string; cpuVendor: string } {
  const layout = hostLayout(index, devices);
  const facts = factsOf(layout);
  const specs: FakeDevice[] = layout.rootPorts.map((rp) => ({
    address: rp.address,
    vendor: layout.cpuVendor === 'AuthenticAMD' ? '1022' : '8086',
    device: rp.device,
    class: '060400',
    iommuGroup: rp.group,
    driver: 'pcieport',
    numaNode: rp.numaNode,
  }));
  for (const f of layout.fns) {
    specs.push({
      address: f.address,
      vendor: f.vendor,
      device: f.device,
      class: `${f.class}${f.progIf}`,
      subsystemVendor: f.subsystemVendor,
      subsystemDevice: f.subsystemDevice,
      revision: f.revision,
      parent: f.physfn ? undefined : f.rootPort,
      iommuGroup: f.group,
      driver: f.driver,
      numaNode: f.numaNode,
      resetMethods: f.resetMethods,
      sriovTotalVfs: f.totalVfs ?? undefined,
      physfn: f.physfn ?? undefined,
      netInterfaces: f.netInterfaces,
    });
  }
  return { devices: specs, modules: facts.loadedModules, cmdline: facts.kernelCmdline, cpuVendor: layout.cpuVendor };
}

/** A pci.conf keeping the endpoints the generator reports (bridges and everything else filtered out). */
export const ENDPOINT_FILTER = `:filter:\n  - '10de:*'\n  - '144d:a808'\n  - '15b3:*'\n`;

/**
 * A changed report for a host: the first VF (or, failing that, the first
 * device) switches driver between vfio-pci and its host driver, as after a
 * prepare or unprepare. Applied to its own output it toggles back and forth,
 * so every call yields a report that differs from its input.
 */
export function changedDevices(devices: DeviceReport[]): DeviceReport[] {
  const i = Math.max(0, devices.findIndex((d) => d.sriov === 'vf'));
  const d = devices[i]!;
  const hostDriver = d.sriov === 'vf' ? 'mlx5_core' : 'nvme';
  const out = devices.slice();
  out[i] = { ...d, driver: d.driver === 'vfio-pci' ? hostDriver : 'vfio-pci' };
  return out;
}

const GPU = { vendor: '10de', class: '0300' };
const VF = { vendor: '15b3', device: '1018' };
const NVME = { class: '0108' };

/**
 * VM templates as JSON bodies for parseJsonSpec: 1–4 devices, with and
 * without PCI_MATCH = NUMA_NODE, with and without a CEL selector. Each fits
 * on a 32-device host.
 */
export const TEMPLATES: ReadonlyArray<Record<string, unknown>> = [
  { name: 'gpu-1', pci: [GPU] },
  { name: 'vf-1', pci: [VF] },
  { name: 'nvme-1', pci: [NVME] },
  { name: 'gpu-numa1', pci: [{ ...GPU, selector: 'device.numaNode == 1' }] },
  { name: 'gpu-2-numa', pci: [GPU, GPU], pciMatch: 'NUMA_NODE' },
  { name: 'gpu-vf-numa', pci: [GPU, VF], pciMatch: 'NUMA_NODE' },
  { name: 'vf-2-numa0', pci: [{ ...VF, selector: 'device.numaNode == 0' }, { ...VF, selector: 'device.numaNode == 0' }], pciMatch: 'NUMA_NODE' },
  { name: 'gpu-nvme-vf-numa', pci: [GPU, NVME, VF], pciMatch: 'NUMA_NODE' },
  { name: 'vf-4', pci: [VF, VF, VF, VF] },
  { name: 'vf-vfio', pci: [{ ...VF, selector: "device.driver == 'vfio-pci'" }] },
  { name: 'nvme-2-gpu', pci: [NVME, NVME, GPU] },
  { name: 'gpu-4', pci: [GPU, GPU, GPU, GPU] },
];

/** The i-th template body of a deterministic shuffled sequence, named `vm-<i>`. */
export function templateBody(i: number, seed = 7): Record<string, unknown> {
  const r = rng(seed * 1_000_003 + i);
  const t = TEMPLATES[Math.floor(r() * TEMPLATES.length)]!;
  return { ...t, name: `vm-${i}-${String(t.name)}` };
}

/** The first `vms` templates' bodies (templateBody), parsed as the API parses them. */
export function templateSpecs(vms: number): VmSpec[] {
  return Array.from({ length: vms }, (_, i) => parseJsonSpec(templateBody(i)));
}

/**
 * How many of the oldest live VMs to release after the `index`-th
 * submission: one every `releaseEvery` submissions (0: never), and more
 * while over `liveLimit` live VMs, so devices stay available. The same rule
 * for `place` (both loops) and `rest`.
 */
export function releasesDue(index: number, releaseEvery: number, live: number, liveLimit: number): number {
  const every = releaseEvery > 0 && (index + 1) % releaseEvery === 0 ? 1 : 0;
  return Math.min(live, Math.max(every, live - liveLimit));
}

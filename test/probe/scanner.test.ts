import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, type DeviceReport, type HostReport } from '../../common/index.js';
import { createScanner, parseFilterConfig, type ScannerOptions } from '../../probe/index.js';
import { buildFakeHost, edgeCaseHost, gpuHostSharedGroup, gpuHostSplitGroups, sriovNicHost, type FakeHost } from '../helpers/fake-host.js';

/** One scan of `host`; the scanner and the host are released when the test ends. */
function scanOnce(t: TestContext, host: FakeHost, options: ScannerOptions = {}): HostReport {
  const scanner = createScanner({ hostRoot: host.root, hostName: 'node1', ...options });
  t.after(() => scanner.close());
  return scanner.scan();
}

async function hostFor(t: TestContext, build: Promise<FakeHost>): Promise<FakeHost> {
  const host = await build;
  t.after(() => host.cleanup());
  return host;
}

function byAddress(report: HostReport, address: string): DeviceReport {
  const d = report.devices.find((x) => x.address === address);
  assert.ok(d, `${address} not reported; got ${report.devices.map((x) => x.address).join(', ')}`);
  return d;
}

test('a GPU behind a root port: ids, names, topology, driver, NUMA, reset methods', async (t) => {
  const report = scanOnce(t, await hostFor(t, gpuHostSharedGroup()));
  const gpu = byAddress(report, '0000:01:00.0');
  assert.deepEqual(
    {
      shortAddress: gpu.shortAddress, vendor: gpu.vendor, device: gpu.device, class: gpu.class, progIf: gpu.progIf,
      subsystemVendor: gpu.subsystemVendor, subsystemDevice: gpu.subsystemDevice, revision: gpu.revision,
      vendorName: gpu.vendorName, deviceName: gpu.deviceName, className: gpu.className, subsystemName: gpu.subsystemName,
      numaNode: gpu.numaNode, driver: gpu.driver, pcieRoot: gpu.pcieRoot, resetMethods: gpu.resetMethods, sriov: gpu.sriov,
      netInterfaces: gpu.netInterfaces, physfn: gpu.physfn, numVfs: gpu.numVfs, totalVfs: gpu.totalVfs, virtfns: gpu.virtfns,
    },
    {
      shortAddress: '01:00.0', vendor: '10de', device: '1b80', class: '0300', progIf: '00',
      subsystemVendor: '1458', subsystemDevice: '3702', revision: 'a1',
      vendorName: 'NVIDIA Corporation', deviceName: 'GP104 [GeForce GTX 1080]', className: 'VGA compatible controller',
      subsystemName: 'GeForce GTX 1080 G1 Gaming',
      numaNode: 0, driver: 'nvidia', pcieRoot: '0000:00:01.0', resetMethods: ['bus'], sriov: 'no',
      netInterfaces: [], physfn: null, numVfs: null, totalVfs: null, virtfns: [],
    },
  );
  // USB controller: prog-if from the last two class digits.
  assert.equal(byAddress(report, '0000:00:14.0').progIf, '30');
  // Devices come in lspci order.
  assert.deepEqual(report.devices.map((d) => d.shortAddress), [
    '00:00.0', '00:01.0', '00:01.1', '00:02.0', '00:14.0', '00:1f.0', '00:1f.3', '00:1f.4', '01:00.0', '01:00.1', '02:00.0', '02:00.1',
  ]);
});

test('an IOMMU group shared by GPUs, their audio functions and both root ports', async (t) => {
  const report = scanOnce(t, await hostFor(t, gpuHostSharedGroup()));
  const gpu = byAddress(report, '0000:01:00.0');
  assert.equal(gpu.iommuGroup, 1);
  assert.deepEqual(gpu.groupMembers, [
    { address: '0000:00:01.0', class: '0604' },
    { address: '0000:00:01.1', class: '0604' },
    { address: '0000:01:00.1', class: '0403' },
    { address: '0000:02:00.0', class: '0300' },
    { address: '0000:02:00.1', class: '0403' },
  ]);
  assert.deepEqual(byAddress(report, '0000:00:01.0').groupMembers.map((m) => m.address), ['0000:00:01.1', '0000:01:00.0', '0000:01:00.1', '0000:02:00.0', '0000:02:00.1']);
  assert.deepEqual(byAddress(report, '0000:00:14.0').groupMembers, []);
});

test('after the ACS override each GPU shares its group with its audio function only', async (t) => {
  const report = scanOnce(t, await hostFor(t, gpuHostSplitGroups()));
  const gpu = byAddress(report, '0000:02:00.0');
  assert.equal(gpu.iommuGroup, 7);
  assert.deepEqual(gpu.groupMembers, [{ address: '0000:02:00.1', class: '0403' }]);
  assert.equal(gpu.driver, 'vfio-pci');
  assert.equal(byAddress(report, '0000:00:01.1').iommuGroup, 5);
  assert.deepEqual(byAddress(report, '0000:00:01.1').groupMembers, []);
  assert.match(report.host.kernelCmdline, /pcie_acs_override=downstream$/);
});

test('group members include devices the filter does not report', async (t) => {
  const host = await hostFor(t, gpuHostSharedGroup());
  const report = scanOnce(t, host, { filter: parseFilterConfig(":filter: '10de::0300'\n", 'pci.conf') });
  assert.deepEqual(report.devices.map((d) => d.shortAddress), ['01:00.0', '02:00.0']);
  assert.equal(byAddress(report, '0000:01:00.0').groupMembers.length, 5);
});

test('root port detection: the topmost PCI device on the sysfs path', async (t) => {
  const report = scanOnce(t, await hostFor(t, edgeCaseHost()));
  assert.equal(byAddress(report, '0000:02:00.0').pcieRoot, '0000:00:01.1');
  assert.equal(byAddress(report, '0001:01:00.0').pcieRoot, '0001:00:02.0');
  // Devices on the root bus, root ports included, have none.
  assert.equal(byAddress(report, '0000:00:01.1').pcieRoot, null);
  assert.equal(byAddress(report, '0000:00:08.0').pcieRoot, null);
});

test('a two-level bridge chain reports the root port, not the switch port', async (t) => {
  const host = await hostFor(t, buildFakeHost({
    devices: [
      { address: '0000:00:03.0', vendor: '8086', device: '1901', class: '060400', iommuGroup: 1 },
      { address: '0000:01:00.0', vendor: '10b5', device: '8747', class: '060400', parent: '0000:00:03.0', iommuGroup: 2 },
      { address: '0000:02:08.0', vendor: '10b5', device: '8747', class: '060400', parent: '0000:01:00.0', iommuGroup: 3 },
      { address: '0000:03:00.0', vendor: '10de', device: '1b80', class: '030000', parent: '0000:02:08.0', iommuGroup: 4 },
    ],
  }));
  const report = scanOnce(t, host);
  assert.equal(byAddress(report, '0000:03:00.0').pcieRoot, '0000:00:03.0');
  assert.equal(byAddress(report, '0000:02:08.0').pcieRoot, '0000:00:03.0');
});

test('SR-IOV: PF and VF roles, physfn, virtfns, numVfs, net interfaces', async (t) => {
  const report = scanOnce(t, await hostFor(t, sriovNicHost()));
  const pf = byAddress(report, '0000:41:00.0');
  assert.equal(pf.sriov, 'pf');
  assert.equal(pf.numVfs, 4);
  assert.equal(pf.totalVfs, 8);
  assert.deepEqual(pf.virtfns, ['0000:41:00.2', '0000:41:00.3', '0000:41:00.4', '0000:41:00.5']);
  assert.deepEqual(pf.netInterfaces, ['enp65s0f0np0']);
  assert.equal(pf.physfn, null);
  const idle = byAddress(report, '0000:41:00.1');
  assert.deepEqual([idle.sriov, idle.numVfs, idle.totalVfs, idle.virtfns], ['pf', 0, 8, []]);
  const vf = byAddress(report, '0000:41:00.2');
  assert.deepEqual([vf.sriov, vf.physfn, vf.numVfs, vf.totalVfs, vf.virtfns], ['vf', '0000:41:00.0', null, null, []]);
  assert.deepEqual(vf.netInterfaces, ['enp65s0f0v0']);
  assert.equal(vf.pcieRoot, '0000:40:01.1');
  assert.equal(vf.deviceName, 'MT27800 Family [ConnectX-5 Virtual Function]');
  assert.equal(byAddress(report, '0000:41:00.4').driver, 'vfio-pci');
  assert.deepEqual(byAddress(report, '0000:41:00.4').netInterfaces, []);
  assert.equal(byAddress(report, '0000:40:01.1').sriov, 'no');
});

test('a device without a driver, NUMA -1 and a non-zero PCI domain', async (t) => {
  const report = scanOnce(t, await hostFor(t, edgeCaseHost()));
  const nic = byAddress(report, '0000:02:00.0');
  assert.equal(nic.driver, null);
  assert.equal(nic.numaNode, null);
  assert.deepEqual(nic.netInterfaces, []);
  const nvme = byAddress(report, '0001:01:00.0');
  assert.equal(nvme.shortAddress, '0001:01:00.0');
  assert.equal(nvme.className, 'Non-Volatile memory controller');
  assert.equal(nvme.progIf, '02');
  assert.deepEqual(report.devices.map((d) => d.shortAddress), ['00:01.1', '00:08.0', '02:00.0', '0001:00:02.0', '0001:01:00.0']);
  assert.deepEqual(byAddress(report, '0000:00:08.0').resetMethods, []);
});

test('reserved region types of the group, distinct and sorted', async (t) => {
  const gpuHost = scanOnce(t, await hostFor(t, gpuHostSharedGroup()));
  assert.deepEqual(byAddress(gpuHost, '0000:00:14.0').groupReservedRegions, ['direct-relaxable', 'msi']);
  assert.deepEqual(byAddress(gpuHost, '0000:00:02.0').groupReservedRegions, ['direct', 'msi']);
  assert.deepEqual(byAddress(gpuHost, '0000:01:00.0').groupReservedRegions, ['msi']);
  const host = await hostFor(t, buildFakeHost({
    devices: [{ address: '0000:00:02.0', vendor: '8086', device: '3e92', class: '030000', iommuGroup: 0 }],
    reservedRegions: { 0: ['direct', 'msi', 'direct', 'reserved'] },
  }));
  assert.deepEqual(byAddress(scanOnce(t, host), '0000:00:02.0').groupReservedRegions, ['direct', 'msi', 'reserved']);
});

test('host facts: cmdline, CPU vendor, IOMMU, modules, group count', async (t) => {
  const report = scanOnce(t, await hostFor(t, gpuHostSharedGroup()));
  assert.deepEqual(report.host, {
    name: 'node1',
    kernelCmdline: 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0f3c2a7e ro quiet intel_iommu=on iommu=pt',
    cpuVendor: 'GenuineIntel',
    iommuEnabled: true,
    loadedModules: ['kvm', 'kvm_intel', 'nvidia', 'snd_hda_intel', 'vfio', 'vfio_iommu_type1', 'vfio_pci'],
    iommuGroupCount: 5,
  });
  assert.equal(scanOnce(t, await hostFor(t, sriovNicHost())).host.cpuVendor, 'AuthenticAMD');
});

test('IOMMU off: no groups, no members, no regions; iommuEnabled needs both units and groups', async (t) => {
  const devices = [{ address: '0000:01:00.0', vendor: '10de', device: '1b80', class: '030000' }];
  const off = scanOnce(t, await hostFor(t, buildFakeHost({ iommu: false, devices, cpuVendor: null })));
  assert.equal(off.host.iommuEnabled, false);
  assert.equal(off.host.iommuGroupCount, 0);
  assert.equal(off.host.cpuVendor, '');
  const gpu = byAddress(off, '0000:01:00.0');
  assert.deepEqual([gpu.iommuGroup, gpu.groupMembers, gpu.groupReservedRegions], [null, [], []]);
  // A DMAR unit but no groups (e.g. intel_iommu=off after the unit registered).
  const unitOnly = scanOnce(t, await hostFor(t, buildFakeHost({ iommu: true, devices })));
  assert.equal(unitOnly.host.iommuEnabled, false);
  // Groups but no unit in sys/class/iommu.
  const groupsOnly = scanOnce(t, await hostFor(t, buildFakeHost({ iommu: false, devices: [{ ...devices[0]!, iommuGroup: 3 }] })));
  assert.equal(groupsOnly.host.iommuEnabled, false);
  assert.equal(byAddress(groupsOnly, '0000:01:00.0').iommuGroup, 3);
});

test('a bad host root or pci.ids path is a ConfigError', async (t) => {
  assert.throws(() => createScanner({ hostRoot: '/nonexistent/pcisched-root' }), (e: unknown) => e instanceof ConfigError && e.message.includes('/nonexistent/pcisched-root'));
  const host = await hostFor(t, buildFakeHost());
  assert.throws(() => createScanner({ hostRoot: host.root, pciIdsPath: '/nonexistent/pci.ids' }), (e: unknown) => e instanceof ConfigError && e.message.includes('/nonexistent/pci.ids'));
  // An empty but valid root is fine: no devices.
  assert.deepEqual(scanOnce(t, host).devices, []);
});

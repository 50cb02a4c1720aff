/**
 * The scanner's freshness guarantees (probe/scanner.ts header): which change is seen on
 * the next scan, and which within REFRESH_SCANS scans, on fake sysfs trees changed the
 * way the kernel changes them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { HostReport } from '../../common/index.js';
import { REFRESH_SCANS } from '../../probe/index.js';
import { find, scansUntil, setup } from '../helpers/rescan.js';
import { buildFakeHost, gpuHostSplitGroups, sriovNicHost } from '../helpers/fake-host.js';


/** A relative symlink, as the kernel's. */
function relLink(linkPath: string, target: string): void {
  rmSync(linkPath, { force: true });
  symlinkSync(relative(join(linkPath, '..'), target), linkPath);
}

test('a driver registered or unregistered between scans is seen on the next scan', async (t) => {
  const { host, scanner } = await setup(t, gpuHostSplitGroups());
  assert.equal(find(scanner.scan(), '0000:01:00.0')?.driver, 'nvidia');
  // A module loaded after the first scan: a new directory in sys/bus/pci/drivers.
  host.bindDriver('0000:01:00.0', 'nouveau');
  assert.equal(find(scanner.scan(), '0000:01:00.0')?.driver, 'nouveau');
  // rmmod: the kernel unbinds the driver's devices, then its directory goes.
  host.bindDriver('0000:01:00.0', null);
  rmSync(join(host.root, 'sys/bus/pci/drivers/nouveau'), { recursive: true });
  assert.equal(find(scanner.scan(), '0000:01:00.0')?.driver, null);
});

test('a rebind re-reads that device\'s NUMA node at once', async (t) => {
  const { host, scanner } = await setup(t, gpuHostSplitGroups());
  scanner.scan();
  host.writeDeviceFile('0000:02:00.0', 'numa_node', '1\n');
  host.bindDriver('0000:02:00.0', 'nvidia');
  const gpu = find(scanner.scan(), '0000:02:00.0');
  assert.deepEqual([gpu?.driver, gpu?.numaNode], ['nvidia', 1]);
});

test('VFs enabled on an idle PF: numVfs, virtfns, the VFs and their groups on the next scan', async (t) => {
  const { host, scanner } = await setup(t, sriovNicHost());
  const before = scanner.scan();
  assert.deepEqual([find(before, '0000:41:00.1')?.numVfs, before.host.iommuGroupCount], [0, 8]);
  for (const [fn, group] of [[0, 20], [1, 21]] as const) {
    host.addDevice({ address: `0000:41:01.${fn}`, vendor: '15b3', device: '1018', class: '020000', physfn: '0000:41:00.1', iommuGroup: group, driver: 'vfio-pci' });
  }
  const after = scanner.scan();
  const pf = find(after, '0000:41:00.1');
  assert.deepEqual([pf?.numVfs, pf?.virtfns], [2, ['0000:41:01.0', '0000:41:01.1']]);
  const vf = find(after, '0000:41:01.1');
  assert.deepEqual([vf?.sriov, vf?.physfn, vf?.iommuGroup, vf?.groupReservedRegions, vf?.driver], ['vf', '0000:41:00.1', 21, ['msi'], 'vfio-pci']);
  assert.equal(after.host.iommuGroupCount, 10);
  // And back to zero.
  host.removeDevice('0000:41:01.0');
  host.removeDevice('0000:41:01.1');
  const gone = scanner.scan();
  assert.deepEqual([find(gone, '0000:41:00.1')?.numVfs, find(gone, '0000:41:00.1')?.virtfns, find(gone, '0000:41:01.0'), gone.host.iommuGroupCount], [0, [], undefined, 8]);
});

test('sriov_numvfs rewritten with the VFs it names: the PF follows on the next scan', async (t) => {
  const { host, scanner } = await setup(t, sriovNicHost());
  scanner.scan();
  // The kernel creates the virtfn links before the count reads back; a scan in between
  // sees a partial list and reads it again.
  host.writeDeviceFile('0000:41:00.0', 'sriov_numvfs', '5\n');
  const partial = find(scanner.scan(), '0000:41:00.0');
  assert.deepEqual([partial?.numVfs, partial?.virtfns.length], [5, 4]);
  host.addDevice({ address: '0000:41:00.6', vendor: '15b3', device: '1018', class: '020000', physfn: '0000:41:00.0', iommuGroup: 17 });
  const pf = find(scanner.scan(), '0000:41:00.0');
  assert.deepEqual([pf?.numVfs, pf?.virtfns.at(-1)], [5, '0000:41:00.6']);
});

test('a device re-added at the same address, nothing else changed: read afresh within the refresh cycle', async (t) => {
  const { host, scanner } = await setup(t, gpuHostSplitGroups());
  assert.equal(find(scanner.scan(), '0000:00:14.0')?.device, 'a36d');
  host.removeDevice('0000:00:14.0');
  // Same address, same group, same driver: the listing and the driver link look the same.
  host.addDevice({ address: '0000:00:14.0', vendor: '8086', device: 'a3af', class: '0c0330', iommuGroup: 2, driver: 'xhci_hcd', numaNode: 0 });
  const n = scansUntil(scanner, (r) => find(r, '0000:00:14.0')?.device === 'a3af');
  assert.ok(n <= REFRESH_SCANS, `seen after ${n} scans`);
  assert.equal(find(scanner.scan(), '0000:00:14.0')?.deviceName, 'Device a3af');
});

test('a device re-added at the same address without its driver: read afresh on the next scan', async (t) => {
  const { host, scanner } = await setup(t, gpuHostSplitGroups());
  scanner.scan();
  host.removeDevice('0000:00:14.0');
  host.addDevice({ address: '0000:00:14.0', vendor: '8086', device: 'a3af', class: '0c0330', iommuGroup: 2, numaNode: 0 });
  const usb = find(scanner.scan(), '0000:00:14.0');
  assert.deepEqual([usb?.device, usb?.driver], ['a3af', null]);
});

test('a device re-added under another bridge, same driver: followed through its bus link within the refresh cycle', async (t) => {
  const { host, scanner } = await setup(t, gpuHostSplitGroups());
  assert.equal(find(scanner.scan(), '0000:02:00.1')?.pcieRoot, '0000:00:01.1');
  host.removeDevice('0000:02:00.1');
  host.addDevice({ address: '0000:02:00.1', vendor: '10de', device: '10f0', class: '040300', parent: '0000:00:01.0', iommuGroup: 7, driver: 'vfio-pci' });
  const moved = (r: HostReport) => find(r, '0000:02:00.1')?.pcieRoot === '0000:00:01.0';
  assert.ok(scansUntil(scanner, moved) <= REFRESH_SCANS);
  assert.equal(find(scanner.scan(), '0000:02:00.1')?.driver, 'vfio-pci');
});

test('two interfaces swapping names between scans: seen within the refresh cycle', async (t) => {
  const { host, scanner } = await setup(t, sriovNicHost());
  const r = scanner.scan();
  assert.deepEqual([find(r, '0000:41:00.2')?.netInterfaces, find(r, '0000:41:00.3')?.netInterfaces], [['enp65s0f0v0'], ['enp65s0f0v1']]);
  host.removeDeviceFile('0000:41:00.2', 'net/enp65s0f0v0');
  host.removeDeviceFile('0000:41:00.3', 'net/enp65s0f0v1');
  host.writeDeviceFile('0000:41:00.2', 'net/enp65s0f0v1/address', '02:00:00:00:00:02\n');
  host.writeDeviceFile('0000:41:00.3', 'net/enp65s0f0v0/address', '02:00:00:00:00:03\n');
  const swapped = (x: HostReport) => find(x, '0000:41:00.2')?.netInterfaces[0] === 'enp65s0f0v1' && find(x, '0000:41:00.3')?.netInterfaces[0] === 'enp65s0f0v0';
  assert.ok(scansUntil(scanner, swapped) <= REFRESH_SCANS);
});

test('interfaces of virtual devices and of non-PCI children are nobody\'s', async (t) => {
  const { host, scanner } = await setup(t, sriovNicHost());
  mkdirSync(join(host.root, 'sys/devices/virtual/net/br0'), { recursive: true });
  relLink(join(host.root, 'sys/class/net/br0'), join(host.root, 'sys/devices/virtual/net/br0'));
  const virtio = join(host.deviceDir('0000:41:00.0'), 'virtio0/net/eth9');
  mkdirSync(virtio, { recursive: true });
  relLink(join(host.root, 'sys/class/net/eth9'), virtio);
  assert.deepEqual(find(scanner.scan(), '0000:41:00.0')?.netInterfaces, ['enp65s0f0np0']);
});

test('without sys/class/net each bound device\'s net/ is read: a rename is seen on the next scan', async (t) => {
  const { host, scanner } = await setup(t, sriovNicHost());
  rmSync(join(host.root, 'sys/class/net'), { recursive: true });
  assert.deepEqual(find(scanner.scan(), '0000:41:00.2')?.netInterfaces, ['enp65s0f0v0']);
  const dir = join(host.deviceDir('0000:41:00.2'), 'net');
  renameSync(join(dir, 'enp65s0f0v0'), join(dir, 'eth7'));
  assert.deepEqual(find(scanner.scan(), '0000:41:00.2')?.netInterfaces, ['eth7']);
  // sys/class/net coming back is used from then on.
  mkdirSync(join(host.root, 'sys/class/net'));
  relLink(join(host.root, 'sys/class/net/eth7'), join(dir, 'eth7'));
  const r = scanner.scan();
  assert.deepEqual([find(r, '0000:41:00.2')?.netInterfaces, find(r, '0000:41:00.0')?.netInterfaces], [['eth7'], []]);
});

test('an IOMMU driver loaded after boot: groups and members on the next scan', async (t) => {
  const devices = [
    { address: '0000:00:03.0', vendor: '8086', device: '1901', class: '060400', driver: 'pcieport' },
    { address: '0000:01:00.0', vendor: '10de', device: '1b80', class: '030000', parent: '0000:00:03.0', driver: 'nvidia' },
    { address: '0000:01:00.1', vendor: '10de', device: '10f0', class: '040300', parent: '0000:00:03.0', driver: 'snd_hda_intel' },
  ];
  const { host, scanner } = await setup(t, buildFakeHost({ devices, iommu: true }));
  const before = scanner.scan();
  assert.deepEqual([before.host.iommuEnabled, find(before, '0000:01:00.0')?.iommuGroup], [false, null]);
  // What virtio-iommu (a module) does when it probes: one group per device here, the GPU's functions together.
  for (const [address, group] of [['0000:00:03.0', 0], ['0000:01:00.0', 1], ['0000:01:00.1', 1]] as const) {
    const g = join(host.root, 'sys/kernel/iommu_groups', String(group));
    mkdirSync(join(g, 'devices'), { recursive: true });
    writeFileSync(join(g, 'reserved_regions'), '0x00000000fee00000 0x00000000feefffff msi\n');
    relLink(join(g, 'devices', address), host.deviceDir(address));
    relLink(join(host.deviceDir(address), 'iommu_group'), g);
  }
  host.loadModule('virtio_iommu');
  const after = scanner.scan();
  const gpu = find(after, '0000:01:00.0');
  assert.deepEqual([after.host.iommuEnabled, after.host.iommuGroupCount, gpu?.iommuGroup, gpu?.groupMembers, gpu?.groupReservedRegions], [
    true, 2, 1, [{ address: '0000:01:00.1', class: '0403' }], ['msi'],
  ]);
});

test('a no-IOMMU group created when a device is bound to vfio-pci is seen on the next scan', async (t) => {
  const { host, scanner } = await setup(t, buildFakeHost({ iommu: false, devices: [{ address: '0000:02:00.0', vendor: '8086', device: '1533', class: '020000', driver: 'igb' }] }));
  assert.equal(find(scanner.scan(), '0000:02:00.0')?.iommuGroup, null);
  // vfio's enable_unsafe_noiommu_mode: the group is made at bind time.
  const g = join(host.root, 'sys/kernel/iommu_groups/0');
  mkdirSync(join(g, 'devices'), { recursive: true });
  writeFileSync(join(g, 'reserved_regions'), '');
  relLink(join(g, 'devices/0000:02:00.0'), host.deviceDir('0000:02:00.0'));
  relLink(join(host.deviceDir('0000:02:00.0'), 'iommu_group'), g);
  host.bindDriver('0000:02:00.0', 'vfio-pci');
  const nic = find(scanner.scan(), '0000:02:00.0');
  assert.deepEqual([nic?.driver, nic?.iommuGroup], ['vfio-pci', 0]);
});

test('reserved_regions rewritten under the same membership: seen within the refresh cycle', async (t) => {
  const { host, scanner } = await setup(t, gpuHostSplitGroups());
  assert.deepEqual(find(scanner.scan(), '0000:01:00.0')?.groupReservedRegions, ['msi']);
  host.writeRoot('sys/kernel/iommu_groups/6/reserved_regions', '0x000000008b800000 0x000000008fffffff direct\n0x00000000fee00000 0x00000000feefffff msi\n');
  assert.ok(scansUntil(scanner, (r) => find(r, '0000:01:00.0')?.groupReservedRegions.join() === 'direct,msi') <= REFRESH_SCANS);
});

test('unchanged rescans: equal reports that share their frozen device reports; a change makes a new one for that device only', async (t) => {
  const { host, scanner } = await setup(t, sriovNicHost());
  const first = scanner.scan();
  for (let i = 0; i < REFRESH_SCANS + 1; i++) {
    const again = scanner.scan();
    assert.notEqual(again, first);
    assert.deepEqual(again, first);
    again.devices.forEach((d, k) => assert.equal(d, first.devices[k], d.address));
  }
  for (const d of first.devices) {
    assert.ok(Object.isFrozen(d) && Object.isFrozen(d.virtfns) && Object.isFrozen(d.netInterfaces) && Object.isFrozen(d.groupMembers), d.address);
  }
  host.bindDriver('0000:41:00.5', 'mlx5_core');
  const changed = scanner.scan();
  for (const [k, d] of changed.devices.entries()) {
    if (d.address === '0000:41:00.5') assert.notEqual(d, first.devices[k]);
    else assert.equal(d, first.devices[k], d.address);
  }
  assert.equal(find(changed, '0000:41:00.5')?.driver, 'mlx5_core');
});

test('close() then scan() starts afresh', async (t) => {
  const { host, scanner } = await setup(t, sriovNicHost());
  const first = scanner.scan();
  scanner.close();
  host.bindDriver('0000:41:00.5', 'mlx5_core');
  const again = scanner.scan();
  assert.equal(find(again, '0000:41:00.5')?.driver, 'mlx5_core');
  assert.deepEqual({ ...again, devices: again.devices.filter((d) => d.address !== '0000:41:00.5') }, { ...first, devices: first.devices.filter((d) => d.address !== '0000:41:00.5') });
});

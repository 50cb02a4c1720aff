/** One scanner, many scans: what can change between scans must show up in the next one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REFRESH_SCANS } from '../../probe/index.js';
import { find, scansUntil, setup } from '../helpers/rescan.js';
import { gpuHostSharedGroup, gpuHostSplitGroups, sriovNicHost } from '../helpers/fake-host.js';


test('driver bind, unbind and rebind are seen on the next scan', async (t) => {
  const { host, scanner } = await setup(t, gpuHostSharedGroup());
  assert.equal(find(scanner.scan(), '0000:01:00.0')?.driver, 'nvidia');
  host.bindDriver('0000:01:00.0', null);
  assert.equal(find(scanner.scan(), '0000:01:00.0')?.driver, null);
  host.bindDriver('0000:01:00.0', 'vfio-pci');
  assert.equal(find(scanner.scan(), '0000:01:00.0')?.driver, 'vfio-pci');
  // A device that had no driver gets one.
  assert.equal(find(scanner.scan(), '0000:00:00.0')?.driver, null);
  host.bindDriver('0000:00:00.0', 'skl_uncore');
  assert.equal(find(scanner.scan(), '0000:00:00.0')?.driver, 'skl_uncore');
});

test('changing the VFs of a PF updates numVfs, virtfns and the device list', async (t) => {
  const { host, scanner } = await setup(t, sriovNicHost());
  assert.equal(find(scanner.scan(), '0000:41:00.0')?.numVfs, 4);
  host.removeDevice('0000:41:00.5');
  host.removeDevice('0000:41:00.4');
  let r = scanner.scan();
  assert.equal(find(r, '0000:41:00.0')?.numVfs, 2);
  assert.deepEqual(find(r, '0000:41:00.0')?.virtfns, ['0000:41:00.2', '0000:41:00.3']);
  assert.equal(find(r, '0000:41:00.5'), undefined);
  host.addDevice({ address: '0000:41:00.4', vendor: '15b3', device: '1018', class: '020000', physfn: '0000:41:00.0', iommuGroup: 15, driver: 'vfio-pci' });
  r = scanner.scan();
  assert.deepEqual(find(r, '0000:41:00.0')?.virtfns, ['0000:41:00.2', '0000:41:00.3', '0000:41:00.4']);
  assert.equal(find(r, '0000:41:00.4')?.physfn, '0000:41:00.0');
});

test('network interfaces appear, are renamed and vanish', async (t) => {
  const { host, scanner } = await setup(t, sriovNicHost());
  assert.deepEqual(find(scanner.scan(), '0000:41:00.4')?.netInterfaces, []);
  host.bindDriver('0000:41:00.4', 'mlx5_core');
  host.writeDeviceFile('0000:41:00.4', 'net/eth0/address', '02:00:00:00:00:09\n');
  assert.deepEqual(find(scanner.scan(), '0000:41:00.4')?.netInterfaces, ['eth0']);
  host.removeDeviceFile('0000:41:00.4', 'net/eth0');
  host.writeDeviceFile('0000:41:00.4', 'net/enp65s0f0v2/address', '02:00:00:00:00:09\n');
  assert.deepEqual(find(scanner.scan(), '0000:41:00.4')?.netInterfaces, ['enp65s0f0v2']);
  host.bindDriver('0000:41:00.4', null);
  host.removeDeviceFile('0000:41:00.4', 'net');
  assert.deepEqual(find(scanner.scan(), '0000:41:00.4')?.netInterfaces, []);
});

test('a device replaced at the same address is read afresh', async (t) => {
  const { host, scanner } = await setup(t, gpuHostSharedGroup());
  assert.equal(find(scanner.scan(), '0000:02:00.0')?.device, '1b81');
  host.removeDevice('0000:02:00.1');
  host.removeDevice('0000:02:00.0');
  // Re-added between two scans: only the directory identity tells it apart.
  host.addDevice({ address: '0000:02:00.0', vendor: '1002', device: '687f', class: '030000', parent: '0000:00:01.1', iommuGroup: 1, revision: 'c1' });
  const gpu = find(scanner.scan(), '0000:02:00.0');
  assert.deepEqual([gpu?.vendor, gpu?.device, gpu?.revision, gpu?.driver], ['1002', '687f', 'c1', null]);
  assert.equal(gpu?.deviceName, 'Device 687f');
  assert.equal(find(scanner.scan(), '0000:02:00.1'), undefined);
});

test('IOMMU group links, members, NUMA node and modules are re-read', async (t) => {
  const { host, scanner } = await setup(t, gpuHostSharedGroup());
  assert.equal(find(scanner.scan(), '0000:01:00.0')?.groupMembers.length, 5);
  host.removeDevice('0000:02:00.1');
  assert.equal(find(scanner.scan(), '0000:01:00.0')?.groupMembers.length, 4);
  host.writeDeviceFile('0000:01:00.0', 'numa_node', '1\n');
  // Only root rewrites numa_node (a firmware workaround): re-read within the refresh cycle.
  assert.ok(scansUntil(scanner, (r) => find(r, '0000:01:00.0')?.numaNode === 1) <= REFRESH_SCANS);
  host.unloadModule('nvidia');
  host.loadModule('vendor_reset');
  const mods = scanner.scan().host.loadedModules;
  assert.ok(!mods.includes('nvidia') && mods.includes('vendor_reset'));
});

test('reserved regions follow group membership', async (t) => {
  const { host, scanner } = await setup(t, gpuHostSharedGroup());
  assert.deepEqual(find(scanner.scan(), '0000:01:00.0')?.groupReservedRegions, ['msi']);
  // A member with an RMRR joins the group: the kernel's file changes with it.
  host.writeRoot('sys/kernel/iommu_groups/1/reserved_regions', '0x000000008b800000 0x000000008fffffff direct\n0x00000000fee00000 0x00000000feefffff msi\n');
  host.addDevice({ address: '0000:01:00.2', vendor: '10de', device: '1ad8', class: '0c0330', parent: '0000:00:01.0', iommuGroup: 1 });
  assert.deepEqual(find(scanner.scan(), '0000:01:00.0')?.groupReservedRegions, ['direct', 'msi']);
});

test('reports are frozen: a caller cannot change what later scans return', async (t) => {
  const { scanner } = await setup(t, sriovNicHost());
  const first = scanner.scan();
  const pf = find(first, '0000:41:00.0')!;
  assert.throws(() => pf.resetMethods.push('tampered'), TypeError);
  assert.throws(() => pf.virtfns.push('tampered'), TypeError);
  assert.throws(() => pf.netInterfaces.push('tampered'), TypeError);
  assert.throws(() => {
    pf.driver = 'tampered';
  }, TypeError);
  scanner.scan();
  const second = scanner.scan();
  assert.deepEqual(find(second, '0000:41:00.0')?.netInterfaces, ['enp65s0f0np0']);
  assert.deepEqual(find(second, '0000:41:00.0')?.resetMethods, ['flr', 'bus']);
  assert.equal(find(second, '0000:41:00.0')?.virtfns.length, 4);
  assert.equal(find(second, '0000:41:00.0')?.driver, pf.driver);
});

test('a group freed and re-created between scans is read afresh', async (t) => {
  const { host, scanner } = await setup(t, gpuHostSplitGroups());
  assert.deepEqual(find(scanner.scan(), '0000:01:00.0')?.groupReservedRegions, ['msi']);
  host.removeDevice('0000:01:00.1');
  host.removeDevice('0000:01:00.0');
  host.addDevice({ address: '0000:01:00.0', vendor: '10de', device: '1b80', class: '030000', parent: '0000:00:01.0', iommuGroup: 6 });
  host.writeRoot('sys/kernel/iommu_groups/6/reserved_regions', '0x000000008b800000 0x000000008fffffff direct\n');
  const gpu = find(scanner.scan(), '0000:01:00.0');
  assert.deepEqual([gpu?.groupReservedRegions, gpu?.groupMembers], [['direct'], []]);
});

/** The fake host's layout is a contract for every end-to-end test: check it is kernel-like. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { buildFakeHost, sriovNicHost } from '../helpers/fake-host.js';

test('device dirs nest under their root port, reached through relative links', async (t) => {
  const host = await sriovNicHost();
  t.after(() => host.cleanup());
  const sys = join(host.root, 'sys');
  const pf = join(sys, 'devices/pci0000:40/0000:40:01.1/0000:41:00.0');
  assert.equal(host.deviceDir('0000:41:00.0'), pf);
  assert.equal(readlinkSync(join(sys, 'bus/pci/devices/0000:41:00.0')), '../../../devices/pci0000:40/0000:40:01.1/0000:41:00.0');
  assert.equal(readlinkSync(join(pf, 'iommu_group')), '../../../../kernel/iommu_groups/11');
  assert.equal(readlinkSync(join(pf, 'driver')), '../../../../bus/pci/drivers/mlx5_core');
  assert.equal(realpathSync(join(sys, 'bus/pci/drivers/mlx5_core/0000:41:00.0')), realpathSync(pf));
  assert.equal(realpathSync(join(sys, 'kernel/iommu_groups/11/devices/0000:41:00.0')), realpathSync(pf));
  assert.equal(readFileSync(join(pf, 'vendor'), 'utf8'), '0x15b3\n');
  assert.equal(readFileSync(join(pf, 'class'), 'utf8'), '0x020000\n');
  assert.equal(readFileSync(join(pf, 'driver_override'), 'utf8'), '(null)\n');
  assert.equal(readFileSync(join(pf, 'sriov_numvfs'), 'utf8'), '4\n');
  assert.equal(readlinkSync(join(pf, 'virtfn0')), '../0000:41:00.2');
  assert.equal(readlinkSync(join(sys, 'devices/pci0000:40/0000:40:01.1/0000:41:00.2/physfn')), '../0000:41:00.0');
  for (const f of ['bind', 'unbind', 'new_id']) assert.ok(existsSync(join(sys, 'bus/pci/drivers/vfio-pci', f)), f);
  assert.ok(existsSync(join(sys, 'bus/pci/drivers_probe')));
  assert.ok(existsSync(join(sys, 'class/iommu/ivhd0')));
  assert.match(readFileSync(join(sys, 'kernel/iommu_groups/11/reserved_regions'), 'utf8'), /^0x00000000fee00000 0x00000000feefffff msi\n.* reserved\n$/);
  assert.match(readFileSync(join(host.root, 'proc/cpuinfo'), 'utf8'), /^vendor_id\t: AuthenticAMD$/m);
  // A 256-byte config space whose header agrees with the attribute files.
  const config = readFileSync(join(pf, 'config'));
  assert.deepEqual([config.length, config.readUInt16LE(0), config.readUInt16LE(2), config[11]], [256, 0x15b3, 0x1017, 0x02]);
});

test('removing a PF removes its VFs and frees emptied groups; rebinding moves driver links', async (t) => {
  const host = await sriovNicHost();
  t.after(() => host.cleanup());
  host.removeDevice('0000:41:00.0');
  assert.ok(!existsSync(join(host.root, 'sys/bus/pci/devices/0000:41:00.3')));
  assert.ok(!existsSync(join(host.root, 'sys/kernel/iommu_groups/13')));
  assert.ok(existsSync(join(host.root, 'sys/kernel/iommu_groups/12')));
  host.bindDriver('0000:41:00.1', 'vfio-pci');
  assert.ok(!existsSync(join(host.root, 'sys/bus/pci/drivers/mlx5_core/0000:41:00.1')));
  assert.ok(existsSync(join(host.root, 'sys/bus/pci/drivers/vfio-pci/0000:41:00.1')));
});

test('bad specs are refused', async (t) => {
  const host = await buildFakeHost();
  t.after(() => host.cleanup());
  assert.throws(() => host.addDevice({ address: '1:00.0', vendor: '10de', device: '1b80', class: '030000' }), /bad address/);
  assert.throws(() => host.addDevice({ address: '0000:01:00.0', vendor: '10de', device: '1b80', class: '0300000' }), /class/);
  assert.throws(() => host.addDevice({ address: '0000:01:00.0', vendor: '10de', device: '1b80', class: '030000', parent: '0000:00:01.0' }), /no device/);
  await assert.rejects(buildFakeHost({ devices: [{ address: '0000:01:00.1', vendor: '15b3', device: '1018', class: '020000', physfn: '0000:01:00.0' }] }), /PF missing/);
});

test('network interfaces are linked from sys/class/net, and unlinked with their directory or device', async (t) => {
  const host = await sriovNicHost();
  t.after(() => host.cleanup());
  const classNet = join(host.root, 'sys/class/net');
  assert.equal(readlinkSync(join(classNet, 'enp65s0f0np0')), '../../devices/pci0000:40/0000:40:01.1/0000:41:00.0/net/enp65s0f0np0');
  host.writeDeviceFile('0000:41:00.4', 'net/eth0/address', '02:00:00:00:00:09\n');
  assert.equal(realpathSync(join(classNet, 'eth0')), realpathSync(join(host.deviceDir('0000:41:00.4'), 'net/eth0')));
  host.removeDeviceFile('0000:41:00.4', 'net/eth0');
  assert.ok(!existsSync(join(classNet, 'eth0')));
  host.removeDeviceFile('0000:41:00.1', 'net');
  assert.ok(!existsSync(join(classNet, 'enp65s0f1np1')));
  host.removeDevice('0000:41:00.0');
  assert.deepEqual(readdirSync(classNet), []);
});

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { HostReport } from '../../common/index.js';
import { createScanner } from '../../probe/index.js';
import { lookupNames, parsePciIds } from '../../probe/pci-ids.js';
import { buildFakeHost, FAKE_PCI_IDS, gpuHostSharedGroup, type FakeDevice, type FakeHost } from '../helpers/fake-host.js';

const IDS = [
  '# comment',
  '10de  NVIDIA Corporation',
  '\t1b80  GP104 [GeForce GTX 1080]',
  '\t\t1458 3702  GeForce GTX 1080 G1 Gaming',
  '\t1b81  GP104 [GeForce GTX 1070]',
  '1458  Gigabyte Technology Co., Ltd',
  '',
  'C 03  Display controller',
  '\t00  VGA compatible controller',
  '\t\t00  VGA controller',
  'C 06  Bridge',
  '\t04  PCI bridge',
].join('\n');

const ids = (vendor: string, device: string, cls: string, subsystemVendor = '0000', subsystemDevice = '0000') => ({ vendor, device, class: cls, subsystemVendor, subsystemDevice });

test('names of known ids, as lspci -mm prints them', () => {
  const db = parsePciIds(IDS);
  assert.deepEqual(lookupNames(db, ids('10de', '1b80', '0300', '1458', '3702')), {
    vendorName: 'NVIDIA Corporation',
    deviceName: 'GP104 [GeForce GTX 1080]',
    className: 'VGA compatible controller',
    subsystemName: 'GeForce GTX 1080 G1 Gaming',
  });
});

test("lspci's fallbacks: unknown ids, base class only, subsystem equal to the device, no subsystem", () => {
  const db = parsePciIds(IDS);
  assert.deepEqual(lookupNames(db, ids('1002', '687f', '0380', '1002', '0b36')), {
    vendorName: 'Vendor 1002',
    deviceName: 'Device 687f',
    className: 'Display controller [0380]',
    subsystemName: 'Device 0b36',
  });
  assert.equal(lookupNames(db, ids('10de', '1b81', '0300', '10de', '1b81')).subsystemName, 'GP104 [GeForce GTX 1070]');
  assert.equal(lookupNames(db, ids('10de', '1b81', '0300', '1458', '9999')).subsystemName, 'Device 9999');
  assert.equal(lookupNames(db, ids('10de', '1b81', '0300', '0000', '0000')).subsystemName, '');
  assert.equal(lookupNames(db, ids('10de', '1b81', '0300', 'ffff', 'ffff')).subsystemName, '');
  assert.equal(lookupNames(db, ids('10de', '1b81', '1200')).className, 'Class 1200');
  assert.equal(lookupNames(null, ids('10de', '1b80', '0300')).vendorName, 'Vendor 10de');
  assert.equal(lookupNames(db, ids('', '', '')).vendorName, '');
});

test('the parser skips malformed lines and unknown sections instead of failing', () => {
  const db = parsePciIds(`${IDS}\nX 01  Some future section\n\t01  nested\nzzzz  not hex\n\tnope\n8086  Intel Corporation\n\t1533  I210 Gigabit Network Connection\n`);
  assert.equal(lookupNames(db, ids('8086', '1533', '0604')).deviceName, 'I210 Gigabit Network Connection');
  assert.equal(lookupNames(db, ids('8086', '1533', '0604')).className, 'PCI bridge');
  assert.equal(db.vendors.size, 3);
});

async function hostWith(t: TestContext, extra: Parameters<typeof buildFakeHost>[0] = {}): Promise<FakeHost> {
  const gpu: FakeDevice = { address: '0000:01:00.0', vendor: '10de', device: '1b80', class: '030000', subsystemVendor: '1458', subsystemDevice: '3702' };
  const host = await buildFakeHost({ devices: [gpu], ...extra });
  t.after(() => host.cleanup());
  return host;
}

function scanGpu(t: TestContext, host: FakeHost, pciIdsPath?: string): HostReport['devices'][number] {
  const scanner = createScanner({ hostRoot: host.root, pciIdsPath });
  t.after(() => scanner.close());
  return scanner.scan().devices[0]!;
}

test('the scanner finds pci.ids where lspci does: misc, then hwdata, gzipped too', async (t) => {
  const misc = await hostWith(t, { pciIds: IDS });
  assert.equal(scanGpu(t, misc).deviceName, 'GP104 [GeForce GTX 1080]');
  const hwdata = await hostWith(t, { pciIds: IDS, pciIdsLocation: 'hwdata' });
  assert.equal(scanGpu(t, hwdata).vendorName, 'NVIDIA Corporation');
  const gz = await hostWith(t);
  mkdirSync(join(gz.root, 'usr/share/misc'), { recursive: true });
  writeFileSync(join(gz.root, 'usr/share/misc/pci.ids.gz'), gzipSync(IDS));
  assert.equal(scanGpu(t, gz).subsystemName, 'GeForce GTX 1080 G1 Gaming');
});

test('without pci.ids the names are numeric, as lspci prints them', async (t) => {
  const host = await hostWith(t);
  const gpu = scanGpu(t, host);
  assert.deepEqual([gpu.vendorName, gpu.deviceName, gpu.className, gpu.subsystemName], ['Vendor 10de', 'Device 1b80', 'Class 0300', 'Device 3702']);
});

test('an explicit pci.ids path wins over the host one', async (t) => {
  const host = await hostWith(t, { pciIds: FAKE_PCI_IDS });
  const other = join(host.root, 'other.ids');
  writeFileSync(other, '10de  Team Green\n\t1b80  Renamed Card\n');
  const gpu = scanGpu(t, host, other);
  assert.deepEqual([gpu.vendorName, gpu.deviceName, gpu.className], ['Team Green', 'Renamed Card', 'Class 0300']);
});

test('the scenarios name every device from FAKE_PCI_IDS', async (t) => {
  const host = await gpuHostSharedGroup();
  t.after(() => host.cleanup());
  const scanner = createScanner({ hostRoot: host.root });
  t.after(() => scanner.close());
  for (const d of scanner.scan().devices) {
    assert.doesNotMatch(`${d.vendorName}|${d.deviceName}|${d.className}`, /^Vendor |\|Device |\|Class /, d.address);
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HostReport } from '../../common/index.js';
import { createScanner, formatScanTable, scanToJson } from '../../probe/index.js';
import { sriovNicHost } from '../helpers/fake-host.js';

async function sriovReport(): Promise<HostReport> {
  const host = await sriovNicHost();
  const scanner = createScanner({ hostRoot: host.root, hostName: 'epyc1' });
  try {
    return scanner.scan();
  } finally {
    scanner.close();
    await host.cleanup();
  }
}

test('formatScanTable: header block, then one aligned row per device', async () => {
  const text = formatScanTable(await sriovReport());
  const lines = text.split('\n');
  assert.deepEqual(lines.slice(0, 5), [
    'HOST:     epyc1',
    'IOMMU:    on (8 groups)',
    'CPU:      AuthenticAMD',
    'CMDLINE:  BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0f3c2a7e ro quiet amd_iommu=on iommu=pt',
    '',
  ]);
  assert.equal(lines[5], 'ADDR     TYPE            IOMMU  NUMA  DRIVER     SRIOV   NAME');
  assert.equal(lines[6], '40:00.0  1022:1480:0600  9      1     -          no      Starship/Matisse Root Complex');
  assert.equal(lines[8], '41:00.0  15b3:1017:0200  11     1     mlx5_core  pf 4/8  MT27800 Family [ConnectX-5]');
  assert.equal(lines[13], '41:00.5  15b3:1018:0200  16     1     -          vf      MT27800 Family [ConnectX-5 Virtual Function]');
  assert.equal(lines.length, 15); // 8 devices and a trailing newline
  assert.ok(!/\x1b\[/.test(text), 'no colour codes');
  assert.ok(lines.every((l) => l === l.trimEnd()), 'no trailing spaces');
});

test('formatScanTable: IOMMU off, unknown values and no devices', () => {
  const report: HostReport = {
    host: { name: 'bare', kernelCmdline: '', cpuVendor: '', iommuEnabled: false, loadedModules: [], iommuGroupCount: 0 },
    devices: [],
  };
  const text = formatScanTable(report);
  assert.match(text, /^IOMMU: {4}off$/m);
  assert.match(text, /^CPU: {6}-$/m);
  assert.match(text, /\(no PCI devices match the filter\)\n$/);
});

test('scanToJson: {host, devices} with the contract fields', async () => {
  const report = await sriovReport();
  const json = JSON.parse(JSON.stringify(scanToJson(report))) as Record<string, unknown>;
  assert.deepEqual(Object.keys(json), ['host', 'devices']);
  assert.deepEqual(Object.keys(json.host as object), ['name', 'kernelCmdline', 'cpuVendor', 'iommuEnabled', 'loadedModules', 'iommuGroupCount']);
  const devices = json.devices as Record<string, unknown>[];
  assert.equal(devices.length, 8);
  assert.deepEqual(Object.keys(devices[0]!), [
    'address', 'shortAddress', 'vendor', 'device', 'class', 'progIf', 'subsystemVendor', 'subsystemDevice', 'revision',
    'vendorName', 'deviceName', 'className', 'subsystemName', 'numaNode', 'iommuGroup', 'groupMembers', 'driver', 'sriov',
    'physfn', 'numVfs', 'totalVfs', 'virtfns', 'netInterfaces', 'pcieRoot', 'resetMethods', 'groupReservedRegions',
  ]);
  assert.equal(devices[2]!.numVfs, 4);
  assert.equal(devices[7]!.driver, null);
});

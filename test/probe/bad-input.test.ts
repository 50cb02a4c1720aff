/** Missing, unreadable or garbled sysfs content: the device is still reported, with a warning. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, type DeviceReport, type HostReport } from '../../common/index.js';
import { createScanner, type Scanner } from '../../probe/index.js';
import { edgeCaseHost, gpuHostSharedGroup, sriovNicHost, type FakeHost } from '../helpers/fake-host.js';

interface LogLine {
  level: number;
  msg: string;
  file?: string;
}

/** A scanner whose pino output is captured as parsed JSON lines. */
function capturing(t: TestContext, host: FakeHost): { scanner: Scanner; logs: LogLine[] } {
  const logs: LogLine[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  // pino writes synchronously to a plain Writable, so logs are there when scan() returns.
  const scanner = createScanner({ hostRoot: host.root, hostName: 'h', logger: createLogger({ name: 'probe-test', level: 'warn', destination }) });
  t.after(() => scanner.close());
  return { scanner, logs };
}

async function hostFor(t: TestContext, build: Promise<FakeHost>): Promise<FakeHost> {
  const host = await build;
  t.after(() => host.cleanup());
  return host;
}

const find = (r: HostReport, address: string): DeviceReport => r.devices.find((d) => d.address === address)!;
const warningsFor = (logs: LogLine[], file: string) => logs.filter((l) => l.level === 40 && l.file === file);

test('a missing vendor file: empty vendor and names, one warning naming the file', async (t) => {
  const host = await hostFor(t, gpuHostSharedGroup());
  host.removeDeviceFile('0000:01:00.0', 'vendor');
  const { scanner, logs } = capturing(t, host);
  const gpu = find(scanner.scan(), '0000:01:00.0');
  assert.ok(gpu, 'device still reported');
  assert.equal(gpu.vendor, '');
  assert.equal(gpu.vendorName, '');
  assert.equal(gpu.device, '1b80');
  assert.equal(gpu.driver, 'nvidia');
  const file = join(host.deviceDir('0000:01:00.0'), 'vendor');
  assert.equal(warningsFor(logs, file).length, 1);
  assert.ok(warningsFor(logs, file)[0]!.msg.includes(file));
});

test('an unreadable numa_node: null, a warning, and no repeat on every rescan', async (t) => {
  const host = await hostFor(t, gpuHostSharedGroup());
  const file = join(host.deviceDir('0000:02:00.0'), 'numa_node');
  rmSync(file);
  mkdirSync(file); // reading a directory fails with EISDIR
  const { scanner, logs } = capturing(t, host);
  assert.equal(find(scanner.scan(), '0000:02:00.0').numaNode, null);
  assert.equal(find(scanner.scan(), '0000:02:00.0').numaNode, null);
  assert.equal(warningsFor(logs, file).length, 1);
  assert.equal(find(scanner.scan(), '0000:01:00.0').numaNode, 0);
});

test('garbled content: the field is empty and the warning quotes it', async (t) => {
  const host = await hostFor(t, gpuHostSharedGroup());
  host.writeDeviceFile('0000:01:00.1', 'class', 'banana\n');
  host.writeDeviceFile('0000:01:00.1', 'numa_node', 'lots\n');
  const { scanner, logs } = capturing(t, host);
  const audio = find(scanner.scan(), '0000:01:00.1');
  assert.deepEqual([audio.class, audio.progIf, audio.className, audio.numaNode], ['', '', '', null]);
  assert.match(warningsFor(logs, join(host.deviceDir('0000:01:00.1'), 'class'))[0]!.msg, /unexpected content "banana"/);
  assert.equal(warningsFor(logs, join(host.deviceDir('0000:01:00.1'), 'numa_node')).length, 1);
  // The group member list still carries the device, with its unreadable class empty.
  assert.deepEqual(find(scanner.scan(), '0000:01:00.0').groupMembers.find((m) => m.address === '0000:01:00.1'), { address: '0000:01:00.1', class: '' });
});

test('a missing sriov_numvfs on a PF, and an unreadable reserved_regions', async (t) => {
  const host = await hostFor(t, sriovNicHost());
  host.removeDeviceFile('0000:41:00.0', 'sriov_numvfs');
  const regions = join(host.root, 'sys/kernel/iommu_groups/12/reserved_regions');
  rmSync(regions);
  const { scanner, logs } = capturing(t, host);
  const report = scanner.scan();
  const pf = find(report, '0000:41:00.0');
  assert.deepEqual([pf.sriov, pf.numVfs, pf.totalVfs, pf.virtfns], ['pf', null, 8, []]);
  assert.equal(warningsFor(logs, join(host.deviceDir('0000:41:00.0'), 'sriov_numvfs')).length, 1);
  assert.deepEqual(find(report, '0000:41:00.1').groupReservedRegions, []);
  assert.equal(warningsFor(logs, regions).length, 1);
  assert.deepEqual(find(report, '0000:41:00.2').groupReservedRegions, ['msi', 'reserved']);
});

test('missing proc files and a missing sys/module: empty host facts with warnings', async (t) => {
  const host = await hostFor(t, edgeCaseHost());
  rmSync(join(host.root, 'proc'), { recursive: true });
  rmSync(join(host.root, 'sys/module'), { recursive: true });
  const { scanner, logs } = capturing(t, host);
  const report = scanner.scan();
  assert.equal(report.host.kernelCmdline, '');
  assert.equal(report.host.cpuVendor, '');
  assert.deepEqual(report.host.loadedModules, []);
  assert.equal(report.devices.length, 5);
  for (const f of ['proc/cmdline', 'proc/cpuinfo', 'sys/module']) assert.equal(warningsFor(logs, join(host.root, f)).length, 1, f);
});

test('stray entries in sys/bus/pci/devices: a dangling link and a non-address are skipped with warnings', async (t) => {
  const host = await hostFor(t, edgeCaseHost());
  const bus = join(host.root, 'sys/bus/pci/devices');
  symlinkSync('../../../devices/pci0000:00/0000:00:09.0', join(bus, '0000:00:09.0'));
  mkdirSync(join(bus, 'not-a-device'));
  const { scanner, logs } = capturing(t, host);
  assert.equal(scanner.scan().devices.length, 5);
  assert.equal(warningsFor(logs, join(bus, '0000:00:09.0')).length, 1);
  assert.equal(warningsFor(logs, join(bus, 'not-a-device')).length, 1);
});

test('no warnings at all for a healthy host', async (t) => {
  const host = await hostFor(t, sriovNicHost());
  const { scanner, logs } = capturing(t, host);
  scanner.scan();
  scanner.scan();
  assert.deepEqual(logs, []);
});

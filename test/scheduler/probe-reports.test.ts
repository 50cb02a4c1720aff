/**
 * What the scheduler accepts from a probe (wire/report-check.ts), over real
 * gRPC on loopback: a report the scanner could not have written is refused
 * as INVALID_ARGUMENT naming the device, field and value, and nothing of it
 * is stored; what the scanner writes for the fake hosts passes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, status } from '@grpc/grpc-js';
import { silentLogger, type DeviceReport } from '../../common/index.js';
import { createScanner, parseFilterConfig } from '../../probe/index.js';
import { ProbeServiceClient, channelOptions, checkDeviceReports, deviceToWire, type ConnectResponse } from '../../wire/index.js';
import { baseReport } from '../helpers/device-report.js';
import { edgeCaseHost, gpuHostSharedGroup, sriovNicHost } from '../helpers/fake-host.js';
import { startCluster } from '../helpers/cluster.js';

const FACTS = { kernelCmdline: 'intel_iommu=on', cpuVendor: 'GenuineIntel', iommuEnabled: true, loadedModules: ['vfio_pci'], iommuGroupCount: 1 };

type StreamEnd = { acked: boolean; code?: number; details?: string };

/**
 * A probe stream: hello, then a snapshot of `devices`. `first` resolves at
 * the first ack or at the stream's error; `ended` at its error (or close).
 */
function openStream(address: string, hostName: string, devices: DeviceReport[], session = 's1') {
  const client = new ProbeServiceClient(address, credentials.createInsecure(), channelOptions);
  const call = client.connect();
  let acked = false;
  let firstDone: (r: StreamEnd) => void = () => {};
  const first = new Promise<StreamEnd>((resolve) => (firstDone = resolve));
  const ended = new Promise<StreamEnd>((resolve) => {
    call.on('data', (m: ConnectResponse) => {
      if (m.body?.$case !== 'ack') return;
      acked = true;
      firstDone({ acked });
    });
    call.on('error', (err: { code: number; details: string }) => {
      const r = { acked, code: err.code, details: err.details };
      firstDone(r);
      resolve(r);
    });
  });
  call.write({ body: { $case: 'hello', value: { hostName, session, intervalMs: 10_000, probeVersion: 'test' } } });
  call.write({ body: { $case: 'snapshot', value: { generation: 1, host: FACTS, devices: devices.map(deviceToWire) } } });
  const close = () => {
    call.cancel();
    client.close();
  };
  return { first, ended, close };
}

/** One stream's first answer: the ack, or the error that ended it. */
async function sendSnapshot(address: string, hostName: string, devices: DeviceReport[]): Promise<StreamEnd> {
  const stream = openStream(address, hostName, devices);
  try {
    return await stream.first;
  } finally {
    stream.close();
  }
}

test('a report the scanner could not have written is refused by name, and nothing of it is stored', async () => {
  const cluster = await startCluster();
  try {
    const good = baseReport('0000:01:00.0');
    const cases: Array<[string, string, DeviceReport[], string]> = [
      ['h-dup', 'twice', [good, { ...good }], 'devices[1].address: device 0000:01:00.0 is reported twice'],
      ['h-addr', 'address', [{ ...good, address: 'zz', shortAddress: 'zz' }], 'devices[0].address: address must be a PCI address such as 0000:01:00.0, got "zz"'],
      ['h-short', 'short address', [{ ...good, shortAddress: '02:00.0' }], 'devices[0].shortAddress: device 0000:01:00.0: shortAddress must be "01:00.0", the address as lspci prints it, got "02:00.0"'],
      ['h-vendor', 'vendor', [{ ...good, vendor: '10DE' }], 'devices[0].vendor: device 0000:01:00.0: vendor must be 4 lowercase hex digits, or empty, got "10DE"'],
      ['h-numa', 'negative NUMA node', [{ ...good, numaNode: -5 }], 'devices[0].numaNode: device 0000:01:00.0: numaNode must be a whole number or absent, got -5'],
      ['h-vf', 'VF address', [{ ...good, sriov: 'pf', totalVfs: 1, numVfs: 1, virtfns: ['0000:01:00.8'] }], 'devices[0].virtfns[0]: device 0000:01:00.0: virtfns[0] must be a PCI address such as 0000:01:00.0, got "0000:01:00.8"'],
      ['h-name', 'long name', [{ ...good, deviceName: 'x'.repeat(5000) }], `devices[0].deviceName: device 0000:01:00.0: deviceName must be at most 512 characters, got "${'x'.repeat(40)}…" (5000 characters)`],
    ];
    for (const [host, what, devices, details] of cases) {
      const r = await sendSnapshot(cluster.server.grpcAddress, host, devices);
      assert.deepEqual(r, { acked: false, code: status.INVALID_ARGUMENT, details }, what);
      assert.equal((await cluster.api('GET', `/api/v1/hosts/${host}`)).status, 404, `${what}: not stored`);
    }
    const badName = await sendSnapshot(cluster.server.grpcAddress, 'node 1', [good]);
    assert.deepEqual(badName, {
      acked: false,
      code: status.INVALID_ARGUMENT,
      details: 'hello.host_name: host name "node 1" must be 1-253 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit',
    });
    // The same stream code with a valid report is acknowledged and stored.
    assert.deepEqual(await sendSnapshot(cluster.server.grpcAddress, 'h-good', [good, baseReport('10000:e1:00.0')]), { acked: true });
    const stored = await cluster.api<{ devices: Array<{ address: string }> }>('GET', '/api/v1/hosts/h-good');
    assert.deepEqual(stored.body.devices.map((d) => d.address), ['0000:01:00.0', '10000:e1:00.0']);
  } finally {
    await cluster.stop();
  }
});

test('what the scanner writes for the fake hosts passes the same checks', async () => {
  for (const build of [gpuHostSharedGroup, sriovNicHost, edgeCaseHost]) {
    const host = await build();
    try {
      const scanner = createScanner({ hostRoot: host.root, filter: parseFilterConfig('', 'pci.conf'), logger: silentLogger(), hostName: 'h' });
      const { devices } = scanner.scan();
      assert.ok(devices.length > 0, build.name);
      assert.doesNotThrow(() => checkDeviceReports(devices), build.name);
    } finally {
      await host.cleanup();
    }
  }
});

test('a second probe under a connected host name is refused; the same probe reconnecting takes over its stream', async () => {
  const cluster = await startCluster();
  const addresses = async () => (await cluster.api<{ devices: Array<{ address: string }> }>('GET', '/api/v1/hosts/twin')).body.devices.map((d) => d.address);
  try {
    const grpc = cluster.server.grpcAddress;
    const a = openStream(grpc, 'twin', [baseReport('0000:01:00.0')], 'session-a');
    assert.deepEqual(await a.first, { acked: true });
    const b = openStream(grpc, 'twin', [baseReport('0000:02:00.0')], 'session-b');
    const refused = await b.first;
    assert.equal(refused.code, status.ALREADY_EXISTS);
    assert.match(refused.details!, /^host twin is already connected from another probe \(.+, session session-a\): give each hypervisor its own host name$/);
    assert.deepEqual(await addresses(), ['0000:01:00.0'], 'the second probe stored nothing');
    b.close();

    // The same session again (its old stream not closed yet): the new stream replaces the old one.
    const a2 = openStream(grpc, 'twin', [baseReport('0000:03:00.0')], 'session-a');
    assert.deepEqual(await a2.first, { acked: true });
    const replaced = await a.ended;
    assert.equal(replaced.code, status.ABORTED);
    assert.match(replaced.details!, /^replaced by a newer connection of the same probe/);
    assert.deepEqual(await addresses(), ['0000:03:00.0']);

    // Once it has gone, another probe may take the name.
    a2.close();
    await new Promise((r) => setTimeout(r, 200));
    const c = openStream(grpc, 'twin', [baseReport('0000:04:00.0')], 'session-c');
    assert.deepEqual(await c.first, { acked: true });
    c.close();
  } finally {
    await cluster.stop();
  }
});

/**
 * Walking skeleton end to end, with real processes: a server on port 0, a
 * probe reading a fake host root over gRPC, the CLI and the REST API.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gpuHostSplitGroups } from '../helpers/fake-host.js';
import { e2eWorkspace, startServerProcess, startChild, runCliProcess, eventually, type ServerChild, type Child } from '../helpers/processes.js';

const { dataDir, host, children } = await e2eWorkspace('pcisched-e2e-', () => gpuHostSplitGroups());

interface HostJson {
  name: string;
  state: string;
  devices: Array<{ address: string; shortAddress: string; vendor: string; device: string; class: string; iommuGroup: number | null; driver: string | null; vm: number | null }>;
}

async function getHost(server: ServerChild, name: string): Promise<{ status: number; type: string; body: unknown }> {
  const res = await fetch(`${server.http}/api/v1/hosts/${name}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.json() };
}

function startProbe(server: ServerChild): Child {
  const probe = startChild(['probe', 'run', '--server', server.grpc, '--host-name', 'node1', '--host-root', host.root, '--interval', '0.2']);
  children.push(probe);
  return probe;
}

const EXPECTED_TABLE = [
  'PCI DEVICES',
  '',
  '   VM ADDR    TYPE           NAME',
  '      00:00.0 8086:3e30:0600 8th/9th Gen Core 8-core Desktop Processor Host Bri',
  '      00:01.0 8086:1901:0604 6th-10th Gen Core Processor PCIe Controller (x16)',
  '      00:01.1 8086:1905:0604 Xeon E3-1200 v5/E3-1500 v5/6th Gen Core Processor',
  '      00:02.0 8086:3e92:0300 CoffeeLake-S GT2 [UHD Graphics 630]',
  '      00:14.0 8086:a36d:0c03 Cannon Lake PCH USB 3.1 xHCI Host Controller',
  '      00:1f.0 8086:a30d:0601 HM470 Chipset LPC/eSPI Controller',
  '      00:1f.3 8086:a348:0403 Cannon Lake PCH cAVS',
  '      00:1f.4 8086:a3a3:0c05 Comet Lake PCH-V SMBus Host Controller',
  '      01:00.0 10de:1b80:0300 NVIDIA Corporation GP104 [GeForce GTX 1080]',
  '      01:00.1 10de:10f0:0403 NVIDIA Corporation GP104 High Definition Audio Con',
  '      02:00.0 10de:1b81:0300 NVIDIA Corporation GP104 [GeForce GTX 1070]',
  '      02:00.1 10de:10f0:0403 NVIDIA Corporation GP104 High Definition Audio Con',
];

function tableOf(stdout: string): string[] {
  const lines = stdout.replace(/\n$/, '').split('\n');
  return lines.slice(lines.indexOf('PCI DEVICES'));
}

let server = await startServerProcess(dataDir);
children.push(server);

test('a probe reports a fake host and `host show` prints the onehost table', async () => {
  const probe = startProbe(server);
  await eventually(async () => ((await getHost(server, 'node1')).body as HostJson).devices?.length === 12, 20_000, 'node1 with 12 devices');

  const show = await runCliProcess(['--api', server.http, 'host', 'show', 'node1']);
  assert.equal(show.code, 0, show.stderr);
  assert.deepEqual(tableOf(show.stdout), EXPECTED_TABLE);
  assert.match(show.stdout, /^HOST 1 INFORMATION\nID {20}: 1\nNAME {18}: node1\nSTATE {17}: online\n/);

  const { status, body } = await getHost(server, 'node1');
  assert.equal(status, 200);
  const h = body as HostJson;
  assert.equal(h.state, 'online');
  const gpu = h.devices.find((d) => d.address === '0000:01:00.0')!;
  assert.deepEqual(
    { shortAddress: gpu.shortAddress, vendor: gpu.vendor, device: gpu.device, class: gpu.class, iommuGroup: gpu.iommuGroup, driver: gpu.driver, vm: gpu.vm },
    { shortAddress: '01:00.0', vendor: '10de', device: '1b80', class: '0300', iommuGroup: 6, driver: 'nvidia', vm: null },
  );

  const list = await runCliProcess(['--api', server.http, 'host', 'list']);
  assert.equal(list.stdout, 'ID  NAME   STATE   TOTAL  USED\n 1  node1  online     12     0\n');

  const json = await runCliProcess(['--api', server.http, 'host', 'show', 'node1', '--json']);
  assert.deepEqual(JSON.parse(json.stdout).devices, h.devices);
  await probe.stop();
});

test('data persists across a server restart', async () => {
  const grpcPort = Number(server.grpc.split(':').pop());
  await server.stop();
  server = await startServerProcess(dataDir, [], { grpc: grpcPort, http: 0 });
  children.push(server);
  const { body } = await getHost(server, 'node1');
  const h = body as HostJson;
  assert.equal(h.devices.length, 12);
  // No probe is connected to the new process yet.
  assert.equal(h.state, 'offline');
});

test('a probe restarted with one device removed makes it disappear', async () => {
  host.removeDevice('0000:00:14.0');
  const probe = startProbe(server);
  const h = await eventually(async () => {
    const b = (await getHost(server, 'node1')).body as HostJson;
    return b.devices.length === 11 && b.state === 'online' ? b : null;
  }, 20_000, 'USB controller gone');
  assert.equal(h.devices.some((d) => d.address === '0000:00:14.0'), false);
  const show = await runCliProcess(['--api', server.http, 'host', 'show', 'node1']);
  assert.deepEqual(tableOf(show.stdout), EXPECTED_TABLE.filter((l) => !l.includes('00:14.0')));
  await probe.stop();
});

test('the probe keeps retrying while the server is down and recovers when it is back', async () => {
  const probe = startProbe(server);
  await eventually(async () => ((await getHost(server, 'node1')).body as HostJson).state === 'online', 20_000, 'online');
  const ports = { grpc: Number(server.grpc.split(':').pop()), http: Number(server.http.split(':').pop()) };
  await server.stop();
  await probe.waitFor(/scheduler stream closed; reconnecting/, 10_000, 'stderr');
  const closedBefore = probe.stderr().split('reconnecting').length;
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(probe.proc.exitCode, null, 'probe still running');
  assert.ok(probe.stderr().split('reconnecting').length > closedBefore, 'probe retried while the server was down');

  server = await startServerProcess(dataDir, [], ports);
  children.push(server);
  const h = await eventually(async () => {
    const b = (await getHost(server, 'node1')).body as HostJson;
    return b.state === 'online' ? b : null;
  }, 40_000, 'online again');
  assert.equal(h.devices.length, 11);
  await probe.stop();
});

test('unknown host: 404 problem+json, and exit code 4 from the CLI', async () => {
  const res = await getHost(server, 'no-such-host');
  assert.equal(res.status, 404);
  assert.match(res.type, /^application\/problem\+json/);
  assert.deepEqual(res.body, {
    type: 'urn:pcisched:problem:not_found',
    title: 'Not Found',
    status: 404,
    detail: 'host no-such-host not found',
    instance: '/api/v1/hosts/no-such-host',
    kind: 'host',
    id: 'no-such-host',
  });
  const cli = await runCliProcess(['--api', server.http, 'host', 'show', 'no-such-host']);
  assert.equal(cli.code, 4);
  assert.equal(cli.stdout, '');
  assert.equal(cli.stderr, 'error: host no-such-host not found\n');
});

/**
 * The CLI against a real in-process server: exact output, --json and exit codes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli, type CliIo } from '../../cli/index.js';
import { gpuHostSharedGroup, type FakeHost } from '../helpers/fake-host.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';

let c: TestCluster;
let host: FakeHost;
before(async () => {
  c = await startCluster();
  host = await gpuHostSharedGroup();
  await c.addProbe('node1', host);
});
after(async () => {
  await c.stop();
  await host.cleanup();
});

async function cli(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), isTerminal: false, env: {}, readStdin: async () => stdin };
  const code = await runCli(['--api', c.server.httpUrl, ...args], io);
  return { code, out, err };
}

test('vm create from stdin, then vm show and vm list print exact tables', async () => {
  const a = await cli(['vm', 'create', '-'], 'NAME = "a"\nPCI = [ VENDOR = "10de", CLASS = "0300" ]\n');
  assert.equal(a.code, 0, a.err);
  const b = await cli(['vm', 'create', '-', '--json'], 'NAME = "b"\nPCI = [ VENDOR = "10de", CLASS = "0300" ]\n');
  const bId = JSON.parse(b.out).id as number;
  const show = await cli(['vm', 'show', '1']);
  assert.equal(
    show.out.replace(/CREATED {15}: \S+/, 'CREATED               : <t>'),
    [
      'VM 1 INFORMATION',
      'ID                    : 1',
      'NAME                  : a',
      'STATE                 : allocated',
      'HOST                  : node1',
      'CREATED               : <t>',
      '',
      'PCI DEVICES',
      '',
      '  REQ ADDR    TYPE           NOTE',
      '    0 01:00.0 10de:1b80:0300',
      '      01:00.1 10de:10f0:0403 IOMMU group companion',
      '      02:00.0 10de:1b81:0300 IOMMU group companion',
      '      02:00.1 10de:10f0:0403 IOMMU group companion',
      '',
    ].join('\n'),
  );
  const pending = await cli(['vm', 'show', String(bId)]);
  assert.match(pending.out, /\nPENDING REASONS\n\nHOST   REASON\nnode1  \S.*\n$/);
  const list = await cli(['vm', 'list']);
  assert.equal(list.out, ['ID  NAME  STATE      HOST   DEVICES', ' 1  a     allocated  node1        4', ` ${bId}  b     pending    -            0`, ''].join('\n'));
  const pendingOnly = await cli(['vm', 'list', '--state', 'pending']);
  assert.equal(pendingOnly.out, ['ID  NAME  STATE    HOST  DEVICES', ` ${bId}  b     pending  -           0`, ''].join('\n'));
  const first = await cli(['vm', 'list', '--limit', '1', '--json']);
  assert.deepEqual(JSON.parse(first.out).map((v: { id: number }) => v.id), [1]);
  const next = await cli(['vm', 'list', '--after', '1', '--limit', '1', '--json']);
  assert.deepEqual(JSON.parse(next.out).map((v: { id: number }) => v.id), [bId]);
  const badState = await cli(['vm', 'list', '--state', 'running']);
  assert.deepEqual([badState.code, badState.err], [1, 'error: state: unknown VM state "running"; states are pending, allocated, ready, prepare_failed, releasing, released\n']);
  assert.equal((await cli(['vm', 'list', '--limit', 'x'])).code, 2);
  const hostTable = await cli(['host', 'show', 'node1']);
  assert.match(hostTable.out, /\n {4}1 01:00\.0 10de:1b80:0300 NVIDIA Corporation GP104 \[GeForce GTX 1080\]\n/);
  assert.match(hostTable.out, /\nREADINESS\nCPU VENDOR {12}: intel\nIOMMU {17}: on\n/);
  const list2 = await cli(['host', 'list', '--json']);
  assert.deepEqual(JSON.parse(list2.out).map((h: { name: string; devicesUsed: number }) => [h.name, h.devicesUsed]), [['node1', 4]]);
});

test('exit codes: usage 2, not found 4, error 1 with the problem detail on stderr', async () => {
  const usage = await cli(['vm', 'show', 'abc']);
  assert.deepEqual([usage.code, usage.out, usage.err], [2, '', 'error: VM id must be a number, got "abc"\n']);
  const unknownCmd = await cli(['frobnicate']);
  assert.equal(unknownCmd.code, 2);
  const missing = await cli(['vm', 'show', '999']);
  assert.deepEqual([missing.code, missing.err], [4, 'error: VM 999 not found\n']);
  const invalid = await cli(['vm', 'create', '-'], 'PCI = [ VENDOR = "zz" ]\n');
  assert.equal(invalid.code, 1);
  assert.match(invalid.err, /^error: line 1, column \d+: PCI\[0\]\.VENDOR: /);
  // From a file, the error names the file before the line and column.
  const dir = mkdtempSync(path.join(tmpdir(), 'pcisched-cli-'));
  try {
    const file = path.join(dir, 'gpu.tpl');
    writeFileSync(file, 'NAME = "x"\nPCI = [ VENDOR = "10dex" ]\n');
    const fromFile = await cli(['vm', 'create', file]);
    assert.deepEqual([fromFile.code, fromFile.out, fromFile.err], [1, '', `error: ${file}: line 2, column 18: PCI[0].VENDOR: must be 4 hex digits (e.g. "10de"), got "10dex"\n`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const down = await runCli(['--api', 'http://127.0.0.1:1', 'host', 'list'], { stdout: () => {}, stderr: () => {}, isTerminal: false, env: {}, readStdin: async () => '' });
  assert.equal(down, 1);
});

test('network commands: create, list, show, delete with exact output', async () => {
  const created = await cli(['network', 'create', 'pt', '--vlan-id', '100', '--ip-range', '10.1.0.1', '8']);
  assert.equal(created.code, 0, created.err);
  const list = await cli(['network', 'list']);
  assert.equal(list.out, 'ID  NAME  VLAN  IP RANGE     LEASES  FREE\n 1  pt     100  10.1.0.1 +8       0     8\n');
  const bad = await cli(['network', 'create', 'x', '--vlan-id', '5000']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /vlanId/);
  const del = await cli(['network', 'delete', 'pt']);
  assert.deepEqual([del.code, del.out], [0, 'network pt deleted\n']);
  assert.equal((await cli(['network', 'show', 'pt'])).code, 4);
});

test('host advise prints the kernel parameters for the chosen device and its group', async () => {
  const res = await cli(['host', 'advise', 'node1', '--devices', '01:00.0']);
  assert.equal(res.code, 0, res.err);
  assert.match(res.out, /^Kernel parameters for passthrough on host node1 \(advice only: nothing is applied\)\n/);
  assert.match(res.out, /\n  vfio-pci\.ids=10de:10f0,10de:1b80\n/);
  assert.match(res.out, /rpm-ostree kargs --append-if-missing=vfio-pci\.ids=10de:10f0,10de:1b80/);
  const json = JSON.parse((await cli(['host', 'advise', 'node1', '--devices', '01:00.0', '--json'])).out);
  assert.ok(json.params.includes('pcie_acs_override=downstream,multifunction'), 'shared group: ACS override advised');
  const unknown = await cli(['host', 'advise', 'node1', '--devices', '09:00.0']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /0000:09:00.0|09:00.0/);
});

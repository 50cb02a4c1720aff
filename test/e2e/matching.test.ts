/**
 * Matching and allocation through the REST API of a real server, with real
 * probes reporting fake host roots over gRPC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import path from 'node:path';
import { gpuHostSharedGroup, gpuHostSplitGroups, buildFakeHost, type FakeHost } from '../helpers/fake-host.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { eventually } from '../helpers/processes.js';

interface VmJson {
  id: number;
  name: string;
  state: string;
  host: string | null;
  devices: Array<{ address: string; request: number | null; companion: boolean }>;
  pendingReasons: Array<{ host: string | null; reason: string }>;
}

const GPU_TEMPLATE = (name: string) => `NAME = "${name}"\n# any NVIDIA GPU\nPCI = [\n  VENDOR = "10de",\n  CLASS  = "0300"\n]\n`;

async function withCluster(fn: (c: TestCluster, hosts: FakeHost[]) => Promise<void>, ...hosts: Array<() => Promise<FakeHost>>) {
  const cluster = await startCluster();
  const built: FakeHost[] = [];
  try {
    for (const [i, make] of hosts.entries()) {
      const h = await make();
      built.push(h);
      await cluster.addProbe(`host${i + 1}`, h);
    }
    await fn(cluster, built);
  } finally {
    await cluster.stop();
    await Promise.all(built.map((h) => h.cleanup()));
  }
}

test('two GPUs sharing one IOMMU group: the first VM takes the group, the second stays pending with the group reason', async () => {
  await withCluster(async (c) => {
    const first = await c.api<VmJson>('POST', '/api/v1/vms', GPU_TEMPLATE('a'));
    assert.equal(first.status, 201);
    assert.equal(first.body.state, 'allocated');
    assert.equal(first.body.host, 'host1');
    assert.deepEqual(
      first.body.devices.map((d) => [d.address, d.request, d.companion]),
      [
        ['0000:01:00.0', 0, false],
        ['0000:01:00.1', null, true],
        ['0000:02:00.0', null, true],
        ['0000:02:00.1', null, true],
      ],
    );
    const second = await c.api<VmJson>('POST', '/api/v1/vms', GPU_TEMPLATE('b'));
    assert.equal(second.status, 201);
    assert.equal(second.body.state, 'pending');
    assert.deepEqual(second.body.pendingReasons, [{ host: 'host1', reason: `IOMMU group 1 is held by VM ${first.body.id}` }]);
  }, gpuHostSharedGroup);
});

test('with the groups split (ACS override), both VMs are placed, each with its own GPU and audio function', async () => {
  await withCluster(async (c) => {
    const a = (await c.api<VmJson>('POST', '/api/v1/vms', GPU_TEMPLATE('a'))).body;
    const b = (await c.api<VmJson>('POST', '/api/v1/vms', GPU_TEMPLATE('b'))).body;
    assert.equal(a.state, 'allocated');
    assert.equal(b.state, 'allocated');
    assert.deepEqual(a.devices.map((d) => d.address), ['0000:01:00.0', '0000:01:00.1']);
    assert.deepEqual(b.devices.map((d) => d.address), ['0000:02:00.0', '0000:02:00.1']);
    const host = (await c.api<{ devices: Array<{ address: string; vm: number | null }> }>('GET', '/api/v1/hosts/host1')).body;
    const held = Object.fromEntries(host.devices.filter((d) => d.vm !== null).map((d) => [d.address, d.vm]));
    assert.deepEqual(held, { '0000:01:00.0': a.id, '0000:01:00.1': a.id, '0000:02:00.0': b.id, '0000:02:00.1': b.id });
  }, gpuHostSplitGroups);
});

test('releasing a VM places the next pending one without a new request; release is idempotent', async () => {
  await withCluster(async (c) => {
    const a = (await c.api<VmJson>('POST', '/api/v1/vms', GPU_TEMPLATE('a'))).body;
    const b = (await c.api<VmJson>('POST', '/api/v1/vms', GPU_TEMPLATE('b'))).body;
    const d = (await c.api<VmJson>('POST', '/api/v1/vms', GPU_TEMPLATE('d'))).body;
    assert.equal(b.state, 'pending');
    assert.equal(d.state, 'pending');
    const released = await c.api<VmJson>('DELETE', `/api/v1/vms/${a.id}`);
    assert.equal(released.status, 200);
    // The host's probe is connected: it gives the devices back first (a dry run here).
    assert.match(released.body.state, /^(releasing|released)$/);
    await eventually(async () => (await c.api<VmJson>('GET', `/api/v1/vms/${a.id}`)).body.state === 'released', 10_000, 'a released');
    // Submission order: b (older) gets the group, d stays pending.
    const placed = await eventually(async () => {
      const v = (await c.api<VmJson>('GET', `/api/v1/vms/${b.id}`)).body;
      return v.state === 'allocated' ? v : null;
    }, 10_000, 'b placed');
    assert.equal(placed.host, 'host1');
    assert.equal((await c.api<VmJson>('GET', `/api/v1/vms/${d.id}`)).body.state, 'pending');
    const again = await c.api<VmJson>('DELETE', `/api/v1/vms/${a.id}`);
    assert.equal(again.status, 200);
    assert.equal(again.body.state, 'released');
    assert.equal((await c.api<VmJson>('GET', `/api/v1/vms/${d.id}`)).body.state, 'pending', 'repeating a release frees nothing more');
  }, gpuHostSharedGroup);
});

test('validation errors are 400 problems naming the line and column, or the attribute', async () => {
  await withCluster(async (c) => {
    const bad = await c.api<{ status: number; line: number; column: number; field: string; detail: string }>('POST', '/api/v1/vms', 'NAME = "x"\nPCI = [ VENDOR = "10dex" ]\n');
    assert.equal(bad.status, 400);
    assert.match(bad.type, /application\/problem\+json/);
    assert.equal(bad.body.line, 2);
    assert.equal(bad.body.field, 'PCI[0].VENDOR');
    const both = await c.api<{ field: string }>('POST', '/api/v1/vms', { name: 'x', pci: [{ vendor: '10de', shortAddress: '01:00.0' }] });
    assert.equal(both.status, 400);
    assert.match(both.body.field, /^pci\[0\]/);
    const cel = await c.api<{ field: string }>('POST', '/api/v1/vms', { name: 'x', pci: [{ selector: 'device.numaNode ==' }] });
    assert.equal(cel.status, 400);
    assert.match(cel.body.field, /selector/i);
    const none = await c.api<{ status: number }>('POST', '/api/v1/vms', '', 'application/octet-stream');
    assert.equal(none.status, 400);
    // JSON that is not an object, and a body past the limit: the title follows the status.
    for (const body of ['null', '"vm"', '12']) {
      const notObject = await c.api<{ title: string; detail: string }>('POST', '/api/v1/vms', body, 'application/json');
      assert.deepEqual([notObject.status, notObject.body.title, notObject.body.detail], [400, 'Bad Request', 'the body must be a JSON object'], body);
    }
    const truncated = await c.api<{ detail: string }>('POST', '/api/v1/vms', '{"name":', 'application/json');
    assert.deepEqual([truncated.status, truncated.body.detail], [400, 'Unexpected end of JSON input']);
    const tooLarge = await c.api<{ title: string; status: number }>('POST', '/api/v1/vms', `NAME = "${'x'.repeat(1_100_000)}"`, 'text/plain');
    assert.deepEqual([tooLarge.status, tooLarge.body.title, tooLarge.body.status], [413, 'Payload Too Large', 413]);
    const missing = await c.api<{ status: number }>('GET', '/api/v1/vms/12345');
    assert.equal(missing.status, 404);
    // Past the schema's 32-bit ids: no such VM either, not a database error.
    for (const [method, id] of [['GET', '2147483648'], ['DELETE', '99999999999999999999999'], ['GET', '2147483647']] as const) {
      const huge = await c.api<{ status: number; detail: string }>(method, `/api/v1/vms/${id}`);
      assert.equal(huge.status, 404, `${method} ${id}`);
      assert.equal(huge.body.detail, `VM ${id} not found`);
    }
  });
});

test('16 concurrent clients, 512 VMs, scarce devices: no double booking, all-or-nothing, placed = capacity', async () => {
  // 4 hosts with split groups: 2 GPUs each = 8 single-GPU slots; two-GPU VMs need a whole host.
  await withCluster(async (c) => {
    const bodies = Array.from({ length: 512 }, (_, i) =>
      i % 4 === 3
        ? { name: `pair-${i}`, pci: [{ vendor: '10de', class: '0300' }, { vendor: '10de', class: '0300' }] }
        : { name: `one-${i}`, pci: [{ vendor: '10de', class: '0300' }] },
    );
    let next = 0;
    const statuses: number[] = [];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++]!;
          statuses.push((await c.api('POST', '/api/v1/vms', body)).status);
        }
      }),
    );
    assert.equal(statuses.length, 512);
    assert.ok(statuses.every((s) => s === 201), 'every submission acknowledged');
    await c.server.scheduler.settled();
    const vms = (await c.api<VmJson[]>('GET', '/api/v1/vms')).body;
    assert.equal(vms.length, 512);
    const live = vms.filter((v) => v.state === 'allocated');
    const owner = new Map<string, number>();
    for (const vm of live) {
      const requested = vm.devices.filter((d) => d.request !== null).length;
      assert.equal(requested, vm.name.startsWith('pair') ? 2 : 1, `VM ${vm.id} got all its requests`);
      for (const d of vm.devices) {
        const key = `${vm.host}/${d.address}`;
        assert.equal(owner.get(key), undefined, `${key} held by VMs ${owner.get(key)} and ${vm.id}`);
        owner.set(key, vm.id);
      }
    }
    for (const vm of vms.filter((v) => v.state === 'pending')) assert.equal(vm.devices.length, 0);
    // Capacity: 8 GPUs in total, each VM uses 1 or 2 of them; every GPU is used.
    const gpusUsed = live.reduce((n, vm) => n + vm.devices.filter((d) => d.request !== null).length, 0);
    assert.equal(gpusUsed, 8);
    // The database agrees: one allocation row per held device, none for pending VMs.
    const db = new Database(path.join(c.dataDir, 'pcisched.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT a.vmId, a.deviceId, v.state FROM Allocation a JOIN Vm v ON v.id = a.vmId').all() as Array<{ vmId: number; deviceId: number; state: string }>;
      assert.equal(rows.length, owner.size);
      assert.ok(rows.every((r) => r.state === 'allocated'));
      assert.equal(new Set(rows.map((r) => r.deviceId)).size, rows.length);
    } finally {
      db.close();
    }
  }, gpuHostSplitGroups, gpuHostSplitGroups, gpuHostSplitGroups, gpuHostSplitGroups);
});

test('OpenNebula first-fit trap through the API: a general request does not take the only device a specific one needs', async () => {
  const make = () =>
    buildFakeHost({
      iommu: true,
      devices: [
        { address: '0000:01:00.0', vendor: '10de', device: '1b80', class: '030000', iommuGroup: 1 },
        { address: '0000:02:00.0', vendor: '10de', device: '1b81', class: '030000', iommuGroup: 2 },
      ],
    });
  await withCluster(async (c) => {
    const vm = await c.api<VmJson>('POST', '/api/v1/vms', 'NAME = "trap"\nPCI = [ CLASS = "0300" ]\nPCI = [ VENDOR = "10de", DEVICE = "1b80" ]\n');
    assert.equal(vm.body.state, 'allocated');
    assert.deepEqual(vm.body.devices.map((d) => [d.address, d.request]), [
      ['0000:02:00.0', 0],
      ['0000:01:00.0', 1],
    ]);
  }, make);
});

test('a non-assignable device is never placed, and the pending reason names it and why', async () => {
  await withCluster(async (c) => {
    const vm = (await c.api<VmJson>('POST', '/api/v1/vms', 'NAME = "igpu"\nPCI = [ VENDOR = "8086", DEVICE = "3e92" ]\n')).body;
    assert.equal(vm.state, 'pending');
    assert.equal(vm.pendingReasons.length, 1);
    assert.equal(vm.pendingReasons[0]!.host, 'host1');
    assert.match(vm.pendingReasons[0]!.reason, /0000:00:02\.0.*non-relaxable RMRR \(direct\)/);
  }, gpuHostSharedGroup);
});

/**
 * Host liveness: a host is online while heartbeats arrive, offline after 3
 * missed intervals; offline hosts receive nothing; a returning probe brings
 * the host back and pending VMs are placed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gpuHostSplitGroups } from '../helpers/fake-host.js';
import { startCluster } from '../helpers/cluster.js';
import { eventually } from '../helpers/processes.js';

test('offline after missed heartbeats, nothing placed there, back online places the pending VM', async () => {
  const c = await startCluster();
  const host = await gpuHostSplitGroups();
  try {
    const agent = await c.addProbe('node1', host);
    await agent.stop();
    const stoppedAt = Date.now();
    await eventually(async () => (await c.api<{ state: string }>('GET', '/api/v1/hosts/node1')).body.state === 'offline', 10_000, 'offline');
    // Interval 0.2 s × 3 missed: offline no sooner than 0.6 s after the last heartbeat.
    assert.ok(Date.now() - stoppedAt >= 400, 'not offline before heartbeats were missed');
    const vm = (await c.api<{ id: number; state: string; pendingReasons: unknown }>('POST', '/api/v1/vms', 'PCI = [ VENDOR = "10de" ]\n')).body;
    assert.equal(vm.state, 'pending');
    assert.deepEqual(vm.pendingReasons, [{ host: 'node1', reason: 'offline' }]);
    await c.addProbe('node1', host);
    await eventually(async () => (await c.api<{ state: string }>('GET', `/api/v1/vms/${vm.id}`)).body.state === 'allocated', 10_000, 'placed once online');
  } finally {
    await c.stop();
    await host.cleanup();
  }
});

test('an allocated device that drops out of the report is kept, flagged missing, and removed once released', async () => {
  const c = await startCluster();
  const host = await gpuHostSplitGroups();
  try {
    await c.addProbe('node1', host);
    const vm = (await c.api<{ id: number; state: string }>('POST', '/api/v1/vms', 'PCI = [ VENDOR = "10de", DEVICE = "1b80" ]\n')).body;
    assert.equal(vm.state, 'allocated');
    host.removeDevice('0000:01:00.1');
    type H = { devices: Array<{ address: string; missing: boolean; vm: number | null }> };
    const h = await eventually(async () => {
      const b = (await c.api<H>('GET', '/api/v1/hosts/node1')).body;
      return b.devices.find((d) => d.address === '0000:01:00.1')?.missing ? b : null;
    }, 10_000, 'flagged missing');
    assert.equal(h.devices.find((d) => d.address === '0000:01:00.1')!.vm, vm.id);
    await c.api('DELETE', `/api/v1/vms/${vm.id}`);
    await eventually(async () => (await c.api<{ state: string }>('GET', `/api/v1/vms/${vm.id}`)).body.state === 'released', 10_000, 'released');
    const after = (await c.api<H>('GET', '/api/v1/hosts/node1')).body;
    assert.equal(after.devices.some((d) => d.address === '0000:01:00.1'), false);
    assert.equal(after.devices.find((d) => d.address === '0000:01:00.0')!.vm, null);
  } finally {
    await c.stop();
    await host.cleanup();
  }
});

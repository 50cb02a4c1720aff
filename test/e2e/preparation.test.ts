/**
 * Host-side preparation through a real server and a real probe agent over
 * gRPC: the agent's DevicePreparer writes sysfs through a kernel double that
 * moves the fake host's driver links as Linux would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DevicePreparer } from '../../probe/index.js';
import { silentLogger } from '../../common/index.js';
import { gpuHostSplitGroups, type FakeHost } from '../helpers/fake-host.js';
import { FakeKernel, errnoError } from '../helpers/fake-kernel.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { eventually } from '../helpers/processes.js';

interface VmJson { id: number; state: string; lastError: string | null; devices: Array<{ address: string }> }
const GPU = 'NAME = "gpu"\nPCI = [ VENDOR = "10de", DEVICE = "1b80" ]\n';

async function setup(fn: (ctx: { c: TestCluster; host: FakeHost; kernel: FakeKernel; stateDir: string; attach(): Promise<void> }) => Promise<void>) {
  const c = await startCluster();
  const host = await gpuHostSplitGroups();
  const kernel = new FakeKernel(host);
  const stateDir = mkdtempSync(path.join(tmpdir(), 'pcisched-state-'));
  const attach = async () => {
    await c.agents.get('node1')?.stop();
    const preparer = new DevicePreparer({ hostRoot: host.root, stateDir, enabled: true, logger: silentLogger(), writer: kernel });
    await c.addProbe('node1', host, undefined, { preparer });
  };
  try {
    await attach();
    await fn({ c, host, kernel, stateDir, attach });
  } finally {
    await c.stop();
    await host.cleanup();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function vmState(c: TestCluster, id: number, state: string): Promise<VmJson> {
  return eventually(async () => {
    const v = (await c.api<VmJson>('GET', `/api/v1/vms/${id}`)).body;
    return v.state === state ? v : null;
  }, 10_000, `VM ${id} ${state}`);
}

test('allocate → ready (bound to vfio-pci) → release → host drivers restored, with the exact sysfs writes', async () => {
  await setup(async ({ c, kernel }) => {
    const vm = (await c.api<VmJson>('POST', '/api/v1/vms', GPU)).body;
    assert.deepEqual(vm.devices.map((d) => d.address), ['0000:01:00.0', '0000:01:00.1']);
    await vmState(c, vm.id, 'ready');
    assert.equal(kernel.driverOf('0000:01:00.0'), 'vfio-pci');
    assert.equal(kernel.driverOf('0000:01:00.1'), 'vfio-pci');
    assert.deepEqual(kernel.writes, [
      { path: 'sys/bus/pci/devices/0000:01:00.0/driver_override', data: 'vfio-pci' },
      { path: 'sys/bus/pci/devices/0000:01:00.0/driver/unbind', data: '0000:01:00.0' },
      { path: 'sys/bus/pci/drivers_probe', data: '0000:01:00.0' },
      { path: 'sys/bus/pci/devices/0000:01:00.1/driver_override', data: 'vfio-pci' },
      { path: 'sys/bus/pci/devices/0000:01:00.1/driver/unbind', data: '0000:01:00.1' },
      { path: 'sys/bus/pci/drivers_probe', data: '0000:01:00.1' },
    ]);
    // The probe reports the new binding.
    await eventually(async () => {
      const h = (await c.api<{ devices: Array<{ address: string; driver: string | null }> }>('GET', '/api/v1/hosts/node1')).body;
      return h.devices.find((d) => d.address === '0000:01:00.0')?.driver === 'vfio-pci';
    }, 10_000, 'vfio-pci reported');

    kernel.reset();
    const releasing = (await c.api<VmJson>('DELETE', `/api/v1/vms/${vm.id}`)).body;
    assert.match(releasing.state, /^(releasing|released)$/);
    await vmState(c, vm.id, 'released');
    assert.equal(kernel.driverOf('0000:01:00.0'), 'nvidia');
    assert.equal(kernel.driverOf('0000:01:00.1'), 'snd_hda_intel');
    assert.equal(kernel.overrideOf('0000:01:00.0'), null);
    assert.deepEqual(kernel.writes.map((w) => w.path), [
      'sys/bus/pci/drivers/vfio-pci/unbind',
      'sys/bus/pci/devices/0000:01:00.0/driver_override',
      'sys/bus/pci/drivers/nvidia/bind',
      'sys/bus/pci/drivers/vfio-pci/unbind',
      'sys/bus/pci/devices/0000:01:00.1/driver_override',
      'sys/bus/pci/drivers/snd_hda_intel/bind',
    ]);
  });
});

test('a failure midway: the VM is prepare_failed with the error, and the devices already switched are restored', async () => {
  await setup(async ({ c, kernel }) => {
    kernel.failOn = (p, data) => (p === 'sys/bus/pci/drivers_probe' && data.startsWith('0000:01:00.1') ? errnoError('EBUSY', p) : null);
    const vm = (await c.api<VmJson>('POST', '/api/v1/vms', GPU)).body;
    const failed = await vmState(c, vm.id, 'prepare_failed');
    assert.match(failed.lastError ?? '', /0000:01:00\.1/);
    assert.equal(kernel.driverOf('0000:01:00.0'), 'nvidia');
    assert.equal(kernel.driverOf('0000:01:00.1'), 'snd_hda_intel');
    // Releasing a VM whose preparation failed frees its devices.
    await c.api('DELETE', `/api/v1/vms/${vm.id}`);
    await vmState(c, vm.id, 'released');
  });
});

test('a probe restarted between prepare and release still restores the recorded drivers', async () => {
  await setup(async ({ c, kernel, attach }) => {
    const vm = (await c.api<VmJson>('POST', '/api/v1/vms', GPU)).body;
    await vmState(c, vm.id, 'ready');
    await attach(); // a new agent process: new session, new DevicePreparer on the same state dir
    await c.api('DELETE', `/api/v1/vms/${vm.id}`);
    await vmState(c, vm.id, 'released');
    assert.equal(kernel.driverOf('0000:01:00.0'), 'nvidia');
    assert.equal(kernel.driverOf('0000:01:00.1'), 'snd_hda_intel');
  });
});

test('an unprepare that fails keeps the devices held and is visible on the host', async () => {
  await setup(async ({ c, kernel }) => {
    const vm = (await c.api<VmJson>('POST', '/api/v1/vms', GPU)).body;
    await vmState(c, vm.id, 'ready');
    kernel.failOn = (p) => (p === 'sys/bus/pci/drivers/vfio-pci/unbind' ? errnoError('EIO', p) : null);
    await c.api('DELETE', `/api/v1/vms/${vm.id}`);
    const host = await eventually(async () => {
      const h = (await c.api<{ unprepareFailures: Array<{ vm: number; error: string }>; devices: Array<{ address: string; vm: number | null }> }>('GET', '/api/v1/hosts/node1')).body;
      return h.unprepareFailures.length > 0 ? h : null;
    }, 10_000, 'unprepare failure on host');
    assert.equal(host.unprepareFailures[0]!.vm, vm.id);
    assert.match(host.unprepareFailures[0]!.error, /EIO|i\/o/i);
    assert.equal(host.devices.find((d) => d.address === '0000:01:00.0')!.vm, vm.id);
    const v = (await c.api<VmJson>('GET', `/api/v1/vms/${vm.id}`)).body;
    assert.equal(v.state, 'releasing');
    assert.match(v.lastError ?? '', /unprepare failed/);
    // Once the kernel cooperates, repeating the release completes it.
    kernel.failOn = null;
    await c.api('DELETE', `/api/v1/vms/${vm.id}`);
    await vmState(c, vm.id, 'released');
    assert.equal(kernel.driverOf('0000:01:00.0'), 'nvidia');
  });
});

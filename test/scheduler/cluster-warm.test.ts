/**
 * ClusterState.warm: a template shape the cluster has not seen is
 * prefiltered in slices with the event loop free between them, and the
 * decision after it is the one a cold decision makes, even when hosts change
 * between slices.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger, type DeviceReport } from '../../common/index.js';
import { ClusterState } from '../../scheduler/cluster-state.js';
import type { StoredHost } from '../../scheduler/host-store.js';
import { compileSpec, parseJsonSpec } from '../../scheduler/index.js';
import type { CompiledVmSpec } from '../../scheduler/spec.js';
import { baseReport } from '../helpers/device-report.js';

const FACTS = { kernelCmdline: 'intel_iommu=on iommu=pt', cpuVendor: 'GenuineIntel', iommuEnabled: true, loadedModules: ['vfio_pci'], iommuGroupCount: 4 };

/** Host i: i % 4 + 1 GPUs (so hosts differ and `pack` has a clear winner), each alone in its group. */
function stored(i: number): StoredHost {
  const gpus: DeviceReport[] = Array.from({ length: (i % 4) + 1 }, (_, g) => ({ ...baseReport(`0000:0${g + 1}:00.0`), vendor: '10de', device: `1b8${i % 7}`, class: '0300', iommuGroup: 10 + g }));
  return {
    id: i + 1, name: `h${String(i).padStart(3, '0')}`, state: 'online', lastSeenAt: null, registeredAt: new Date(0), generation: 1, session: 's', intervalMs: 1000,
    facts: { ...FACTS }, allocVersion: 0, replicaId: null,
    devices: gpus.map((report, d) => ({ id: (i + 1) * 100 + d, report, missing: false, vmId: null })),
  };
}

function cluster(hosts: number): ClusterState {
  const c = new ClusterState({ policy: 'pack', logger: silentLogger() });
  for (let i = 0; i < hosts; i++) c.load(stored(i), true, null);
  return c;
}

/** Places VMs of `vm` on both clusters until neither has room; every decision must agree. Returns how many were placed. */
function fillAlike(warmed: ClusterState, cold: ClusterState, vm: CompiledVmSpec): number {
  for (let id = 1; ; id++) {
    const a = warmed.decide(vm);
    const b = cold.decide(vm);
    if (a.kind === 'pending' || b.kind === 'pending') {
      assert.deepEqual(a, b);
      return id - 1;
    }
    assert.equal(a.host.name, b.host.name, `VM ${id}`);
    assert.deepEqual(a.devices, b.devices, `VM ${id}`);
    warmed.hold(a.host, a.devices.map((d) => d.address), id);
    cold.hold(b.host, b.devices.map((d) => d.address), id);
  }
}

const spec = (selector: string) => compileSpec(parseJsonSpec({ pci: [{ vendor: '10de', selector }] }));

test('a new shape is prefiltered in slices, the event loop turning between them; a known one in one', async () => {
  const c = cluster(300);
  let turns = 0;
  let ticking = true;
  const tick = () => {
    turns++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  // A zero budget: every host prefiltered ends a slice.
  const slices = await c.warm(spec('device.numaNode == 0'), 0);
  ticking = false;
  assert.ok(slices >= 300, `300 hosts in ${slices} slices`);
  assert.ok(turns >= slices - 1, `the event loop turned ${turns} times in ${slices} slices`);
  assert.equal(await c.warm(spec('device.numaNode == 0'), 0), 1, 'nothing left to do');
  // Another selector is another shape.
  assert.ok((await c.warm(spec('device.numaNode != 1'), 0)) > 1);
});

test('hosts that change between slices: the decision after warming is the cold one', async () => {
  const warmed = cluster(120);
  const cold = cluster(120);
  const vm = spec('device.class == "0300"');
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  // While `warmed` warms, the same changes happen to both: hosts fill up and go offline.
  const changes = (async () => {
    for (let i = 0; i < 40; i++) {
      await turn();
      for (const c of [warmed, cold]) {
        const host = c.hosts.get(`h${String(i * 3).padStart(3, '0')}`)!;
        if (i % 2 === 0) c.hold(host, host.devices.map((d) => d.address), 9000 + i);
        else c.setOnline(host, false);
      }
    }
  })();
  await warmed.warm(vm, 0);
  await changes;
  // Then fill both clusters VM by VM: every decision must agree, to the last pending one.
  const placed = fillAlike(warmed, cold, vm);
  assert.ok(placed > 100, `${placed} placements`);
});

test('loose bounds: the long first search is sliced too, and the placements after it are the cold ones', async () => {
  // 2 GPUs per host; only hosts from h180 on have both on one NUMA node, so a
  // NUMA_NODE match passes the prefilter everywhere but fits only there.
  const numaHost = (i: number): StoredHost => {
    const base = stored(i);
    const gpus: DeviceReport[] = [0, 1].map((g) => ({ ...baseReport(`0000:0${g + 1}:00.0`), vendor: '10de', device: '1b80', class: '0300', iommuGroup: 10 + g, numaNode: i >= 180 ? 0 : g }));
    return { ...base, devices: gpus.map((report, d) => ({ id: (i + 1) * 100 + d, report, missing: false, vmId: null })) };
  };
  const make = () => {
    const c = new ClusterState({ policy: 'pack', logger: silentLogger() });
    for (let i = 0; i < 200; i++) c.load(numaHost(i), true, null);
    return c;
  };
  const warmed = make();
  const cold = make();
  const vm = compileSpec(parseJsonSpec({ pci: [{ vendor: '10de' }, { vendor: '10de' }], pciMatch: 'NUMA_NODE' }));
  const slices = await warmed.warm(vm, 0);
  // One slice per host prefiltered, then one per exact score: 180 hosts fail the match before h180 fits.
  assert.ok(slices > 200 + 150, `${slices} slices`);
  assert.equal(fillAlike(warmed, cold, vm), 20, 'one VM on each of h180…h199');
});

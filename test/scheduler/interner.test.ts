/**
 * The scheduler's memory of hosts: shared report values, one device object
 * per device, and layout numbers that stand for a host only while it holds
 * nothing (the matcher reuses one layout's answers for all such hosts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Interner } from '../../scheduler/interner.js';
import { setHolder, toMemHost } from '../../scheduler/cluster.js';
import type { StoredHost } from '../../scheduler/host-store.js';
import { baseReport } from '../helpers/device-report.js';
import type { DeviceReport } from '../../common/index.js';

const FACTS = { kernelCmdline: 'intel_iommu=on iommu=pt', cpuVendor: 'GenuineIntel', iommuEnabled: true, loadedModules: ['vfio_pci'], iommuGroupCount: 4 };

function stored(name: string, reports: DeviceReport[], firstId = 1): StoredHost {
  return {
    id: firstId, name, state: 'online', lastSeenAt: null, registeredAt: new Date(0), generation: 1, session: 's', intervalMs: 1000,
    facts: { ...FACTS }, allocVersion: 0, replicaId: null,
    devices: reports.map((report, i) => ({ id: firstId * 100 + i, report, missing: false, vmId: null })),
  };
}

/** Two GPUs, each alone in its group; copies, as decoded from two probes' messages. */
function gpus(): DeviceReport[] {
  return ['0000:01:00.0', '0000:02:00.0'].map((a, i) => JSON.parse(JSON.stringify({ ...baseReport(a), vendor: '10de', class: '0300', iommuGroup: 10 + i })) as DeviceReport);
}

test('equal reports from different hosts become one frozen object, strings and lists included', () => {
  const interner = new Interner();
  const [a] = gpus();
  const [b] = gpus();
  assert.notEqual(a, b);
  const sa = interner.report(a!);
  const sb = interner.report(b!);
  assert.equal(sa, sb);
  assert.ok(Object.isFrozen(sa));
  assert.ok(Object.isFrozen(sa.groupMembers));
  const other = interner.report({ ...b!, driver: 'nvidia' });
  assert.notEqual(other, sa);
  assert.equal(other.vendorName, sa.vendorName, 'a field equal in both is shared even when the reports differ');
});

test('hosts with the same devices share a layout number; a different device set does not', () => {
  const interner = new Interner();
  const h1 = toMemHost(stored('h1', gpus(), 1), true, null, interner);
  const h2 = toMemHost(stored('h2', gpus(), 2), true, null, interner);
  const h3 = toMemHost(stored('h3', gpus().slice(0, 1), 3), true, null, interner);
  assert.equal(h1.view.layout, h2.view.layout);
  assert.equal(typeof h1.view.layout, 'number');
  assert.notEqual(h3.view.layout, h1.view.layout);
  // Other kernel parameters change assessments: another layout.
  const noIommu = stored('h4', gpus(), 4);
  noIommu.facts = { ...FACTS, kernelCmdline: '', iommuEnabled: false };
  assert.notEqual(toMemHost(noIommu, true, null, interner).view.layout, h1.view.layout);
});

test('a host loses its layout number while it holds a device and gets it back on release', () => {
  const interner = new Interner();
  const h = toMemHost(stored('h1', gpus(), 1), true, null, interner);
  const layout = h.view.layout;
  setHolder(h, ['0000:01:00.0'], 7);
  assert.equal(h.view.layout, null);
  assert.equal(h.devices[0]!.heldBy, 7);
  assert.equal(h.view.devices, h.devices, 'the matcher reads the same device objects');
  setHolder(h, ['0000:01:00.0'], null);
  assert.equal(h.view.layout, layout);
});

test('past its limit the interner stops sharing new values: equal new hosts get numbers of their own', () => {
  const interner = new Interner(2);
  const withDriver = (driver: string) => gpus().map((r) => ({ ...r, driver }));
  for (const driver of ['a', 'b', 'c']) toMemHost(stored(`fill-${driver}`, withDriver(driver), 1), true, null, interner);
  const x = toMemHost(stored('x', withDriver('new'), 2), true, null, interner);
  const y = toMemHost(stored('y', withDriver('new'), 3), true, null, interner);
  assert.equal(typeof x.view.layout, 'number');
  assert.notEqual(x.view.layout, y.view.layout, 'a layout number may only be shared when the tables prove the devices equal');
  assert.notEqual(x.devices[0], y.devices[0]);
});

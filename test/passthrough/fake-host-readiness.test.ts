/**
 * Readiness and assignability read from fake host roots built like real
 * sysfs: the probe scans, passthrough judges, the matcher refuses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScanner, parseFilterConfig } from '../../probe/index.js';
import { hostReadiness, deviceAssignability } from '../../passthrough/index.js';
import { silentLogger, type HostReport } from '../../common/index.js';
import { buildFakeHost, gpuHostSharedGroup, gpuHostSplitGroups, sriovNicHost, type FakeHost, type FakeHostOptions } from '../helpers/fake-host.js';

async function judge(make: () => Promise<FakeHost>, filter = '') {
  const host = await make();
  try {
    const report: HostReport = createScanner({ hostRoot: host.root, hostName: 'h', logger: silentLogger(), filter: parseFilterConfig(filter, 'pci.conf') }).scan();
    const { name: _n, ...facts } = report.host;
    const readiness = hostReadiness(facts, report.devices);
    const reported = new Set(report.devices.map((d) => d.address));
    const of = (addr: string) => deviceAssignability(report.devices.find((d) => d.address === addr)!, { readiness, reported });
    return { readiness, of };
  } finally {
    await host.cleanup();
  }
}

test('IOMMU off: readiness says so and no device is assignable', async () => {
  const { readiness, of } = await judge(() => gpuHostSharedGroup({ iommu: false, cmdline: 'ro quiet' }));
  assert.equal(readiness.iommuEnabled, false);
  assert.ok(readiness.problems.some((p) => /IOMMU is off: add intel_iommu=on iommu=pt/.test(p)), readiness.problems.join('|'));
  assert.equal(of('0000:01:00.0').assignable, false);
  assert.ok(of('0000:01:00.0').reasons.includes('IOMMU is disabled on the host'));
});

test('before and after the ACS override: shared vs split groups, and the override is flagged', async () => {
  const before = await judge(gpuHostSharedGroup);
  assert.equal(before.readiness.acsOverride, false);
  assert.equal(before.of('0000:01:00.0').assignable, true);
  assert.ok(before.of('0000:01:00.0').notes.some((n) => /0000:02:00\.0/.test(n)), 'shared group members named');
  const after = await judge(gpuHostSplitGroups);
  assert.equal(after.readiness.acsOverride, true);
  assert.ok(after.readiness.warnings.some((w) => /ACS|acs/.test(w)));
  assert.ok(!after.of('0000:01:00.0').notes.some((n) => /0000:02:00\.0/.test(n)), 'split groups do not pull in the other GPU');
});

test('an RMRR direct region makes the group unassignable; direct-relaxable does not', async () => {
  const { of } = await judge(gpuHostSharedGroup);
  // iGPU 00:02.0 is in group 4 with a direct region; USB 00:14.0 is in group 2 with direct-relaxable.
  assert.equal(of('0000:00:02.0').assignable, false);
  assert.match(of('0000:00:02.0').reasons.join(), /non-relaxable RMRR \(direct\)/);
  assert.equal(of('0000:00:14.0').assignable, true);
});

test('a reset-bug AMD GPU is assignable with a warning, which vendor-reset silences', async () => {
  const vega = (extra: FakeHostOptions) => () =>
    buildFakeHost({
      iommu: true,
      cpuVendor: 'AuthenticAMD',
      cmdline: 'amd_iommu=on iommu=pt',
      devices: [{ address: '0000:0b:00.0', vendor: '1002', device: '687f', class: '030000', iommuGroup: 20, driver: 'amdgpu', resetMethods: ['bus'] }],
      ...extra,
    });
  const without = await judge(vega({ modules: ['vfio_pci', 'vfio_iommu_type1'] }));
  assert.equal(without.of('0000:0b:00.0').assignable, true);
  assert.ok(without.of('0000:0b:00.0').warnings.some((w) => /reset bug and vendor-reset not loaded: host may need a reboot after the VM stops/.test(w)));
  const withVr = await judge(vega({ modules: ['vfio_pci', 'vfio_iommu_type1', 'vendor_reset'] }));
  assert.ok(!withVr.of('0000:0b:00.0').warnings.some((w) => /vendor-reset not loaded/.test(w)));
});

test('an SR-IOV PF and its VFs are assignable; a group with an unreported endpoint is not', async () => {
  const all = await judge(sriovNicHost);
  assert.equal(all.of('0000:41:00.0').assignable, true);
  assert.equal(all.of('0000:41:00.2').assignable, true);
  assert.equal(all.of('0000:40:01.1').assignable, false, 'bridges stay with the host');
  // Report only the GPU, not its audio function in the same group.
  const filtered = await judge(gpuHostSplitGroups, ':filter: "10de::0300"');
  assert.equal(filtered.of('0000:01:00.0').assignable, false);
  assert.ok(filtered.of('0000:01:00.0').reasons.includes('IOMMU group 6 has unreported endpoint 0000:01:00.1'));
});

/**
 * deviceAssignability: each case builds a host's devices, picks one and
 * states its full result.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeviceReport } from '../../common/index.js';
import { amdResetBugFamily, deviceAssignability, type Assignability } from '../../passthrough/index.js';
import { dev, group, nvidiaCard, ready, reportedOf } from './builders.js';

const RMRR_12 =
  'IOMMU group 12 has a non-relaxable RMRR (direct) region: VFIO attach fails with ' +
  '"Device is ineligible for IOMMU domain attach due to platform RMRR requirement"';

interface Case {
  name: string;
  facts?: Parameters<typeof ready>[0];
  devices: () => DeviceReport[];
  /** Address of the device under test; default the first. */
  pick?: string;
  want: Assignability;
}

const ok = (over: Partial<Assignability> = {}): Assignability => ({ assignable: true, reasons: [], warnings: [], notes: [], ...over });
const no = (reasons: string[], over: Partial<Assignability> = {}): Assignability => ({ ...ok(over), assignable: false, reasons });

const cases: Case[] = [
  { name: 'a NIC alone in its group, on vfio-pci', devices: () => [dev('0000:03:00.0')], want: ok() },
  {
    name: 'IOMMU off: not assignable, no group checks',
    facts: { iommuEnabled: false, kernelCmdline: 'ro' },
    devices: () => [dev('0000:03:00.0', { iommuGroup: null })],
    want: no(['IOMMU is disabled on the host']),
  },
  {
    name: 'no IOMMU group',
    devices: () => [dev('0000:03:00.0', { iommuGroup: null })],
    want: no(['no IOMMU group']),
  },
  {
    name: 'RMRR direct region',
    devices: () => [dev('0000:00:02.0', { iommuGroup: 12, groupReservedRegions: ['direct', 'msi'] })],
    want: no([RMRR_12]),
  },
  {
    name: 'RMRR direct-relaxable, msi and reserved are fine',
    devices: () => [dev('0000:00:14.0', { iommuGroup: 12, groupReservedRegions: ['direct-relaxable', 'msi', 'reserved'] })],
    want: ok(),
  },
  {
    name: 'RMRR direct with relax_rmrr on the cmdline: the kernel is not patched',
    facts: { kernelCmdline: 'intel_iommu=on,relax_rmrr iommu=pt' },
    devices: () => [dev('0000:00:02.0', { iommuGroup: 12, groupReservedRegions: ['direct'] })],
    want: no([RMRR_12], {
      warnings: ['intel_iommu=relax_rmrr is set but the region is still direct: the running kernel lacks the relaxed-RMRR patch'],
    }),
  },
  {
    name: 'group with an unreported endpoint (bridges do not count)',
    devices: () => group(1, [dev('0000:01:00.0')], [
      { address: '0000:00:01.0', class: '0604' },
      { address: '0000:01:00.1', class: '0403' },
    ]),
    want: no(['IOMMU group 1 has unreported endpoint 0000:01:00.1']),
  },
  {
    name: 'PCI bridge',
    devices: () => [dev('0000:00:01.0', { class: '0604', driver: null })],
    want: no(['PCI bridge (class 0604): bridges stay with the host']),
  },
  {
    name: 'reported companion in the group: a note',
    devices: () => group(7, [dev('0000:02:00.0'), dev('0000:02:00.1'), dev('0000:00:01.1', { class: '0604' })]),
    want: ok({ notes: ['IOMMU group 7 also holds 0000:02:00.1: they are assigned together'] }),
  },
  {
    name: 'bound to nvidia, GPU without FLR',
    devices: () => nvidiaCard('01', 1, 'nvidia'),
    want: ok({
      warnings: [
        'bound to nvidia; will be detached from the host',
        'no FLR reset method: the kernel offers bus; the GPU may not reset cleanly between VMs',
      ],
      notes: ['IOMMU group 1 also holds 0000:01:00.1: they are assigned together'],
    }),
  },
  {
    name: 'pci-stub and no driver give no driver warning; empty reset_method',
    devices: () => [dev('0000:05:00.0', { class: '0302', driver: 'pci-stub', resetMethods: [] })],
    want: ok({ warnings: ['no FLR reset method: the kernel offers none; the GPU may not reset cleanly between VMs'] }),
  },
  {
    name: 'a non-GPU without FLR gets no reset warning',
    devices: () => [dev('0000:05:00.0', { driver: null, resetMethods: ['bus'] })],
    want: ok(),
  },
  {
    name: 'AMD Polaris 10 without vendor-reset',
    devices: () => [dev('0000:0a:00.0', { vendor: '1002', device: '67DF', class: '0300', driver: 'amdgpu', resetMethods: ['bus'] })],
    want: ok({
      warnings: [
        'bound to amdgpu; will be detached from the host',
        'no FLR reset method: the kernel offers bus; the GPU may not reset cleanly between VMs',
        'AMD Polaris 10 reset bug and vendor-reset not loaded: host may need a reboot after the VM stops',
      ],
    }),
  },
  {
    name: 'AMD Navi 10 with vendor-reset and device_specific selected',
    facts: { loadedModules: ['vfio_pci', 'vfio_iommu_type1', 'vendor_reset'] },
    devices: () => [dev('0000:0a:00.0', { vendor: '1002', device: '731f', class: '0300', resetMethods: ['device_specific', 'bus'] })],
    want: ok({ warnings: ['no FLR reset method: the kernel offers device_specific, bus; the GPU may not reset cleanly between VMs'] }),
  },
  {
    name: 'AMD Vega 10 with vendor-reset but reset_method lacks device_specific',
    facts: { loadedModules: ['vfio_pci', 'vfio_iommu_type1', 'vendor_reset'] },
    devices: () => [dev('0000:0a:00.0', { vendor: '1002', device: '687f', class: '0300', resetMethods: ['flr', 'bus'] })],
    want: ok({
      warnings: [
        'AMD Vega 10 reset bug: vendor-reset is loaded but reset_method lacks device_specific; ' +
          'echo device_specific > /sys/bus/pci/devices/0000:0a:00.0/reset_method (vendor-reset\'s udev rule does this)',
      ],
    }),
  },
  {
    name: 'AMD Navi 21 (73bf) has no reset-bug entry',
    devices: () => [dev('0000:0a:00.0', { vendor: '1002', device: '73bf', class: '0300', resetMethods: ['flr'] })],
    want: ok(),
  },
  {
    name: 'SR-IOV PF with VFs: assignable, with a note',
    devices: () => [dev('0000:41:00.0', { class: '0200', driver: 'mlx5_core', sriov: 'pf', numVfs: 4, totalVfs: 8 })],
    want: ok({
      warnings: ['bound to mlx5_core; will be detached from the host'],
      notes: ['SR-IOV PF with 4 VFs enabled: assigning the PF gives the whole card to one VM, and detaching its host driver removes the VFs'],
    }),
  },
  {
    name: 'SR-IOV PF without VFs',
    devices: () => [dev('0000:41:00.1', { sriov: 'pf', numVfs: 0, totalVfs: 8 })],
    want: ok({ notes: ['SR-IOV PF (8 VFs possible, none enabled): assigning the PF gives the whole card to one VM; enable VFs to share it'] }),
  },
  {
    name: 'SR-IOV VF',
    devices: () => [dev('0000:41:00.2', { sriov: 'vf', physfn: '0000:41:00.0' })],
    want: ok({ notes: ['SR-IOV VF of 0000:41:00.0: the PF stays with its host driver'] }),
  },
];

for (const c of cases) {
  test(`deviceAssignability: ${c.name}`, () => {
    const devices = c.devices();
    const d = c.pick === undefined ? devices[0]! : devices.find((x) => x.address === c.pick)!;
    const readiness = ready(c.facts ?? {}, devices);
    assert.deepEqual(deviceAssignability(d, { readiness, reported: reportedOf(devices) }), c.want);
  });
}

test('amdResetBugFamily: table edges and other vendors', () => {
  const got = [
    ['1002', '67c0'], ['1002', '6fdf'], ['1002', '67ff'], ['1002', '699f'], ['1002', '6860'], ['1002', '66af'],
    ['1002', '7310'], ['1002', '7362'], ['1002', '734F'], ['1002', '73ff'], ['1002', '67c3'], ['10de', '67df'],
  ].map(([v, d]) => amdResetBugFamily(v!, d!));
  assert.deepEqual(got, [
    'Polaris 10', 'Polaris 10', 'Polaris 11', 'Polaris 12', 'Vega 10', 'Vega 20',
    'Navi 10', 'Navi 12', 'Navi 14', null, null, null,
  ]);
});

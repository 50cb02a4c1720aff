/**
 * parseKernelCmdline: each case is a command line and the fields it must
 * give; fields not named keep the empty-cmdline values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseKernelCmdline, type KernelFlags } from '../../passthrough/index.js';

type Flags = Omit<KernelFlags, 'params'>;

const EMPTY: Flags = {
  initArgs: [], intelIommu: null, amdIommu: null, iommuPt: false, pcieAcsOverride: null,
  vfioPciIds: [], rdDriverPre: [], videoOff: [], blacklist: [], relaxRmrr: false, shadowed: [],
};

const cases: Array<{ name: string; cmdline: string; want: Partial<Flags> }> = [
  { name: 'empty', cmdline: '', want: {} },
  {
    name: 'intel with relax_rmrr list',
    cmdline: 'BOOT_IMAGE=/vmlinuz root=UUID=x ro quiet intel_iommu=on,relax_rmrr iommu=pt',
    want: { intelIommu: ['on', 'relax_rmrr'], iommuPt: true, relaxRmrr: true },
  },
  {
    name: 'repeated intel_iommu accumulates in order',
    cmdline: 'intel_iommu=on intel_iommu=igfx_off intel_iommu=off',
    want: { intelIommu: ['on', 'igfx_off', 'off'] },
  },
  { name: 'amd', cmdline: 'amd_iommu=on iommu=pt', want: { amdIommu: ['on'], iommuPt: true } },
  { name: 'iommu=nopt after pt', cmdline: 'iommu=pt iommu=nopt', want: { iommuPt: false } },
  { name: 'iommu comma list', cmdline: 'iommu=force,pt', want: { iommuPt: true } },
  { name: 'iommu.passthrough=1', cmdline: 'iommu.passthrough=1', want: { iommuPt: true } },
  {
    name: 'acs override list, repeated keys merge',
    cmdline: 'pcie_acs_override=downstream pcie_acs_override=multifunction,downstream',
    want: { pcieAcsOverride: ['downstream', 'multifunction'] },
  },
  {
    name: 'vfio-pci.ids lowercased',
    cmdline: 'vfio-pci.ids=10DE:1C03,10de:10f1',
    want: { vfioPciIds: ['10de:1c03', '10de:10f1'] },
  },
  {
    name: 'vfio_pci spelling; the last occurrence wins and is flagged',
    cmdline: 'vfio-pci.ids=10de:1c03 vfio_pci.ids=1002:67df,1002:aaf0',
    want: { vfioPciIds: ['1002:67df', '1002:aaf0'], shadowed: ['vfio_pci.ids'] },
  },
  {
    name: 'the same value twice is not shadowed',
    cmdline: 'vfio_pci.ids=10de:1c03 vfio-pci.ids=10DE:1C03',
    want: { vfioPciIds: ['10de:1c03'] },
  },
  {
    name: 'rd.driver.pre normalized and accumulated',
    cmdline: 'rd.driver.pre=vfio-pci rd.driver.pre=vfio_iommu_type1,vfio_pci',
    want: { rdDriverPre: ['vfio_pci', 'vfio_iommu_type1'] },
  },
  {
    name: 'blacklist is the union of modprobe.blacklist, rd.driver.blacklist and module_blacklist',
    cmdline: 'modprobe.blacklist=nouveau,snd-hda-intel rd.driver.blacklist=nouveau module_blacklist=amdgpu',
    want: { blacklist: ['nouveau', 'snd_hda_intel', 'amdgpu'] },
  },
  {
    name: 'video: one framebuffer per entry',
    cmdline: 'video=efifb:off video=vesafb:off,efifb:off video=1024x768 video=simplefb:mtrr',
    want: { videoOff: ['efifb', 'vesafb'] },
  },
  { name: 'video: the last entry for a name wins', cmdline: 'video=efifb:off video=efifb:mode', want: { videoOff: [] } },
  {
    name: 'quoted value keeps its spaces, quotes dropped',
    cmdline: 'dyndbg="file vfio_pci.c +p" vfio-pci.ids="10de:1c03,10de:10f1" quiet',
    want: { vfioPciIds: ['10de:1c03', '10de:10f1'] },
  },
  {
    name: 'a fully quoted parameter',
    cmdline: '"pcie_acs_override=downstream,multifunction" "modprobe.blacklist=nouveau"',
    want: { pcieAcsOverride: ['downstream', 'multifunction'], blacklist: ['nouveau'] },
  },
  {
    name: 'tabs and newlines separate; a bare -- ends kernel parameters',
    cmdline: 'quiet\tintel_iommu=on\n-- iommu=pt single',
    want: { intelIommu: ['on'], initArgs: ['iommu=pt', 'single'] },
  },
  {
    name: 'dashes in a core parameter name',
    cmdline: 'pcie-acs-override=downstream',
    want: { pcieAcsOverride: ['downstream'] },
  },
];

for (const c of cases) {
  test(`parseKernelCmdline: ${c.name}`, () => {
    const { params: _params, ...got } = parseKernelCmdline(c.cmdline);
    assert.deepEqual(got, { ...EMPTY, ...c.want });
  });
}

test('parseKernelCmdline: params keep raw tokens, keys as written and normalized names', () => {
  const { params } = parseKernelCmdline(' ro  dyndbg="a b"  vfio-pci.ids=10de:1c03 "x=y z" ');
  assert.deepEqual(params, [
    { raw: 'ro', key: 'ro', name: 'ro', value: null },
    { raw: 'dyndbg="a b"', key: 'dyndbg', name: 'dyndbg', value: 'a b' },
    { raw: 'vfio-pci.ids=10de:1c03', key: 'vfio-pci.ids', name: 'vfio_pci.ids', value: '10de:1c03' },
    { raw: '"x=y z"', key: 'x', name: 'x', value: 'y z' },
  ]);
});

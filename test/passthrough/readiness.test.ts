/**
 * hostReadiness: IOMMU off (by vendor and by command line), VFIO modules,
 * ACS override, relaxed RMRR and command-line pitfalls.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuVendorOf } from '../../passthrough/index.js';
import { dev, ready } from './builders.js';

const ACS_WARNING =
  "pcie_acs_override=downstream,multifunction is set: IOMMU groups are split by the kernel's ACS override, not by hardware " +
  "isolation, so devices in different groups may still reach each other by peer-to-peer DMA; the patch's authors call " +
  'it unsuitable for production (it only takes effect on a kernel built with the ACS override patch)';

const cases: Array<{
  name: string;
  facts: Parameters<typeof ready>[0];
  devices?: Parameters<typeof ready>[1];
  problems: string[];
  warnings: string[];
  acsOverride?: boolean;
}> = [
  { name: 'ready Intel host', facts: {}, problems: [], warnings: [] },
  {
    name: 'Intel, IOMMU off, nothing on the cmdline',
    facts: { iommuEnabled: false, kernelCmdline: 'ro quiet' },
    problems: ['IOMMU is off: add intel_iommu=on iommu=pt'],
    warnings: [],
  },
  {
    name: 'Intel, IOMMU off, iommu=pt already there',
    facts: { iommuEnabled: false, kernelCmdline: 'ro iommu=pt' },
    problems: ['IOMMU is off: add intel_iommu=on'],
    warnings: [],
  },
  {
    name: 'AMD, IOMMU off',
    facts: { iommuEnabled: false, cpuVendor: 'AuthenticAMD', kernelCmdline: 'ro' },
    problems: ['IOMMU is off: add amd_iommu=on iommu=pt'],
    warnings: [],
  },
  {
    name: 'Intel, IOMMU off though intel_iommu=on: firmware',
    facts: { iommuEnabled: false, kernelCmdline: 'intel_iommu=on iommu=pt' },
    problems: ['IOMMU is off although intel_iommu=on is set: enable VT-d in the firmware (BIOS/UEFI) setup'],
    warnings: [],
  },
  {
    name: 'Intel, intel_iommu=off last',
    facts: { iommuEnabled: false, kernelCmdline: 'intel_iommu=on intel_iommu=off' },
    problems: ['IOMMU is off: intel_iommu=off is on the kernel command line; replace it with intel_iommu=on'],
    warnings: [],
  },
  {
    name: 'unknown CPU vendor, IOMMU off',
    facts: { iommuEnabled: false, cpuVendor: '', kernelCmdline: '' },
    problems: ['IOMMU is off: enable VT-d or AMD-Vi in the firmware and add intel_iommu=on or amd_iommu=on (CPU vendor unknown)'],
    warnings: ['CPU vendor "" is neither Intel nor AMD: cannot tell which IOMMU parameter applies'],
  },
  {
    name: 'vfio-pci not loaded',
    facts: { loadedModules: ['kvm', 'kvm_intel'] },
    problems: ['vfio-pci module not loaded: load it at boot (rd.driver.pre=vfio-pci, or vfio-pci in /etc/modules-load.d/)'],
    warnings: [],
  },
  {
    name: 'a device bound to vfio-pci proves vfio-pci (built in); type1 missing warns',
    facts: { loadedModules: [] },
    devices: [dev('0000:01:00.0', { driver: 'vfio-pci' })],
    problems: [],
    warnings: ['vfio_iommu_type1 module not loaded: VFIO needs it to map guest memory (modprobe vfio_iommu_type1)'],
  },
  {
    name: 'ACS override present',
    facts: { kernelCmdline: 'intel_iommu=on iommu=pt pcie_acs_override=downstream,multifunction' },
    problems: [],
    warnings: [ACS_WARNING],
    acsOverride: true,
  },
  {
    name: 'relax_rmrr',
    facts: { kernelCmdline: 'intel_iommu=on,relax_rmrr iommu=pt' },
    problems: [],
    warnings: [
      'intel_iommu=relax_rmrr is set: RMRR regions are treated as relaxable (patched kernel only), against the VT-d ' +
        'specification; assigning a device the firmware still uses (IPMI-shared NIC, RAID controller) can crash the host',
    ],
  },
  {
    name: 'shadowed vfio-pci.ids and the combined video= idiom',
    facts: { kernelCmdline: 'intel_iommu=on iommu=pt vfio-pci.ids=10de:1c03 vfio_pci.ids=10de:10f1 video=vesafb:off,efifb:off' },
    problems: [],
    warnings: [
      'vfio_pci.ids is given 2 times on the kernel command line; only the last (vfio_pci.ids=10de:10f1) takes effect',
      'video=vesafb:off,efifb:off turns off vesafb only: the kernel reads one framebuffer per video= entry; add video=efifb:off separately',
    ],
  },
  {
    name: 'combined video= with efifb also off on its own: no warning',
    facts: { kernelCmdline: 'intel_iommu=on iommu=pt video=vesafb:off,efifb:off video=efifb:off' },
    problems: [],
    warnings: [],
  },
  {
    name: 'IOMMU on but a device without group',
    facts: {},
    devices: [dev('0000:01:00.0', { iommuGroup: null }), dev('0000:02:00.0')],
    problems: [],
    warnings: ['1 reported device has no IOMMU group although the IOMMU is on'],
  },
];

for (const c of cases) {
  test(`hostReadiness: ${c.name}`, () => {
    const r = ready(c.facts, c.devices ?? []);
    assert.deepEqual(r.problems, c.problems);
    assert.deepEqual(r.warnings, c.warnings);
    assert.equal(r.acsOverride, c.acsOverride ?? false);
  });
}

test('hostReadiness: module names from sysfs, dashes normalized', () => {
  const r = ready({ loadedModules: ['vfio-pci', 'vendor-reset'] });
  assert.deepEqual(r.vfioLoaded, { vfio_pci: true, vfio_iommu_type1: false, vendor_reset: true });
  const none = ready({ loadedModules: [] });
  assert.deepEqual(none.vfioLoaded, { vfio_pci: false, vfio_iommu_type1: false, vendor_reset: false });
});

test('hostReadiness: carries cpu vendor, IOMMU state and parsed kernel flags', () => {
  const r = ready({ cpuVendor: 'AuthenticAMD', iommuEnabled: false, kernelCmdline: 'amd_iommu=on vfio-pci.ids=1002:67df' });
  assert.equal(r.cpuVendor, 'amd');
  assert.equal(r.iommuEnabled, false);
  assert.deepEqual(r.kernel.amdIommu, ['on']);
  assert.deepEqual(r.kernel.vfioPciIds, ['1002:67df']);
});

test('cpuVendorOf', () => {
  assert.deepEqual(
    ['GenuineIntel', 'AuthenticAMD', 'HygonGenuine', 'CentaurHauls', '', 'intel', 'amd'].map(cpuVendorOf),
    ['intel', 'amd', 'amd', 'unknown', 'unknown', 'intel', 'amd'],
  );
});

/**
 * adviseKernelParams and formatAdvice: Intel and AMD, IOMMU off and on,
 * shared vs split IOMMU groups (ACS override only when shared), merging with
 * an existing command line without duplicates, driver blacklisting choices.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeviceReport } from '../../common/index.js';
import { ValidationError } from '../../common/index.js';
import { adviseKernelParams, formatAdvice, type Advice } from '../../passthrough/index.js';
import { dev, group, nvidiaCard, ready } from './builders.js';

const COMMANDS = [
  'Debian/Ubuntu: update-grub',
  'Debian/Ubuntu: update-initramfs -u',
  'RHEL/Fedora: grub2-mkconfig -o /boot/grub2/grub.cfg',
  'RHEL/Fedora: dracut -f',
];

/** The devices as a host with the IOMMU off reports them: no groups. */
const noIommu = (devices: DeviceReport[]) =>
  devices.map((d) => ({ ...d, iommuGroup: null, groupMembers: [], groupReservedRegions: [] }));

/** A GTX 1080 (VGA + audio) in slot `bus`, both in `groupId`. */
const gtx1080 = (bus: string, groupId: number) => group(groupId, [
  dev(`0000:${bus}:00.0`, { vendor: '10de', device: '1b80', class: '0300', driver: 'nouveau', resetMethods: ['bus'] }),
  dev(`0000:${bus}:00.1`, { vendor: '10de', device: '10f0', class: '0403', driver: 'snd_hda_intel', resetMethods: ['bus'] }),
]);

const rootPorts = () => [
  dev('0000:00:01.0', { class: '0604', driver: 'pcieport' }),
  dev('0000:00:01.1', { class: '0604', driver: 'pcieport' }),
];

function advise(factsOver: Parameters<typeof ready>[0], devices: DeviceReport[], chosen: string[]): Advice {
  return adviseKernelParams({ hostName: 'h1', readiness: ready(factsOver, devices), devices, chosen });
}

const hasOverride = (a: Advice) => a.params.some((p) => p.startsWith('pcie_acs_override='));

test('advise: Intel, IOMMU off, one NVIDIA card chosen by short address', () => {
  const devices = noIommu(nvidiaCard('01', 1));
  const a = advise({ iommuEnabled: false, kernelCmdline: 'BOOT_IMAGE=/vmlinuz-6.1 root=UUID=abc ro quiet splash' }, devices, ['01:00.0']);
  assert.deepEqual(a.params, [
    'intel_iommu=on', 'iommu=pt', 'vfio-pci.ids=10de:10f1,10de:1c03', 'rd.driver.pre=vfio-pci', 'modprobe.blacklist=nouveau',
  ]);
  assert.deepEqual(a.devices, ['0000:01:00.0', '0000:01:00.1']);
  assert.deepEqual(a.grub, {
    file: '/etc/default/grub',
    line: 'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash intel_iommu=on iommu=pt vfio-pci.ids=10de:10f1,10de:1c03 rd.driver.pre=vfio-pci modprobe.blacklist=nouveau"',
    commands: COMMANDS,
  });
  assert.equal(
    a.rpmOstree,
    'rpm-ostree kargs --append-if-missing=intel_iommu=on --append-if-missing=iommu=pt ' +
      '--append-if-missing=vfio-pci.ids=10de:10f1,10de:1c03 --append-if-missing=rd.driver.pre=vfio-pci ' +
      '--append-if-missing=modprobe.blacklist=nouveau',
  );
  assert.ok(a.notes.includes(
    'snd_hda_intel is not blacklisted (blacklisting it would also silence the host\'s own audio); ' +
      '/etc/modprobe.d/vfio.conf: softdep snd_hda_intel pre: vfio-pci lets vfio-pci claim the ids first',
  ));
  assert.ok(a.notes.includes('/etc/modprobe.d/vfio.conf: options vfio-pci ids=10de:10f1,10de:1c03'));
  assert.ok(a.notes.some((n) => n.startsWith('the IOMMU is off, so IOMMU groups are unknown')));
  assert.ok(!hasOverride(a));
});

test('advise: AMD, IOMMU off, nothing chosen: only the IOMMU parameters', () => {
  const devices = noIommu(nvidiaCard('01', 1));
  const a = advise({ iommuEnabled: false, cpuVendor: 'AuthenticAMD', kernelCmdline: 'ro quiet' }, devices, []);
  assert.deepEqual(a.params, ['amd_iommu=on', 'iommu=pt']);
  assert.deepEqual(a.devices, []);
  assert.equal(a.grub.line, 'GRUB_CMDLINE_LINUX_DEFAULT="quiet amd_iommu=on iommu=pt"');
  assert.ok(a.notes.some((n) => n.startsWith('the IOMMU is off, so no device is assignable yet')));
  assert.ok(a.notes.some((n) => n.startsWith('amd_iommu=on is what the common guides give')));
});

test('advise: AMD with the IOMMU on by default: no amd_iommu=on, iommu=pt still added', () => {
  const devices = nvidiaCard('01', 1);
  const a = advise({ cpuVendor: 'AuthenticAMD', kernelCmdline: 'ro quiet' }, devices, []);
  assert.deepEqual(a.params, ['iommu=pt', 'vfio-pci.ids=10de:10f1,10de:1c03', 'rd.driver.pre=vfio-pci', 'modprobe.blacklist=nouveau']);
});

test('advise: unknown CPU vendor with the IOMMU off warns and adds no IOMMU parameter', () => {
  const a = advise({ iommuEnabled: false, cpuVendor: 'CentaurHauls', kernelCmdline: '' }, [], []);
  assert.deepEqual(a.params, []);
  assert.ok(a.warnings.includes('CPU vendor unknown: add intel_iommu=on (Intel) or amd_iommu=on (AMD) yourself'));
});

const sharedHost = () => group(1, [...rootPorts(), ...nvidiaCard('01', 1), ...gtx1080('02', 1)]);
const splitHost = () => [
  ...group(1, [rootPorts()[0]!]), ...group(5, [rootPorts()[1]!]), ...nvidiaCard('01', 6), ...gtx1080('02', 7),
];

const OVERRIDE_WARNING =
  'IOMMU group 1 of 0000:01:00.0 also holds 0000:02:00.0, 0000:02:00.1 (another slot): pcie_acs_override=downstream,multifunction ' +
  'would split it, but it weakens isolation (devices may still reach each other by peer-to-peer DMA) and is unsuitable ' +
  'for production; it needs a kernel built with the ACS override patch. Better: move the card to a slot whose root port ' +
  'isolates it, or give the whole group to one VM';

const groupCases: Array<{ name: string; devices: () => DeviceReport[]; cmdline?: string; override: boolean; ids: string; warning?: string }> = [
  {
    name: 'shared group: two cards with their root ports in group 1',
    devices: sharedHost, override: true, ids: 'vfio-pci.ids=10de:10f1,10de:1c03', warning: OVERRIDE_WARNING,
  },
  { name: 'split groups', devices: splitHost, override: false, ids: 'vfio-pci.ids=10de:10f1,10de:1c03' },
  {
    name: 'shared group, override already set: the kernel lacks the patch',
    devices: sharedHost, cmdline: 'intel_iommu=on iommu=pt pcie_acs_override=downstream,multifunction',
    override: false, ids: 'vfio-pci.ids=10de:10f1,10de:1c03',
    warning: 'pcie_acs_override is already set but IOMMU group 1 of 0000:01:00.0 still holds 0000:02:00.0, 0000:02:00.1: ' +
      'the running kernel lacks the ACS override patch',
  },
];

for (const c of groupCases) {
  test(`advise: ${c.name}`, () => {
    const a = advise(c.cmdline === undefined ? {} : { kernelCmdline: c.cmdline }, c.devices(), ['0000:01:00.0']);
    assert.equal(hasOverride(a), c.override);
    if (c.override) assert.equal(a.params[a.params.length - 1], 'pcie_acs_override=downstream,multifunction');
    assert.ok(a.params.includes(c.ids), a.params.join(' '));
    assert.deepEqual(a.devices, ['0000:01:00.0', '0000:01:00.1']);
    if (c.warning !== undefined) assert.ok(a.warnings.includes(c.warning), a.warnings.join('\n'));
    else assert.ok(!a.warnings.some((w) => w.includes('pcie_acs_override')), a.warnings.join('\n'));
  });
}

test('advise: override already has downstream: only multifunction is added, with --append for rpm-ostree', () => {
  const a = advise({ kernelCmdline: 'intel_iommu=on iommu=pt pcie_acs_override=downstream' }, sharedHost(), ['0000:01:00.0']);
  assert.equal(a.params[a.params.length - 1], 'pcie_acs_override=multifunction');
  assert.ok(a.rpmOstree.endsWith(' --append=pcie_acs_override=multifunction'), a.rpmOstree);
});

test('advise: merging with an existing command line, nothing duplicated', () => {
  const cmdline =
    'BOOT_IMAGE=/vmlinuz-6.1 root=UUID=abc ro quiet intel_iommu=on vfio_pci.ids=10de:1c03 modprobe.blacklist=radeon dyndbg="file x +p"';
  const a = advise({ kernelCmdline: cmdline }, nvidiaCard('01', 1), []);
  assert.deepEqual(a.params, ['iommu=pt', 'vfio_pci.ids=10de:10f1,10de:1c03', 'rd.driver.pre=vfio-pci', 'modprobe.blacklist=nouveau']);
  assert.equal(
    a.grub.line,
    'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on vfio_pci.ids=10de:10f1,10de:1c03 modprobe.blacklist=radeon ' +
      'dyndbg=\\"file x +p\\" iommu=pt rd.driver.pre=vfio-pci modprobe.blacklist=nouveau"',
  );
  assert.equal(
    a.rpmOstree,
    'rpm-ostree kargs --append-if-missing=iommu=pt --delete-if-present=vfio_pci.ids=10de:1c03 ' +
      '--append=vfio_pci.ids=10de:10f1,10de:1c03 --append-if-missing=rd.driver.pre=vfio-pci --append=modprobe.blacklist=nouveau',
  );
  assert.ok(a.notes.includes('vfio_pci.ids=10de:10f1,10de:1c03 replaces vfio_pci.ids=10de:1c03'));
});

test('advise: every parameter already present: nothing to add', () => {
  const cmdline = 'BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet intel_iommu=on iommu=pt vfio-pci.ids=10de:1c03,10de:10f1 ' +
    'rd.driver.pre=vfio_pci modprobe.blacklist=nouveau';
  const a = advise({ kernelCmdline: cmdline }, nvidiaCard('01', 1), []);
  assert.deepEqual(a.params, []);
  assert.deepEqual(a.grub.commands, []);
  assert.equal(a.rpmOstree, '');
  assert.equal(
    a.grub.line,
    'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on iommu=pt vfio-pci.ids=10de:1c03,10de:10f1 rd.driver.pre=vfio_pci modprobe.blacklist=nouveau"',
  );
  assert.ok(a.notes.includes('nothing to add: the kernel command line already has every parameter needed'));
  assert.match(formatAdvice(a), /^Nothing to add: the kernel command line already has every parameter needed\.$/m);
});

test('advise: intel_iommu=off and iommu=nopt are replaced, other options kept', () => {
  const a = advise({ iommuEnabled: false, kernelCmdline: 'quiet intel_iommu=igfx_off intel_iommu=off iommu=nopt -- single' }, [], []);
  assert.deepEqual(a.params, ['intel_iommu=on,igfx_off', 'iommu=pt']);
  assert.equal(a.grub.line, 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on,igfx_off iommu=pt -- single"');
  assert.ok(a.warnings.includes('intel_iommu=off is on the kernel command line: the advice replaces it'));
  assert.equal(
    a.rpmOstree,
    'rpm-ostree kargs --delete-if-present=intel_iommu=igfx_off --delete-if-present=intel_iommu=off ' +
      '--append=intel_iommu=on,igfx_off --delete-if-present=iommu=nopt --append=iommu=pt',
  );
});

test('advise: a GPU driver the host still uses is not blacklisted', () => {
  const devices = [
    dev('0000:0a:00.0', { vendor: '1002', device: '73bf', class: '0300', driver: 'amdgpu' }),
    dev('0000:0b:00.0', { vendor: '1002', device: '744c', class: '0300', driver: 'amdgpu' }),
  ];
  const a = advise({}, devices, ['0000:0a:00.0']);
  assert.ok(!a.params.some((p) => p.startsWith('modprobe.blacklist=')), a.params.join(' '));
  assert.ok(a.warnings.includes('amdgpu is not blacklisted: it also drives 0000:0b:00.0, which stays with the host'));
});

test('advise: vfio-pci.ids also claiming an identical card that was not chosen', () => {
  const devices = [...nvidiaCard('01', 6), ...nvidiaCard('02', 7)];
  const a = advise({}, devices, ['0000:01:00.0']);
  assert.deepEqual(a.devices, ['0000:01:00.0', '0000:01:00.1']);
  assert.ok(a.warnings.includes(
    'vfio-pci.ids=10de:1c03 also claims 0000:02:00.0, which was not chosen: vfio-pci binds by vendor:device, ' +
      'not by address; bind by address instead (driverctl set-override ADDRESS vfio-pci)',
  ));
  // nouveau also drives the second card, which stays: not blacklisted.
  assert.ok(!a.params.some((p) => p.startsWith('modprobe.blacklist=')));
});

test('advise: empty chosen takes every assignable non-bridge device', () => {
  const devices = [
    ...rootPorts(),
    dev('0000:00:02.0', { vendor: '8086', device: '5912', class: '0300', driver: 'i915', iommuGroup: 12, groupReservedRegions: ['direct'] }),
    dev('0000:03:00.0', { vendor: '8086', device: '1533', class: '0200', driver: 'igb' }),
  ];
  const a = advise({}, devices, []);
  assert.deepEqual(a.devices, ['0000:03:00.0']);
  assert.ok(a.params.includes('vfio-pci.ids=8086:1533'));
  assert.ok(a.notes.includes(
    'igb is not blacklisted (it may drive host devices too); /etc/modprobe.d/vfio.conf: softdep igb pre: vfio-pci lets vfio-pci claim the ids first',
  ));
});

test('advise: chosen devices that cannot be assigned are left out with their reasons', () => {
  const devices = [
    ...rootPorts(),
    dev('0000:00:02.0', { vendor: '8086', device: '5912', class: '0300', driver: 'i915', iommuGroup: 12, groupReservedRegions: ['direct'] }),
  ];
  const a = advise({}, devices, ['0000:00:02.0', '00:01.0']);
  assert.deepEqual(a.devices, []);
  assert.ok(!a.params.some((p) => p.startsWith('vfio-pci.ids=')));
  assert.ok(a.warnings.includes(
    '0000:00:02.0 left out: IOMMU group 12 has a non-relaxable RMRR (direct) region: VFIO attach fails with ' +
      '"Device is ineligible for IOMMU domain attach due to platform RMRR requirement"',
  ));
  assert.ok(a.warnings.includes('0000:00:01.0 left out: PCI bridge (class 0604): bridges stay with the host'));
});

test('advise: a chosen address the host does not report is a ValidationError', () => {
  assert.throws(
    () => advise({}, nvidiaCard('01', 1), ['0000:09:00.0']),
    (e: unknown) => e instanceof ValidationError && e.message === 'device: 0000:09:00.0 is not reported by host h1',
  );
});

test('advise: device warnings and notes are carried, prefixed by address', () => {
  const devices = [dev('0000:0a:00.0', { vendor: '1002', device: '67df', class: '0300', driver: 'amdgpu', resetMethods: ['bus'] })];
  const a = advise({}, devices, []);
  assert.ok(a.warnings.includes(
    '0000:0a:00.0: AMD Polaris 10 reset bug and vendor-reset not loaded: host may need a reboot after the VM stops',
  ));
  assert.ok(a.params.includes('modprobe.blacklist=amdgpu'));
});

test('formatAdvice: sections in order with the advice content', () => {
  const a = advise({ iommuEnabled: false, kernelCmdline: 'ro quiet' }, noIommu(nvidiaCard('01', 1)), ['0000:01:00.0']);
  const text = formatAdvice(a);
  const order = ['Kernel parameters for passthrough on host h1', 'Add:', 'GRUB (/etc/default/grub):', 'rpm-ostree systems', 'Devices for vfio-pci:', 'Notes:'];
  const positions = order.map((s) => text.indexOf(s));
  assert.ok(positions.every((p) => p >= 0), JSON.stringify(positions));
  assert.deepEqual([...positions].sort((x, y) => x - y), positions);
  assert.match(text, /^ {2}intel_iommu=on$/m);
  assert.match(text, /^ {2}GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on iommu=pt /m);
  assert.match(text, /^ {4}RHEL\/Fedora: dracut -f$/m);
  assert.match(text, /^ {2}rpm-ostree kargs --append-if-missing=intel_iommu=on /m);
  assert.match(text, /^ {2}0000:01:00\.1$/m);
  assert.match(text, /^ {2}- 0000:01:00\.0: bound to nouveau; will be detached from the host$/m);
  assert.ok(text.endsWith('\n'));
});

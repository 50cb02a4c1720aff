/**
 * Every problem, reason, warning and note text of the passthrough checks, in
 * one place so the wording stays consistent.
 */

const list = (items: readonly string[]) => items.join(', ');

/** Host readiness: `problems` (passthrough cannot work) and `warnings`. */
export const hostText = {
  iommuOffAdd: (params: readonly string[]) => `IOMMU is off: add ${params.join(' ')}`,
  iommuOffExplicit: (param: string, replacement: string) =>
    `IOMMU is off: ${param} is on the kernel command line; replace it with ${replacement}`,
  iommuOffFirmware: (param: string, feature: string) =>
    `IOMMU is off although ${param} is set: enable ${feature} in the firmware (BIOS/UEFI) setup`,
  iommuOffUnknownCpu: () =>
    'IOMMU is off: enable VT-d or AMD-Vi in the firmware and add intel_iommu=on or amd_iommu=on (CPU vendor unknown)',
  vfioPciNotLoaded: () =>
    'vfio-pci module not loaded: load it at boot (rd.driver.pre=vfio-pci, or vfio-pci in /etc/modules-load.d/)',
  vfioType1NotLoaded: () => 'vfio_iommu_type1 module not loaded: VFIO needs it to map guest memory (modprobe vfio_iommu_type1)',
  acsOverride: (values: readonly string[]) =>
    `pcie_acs_override=${values.join(',')} is set: IOMMU groups are split by the kernel's ACS override, not by hardware ` +
    'isolation, so devices in different groups may still reach each other by peer-to-peer DMA; the patch\'s authors call ' +
    'it unsuitable for production (it only takes effect on a kernel built with the ACS override patch)',
  relaxRmrr: () =>
    'intel_iommu=relax_rmrr is set: RMRR regions are treated as relaxable (patched kernel only), against the VT-d ' +
    'specification; assigning a device the firmware still uses (IPMI-shared NIC, RAID controller) can crash the host',
  shadowed: (name: string, count: number, last: string) =>
    `${name} is given ${count} times on the kernel command line; only the last (${last}) takes effect`,
  videoCombined: (raw: string, first: string, rest: readonly string[]) =>
    `${raw} turns off ${first} only: the kernel reads one framebuffer per video= entry; add ${rest.map((fb) => `video=${fb}:off`).join(' ')} separately`,
  unknownCpu: (raw: string) => `CPU vendor ${JSON.stringify(raw)} is neither Intel nor AMD: cannot tell which IOMMU parameter applies`,
  ungrouped: (count: number) =>
    `${count} reported device${count === 1 ? ' has' : 's have'} no IOMMU group although the IOMMU is on`,
};

/** Device assignability: `reasons` (not assignable), `warnings` and `notes`. */
export const deviceText = {
  iommuDisabled: () => 'IOMMU is disabled on the host',
  noGroup: () => 'no IOMMU group',
  bridge: () => 'PCI bridge (class 0604): bridges stay with the host',
  rmrrDirect: (group: number) =>
    `IOMMU group ${group} has a non-relaxable RMRR (direct) region: VFIO attach fails with ` +
    '"Device is ineligible for IOMMU domain attach due to platform RMRR requirement"',
  unreportedEndpoint: (group: number, address: string) => `IOMMU group ${group} has unreported endpoint ${address}`,

  hostDriver: (driver: string) => `bound to ${driver}; will be detached from the host`,
  noFlr: (methods: readonly string[]) =>
    `no FLR reset method: the kernel offers ${methods.length > 0 ? list(methods) : 'none'}; the GPU may not reset cleanly between VMs`,
  resetBug: (family: string) =>
    `AMD ${family} reset bug and vendor-reset not loaded: host may need a reboot after the VM stops`,
  resetBugNoDeviceSpecific: (family: string, address: string) =>
    `AMD ${family} reset bug: vendor-reset is loaded but reset_method lacks device_specific; ` +
    `echo device_specific > /sys/bus/pci/devices/${address}/reset_method (vendor-reset's udev rule does this)`,
  relaxRmrrIneffective: () =>
    'intel_iommu=relax_rmrr is set but the region is still direct: the running kernel lacks the relaxed-RMRR patch',

  pfWithVfs: (numVfs: number) =>
    `SR-IOV PF with ${numVfs} VFs enabled: assigning the PF gives the whole card to one VM, and detaching its host driver removes the VFs`,
  pfNoVfs: (totalVfs: number | null) =>
    `SR-IOV PF (${totalVfs ?? 'unknown number of'} VFs possible, none enabled): assigning the PF gives the whole card to one VM; enable VFs to share it`,
  vf: (physfn: string | null) => `SR-IOV VF of ${physfn ?? 'an unknown PF'}: the PF stays with its host driver`,
  companions: (group: number, addresses: readonly string[]) =>
    `IOMMU group ${group} also holds ${list(addresses)}: they are assigned together`,
};

/** Kernel-parameter advice: warnings and notes. */
export const adviceText = {
  notReported: (address: string, host: string) => `${address} is not reported by host ${host}`,
  leftOut: (address: string, reasons: readonly string[]) => `${address} left out: ${reasons.join('; ')}`,
  acsOverride: (group: number, device: string, others: readonly string[]) =>
    `IOMMU group ${group} of ${device} also holds ${list(others)} (another slot): pcie_acs_override=downstream,multifunction ` +
    'would split it, but it weakens isolation (devices may still reach each other by peer-to-peer DMA) and is unsuitable ' +
    'for production; it needs a kernel built with the ACS override patch. Better: move the card to a slot whose root port ' +
    'isolates it, or give the whole group to one VM',
  acsOverrideIneffective: (group: number, device: string, others: readonly string[]) =>
    `pcie_acs_override is already set but IOMMU group ${group} of ${device} still holds ${list(others)}: ` +
    'the running kernel lacks the ACS override patch',
  idClaimsOther: (id: string, addresses: readonly string[]) =>
    `vfio-pci.ids=${id} also claims ${list(addresses)}, which ${addresses.length === 1 ? 'was' : 'were'} not chosen: ` +
    'vfio-pci binds by vendor:device, not by address; bind by address instead (driverctl set-override ADDRESS vfio-pci)',
  driverShared: (driver: string, addresses: readonly string[]) =>
    `${driver} is not blacklisted: it also drives ${list(addresses)}, which ${addresses.length === 1 ? 'stays' : 'stay'} with the host`,
  noCpuVendor: () => 'CPU vendor unknown: add intel_iommu=on (Intel) or amd_iommu=on (AMD) yourself',
  iommuIntelOff: () => 'intel_iommu=off is on the kernel command line: the advice replaces it',
  iommuAmdOff: () => 'amd_iommu=off is on the kernel command line: the advice replaces it',
  device: (address: string, text: string) => `${address}: ${text}`,

  nothingApplied: () => 'pcisched applies nothing: review, apply by hand, then reboot for the parameters to take effect',
  nothingToAdd: () => 'nothing to add: the kernel command line already has every parameter needed',
  noDevices: () => 'no device chosen or assignable: only the IOMMU parameters are advised',
  iommuOffGroupsUnknown: () =>
    'the IOMMU is off, so IOMMU groups are unknown: vfio-pci.ids holds the chosen devices and the other functions of ' +
    'their slots; run advise again after the reboot to check the groups',
  iommuOffNothingAssignable: () =>
    'the IOMMU is off, so no device is assignable yet: enable it, reboot and run advise again for vfio-pci.ids (or name the devices)',
  amdIommuDefault: () =>
    'amd_iommu=on is what the common guides give; the AMD IOMMU is on by default when the firmware enables AMD-Vi, and the kernel ignores "on"',
  grubLine: () =>
    'the GRUB line is the running /proc/cmdline (less BOOT_IMAGE, root=, rootflags=, ro/rw, which GRUB adds itself) plus the ' +
    'new parameters: compare it with the file\'s GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT so no parameter ends up twice',
  replaces: (token: string, old: readonly string[]) => `${token} replaces ${old.join(' ')}`,
  rdDriverPreDebian: () =>
    'rd.driver.pre is read by dracut (RHEL/Fedora); with initramfs-tools (Debian/Ubuntu) list vfio, vfio_iommu_type1 and vfio_pci in /etc/initramfs-tools/modules instead',
  dracutConf: () => '/etc/dracut.conf.d/vfio.conf (RHEL/Fedora): add_drivers+=" vfio vfio_iommu_type1 vfio_pci "',
  rpmOstreeInitramfs: () => 'rpm-ostree systems: rpm-ostree initramfs --enable --arg=--add-drivers --arg=vfio-pci',
  modprobeOptions: (ids: readonly string[]) => `/etc/modprobe.d/vfio.conf: options vfio-pci ids=${ids.join(',')}`,
  softdep: (driver: string, why: string) =>
    `${driver} is not blacklisted (${why}); /etc/modprobe.d/vfio.conf: softdep ${driver} pre: vfio-pci lets vfio-pci claim the ids first`,
  softdepAudio: () => 'blacklisting it would also silence the host\'s own audio',
  softdepShared: () => 'it may drive host devices too',
  builtIn: () =>
    'a driver built into the kernel binds before any module loads: then only a per-address override works (driverctl set-override ADDRESS vfio-pci)',
  blacklistScope: () => 'driver sharing was checked against the devices the probe reports on this host only',
};

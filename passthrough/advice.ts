/**
 * Kernel parameters to add for passthrough on one host. Advice only:
 * nothing is applied anywhere.
 *
 * Choices:
 * - `intel_iommu=on` / `amd_iommu=on` by CPU vendor, unless the command line
 *   already turns it on or the IOMMU is on by the kernel's default (and not
 *   explicitly off); `iommu=pt` on x86 unless present. An existing
 *   `intel_iommu=`/`iommu=` is merged (`intel_iommu=relax_rmrr` →
 *   `intel_iommu=on,relax_rmrr`), so `off`/`nopt` do not linger.
 * - `vfio-pci.ids=` holds the chosen devices and their companions (the other
 *   endpoints of their IOMMU groups in the same slot, e.g. a GPU's HDMI
 *   audio; with the IOMMU off, groups are unknown and the slot's other
 *   reported functions stand in), merged with the ids already there into one
 *   parameter, since the last `vfio-pci.ids=` wins.
 * - `rd.driver.pre=vfio-pci` so vfio-pci loads first in a dracut initramfs.
 * - `modprobe.blacklist=` only for GPU drivers (nouveau, nvidia, amdgpu,
 *   radeon) bound to a chosen GPU and to no device that stays with the host.
 *   Shared-purpose drivers (snd_hda_intel, xhci_hcd, nvme, NIC drivers) are
 *   never blacklisted: blacklisting snd_hda_intel silences the host's own
 *   audio; vfio-pci.ids plus a `softdep DRIVER pre: vfio-pci` note is given.
 * - `pcie_acs_override=downstream,multifunction` only when a chosen device's
 *   group holds an endpoint of another slot (a different device, such as a
 *   second GPU); functions of the same slot are simply assigned together.
 *   Endpoints of other slots are then not added to vfio-pci.ids (the
 *   override is meant to split them off) unless chosen themselves.
 */
import { ValidationError, type DeviceReport } from '../common/index.js';
import { deviceAssignability, groupEndpoints, type AssignabilityContext } from './assignability.js';
import { grubLine, rpmOstreeCommand, type ParamEdit } from './cmdline-edit.js';
import { iommuOptionState, normalizeName, splitList, type KernelFlags } from './kernel-cmdline.js';
import { adviceText, deviceText } from './messages.js';
import { isBridge, isGpu, isVfioDriver, sameSlot, sortedUnique, vendorDevice } from './pci.js';
import { iommuParamFor, type HostReadiness } from './readiness.js';

export interface AdviseInput {
  hostName: string;
  readiness: HostReadiness;
  /** All reported devices of the host. */
  devices: DeviceReport[];
  /** Addresses (full or short) to prepare; empty = every assignable non-bridge device. */
  chosen: string[];
}

export interface Advice {
  hostName: string;
  /** Addresses whose ids go into vfio-pci.ids: the chosen devices and their companions, sorted. */
  devices: string[];
  /** The parameters to add, as written (a merged one replaces the existing parameter of that key). */
  params: string[];
  grub: {
    file: '/etc/default/grub';
    /** `GRUB_CMDLINE_LINUX_DEFAULT="<existing + new>"`. */
    line: string;
    /** Labelled by distribution family; empty when there is nothing to add. */
    commands: string[];
  };
  /** `rpm-ostree kargs …` for rpm-ostree systems; '' when there is nothing to add. */
  rpmOstree: string;
  warnings: string[];
  notes: string[];
}

/** Drivers only GPUs use: safe to blacklist when no host device needs them. */
const GPU_DRIVERS = new Set(['nouveau', 'nvidia', 'amdgpu', 'radeon']);

export const GRUB_COMMANDS = [
  'Debian/Ubuntu: update-grub',
  'Debian/Ubuntu: update-initramfs -u',
  'RHEL/Fedora: grub2-mkconfig -o /boot/grub2/grub.cfg',
  'RHEL/Fedora: dracut -f',
] as const;

class Lines {
  readonly items: string[] = [];
  add(text: string): void {
    if (!this.items.includes(text)) this.items.push(text);
  }
}

function findDevice(devices: readonly DeviceReport[], wanted: string): DeviceReport | undefined {
  const w = wanted.trim().toLowerCase();
  return devices.find((d) => d.address.toLowerCase() === w || d.shortAddress.toLowerCase() === w);
}

/** The devices to prepare, with the left-out ones reported as warnings. */
function chooseDevices(input: AdviseInput, ctx: AssignabilityContext, warnings: Lines): DeviceReport[] {
  const { devices, chosen, hostName } = input;
  if (chosen.length === 0) {
    return devices.filter((d) => !isBridge(d.class) && deviceAssignability(d, ctx).assignable);
  }
  const picked: DeviceReport[] = [];
  for (const wanted of chosen) {
    const d = findDevice(devices, wanted);
    if (d === undefined) throw new ValidationError(adviceText.notReported(wanted, hostName), { field: 'device' });
    if (picked.includes(d)) continue;
    // With the IOMMU off nothing is assignable yet; that is what the advice fixes.
    const blocking = deviceAssignability(d, ctx).reasons.filter((r) => r !== deviceText.iommuDisabled());
    if (blocking.length > 0) warnings.add(adviceText.leftOut(d.address, blocking));
    else picked.push(d);
  }
  return picked;
}

function iommuEdits(readiness: HostReadiness, warnings: Lines, notes: Lines): ParamEdit[] {
  const k = readiness.kernel;
  const edits: ParamEdit[] = [];
  const p = iommuParamFor(readiness.cpuVendor);
  if (p === null) {
    if (!readiness.iommuEnabled) warnings.add(adviceText.noCpuVendor());
    return edits;
  }
  const opts = p.key === 'intel_iommu' ? k.intelIommu : k.amdIommu;
  const state = iommuOptionState(opts);
  if (state !== true && !(readiness.iommuEnabled && state === null)) {
    const existing = k.params.filter((x) => x.name === p.key);
    const rest = (opts ?? []).filter((o) => o !== 'on' && o !== 'off');
    edits.push({ token: `${p.key}=${['on', ...new Set(rest)].join(',')}`, replaces: existing, keyPresent: false });
    if (state === false) warnings.add(p.key === 'intel_iommu' ? adviceText.iommuIntelOff() : adviceText.iommuAmdOff());
    if (p.key === 'amd_iommu') notes.add(adviceText.amdIommuDefault());
  }
  if (!k.iommuPt) {
    const existing = k.params.filter((x) => x.name === 'iommu');
    const rest = existing.flatMap((x) => splitList(x.value)).filter((o) => o !== 'pt' && o !== 'nopt');
    edits.push({ token: `iommu=${[...new Set(rest), 'pt'].join(',')}`, replaces: existing, keyPresent: false });
  }
  return edits;
}

/** `vvvv:dddd` of an entry that may carry subsystem and class fields too. */
const idHead = (entry: string) => entry.split(':').slice(0, 2).join(':');

function idsEdit(k: KernelFlags, ids: readonly string[]): { edit: ParamEdit | null; merged: string[] } {
  const present = new Set(k.vfioPciIds.map(idHead));
  const missing = ids.filter((id) => !present.has(id));
  const merged = sortedUnique([...k.vfioPciIds, ...missing]);
  if (missing.length === 0) return { edit: null, merged };
  const existing = k.params.filter((x) => x.name === 'vfio_pci.ids');
  const key = existing.length > 0 ? existing[existing.length - 1]!.key : 'vfio-pci.ids';
  return { edit: { token: `${key}=${merged.join(',')}`, replaces: existing, keyPresent: false }, merged };
}

export function adviseKernelParams(input: AdviseInput): Advice {
  const { hostName, readiness, devices } = input;
  const k = readiness.kernel;
  const ctx: AssignabilityContext = { readiness, reported: new Set(devices.map((d) => d.address)) };
  const warnings = new Lines();
  const notes = new Lines();
  for (const w of readiness.warnings) warnings.add(w);
  notes.add(adviceText.nothingApplied());

  const chosen = chooseDevices(input, ctx, warnings);
  const set = new Set<DeviceReport>(chosen);
  const byAddress = new Map(devices.map((d) => [d.address, d]));
  const overrideGroups: Array<{ group: number; device: string; others: string[] }> = [];
  for (const d of chosen) {
    const a = deviceAssignability(d, ctx);
    for (const w of a.warnings) warnings.add(adviceText.device(d.address, w));
    for (const n of a.notes) notes.add(adviceText.device(d.address, n));
    if (readiness.iommuEnabled && d.iommuGroup !== null) {
      const endpoints = groupEndpoints(d);
      for (const e of endpoints.filter((x) => sameSlot(x, d.address))) {
        const c = byAddress.get(e);
        if (c !== undefined) set.add(c);
      }
      const others = endpoints.filter((x) => !sameSlot(x, d.address));
      if (others.length > 0 && !overrideGroups.some((g) => g.group === d.iommuGroup)) {
        overrideGroups.push({ group: d.iommuGroup, device: d.address, others });
      }
    } else {
      for (const c of devices) if (c !== d && !isBridge(c.class) && sameSlot(c.address, d.address)) set.add(c);
    }
  }
  const passed = [...set].sort((a, b) => a.address.localeCompare(b.address));
  if (chosen.length === 0) {
    notes.add(!readiness.iommuEnabled && input.chosen.length === 0 ? adviceText.iommuOffNothingAssignable() : adviceText.noDevices());
  } else if (!readiness.iommuEnabled) {
    notes.add(adviceText.iommuOffGroupsUnknown());
  }

  const edits: ParamEdit[] = iommuEdits(readiness, warnings, notes);

  const ids = sortedUnique(passed.map(vendorDevice));
  const { edit: vfioEdit, merged: mergedIds } = idsEdit(k, ids);
  if (vfioEdit !== null) edits.push(vfioEdit);
  for (const id of ids) {
    const claimed = devices.filter((o) => !set.has(o) && !isBridge(o.class) && vendorDevice(o) === id).map((o) => o.address);
    if (claimed.length > 0) warnings.add(adviceText.idClaimsOther(id, claimed));
  }
  if (passed.length > 0 && !k.rdDriverPre.includes('vfio_pci')) {
    edits.push({ token: 'rd.driver.pre=vfio-pci', replaces: [], keyPresent: k.params.some((x) => x.name === 'rd.driver.pre') });
  }

  const toBlacklist: string[] = [];
  const seenDrivers = new Set<string>();
  for (const d of passed) {
    if (d.driver === null || isVfioDriver(d.driver)) continue;
    const drv = normalizeName(d.driver);
    if (seenDrivers.has(drv)) continue;
    seenDrivers.add(drv);
    const hostUsers = devices.filter((o) => !set.has(o) && o.driver !== null && normalizeName(o.driver) === drv).map((o) => o.address);
    if (isGpu(d.class) && GPU_DRIVERS.has(drv) && hostUsers.length === 0) {
      if (!k.blacklist.includes(drv)) toBlacklist.push(drv);
      notes.add(adviceText.blacklistScope());
      continue;
    }
    if (hostUsers.length > 0) warnings.add(adviceText.driverShared(drv, hostUsers));
    notes.add(adviceText.softdep(drv, drv === 'snd_hda_intel' ? adviceText.softdepAudio() : adviceText.softdepShared()));
    notes.add(adviceText.builtIn());
  }
  if (toBlacklist.length > 0) {
    const keyPresent = k.params.some((x) => x.name === 'modprobe.blacklist');
    edits.push({ token: `modprobe.blacklist=${sortedUnique(toBlacklist).join(',')}`, replaces: [], keyPresent });
  }

  if (overrideGroups.length > 0) {
    const present = k.pcieAcsOverride ?? [];
    const missing = ['downstream', 'multifunction'].filter((v) => !present.includes(v));
    for (const g of overrideGroups) {
      warnings.add(missing.length > 0 ? adviceText.acsOverride(g.group, g.device, g.others) : adviceText.acsOverrideIneffective(g.group, g.device, g.others));
    }
    if (missing.length > 0) {
      edits.push({ token: `pcie_acs_override=${missing.join(',')}`, replaces: [], keyPresent: k.pcieAcsOverride !== null });
    }
  }

  if (edits.length === 0) notes.add(adviceText.nothingToAdd());
  for (const e of edits) if (e.replaces.length > 0) notes.add(adviceText.replaces(e.token, e.replaces.map((p) => p.raw)));
  if (passed.length > 0) {
    notes.add(adviceText.modprobeOptions(mergedIds));
    if (edits.some((e) => e.token.startsWith('rd.driver.pre='))) notes.add(adviceText.rdDriverPreDebian());
    notes.add(adviceText.dracutConf());
    notes.add(adviceText.rpmOstreeInitramfs());
  }
  if (edits.length > 0) notes.add(adviceText.grubLine());

  return {
    hostName,
    devices: passed.map((d) => d.address),
    params: edits.map((e) => e.token),
    grub: { file: '/etc/default/grub', line: grubLine(k, edits), commands: edits.length > 0 ? [...GRUB_COMMANDS] : [] },
    rpmOstree: rpmOstreeCommand(edits),
    warnings: warnings.items,
    notes: notes.items,
  };
}

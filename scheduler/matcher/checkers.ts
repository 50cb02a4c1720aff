/**
 * Device feasibility, Nomad-style: small checkers, each answering "can this
 * device be handed to a new VM on this host right now", chained in one
 * visible list. A checker returns null (feasible) or the rejection text.
 *
 * These look at one device and its IOMMU group / SR-IOV relatives against
 * the host's live state. Constraints between the devices of one VM (distinct
 * devices, PF with its own VF, PCI_MATCH) live in the search.
 */
import type { IndexedDevice, LiveCache } from './host-index.js';
import { reason } from './reasons.js';
import type { DeviceState } from './types.js';

/**
 * Not a candidate at all: gone, taken, or refused by the host checks.
 * Cheapest test, run first on every device of a bucket.
 */
export function isFree(s: DeviceState): boolean {
  return !s.missing && s.heldBy === null && s.assignable !== false;
}

export type DeviceChecker = (dev: IndexedDevice) => string | null;

const checkAssignable: DeviceChecker = (dev) =>
  dev.state.assignable === false ? reason.notAssignable(dev.address, dev.state.unassignableReasons) : null;

/** Without an IOMMU group there is no isolation to hand over: vfio refuses the device. */
const checkIommuGroup: DeviceChecker = (dev) =>
  dev.state.iommuGroup === null ? reason.noIommuGroup(dev.address) : null;

/**
 * The group is the unit of isolation: every other endpoint goes with the
 * device, so each must be known, present, free and assignable.
 */
const checkGroupCompanions: DeviceChecker = (dev) => {
  const group = dev.state.iommuGroup;
  if (group === null) return null;
  for (const c of dev.companions) {
    const s = c.state;
    if (s.heldBy !== null) return reason.groupHeld(group, s.heldBy);
  }
  // An endpoint the probe filtered out may be in use by the host itself
  // (e.g. a NIC port carrying its traffic); we cannot take it blind.
  if (dev.unreportedEndpoints.length > 0) return reason.groupUnreported(group, dev.unreportedEndpoints[0]!);
  for (const c of dev.companions) {
    const s = c.state;
    if (s.missing) return reason.groupMissing(group, c.address);
    if (s.assignable === false) return reason.groupNotAssignable(group, c.address, s.unassignableReasons);
  }
  return null;
};

/**
 * SR-IOV as in Nova: a PF and its VFs exclude each other across VMs. Applied
 * to the device and to each companion, since companions are taken too.
 */
const checkSriov: DeviceChecker = (dev) => {
  const own = sriovConflict(dev);
  if (own !== null) return own;
  for (const c of dev.companions) {
    const r = sriovConflict(c);
    if (r !== null) return r;
  }
  return null;
};

function sriovConflict(d: IndexedDevice): string | null {
  for (const vf of d.vfs) if (vf.state.heldBy !== null) return reason.pfVfsInUse(d.address);
  if (d.pf !== null && d.pf.state.heldBy !== null) return reason.vfPfInUse(d.address, d.pf.address);
  return null;
}

/** The chain, in order: the first rejection wins. */
export const DEVICE_CHECKERS: ReadonlyArray<{ name: string; check: DeviceChecker }> = [
  { name: 'assignable', check: checkAssignable },
  { name: 'iommu-group', check: checkIommuGroup },
  { name: 'group-companions', check: checkGroupCompanions },
  { name: 'sriov', check: checkSriov },
];

/** Why a free device cannot be taken, or null when it can; cached with the host's live state. */
export function deviceBlock(dev: IndexedDevice, live: LiveCache): string | null {
  const cached = live.blocks[dev.pos];
  if (cached !== undefined) return cached;
  let result: string | null = null;
  for (const { check } of DEVICE_CHECKERS) {
    result = check(dev);
    if (result !== null) break;
  }
  live.blocks[dev.pos] = result;
  return result;
}

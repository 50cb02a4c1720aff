/**
 * Per host and request: the free devices the request could take. This is
 * the hot loop of a placement, so it scans only the request's bucket, runs
 * the cheapest test first, and caches lists per request signature while a
 * PlacementCache vouches that the host has not changed.
 */
import type { CompiledPciRequest } from '../spec.js';
import { deviceBlock, isFree } from './checkers.js';
import { kept, type CachedCandidates, type HostView, type IndexedDevice } from './host-index.js';
import type { PlacementPlan, Scratch } from './plan.js';
import { PlacementInputError } from './types.js';

/** `matchesDevice`, with a throw turned into a located input error. */
export function matches(req: CompiledPciRequest, d: IndexedDevice, hostName: string): boolean {
  try {
    return req.matchesDevice(d.state) === true;
  } catch (e) {
    throw new PlacementInputError(`PCI[${req.index}] matcher failed on host ${hostName} device ${d.address}`, { cause: e });
  }
}


export function candidatesFor(view: HostView, plan: PlacementPlan, i: number): CachedCandidates {
  const slot = plan.signatureSlots[i]!;
  if (slot !== null) {
    const hit = view.live.candidates[slot];
    if (hit !== undefined) return hit;
  }
  const req = plan.requests[i]!;
  const list: IndexedDevice[] = [];
  for (const d of view.index.devicesFor(plan.keys[i]!)) {
    if (!isFree(d.state)) continue;
    if (!matches(req, d, view.host.name)) continue;
    if (deviceBlock(d, view.live) !== null) continue;
    list.push(d);
  }
  if (slot === null) return { list };
  // Cached per host and request shape until the host changes: kept compact.
  const entry: CachedCandidates = { list: kept(list) };
  view.live.candidates[slot] = entry;
  return entry;
}

/**
 * How many devices of the free pool (marked in `plan.pool`) taking all of
 * `taken` removes: the devices themselves, their companions and their
 * SR-IOV relatives (a PF's VFs become unusable, and the reverse).
 * Second-order effects (a device whose companion is such a relative) are
 * not counted.
 */
export function consumedFromPool(taken: Iterable<IndexedDevice>, plan: PlacementPlan, deviceCount: number): number {
  // Plain loops, no per-call closures: this runs for pool devices of every
  // host the cache cannot answer (and tsx wraps named closures).
  plan.seen.begin(deviceCount);
  let count = 0;
  for (const d of taken) count += visitGroup(d, plan);
  return count;
}

/**
 * The sum of the k largest single-device consumptions among `devices` (the
 * pool marked in `plan.pool`): at most this many pool devices leave with k
 * picks. No sort and no allocation per device: this is per host.
 */
export function mostConsumed(devices: readonly IndexedDevice[], k: number, plan: PlacementPlan, deviceCount: number): number {
  const top: number[] = new Array<number>(k).fill(0); // descending
  for (const d of devices) {
    // A device with no group mates and no SR-IOV links only takes itself.
    let c = 1;
    if (d.companions.length > 0 || d.pf !== null || d.vfs.length > 0) {
      plan.seen.begin(deviceCount);
      c = visitGroup(d, plan);
    }
    if (c <= top[k - 1]!) continue;
    let j = k - 1;
    for (; j > 0 && top[j - 1]! < c; j--) top[j] = top[j - 1]!;
    top[j] = c;
  }
  let sum = 0;
  for (const c of top) sum += c;
  return sum;
}

function visitGroup(d: IndexedDevice, plan: PlacementPlan): number {
  let count = visitWithLinks(d, plan);
  for (const c of d.companions) count += visitWithLinks(c, plan);
  return count;
}

function visitWithLinks(x: IndexedDevice, plan: PlacementPlan): number {
  let count = visit(x, plan);
  if (x.pf !== null) count += visit(x.pf, plan);
  for (const vf of x.vfs) count += visit(vf, plan);
  return count;
}

function visit(x: IndexedDevice, plan: PlacementPlan): number {
  return plan.seen.add(x.pos) && plan.pool.has(x.pos) ? 1 : 0;
}

/** Marks the union of lists in `pool` and returns it (address order within each list). */
export function markPool(pool: Scratch, lists: readonly (readonly IndexedDevice[])[], deviceCount: number): IndexedDevice[] {
  pool.begin(deviceCount);
  const union: IndexedDevice[] = [];
  for (const l of lists) for (const d of l) if (pool.add(d.pos)) union.push(d);
  return union;
}

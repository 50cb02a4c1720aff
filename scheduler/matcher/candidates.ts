/**
 * Per host and request: the free devices the request could take. This is
 * the hot loop of a placement, so it scans only the request's bucket, runs
 * the cheapest test first, and caches lists per request signature while the
 * host's `generation` stays the same.
 */
import type { CompiledPciRequest } from '../spec.js';
import { deviceBlock, isFree } from './checkers.js';
import type { CachedCandidates, HostView, IndexedDevice } from './host-index.js';
import type { PlacementPlan, Scratch } from './plan.js';
import { PlacementInputError, type HostState } from './types.js';

/** `matchesDevice`, with a throw turned into a located input error. */
export function matches(req: CompiledPciRequest, d: IndexedDevice, hostName: string): boolean {
  try {
    return req.matchesDevice(d.state) === true;
  } catch (e) {
    throw new PlacementInputError(`PCI[${req.index}] matcher failed on host ${hostName} device ${d.address}`, { cause: e });
  }
}

export type Candidates = CachedCandidates;

export function candidatesFor(view: HostView, plan: PlacementPlan, i: number): Candidates {
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
  const entry: Candidates = { list, consumedDesc: null };
  if (slot !== null) view.live.candidates[slot] = entry;
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
  // Plain loops, no per-call closures: this runs for every pool device of
  // every host on multi-request VMs (and tsx wraps named closures).
  plan.seen.begin(deviceCount);
  let count = 0;
  for (const d of taken) {
    count += visitWithLinks(d, plan);
    for (const c of d.companions) count += visitWithLinks(c, plan);
  }
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

/** Per-candidate consumption, sorted descending, with the pool being `list` itself. */
export function consumedDesc(entry: Candidates, plan: PlacementPlan, deviceCount: number): number[] {
  if (entry.consumedDesc !== null) return entry.consumedDesc;
  markPool(plan.pool, [entry.list], deviceCount);
  entry.consumedDesc = entry.list.map((d) => consumedFromPool([d], plan, deviceCount)).sort((a, b) => b - a);
  return entry.consumedDesc;
}

/** Marks the union of lists in `pool` and returns it (address order within each list). */
export function markPool(pool: Scratch, lists: readonly (readonly IndexedDevice[])[], deviceCount: number): IndexedDevice[] {
  pool.begin(deviceCount);
  const union: IndexedDevice[] = [];
  for (const l of lists) for (const d of l) if (pool.add(d.pos)) union.push(d);
  return union;
}

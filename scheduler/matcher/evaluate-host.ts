/**
 * One host, two depths. `prefilterHost` is the cheap pass for every host
 * the PlacementCache cannot answer: candidate counts and bounds on the
 * policy score, no search. `evaluateHost` runs the search on the few hosts
 * the policy still needs to look at and returns the exact placement.
 */
import { candidatesFor, consumedFromPool, markPool, mostConsumed } from './candidates.js';
import type { HostView, IndexedDevice } from './host-index.js';
import type { PlacementPlan } from './plan.js';
import { searchAssignment, type SearchResult } from './search.js';
import type { PlacedDevice } from './types.js';

/** Bounds on the host's free matching devices after placing the VM. */
export type Prefilter = { ok: false } | { ok: true; lower: number; upper: number };

const REJECT: Prefilter = { ok: false };

export function prefilterHost(view: HostView, plan: PlacementPlan): Prefilter {
  const k = plan.requests.length;
  if (k === 0) return { ok: true, lower: 0, upper: 0 };
  const n = view.index.devices.length;
  if (plan.oneSignature) {
    // Every request matches the same devices (one device type, possibly
    // several times): the pool is that one candidate list.
    const list = candidatesFor(view, plan, 0).list;
    if (list.length < k) return REJECT;
    markPool(plan.pool, [list], n);
    return bounds(list.length, k, mostConsumed(list, k, plan, n));
  }
  const lists: (readonly IndexedDevice[])[] = [];
  for (let i = 0; i < k; i++) {
    const list = candidatesFor(view, plan, i).list;
    if (list.length === 0) return REJECT;
    lists.push(list);
  }
  for (const group of plan.sameSignature) if (group.length > lists[group[0]!]!.length) return REJECT;
  const pool = markPool(plan.pool, lists, n);
  if (pool.length < k) return REJECT;
  return bounds(pool.length, k, mostConsumed(pool, k, plan, n));
}

/**
 * k requested devices leave the pool at least, so `upper = free - k`; at
 * most the k largest single-device consumptions (`most`) leave it.
 */
function bounds(free: number, k: number, most: number): Prefilter {
  return { ok: true, lower: free - Math.min(free, most), upper: free - k };
}

export type Evaluation =
  | { ok: true; devices: PlacedDevice[]; freeAfter: number }
  | { ok: false; failure: 'none' | 'budget' };

export function evaluateHost(view: HostView, plan: PlacementPlan): Evaluation {
  const n = view.index.devices.length;
  const lists = plan.requests.map((_, i) => candidatesFor(view, plan, i).list);
  const result = runSearch(view, plan, lists);
  if (result.kind !== 'found') return { ok: false, failure: result.kind };
  const free = markPool(plan.pool, lists, n).length;
  const freeAfter = free - consumedFromPool(result.taken, plan, n);
  return { ok: true, devices: placedDevices(plan, result.picks, result.taken), freeAfter };
}

export function runSearch(
  view: HostView,
  plan: PlacementPlan,
  lists: readonly (readonly IndexedDevice[])[],
  overrides: { matchNuma?: boolean; matchRoot?: boolean; allowPfWithVf?: boolean } = {},
): SearchResult {
  return searchAssignment({
    candidates: lists,
    deviceCount: view.index.devices.length,
    matchNuma: overrides.matchNuma ?? plan.matchNuma,
    matchRoot: overrides.matchRoot ?? plan.matchRoot,
    allowPfWithVf: overrides.allowPfWithVf ?? false,
    budget: plan.budget,
  });
}

/** Requested devices in request order, then companions by address. */
function placedDevices(plan: PlacementPlan, picks: readonly IndexedDevice[], taken: readonly IndexedDevice[]): PlacedDevice[] {
  const out: PlacedDevice[] = picks.map((d, i) => ({ address: d.address, request: plan.requests[i]!.index, companion: false }));
  const picked = new Set(picks);
  for (const d of taken) if (!picked.has(d)) out.push({ address: d.address, request: null, companion: true });
  return out;
}

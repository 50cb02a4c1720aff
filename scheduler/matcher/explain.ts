/**
 * Why a host cannot take the VM. Run only when no host can (a placed VM
 * needs no reasons), so it may redo work and try relaxed searches to name
 * the one constraint that is in the way.
 */
import type { MatchAttribute } from '../spec.js';
import { candidatesFor, markPool, matches } from './candidates.js';
import { hostView, type HostView } from './host-index.js';
import { deviceBlock } from './checkers.js';
import { runSearch } from './evaluate-host.js';
import type { PlacementPlan } from './plan.js';
import { BUDGET_EXHAUSTED, OFFLINE, ReasonList, reason } from './reasons.js';
import type { HostState } from './types.js';

export function explainHost(host: HostState, plan: PlacementPlan): string[] {
  if (!host.online) return [OFFLINE];
  const view = hostView(host, false);
  const out = new ReasonList();
  const lists = plan.requests.map((_, i) => candidatesFor(view, plan, i).list);

  lists.forEach((list, i) => {
    if (list.length === 0) explainNoCandidate(view, plan, i, out);
  });
  if (out.size > 0) return out.items;

  const k = plan.requests.length;
  for (const group of plan.sameSignature) {
    const free = lists[group[0]!]!.length;
    if (group.length > free) out.add(reason.notEnough(group.map((i) => plan.requests[i]!), free));
  }
  const pool = markPool(plan.pool, lists, view.index.devices.length).length;
  if (pool < k) out.add(reason.notEnough(plan.requests, pool));
  if (out.size > 0) return out.items;

  const full = runSearch(view, plan, lists);
  if (full.kind === 'budget') return [BUDGET_EXHAUSTED];
  if (full.kind === 'found') return []; // feasible after all: nothing to explain

  if (plan.pciMatch.length > 0) {
    const free = runSearch(view, plan, lists, { matchNuma: false, matchRoot: false });
    if (free.kind === 'budget') return [BUDGET_EXHAUSTED];
    if (free.kind === 'found') return [reason.noEqual(blame(view, plan, lists))];
  }

  const relaxed = runSearch(view, plan, lists, { matchNuma: false, matchRoot: false, allowPfWithVf: true });
  if (relaxed.kind === 'found') {
    const inSet = new Set(relaxed.taken);
    for (const d of relaxed.taken) {
      if (d.pf !== null && inSet.has(d.pf)) return [reason.pfWithOwnVf(d.pf.address, d.address)];
    }
  }
  if (relaxed.kind === 'budget') return [BUDGET_EXHAUSTED];
  return [reason.noDistinct(plan.requests)];
}

/**
 * Specific blockers (group held, PF busy, not assignable...) first, since
 * they tell the operator what to free; the generic "no free device" only
 * when nothing specific was found or plainly taken/missing devices match too.
 */
function explainNoCandidate(view: HostView, plan: PlacementPlan, i: number, out: ReasonList): void {
  const req = plan.requests[i]!;
  let plain = false;
  let specific = false;
  for (const d of view.index.devicesFor(plan.keys[i]!)) {
    if (!matches(req, d, view.host.name)) continue;
    const s = d.state;
    // A held device means its whole IOMMU group is held: name the holder.
    if (s.heldBy !== null && !s.missing && s.iommuGroup !== null) {
      specific = true;
      out.add(reason.groupHeld(s.iommuGroup, s.heldBy));
      continue;
    }
    if (s.missing || s.heldBy !== null) {
      plain = true;
      continue;
    }
    const why = deviceBlock(d, view.live);
    if (why !== null) {
      specific = true;
      out.add(why);
    }
  }
  if (plain || !specific) out.add(reason.noFreeMatch(req));
}

/** The attributes that fail on their own; all of them when only the combination fails. */
function blame(view: HostView, plan: PlacementPlan, lists: Parameters<typeof runSearch>[2]): MatchAttribute[] {
  const failing = plan.pciMatch.filter((a) => {
    const r = runSearch(view, plan, lists, { matchNuma: a === 'NUMA_NODE', matchRoot: a === 'PCIE_ROOT' });
    return r.kind === 'none';
  });
  return failing.length > 0 ? failing : [...plan.pciMatch];
}

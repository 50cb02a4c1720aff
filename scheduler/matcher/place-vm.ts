/**
 * The placement pipeline, in one visible place:
 *   plan (once per VM) → prefilter every host (cheap; verdicts kept in the
 *   PlacementCache when the caller has one) → search hosts in order of their
 *   best possible score until none can beat the best placement found →
 *   explain every host only if none fits.
 */
import type { CompiledVmSpec } from '../spec.js';
import { evaluateHost, prefilterHost } from './evaluate-host.js';
import { explainHost } from './explain.js';
import { hostView } from './host-index.js';
import { makePlan, type PlacementPlan } from './plan.js';
import { PlacementCache } from './placement-cache.js';
import { inBoundOrder, scoreKey } from './policy.js';
import { NO_HOSTS } from './reasons.js';
import type { HostState, PlacedDevice, PlacementOptions, PlacementReason, PlacementResult } from './types.js';

export function placeVm(spec: CompiledVmSpec, hosts: Iterable<HostState>, options: PlacementOptions): PlacementResult {
  const plan = makePlan(spec, options);
  // Without a caller-kept cache, a throwaway one: same code path, nothing
  // reused, so nothing can be stale.
  const persistent = options.cache !== undefined;
  const cache = options.cache ?? new PlacementCache();

  const { rejected, open, keys, count } = prefilterAll(hosts, plan, cache, persistent);

  // One number per open host orders it by (best possible key, host name):
  // keys are small integers and ranks are below `count`, so key·count+rank
  // is exact and needs no string compare in the loops below.
  const ranks = cache.rankedNames(count);
  const order = new Float64Array(open.length);
  for (let j = 0; j < open.length; j++) order[j] = keys[j]! * count + ranks[open[j]!]!;

  let best: { pos: number; order: number; devices: PlacedDevice[] } | null = null;
  for (const j of inBoundOrder(order)) {
    // Hosts come in (bound, name) order: once one cannot beat the best
    // placement even at its bound, none of the rest can.
    if (best !== null && order[j]! >= best.order) break;
    const pos = open[j]!;
    const ev = evaluateHost(hostView(cache.refs[pos]!, persistent), plan);
    if (!ev.ok) {
      rejected.push(pos);
      continue;
    }
    const exact = scoreKey(plan.policy, ev.freeAfter) * count + ranks[pos]!;
    if (best === null || exact < best.order) best = { pos, order: exact, devices: ev.devices };
  }

  if (best !== null) return { kind: 'placed', host: cache.names[best.pos]!, devices: best.devices };
  return { kind: 'unplaceable', reasons: explainAll(rejected.map((pos) => cache.refs[pos]!), plan) };
}

interface Prefiltered {
  /** Positions of offline or prefilter-rejected hosts. */
  rejected: number[];
  /** Positions that passed the prefilter, and their best possible score key. */
  open: number[];
  keys: number[];
  /** Number of hosts iterated. */
  count: number;
}

/**
 * The hot loop over every host: cached verdicts for unchanged positions,
 * the prefilter for the rest. Locals instead of property reads, and the
 * cache's methods called only for positions that changed: at 10k hosts a
 * call per host costs more than the rest of the loop.
 */
function prefilterAll(hosts: Iterable<HostState>, plan: PlacementPlan, cache: PlacementCache, persistent: boolean): Prefiltered {
  const shape = persistent && plan.vmSlot !== null ? cache.shape(plan.vmSlot) : null;
  const rejected: number[] = [];
  const open: number[] = [];
  const keys: number[] = [];
  let count = 0;
  const refs = cache.refs;
  let epoch = cache.epoch;
  let online = cache.online;
  const pack = plan.policy === 'pack';
  for (const host of hosts) {
    const i = count++;
    if (i >= epoch.length || refs[i] !== host) {
      cache.track(i, host);
      epoch = cache.epoch;
      online = cache.online;
    }
    if (online[i] === 0) {
      rejected.push(i);
      continue;
    }
    let lower: number, upper: number;
    if (shape !== null && shape.at[i] === epoch[i]) {
      lower = shape.lower[i]!;
      upper = shape.upper[i]!;
    } else {
      const pre = prefilterHost(hostView(host, persistent), plan);
      lower = pre.ok ? pre.lower : NaN;
      upper = pre.ok ? pre.upper : NaN;
      if (shape !== null && i < shape.at.length) {
        shape.at[i] = epoch[i]!;
        shape.lower[i] = lower;
        shape.upper[i] = upper;
      }
    }
    if (Number.isNaN(lower)) {
      rejected.push(i);
      continue;
    }
    open.push(i);
    keys.push(pack ? lower : -upper);
  }
  return { rejected, open, keys, count };
}

function explainAll(rejected: HostState[], plan: PlacementPlan): PlacementReason[] {
  if (rejected.length === 0) return [{ host: null, reason: NO_HOSTS }];
  const sorted = [...rejected].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: PlacementReason[] = [];
  for (const host of sorted) for (const reason of explainHost(host, plan)) out.push({ host: host.name, reason });
  return out;
}

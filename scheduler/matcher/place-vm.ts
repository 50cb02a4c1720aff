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
import { PlacementCache, type PlanScores, type ShapeVerdicts } from './placement-cache.js';
import { inBoundOrder, scoreKey } from './policy.js';
import { NO_HOSTS } from './reasons.js';
import { PlacementInputError, type HostState, type PlacedDevice, type PlacementOptions, type PlacementReason, type PlacementResult } from './types.js';

export function placeVm(spec: CompiledVmSpec, hosts: Iterable<HostState>, options: PlacementOptions): PlacementResult {
  const plan = makePlan(spec, options);
  // Without a caller-kept cache, a throwaway one: same code path, nothing
  // reused, so nothing can be stale.
  const persistent = options.cache !== undefined;
  const cache = options.cache ?? new PlacementCache();

  if (persistent && plan.vmSlot !== null && plan.planSlot !== null && Array.isArray(hosts) && cache.trusts(hosts)) {
    // The steady state: hosts by key in the plan's index, changed ones only recomputed.
    const best = searchIndexed(plan, hosts as HostState[], cache) ?? null; // undefined only with `stop`
    if (best !== null) return { kind: 'placed', host: cache.names[best.pos]!, devices: winnerDevices(best, plan, cache, true) };
    return { kind: 'unplaceable', reasons: explainAll(cache.refs.slice(0, hosts.length) as HostState[], plan) };
  }

  const { open, order, n, first, count } = prefilterAll(hosts, plan, cache, persistent);
  const scores = persistent && plan.planSlot !== null ? cache.planScores(plan.planSlot) : null;

  let best: Best | null = null;
  for (const j of inBoundOrder(order, n, first)) {
    // Hosts come in (bound, name) order: once one cannot beat the best
    // placement even at its bound, none of the rest can.
    if (best !== null && order[j]! >= best.order) break;
    const pos = open[j]!;
    const { freeAfter, devices } = exactScore(pos, plan, cache, scores, persistent);
    if (Number.isNaN(freeAfter)) continue;
    const exact = scoreKey(plan.policy, freeAfter) * count + cache.ranks[pos]!;
    if (best === null || exact < best.order) best = { pos, order: exact, devices };
  }

  if (best !== null) return { kind: 'placed', host: cache.names[best.pos]!, devices: winnerDevices(best, plan, cache, persistent) };
  // Nothing fits, so every host was rejected somewhere: explain them all.
  return { kind: 'unplaceable', reasons: explainAll(cache.refs.slice(0, count) as HostState[], plan) };
}

/**
 * Works out prefilter bounds for `spec` ahead of its placement, from host
 * position `from` on, into the caller's cache, until `stop()` says so
 * (asked after every `perCheck` hosts that needed work). Returns the
 * position to go on from, `hosts.length` when none is left.
 *
 * Why: a shape the cache has not seen needs a prefilter of every host (and
 * the first placement after hosts arrive builds their indexes): about 60 µs
 * a host at 32 devices, 0.6 s at 10k hosts, in one synchronous placement.
 * Done here in slices, with the event loop free between them, the
 * placement then finds the bounds known. A host that changes between slices
 * moves its epoch and is prefiltered again by the placement, as usual.
 */
export function warmBounds(spec: CompiledVmSpec, hosts: HostState[], options: PlacementOptions, from: number, stop: () => boolean, perCheck = 1): number {
  const cache = options.cache;
  if (cache === undefined) return hosts.length;
  const plan = makePlan(spec, options);
  if (plan.vmSlot === null) return hosts.length;
  if (!cache.trusts(hosts)) {
    // Positions met for the first time (a reference compare each), as the placement's own loop does.
    for (let i = 0; i < hosts.length; i++) if (i >= cache.epoch.length || cache.refs[i] !== hosts[i]) cache.track(i, hosts[i]!);
    cache.remember(hosts, hosts.length);
  }
  const shape = cache.shape(plan.vmSlot);
  const ctx: VerdictContext = { plan, cache, shape, persistent: true, pack: plan.policy === 'pack', n: 0, lower: NaN, upper: NaN };
  const { online, epoch } = cache;
  if (from === 0 && shape.warmed >= 0) {
    // The steady state: few hosts changed since the last pass, and the
    // placement prefilters those itself; a scan of every position would cost more.
    if (cache.clock - shape.warmed <= cache.warmLag) return hosts.length;
    if (cache.logReaches(shape.warmed)) {
      // Only positions changed since can need a prefilter: walk the change
      // log, not every host. Progress is a clock tick, so a stop loses nothing.
      const upTo = cache.clock;
      for (let c = shape.warmed + 1, done = 0; c <= upTo; c++) {
        const i = cache.changedAt(c);
        if (i < 0 || i >= hosts.length || online[i] === 0 || shape.at[i] === epoch[i]) continue;
        bounds(ctx, i, hosts);
        if (++done < perCheck) continue;
        done = 0;
        if (c < upTo && stop()) {
          shape.warmed = c;
          return 0;
        }
      }
      shape.warmed = upTo;
      return hosts.length;
    }
  }
  if (from === 0) shape.warming = cache.clock;
  let i = from;
  while (i < hosts.length) {
    // A first prefilter costs up to ~1 ms a host (its indexes are built), so the clock is read after each by default.
    for (let done = 0; i < hosts.length && done < perCheck; i++) {
      if (online[i] === 0 || shape.at[i] === epoch[i]) continue;
      bounds(ctx, i, hosts);
      done++;
    }
    if (stop()) break;
  }
  // Changes during the pass (between slices) have later epochs: counted as lag next time.
  if (i >= hosts.length) shape.warmed = shape.warming;
  return i;
}

interface Best {
  pos: number;
  order: number;
  /** Null when the winner's score came from a cache. */
  devices: PlacedDevice[] | null;
}

/** The winner's devices; a cached score means searching it again (same host state, same answer). */
function winnerDevices(best: Best, plan: PlacementPlan, cache: PlacementCache, persistent: boolean): PlacedDevice[] {
  if (best.devices !== null) return best.devices;
  const ev = evaluateHost(hostView(cache.refs[best.pos]!, persistent), plan);
  if (!ev.ok) throw new PlacementInputError(`host ${cache.names[best.pos]} changed without being reported to the PlacementCache`);
  return ev.devices;
}

/**
 * The indexed search: bring the plan's index up to date, walk hosts in
 * (key, name) order until none can beat the best, then file the hosts just
 * searched under their exact scores. With `stop`, asked after each exact
 * score it had to work out: undefined when it stopped before the end.
 */
function searchIndexed(plan: PlacementPlan, hosts: HostState[], cache: PlacementCache, stop?: () => boolean): Best | null | undefined {
  const count = hosts.length;
  const pack = plan.policy === 'pack';
  const shape = cache.shape(plan.vmSlot!);
  const scores = cache.planScores(plan.planSlot!);
  cache.rankedNames(count);
  const index = cache.planIndex(plan.planSlot! * 2 + (pack ? 0 : 1));
  const ctx: VerdictContext = { plan, cache, shape, persistent: true, pack, n: 0, lower: NaN, upper: NaN };
  const keyOf = (i: number): number => {
    if (cache.online[i] === 0 || !bounds(ctx, i, hosts)) return NaN;
    if (scores.at[i] === cache.epoch[i]) {
      const fa = scores.freeAfter[i]!;
      return Number.isNaN(fa) ? NaN : pack ? fa : -fa;
    }
    return pack ? ctx.lower : -ctx.upper;
  };
  index.sync(cache, count, keyOf);
  let best: Best | null = null;
  let stopped = false;
  const searched: number[] = [];
  for (const { pos, order } of index.inOrder(cache)) {
    if (best !== null && order >= best.order) break;
    const known = scores.at[pos] === cache.epoch[pos];
    const { freeAfter, devices } = exactScore(pos, plan, cache, scores, true);
    searched.push(pos);
    if (!Number.isNaN(freeAfter)) {
      const exact = scoreKey(plan.policy, freeAfter) * count + cache.ranks[pos]!;
      if (best === null || exact < best.order) best = { pos, order: exact, devices };
    }
    if (stop !== undefined && !known && stop()) {
      stopped = true;
      break;
    }
  }
  for (const pos of searched) index.set(cache, pos, keyOf(pos));
  return stopped ? undefined : best;
}

/**
 * Works out, until `stop()` says so, the exact scores the next placement of
 * `spec` would: true once there are none left to do. Run after `warmBounds`.
 *
 * Why: where bounds are loose (PCI_MATCH, selectors), a new plan's first
 * placement may search hundreds of hosts before one fits (800 of 4,000
 * measured, 50 ms). Each slice walks the plan's index from the start again:
 * scores already worked out are kept per host epoch, so the walk goes on
 * where the last one stopped, and a host that changed meanwhile is redone.
 * A plan whose index is recent is left to the placement, whose search is
 * then short, unless `resume` says this is the same walk going on.
 */
export function warmSearch(spec: CompiledVmSpec, hosts: HostState[], options: PlacementOptions, stop: () => boolean, resume = false): boolean {
  const cache = options.cache;
  if (cache === undefined) return true;
  const plan = makePlan(spec, options);
  if (plan.vmSlot === null || plan.planSlot === null || !cache.trusts(hosts)) return true;
  const index = cache.planIndex(plan.planSlot * 2 + (plan.policy === 'pack' ? 0 : 1));
  // `resume`: a walk this caller began is not finished, however recent the index.
  if (!resume && index.synced >= 0 && cache.clock - index.synced <= cache.warmLag) return true;
  return searchIndexed(plan, hosts, cache, stop) !== undefined;
}

/**
 * The exact outcome on one host: from the position's cache, from its
 * layout's, or by searching (devices are returned only then).
 */
function exactScore(pos: number, plan: PlacementPlan, cache: PlacementCache, scores: PlanScores | null, persistent: boolean): { freeAfter: number; devices: PlacedDevice[] | null } {
  if (scores !== null && scores.at[pos] === cache.epoch[pos]) return { freeAfter: scores.freeAfter[pos]!, devices: null };
  const layout = scores !== null ? cache.layoutOf[pos]! : -1;
  const table = layout >= 0 ? cache.layoutTable(cache.layoutScores, plan.planSlot!, layout) : null;
  let freeAfter = table !== null ? table.lower[layout]! : -1;
  let devices: PlacedDevice[] | null = null;
  if (freeAfter === -1) {
    const ev = evaluateHost(hostView(cache.refs[pos]!, persistent), plan);
    freeAfter = ev.ok ? ev.freeAfter : NaN;
    if (ev.ok) devices = ev.devices;
    if (table !== null) table.lower[layout] = freeAfter;
  }
  if (scores !== null) {
    scores.at[pos] = cache.epoch[pos]!;
    scores.freeAfter[pos] = freeAfter;
  }
  return { freeAfter, devices };
}

interface Prefiltered {
  /** open[0..n): positions that passed the prefilter. */
  open: Int32Array;
  /**
   * order[j] ranks open[j] by (best possible score key, host name) in one
   * number: keys are small integers and name ranks are below `count`, so
   * key·count+rank is exact, and the loops after need no string compare.
   */
  order: Float64Array;
  n: number;
  /** Index j of the smallest order, -1 when n is 0. */
  first: number;
  /** Number of hosts iterated. */
  count: number;
}

/**
 * The hot loop over every host: cached verdicts for unchanged positions,
 * the prefilter for the rest, no allocation.
 *
 * Why two loops: at 10k hosts × 32 devices the host objects are spread over
 * a large heap, and even comparing `hosts[i]` with the cached reference
 * loads the object's header (a cache miss, ~0.1 µs each). When the caller
 * passes the very array of the last placement, same length, the cache
 * trusts it (see PlacementCache) and the loop reads only typed arrays,
 * touching a host object only to recompute its verdict.
 */
function prefilterAll(hosts: Iterable<HostState>, plan: PlacementPlan, cache: PlacementCache, persistent: boolean): Prefiltered {
  const shape = persistent && plan.vmSlot !== null ? cache.shape(plan.vmSlot) : null;
  const ctx: VerdictContext = { plan, cache, shape, persistent, pack: plan.policy === 'pack', n: 0, lower: NaN, upper: NaN };
  let count = 0;
  if (shape !== null && Array.isArray(hosts) && cache.trusts(hosts)) {
    // The steady state: typed arrays in locals, a call only to recompute.
    count = hosts.length;
    const { online, epoch, open, order } = cache;
    const { at, lower, upper } = shape;
    const pack = ctx.pack;
    // Known exact scores make the tightest keys: the search loop then stops
    // at the first host instead of visiting every host with a loose bound.
    const exact = plan.planSlot !== null ? cache.planScores(plan.planSlot) : null;
    for (let i = 0; i < count; i++) {
      if (online[i] === 0) continue;
      if (at[i] !== epoch[i]) {
        verdict(ctx, i, hosts as HostState[]);
        continue;
      }
      const lo = lower[i]!;
      if (Number.isNaN(lo)) continue;
      let key = pack ? lo : -upper[i]!;
      if (exact !== null && exact.at[i] === epoch[i]) {
        const fa = exact.freeAfter[i]!;
        if (Number.isNaN(fa)) continue;
        key = pack ? fa : -fa;
      }
      open[ctx.n] = i;
      order[ctx.n++] = key;
    }
  } else {
    // Element by element: a reference compare per host (which loads its
    // header), the rest as above when the position is unchanged.
    const refs = cache.refs;
    let { online, epoch } = cache;
    for (const host of hosts) {
      const i = count++;
      if (i >= epoch.length || refs[i] !== host) {
        cache.track(i, host);
        ({ online, epoch } = cache);
      }
      if (online[i] === 0) continue;
      if (shape === null || shape.at[i] !== epoch[i]) {
        verdict(ctx, i, host);
        continue;
      }
      const lo = shape.lower[i]!;
      if (Number.isNaN(lo)) continue;
      cache.open[ctx.n] = i;
      cache.order[ctx.n++] = ctx.pack ? lo : -shape.upper[i]!;
    }
    cache.remember(hosts, count);
  }
  // Ranks after the loop: it may have met new hosts or names. The same
  // pass finds the smallest, the usual winner, so no separate scan is needed.
  const { open, order } = cache;
  const ranks = cache.rankedNames(count);
  let first = -1;
  for (let j = 0; j < ctx.n; j++) {
    order[j] = order[j]! * count + ranks[open[j]!]!;
    if (first === -1 || order[j]! < order[first]!) first = j;
  }
  return { open, order, n: ctx.n, first, count };
}

interface VerdictContext {
  readonly plan: PlacementPlan;
  readonly cache: PlacementCache;
  readonly shape: ShapeVerdicts | null;
  readonly persistent: boolean;
  readonly pack: boolean;
  /** Open positions so far. */
  n: number;
  /** Output of `bounds`. */
  lower: number;
  upper: number;
}

/** Appends position i to the cache's open/order scratch when it passes. */
function verdict(ctx: VerdictContext, i: number, source: HostState | HostState[]): void {
  const { cache } = ctx;
  if (cache.online[i] === 0 || !bounds(ctx, i, source)) return;
  cache.open[ctx.n] = i;
  cache.order[ctx.n++] = ctx.pack ? ctx.lower : -ctx.upper; // the key for now; the name rank is added after the loop
}

/**
 * Position i's prefilter bounds into ctx.lower/upper, from the shape's
 * cache, its layout's, or the prefilter; false when the host is rejected.
 */
function bounds(ctx: VerdictContext, i: number, source: HostState | HostState[]): boolean {
  const { cache, shape } = ctx;
  let lower: number, upper: number;
  if (shape !== null && shape.at[i] === cache.epoch[i]) {
    lower = shape.lower[i]!;
    upper = shape.upper[i]!;
  } else {
    const layout = shape !== null ? cache.layoutOf[i]! : -1;
    const table = layout >= 0 ? cache.layoutTable(cache.layoutVerdicts, ctx.plan.vmSlot!, layout) : null;
    if (table !== null && table.lower[layout] !== -1) {
      lower = table.lower[layout]!;
      upper = table.upper[layout]!;
    } else {
      const host = Array.isArray(source) ? source[i]! : source;
      const pre = prefilterHost(hostView(host, ctx.persistent), ctx.plan);
      lower = pre.ok ? pre.lower : NaN;
      upper = pre.ok ? pre.upper : NaN;
      if (table !== null) {
        table.lower[layout] = lower;
        table.upper[layout] = upper;
      }
    }
    if (shape !== null && i < shape.at.length) {
      shape.at[i] = cache.epoch[i]!;
      shape.lower[i] = lower;
      shape.upper[i] = upper;
    }
  }
  ctx.lower = lower;
  ctx.upper = upper;
  return !Number.isNaN(lower);
}

function explainAll(rejected: HostState[], plan: PlacementPlan): PlacementReason[] {
  if (rejected.length === 0) return [{ host: null, reason: NO_HOSTS }];
  const sorted = [...rejected].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: PlacementReason[] = [];
  for (const host of sorted) for (const reason of explainHost(host, plan)) out.push({ host: host.name, reason });
  return out;
}

/**
 * What the placement loop remembers about the cluster between placements,
 * in dense arrays indexed by the host's position in the `hosts` iterable.
 *
 * Why: at 10k hosts × 32 devices the host objects are spread over a large
 * heap, and touching each one (even comparing it with a cached reference
 * loads its header) costs a cache miss per host: about 1 ms per placement
 * at 10k hosts, measured. With a cache, an unchanged host costs a few
 * typed-array reads, and when the caller passes the same hosts array again
 * its object is not touched at all.
 *
 * Memory: ~20 bytes per host for each distinct VM shape (set of request
 * signatures, selectors included) among the last MAX_SHAPES placed, plus
 * ~40 bytes per host.
 *
 * Contract: call `invalidate(host)` for every host you change (online, its
 * device list, any device's missing/heldBy/assignable/unassignableReasons,
 * its name) and for every new host object you put in the hosts array. Hosts
 * at a new position, and any change when you pass a different array or one
 * of a different length, are also picked up on their own; what the cache
 * cannot see is an in-place change you did not report.
 */
import { dropLiveCache } from './host-index.js';
import { PlanIndex } from './plan-index.js';
import type { HostState } from './types.js';

/** Prefilter verdicts of one VM shape (request signatures) for every position. */
export interface ShapeVerdicts {
  /** Position epoch the verdict was computed at; -1 for none. */
  at: Int32Array;
  /** Bounds on the free matching devices after placement; NaN = rejected. */
  lower: Float64Array;
  upper: Float64Array;
  /**
   * Cache clock when `warmBounds` last began a pass over every host, and
   * the clock up to which its bounds are known for every change (-1: never).
   */
  warming: number;
  warmed: number;
}

/** Shapes kept; user-written selectors make the set of shapes open-ended. */
const MAX_SHAPES = 256;

/** Exact outcomes of one plan (see `PlacementPlan.planSlot`) per position. */
export interface PlanScores {
  /** Position epoch the score was computed at; -1 for none. */
  at: Int32Array;
  /** Free matching devices left after the placement; NaN = does not fit. */
  freeAfter: Float64Array;
}

/**
 * Outcomes per host layout (`HostState.layout`), which stand for every
 * host of that layout while it holds nothing. Unknown entries are -1 in
 * `value` (`lower` for verdicts); NaN means rejected / does not fit.
 */
export interface LayoutTable {
  lower: Float64Array;
  upper: Float64Array;
}

/** Bucket indexes kept (each ~10 bytes per host). */
const MAX_PLAN_INDEXES = 64;

/** Layouts above this are not shared (the tables are dense arrays). */
export const MAX_LAYOUT = 1 << 16;

/** Tuning, for tests: small values make every path run on a small cluster. */
export interface PlacementCacheOptions {
  /** Changes remembered by position, a power of two (default 4096); a reader further behind scans every epoch. */
  changeLog?: number;
  /** Changes since a shape's last full pass that `warmBounds` leaves to the placement (default 64: at most ~4 ms of prefilter). */
  warmLag?: number;
}

export class PlacementCache {
  /** @internal */ refs: (HostState | undefined)[] = [];
  /** @internal Bumped when the position's host changes or is invalidated. */
  epoch = new Int32Array(0);
  /** @internal */ online = new Uint8Array(0);
  /** @internal */ names: string[] = [];
  /** @internal Position of each host in name order (ties: first position first). */
  ranks = new Int32Array(0);
  /** @internal */ ranksValid = false;
  private rankedCount = 0;
  /** @internal Scratch for one placement's open positions and their order keys. */
  open = new Int32Array(0);
  /** @internal */ order = new Float64Array(0);
  /** @internal */ readonly shapes = new Map<number, ShapeVerdicts>();
  /** @internal Per position: its host's layout while it holds nothing, else -1. */
  layoutOf = new Int32Array(0);
  /** @internal Prefilter verdicts per VM shape and layout. */
  readonly layoutVerdicts = new Map<number, LayoutTable>();
  /** @internal Exact scores per plan and position. */
  readonly plans = new Map<number, PlanScores>();
  /** @internal Exact scores per plan and layout (`lower` holds freeAfter). */
  readonly layoutScores = new Map<number, LayoutTable>();
  private readonly positions = new WeakMap<HostState, number>();
  /** @internal The last epoch handed out: positions with a larger epoch changed since a reader saw this value. */
  clock = 0;
  /** @internal Bumped whenever `ranks` is recomputed. */
  rankVersion = 0;
  /** @internal Inverse of `ranks`: the position holding each name rank. */
  byRank = new Int32Array(0);
  /** @internal Per (plan, policy): keys in buckets, for placements that need not visit every host. */
  readonly planIndexes = new Map<number, PlanIndex>();
  /** The array of the last placement and its length, for `trusts`. */
  private lastHosts: unknown = null;
  private lastCount = 0;
  /**
   * The position each clock tick changed, for the last `changeLog.length`
   * ticks. Why: a reader that saw clock S (a plan's index, a shape's warm
   * pass) needs the positions changed since. Scanning every epoch for them
   * cost ~40 µs per placement at 10k hosts, measured, a tenth of its CPU,
   * and grew with the cluster; the log costs the number of changes.
   */
  private readonly changeLog: Int32Array;
  private readonly logMask: number;
  /** @internal See PlacementCacheOptions.warmLag. */
  readonly warmLag: number;

  constructor(options: PlacementCacheOptions = {}) {
    const size = options.changeLog ?? 4096;
    if (!Number.isInteger(size) || size < 1 || (size & (size - 1)) !== 0) throw new RangeError(`changeLog must be a power of two, got ${size}`);
    this.changeLog = new Int32Array(size);
    this.logMask = size - 1;
    this.warmLag = options.warmLag ?? 64;
  }

  /** @internal Whether `changedAt` still answers for every tick after clock `since`. */
  logReaches(since: number): boolean {
    return since >= 0 && this.clock - since <= this.changeLog.length;
  }

  /**
   * @internal The position tick c changed when that is still its latest
   * change, else -1: walking ticks since..clock visits each changed
   * position once, at its last change. Only for ticks `logReaches` covers.
   */
  changedAt(c: number): number {
    const i = this.changeLog[c & this.logMask]!;
    return this.epoch[i] === c ? i : -1;
  }

  /**
   * Report a changed host, or a new host object (e.g. one that replaced
   * another in the hosts array); cheap, call it freely.
   */
  invalidate(host: HostState): void {
    dropLiveCache(host);
    const i = this.positions.get(host);
    if (i !== undefined && this.refs[i] === host) {
      this.refresh(i, host);
      return;
    }
    // Not where we left it, or never seen: check the next hosts array
    // element by element instead of trusting it.
    this.lastHosts = null;
  }

  /**
   * Forget everything. Needed after replacing or reordering elements of the
   * hosts array in place (same array, same length); pushing or removing
   * hosts, or passing another array, is noticed without it.
   */
  clear(): void {
    this.lastHosts = null;
    this.refs = [];
    this.names = [];
    this.shapes.clear();
    this.layoutVerdicts.clear();
    this.plans.clear();
    this.layoutScores.clear();
    this.ranksValid = false;
  }

  /**
   * @internal Makes position i describe `host`, reading its object only when
   * it is new there.
   */
  track(i: number, host: HostState): void {
    if (i >= this.epoch.length) this.grow(Math.max(64, i * 2));
    if (this.refs[i] === host) return;
    this.refs[i] = host;
    this.positions.set(host, i);
    this.refresh(i, host);
  }

  /**
   * @internal Whether `hosts` is the array of the last placement with the
   * same length, so its positions can be assumed unchanged (changes to the
   * hosts themselves arrive through `invalidate`).
   */
  trusts(hosts: readonly HostState[]): boolean {
    return hosts === this.lastHosts && hosts.length === this.lastCount;
  }

  /** @internal Records the iterable just walked; only an array can be trusted later. */
  remember(hosts: Iterable<HostState>, count: number): void {
    this.lastHosts = Array.isArray(hosts) ? hosts : null;
    this.lastCount = count;
  }

  /** @internal Verdict arrays of a VM shape, created on first use. */
  shape(slot: number): ShapeVerdicts {
    let v = lru(this.shapes, slot, (evicted) => this.layoutVerdicts.delete(evicted));
    if (v === undefined || v.at.length < this.epoch.length) {
      const n = this.epoch.length;
      // Grown: positions past the old length are unknown, so no pass counts as finished.
      const fresh: ShapeVerdicts = { at: new Int32Array(n).fill(-1), lower: new Float64Array(n), upper: new Float64Array(n), warming: -1, warmed: -1 };
      if (v !== undefined) {
        fresh.at.set(v.at);
        fresh.lower.set(v.lower);
        fresh.upper.set(v.upper);
      }
      this.shapes.set(slot, (v = fresh));
    }
    return v;
  }

  /** @internal Exact-score arrays of a plan, created on first use. */
  planScores(slot: number): PlanScores {
    let v = lru(this.plans, slot, (evicted) => this.layoutScores.delete(evicted));
    if (v === undefined || v.at.length < this.epoch.length) {
      const n = this.epoch.length;
      const fresh: PlanScores = { at: new Int32Array(n).fill(-1), freeAfter: new Float64Array(n) };
      if (v !== undefined) {
        fresh.at.set(v.at);
        fresh.freeAfter.set(v.freeAfter);
      }
      this.plans.set(slot, (v = fresh));
    }
    return v;
  }

  /** @internal The bucket index of a plan under one policy, created on first use. */
  planIndex(slot: number): PlanIndex {
    let v = lru(this.planIndexes, slot, () => undefined, MAX_PLAN_INDEXES);
    if (v === undefined) this.planIndexes.set(slot, (v = new PlanIndex()));
    return v;
  }

  /** @internal A per-layout table for `slot` in `tables`, big enough for `layout`. */
  layoutTable(tables: Map<number, LayoutTable>, slot: number, layout: number): LayoutTable {
    let t = tables.get(slot);
    if (t === undefined || t.lower.length <= layout) {
      const n = Math.max(64, (layout + 1) * 2);
      const fresh: LayoutTable = { lower: new Float64Array(n).fill(-1), upper: new Float64Array(n) };
      if (t !== undefined) {
        fresh.lower.set(t.lower);
        fresh.upper.set(t.upper);
      }
      tables.set(slot, (t = fresh));
    }
    return t;
  }

  /** @internal Name ranks for positions below `count`, recomputed only after a name, host or count change. */
  rankedNames(count: number): Int32Array {
    if (this.ranksValid && this.rankedCount === count) return this.ranks;
    this.rankedCount = count;
    const order = Array.from({ length: count }, (_, i) => i);
    const names = this.names;
    order.sort((a, b) => (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : a - b));
    if (this.byRank.length < this.ranks.length) this.byRank = new Int32Array(this.ranks.length);
    order.forEach((pos, rank) => {
      this.ranks[pos] = rank;
      this.byRank[rank] = pos;
    });
    this.ranksValid = true;
    this.rankVersion++;
    return this.ranks;
  }

  private refresh(i: number, host: HostState): void {
    this.epoch[i] = ++this.clock;
    this.changeLog[this.clock & this.logMask] = i;
    this.online[i] = host.online ? 1 : 0;
    const layout = host.layout;
    this.layoutOf[i] = typeof layout === 'number' && Number.isInteger(layout) && layout >= 0 && layout < MAX_LAYOUT ? layout : -1;
    if (this.names[i] !== host.name) {
      this.names[i] = host.name;
      this.ranksValid = false;
    }
  }

  private grow(n: number): void {
    const grow = <T extends Int32Array | Uint8Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.epoch = grow(this.epoch, (m) => new Int32Array(m));
    this.online = grow(this.online, (m) => new Uint8Array(m));
    this.layoutOf = grow(this.layoutOf, (m) => new Int32Array(m));
    this.ranks = grow(this.ranks, (m) => new Int32Array(m));
    // Scratch too: the loop that grows the cache has already written to it.
    this.open = grow(this.open, (m) => new Int32Array(m));
    this.order = grow(this.order, (m) => new Float64Array(m));
    this.ranksValid = false;
  }
}

/** Gets `slot` from a most-recently-used-last map, evicting the coldest entry to make room. */
function lru<T>(map: Map<number, T>, slot: number, onEvict: (slot: number) => void, max = MAX_SHAPES): T | undefined {
  const v = map.get(slot);
  if (v !== undefined) {
    map.delete(slot);
    map.set(slot, v);
  } else if (map.size >= max) {
    const coldest = map.keys().next().value!;
    map.delete(coldest);
    onEvict(coldest);
  }
  return v;
}

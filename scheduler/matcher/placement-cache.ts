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
import type { HostState } from './types.js';

/** Prefilter verdicts of one VM shape (request signatures) for every position. */
export interface ShapeVerdicts {
  /** Position epoch the verdict was computed at; -1 for none. */
  at: Int32Array;
  /** Bounds on the free matching devices after placement; NaN = rejected. */
  lower: Float64Array;
  upper: Float64Array;
}

/** Shapes kept; user-written selectors make the set of shapes open-ended. */
const MAX_SHAPES = 256;

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
  private readonly positions = new WeakMap<HostState, number>();
  private clock = 0;
  /** The array of the last placement and its length, for `trusts`. */
  private lastHosts: unknown = null;
  private lastCount = 0;

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
    let v = this.shapes.get(slot);
    if (v !== undefined) {
      // Most recently used last, so the eviction below drops the coldest shape.
      this.shapes.delete(slot);
      this.shapes.set(slot, v);
    } else if (this.shapes.size >= MAX_SHAPES) {
      this.shapes.delete(this.shapes.keys().next().value!);
    }
    if (v === undefined || v.at.length < this.epoch.length) {
      const n = this.epoch.length;
      const fresh: ShapeVerdicts = { at: new Int32Array(n).fill(-1), lower: new Float64Array(n), upper: new Float64Array(n) };
      if (v !== undefined) {
        fresh.at.set(v.at);
        fresh.lower.set(v.lower);
        fresh.upper.set(v.upper);
      }
      this.shapes.set(slot, (v = fresh));
    }
    return v;
  }

  /** @internal Name ranks for positions below `count`, recomputed only after a name, host or count change. */
  rankedNames(count: number): Int32Array {
    if (this.ranksValid && this.rankedCount === count) return this.ranks;
    this.rankedCount = count;
    const order = Array.from({ length: count }, (_, i) => i);
    const names = this.names;
    order.sort((a, b) => (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : a - b));
    order.forEach((pos, rank) => (this.ranks[pos] = rank));
    this.ranksValid = true;
    return this.ranks;
  }

  private refresh(i: number, host: HostState): void {
    this.epoch[i] = ++this.clock;
    this.online[i] = host.online ? 1 : 0;
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
    this.ranks = grow(this.ranks, (m) => new Int32Array(m));
    // Scratch too: the loop that grows the cache has already written to it.
    this.open = grow(this.open, (m) => new Int32Array(m));
    this.order = grow(this.order, (m) => new Float64Array(m));
    this.ranksValid = false;
  }
}

/**
 * What the placement loop remembers about the cluster between placements,
 * in dense arrays indexed by the host's position in the `hosts` iterable.
 *
 * Why: at 10k hosts × 32 devices the host objects are spread over a large
 * heap, and merely reading `host.online` on every host costs a cache miss
 * each (measured ~0.25 µs per host, so ~2.5 ms per placement). With a
 * cache, an unchanged host at an unchanged position costs a pointer compare
 * and a few typed-array reads; its object is not touched.
 *
 * Contract: call `invalidate(host)` after changing anything about a host
 * (online, its device list, any device's missing/heldBy/assignable/
 * unassignableReasons, its name). New hosts and hosts at a new position are
 * picked up automatically.
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

export class PlacementCache {
  /** @internal */ refs: (HostState | undefined)[] = [];
  /** @internal Bumped when the position's host changes or is invalidated. */
  epoch = new Int32Array(0);
  /** @internal */ online = new Uint8Array(0);
  /** @internal */ names: string[] = [];
  /** @internal Position of each host in name order (ties: first position first). */
  ranks = new Int32Array(0);
  /** @internal */ ranksValid = false;
  /** @internal */ readonly shapes = new Map<number, ShapeVerdicts>();
  private readonly positions = new WeakMap<HostState, number>();
  private clock = 0;

  /** Report a change to a host; cheap, call it freely. */
  invalidate(host: HostState): void {
    dropLiveCache(host);
    const i = this.positions.get(host);
    if (i === undefined || this.refs[i] !== host) return;
    this.refresh(i, host);
  }

  /** Forget everything (e.g. after bulk changes). */
  clear(): void {
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

  /** @internal Verdict arrays of a VM shape, created on first use. */
  shape(slot: number): ShapeVerdicts {
    let v = this.shapes.get(slot);
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

  /** @internal Name ranks for positions below `count`, recomputed only after a name or host change. */
  rankedNames(count: number): Int32Array {
    if (this.ranksValid) return this.ranks;
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
    const grow = <T extends Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.epoch = grow(this.epoch, (m) => new Int32Array(m));
    this.online = grow(this.online, (m) => new Uint8Array(m));
    this.ranks = grow(this.ranks, (m) => new Int32Array(m));
    this.ranksValid = false;
  }
}

/**
 * Hosts by key, per plan and policy, so a placement need not visit every
 * host. A host's key is the best policy key it can reach for the plan: its
 * exact score once a search has run on it, its prefilter bound before. Keys
 * are small integers (free devices left, negated for spread), so each key
 * has a bucket: a bit set over name ranks. The search then walks buckets in
 * key order and ranks in name order, which is the (key, name) order the
 * unindexed loop sorts into, and usually stops at the first host.
 *
 * Why: at 10k hosts even a loop over typed arrays costs ~0.5 ms per
 * placement (measured), more than the search itself. Here a placement reads
 * the cache's change log for what changed since the plan's last placement
 * (one epoch per host only when the log does not reach back that far),
 * recomputes only those, and moves their bits.
 */
import type { PlacementCache } from './placement-cache.js';

export class PlanIndex {
  /** Cache clock at the last sync: positions with a larger epoch changed since. */
  synced = -1;
  rankVersion = -1;
  count = -1;
  /** Per position: its key now, NaN when it is in no bucket (offline, rejected). */
  keys = new Float64Array(0);
  private readonly buckets = new Map<number, Uint32Array>();
  /** Positions per key: an empty bucket is skipped without reading its words. */
  private readonly sizes = new Map<number, number>();
  private sortedKeys: number[] = [];

  /**
   * Brings the index up to date with the cache: every position when the
   * host count or the name ranks changed, else those whose epoch moved.
   * `keyOf` gives a position's current key (NaN: not a candidate).
   */
  sync(cache: PlacementCache, count: number, keyOf: (i: number) => number): void {
    if (this.count !== count || this.rankVersion !== cache.rankVersion) {
      this.count = count;
      this.rankVersion = cache.rankVersion;
      this.keys = new Float64Array(count).fill(NaN);
      this.buckets.clear();
      this.sizes.clear();
      this.sortedKeys = [];
      for (let i = 0; i < count; i++) this.set(cache, i, keyOf(i));
    } else if (cache.logReaches(this.synced)) {
      // Positions past `count` belong to no host of this array.
      const upTo = cache.clock;
      for (let c = this.synced + 1; c <= upTo; c++) {
        const i = cache.changedAt(c);
        if (i >= 0 && i < count) this.set(cache, i, keyOf(i));
      }
    } else {
      const epoch = cache.epoch;
      const since = this.synced;
      for (let i = 0; i < count; i++) if (epoch[i]! > since) this.set(cache, i, keyOf(i));
    }
    this.synced = cache.clock;
  }

  /** Moves position i to the bucket of `key` (NaN: out of every bucket). */
  set(cache: PlacementCache, i: number, key: number): void {
    const old = this.keys[i]!;
    if (old === key || (Number.isNaN(old) && Number.isNaN(key))) return;
    const rank = cache.ranks[i]!;
    const word = rank >>> 5;
    const bit = 1 << (rank & 31);
    if (!Number.isNaN(old)) {
      this.buckets.get(old)![word]! &= ~bit;
      this.sizes.set(old, this.sizes.get(old)! - 1);
    }
    if (!Number.isNaN(key)) {
      let bucket = this.buckets.get(key);
      if (bucket === undefined) {
        this.buckets.set(key, (bucket = new Uint32Array((this.count + 31) >>> 5)));
        this.sortedKeys.push(key);
        this.sortedKeys.sort((a, b) => a - b);
      }
      bucket[word]! |= bit;
      this.sizes.set(key, (this.sizes.get(key) ?? 0) + 1);
    }
    this.keys[i] = key;
  }

  /**
   * Positions in (key, name rank) order, each with its order value
   * key·count + rank (the unindexed loop's). The caller stops early; it
   * must not move positions while iterating.
   */
  *inOrder(cache: PlacementCache): Generator<{ pos: number; order: number }> {
    const count = this.count;
    for (const key of this.sortedKeys) {
      if (this.sizes.get(key) === 0) continue;
      const bucket = this.buckets.get(key)!;
      for (let w = 0; w < bucket.length; w++) {
        let bits = bucket[w]!;
        while (bits !== 0) {
          const low = bits & -bits;
          const rank = (w << 5) + 31 - Math.clz32(low);
          bits ^= low;
          yield { pos: cache.byRank[rank]!, order: key * count + rank };
        }
      }
    }
  }
}

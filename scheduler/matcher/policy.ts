/**
 * Host choice. The score is the number of free matching devices (free
 * devices that match any of the VM's requests) left on the host after the
 * placement: `pack` wants the fewest (fill hosts up, keep others empty for
 * big VMs), `spread` the most. Ties go to the lowest host name.
 *
 * Both policies are expressed as a key to minimise, so they share one
 * ordering: pack's key is the score, spread's its negation. The prefilter's
 * bounds give each host the best key it could reach (pack: the lower
 * bound, spread: minus the upper bound) before any search.
 */
import type { PlacementPolicy } from '../spec.js';

export function scoreKey(policy: PlacementPolicy, freeAfter: number): number {
  return policy === 'pack' ? freeAfter : -freeAfter;
}

/**
 * Yields the indices of `order[0..n)` from smallest to largest value
 * (values are distinct), starting with `first`, the known smallest.
 * Lazily: usually only one or two are wanted, so a linear scan per pick
 * beats sorting 10k hosts; after a few picks it sorts the rest once, so a
 * bad case stays O(n log n), not O(n²).
 */
export function* inBoundOrder(order: Float64Array, n: number, first: number): Generator<number> {
  if (n === 0) return;
  yield first;
  const LINEAR_PICKS = 4;
  let last = order[first]!;
  for (let pick = 1; pick < Math.min(LINEAR_PICKS, n); pick++) {
    let m = -1;
    for (let j = 0; j < n; j++) if (order[j]! > last && (m === -1 || order[j]! < order[m]!)) m = j;
    last = order[m]!;
    yield m;
  }
  const rest: number[] = [];
  for (let j = 0; j < n; j++) if (order[j]! > last) rest.push(j);
  rest.sort((a, b) => order[a]! - order[b]!);
  yield* rest;
}

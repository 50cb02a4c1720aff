/**
 * Per-VM state computed once before looping over hosts (Kubernetes'
 * PreFilter): validated options, each request's bucket and cache key, and
 * scratch buffers reused across hosts.
 */
import type { CompiledPciRequest, CompiledVmSpec, MatchAttribute, PlacementPolicy } from '../spec.js';
import { bucketKey, requestSignature, slotOf } from './host-index.js';
import { DEFAULT_STEP_BUDGET, PlacementInputError, type PlacementOptions } from './types.js';

export interface PlacementPlan {
  readonly requests: readonly CompiledPciRequest[];
  readonly policy: PlacementPolicy;
  readonly budget: number;
  readonly pciMatch: readonly MatchAttribute[];
  readonly matchNuma: boolean;
  readonly matchRoot: boolean;
  /** Per request: the host bucket to scan (null: every device). */
  readonly keys: readonly (string | null)[];
  /** Per request: candidate-cache slot, null when a selector forbids sharing. */
  readonly signatureSlots: readonly (number | null)[];
  /** Prefilter-cache slot for the VM's request signatures (a multiset: order, PCI_MATCH and policy do not change the prefilter). */
  readonly vmSlot: number | null;
  /** Exact-score cache slot: the signatures in request order plus PCI_MATCH, all that the search's outcome depends on. */
  readonly planSlot: number | null;
  /** Every request has the same signature: the VM's free pool is that one candidate list. */
  readonly oneSignature: boolean;
  /** Requests grouped by signature, for the "not enough devices" pre-check. */
  readonly sameSignature: readonly (readonly number[])[];
  /** Free-pool membership, per host. */
  readonly pool: Scratch;
  /** De-duplication while counting what one placement consumes. */
  readonly seen: Scratch;
}

/**
 * Stamp-marked flag arrays: a mark is "set" when it equals the current
 * stamp, so clearing between hosts is one increment instead of a fill.
 */
export class Scratch {
  private marks = new Int32Array(64);
  private stamp = 0;

  /** Starts a new empty set able to hold positions below `size`. */
  begin(size: number): void {
    if (size > this.marks.length) this.marks = new Int32Array(Math.max(size, this.marks.length * 2));
    if (++this.stamp === 0x7fffffff) {
      this.marks.fill(0);
      this.stamp = 1;
    }
  }

  /** Adds pos; true when it was not already in. */
  add(pos: number): boolean {
    if (this.marks[pos] === this.stamp) return false;
    this.marks[pos] = this.stamp;
    return true;
  }

  has(pos: number): boolean {
    return this.marks[pos] === this.stamp;
  }
}

const POLICIES: readonly PlacementPolicy[] = ['pack', 'spread'];
const ATTRIBUTES: readonly MatchAttribute[] = ['NUMA_NODE', 'PCIE_ROOT'];

/**
 * Plans kept per compiled request list (never changed once compiled; VMs of
 * one template share it: template/compile-spec.ts): the scheduler asks for
 * one VM's plan more than once (ClusterState.warm, then decide; every retry
 * of a pending VM), and building one costs ~20 µs of strings. A list may
 * come with other policies or PCI_MATCH: a plan each.
 */
const plans = new WeakMap<readonly CompiledPciRequest[], PlacementPlan[]>();

export function makePlan(spec: CompiledVmSpec, options: PlacementOptions): PlacementPlan {
  const policy = spec.policy ?? options?.policy;
  const budget = options.stepBudget ?? DEFAULT_STEP_BUDGET;
  const pciMatch = spec.pciMatch ?? [];
  let known = plans.get(spec.pci);
  for (const plan of known ?? []) {
    if (plan.policy === policy && plan.budget === budget && sameList(plan.pciMatch, pciMatch)) return plan;
  }
  const plan = buildPlan(spec, options);
  if (known === undefined) plans.set(spec.pci, (known = []));
  known.push(plan);
  return plan;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function buildPlan(spec: CompiledVmSpec, options: PlacementOptions): PlacementPlan {
  const policy = spec.policy ?? options?.policy;
  if (!POLICIES.includes(policy)) throw new PlacementInputError(`placement policy must be pack or spread, got ${String(policy)}`);
  const budget = options.stepBudget ?? DEFAULT_STEP_BUDGET;
  if (!Number.isSafeInteger(budget) || budget < 1) {
    throw new PlacementInputError(`stepBudget must be a positive integer, got ${String(options.stepBudget)}`);
  }
  const pciMatch = spec.pciMatch ?? [];
  for (const a of pciMatch) {
    if (!ATTRIBUTES.includes(a)) throw new PlacementInputError(`unknown PCI_MATCH attribute ${String(a)}`);
  }
  const requests = spec.pci;
  for (const r of requests) {
    if (typeof r?.matchesDevice !== 'function') {
      throw new PlacementInputError(`PCI[${String(r?.index)}] is not compiled: matchesDevice is missing`);
    }
  }
  const signatures = requests.map(requestSignature);
  const first = signatures[0] ?? null;
  const cacheable = signatures.every((s) => s !== null);
  // The prefilter depends only on the multiset of signatures (not on order,
  // PCI_MATCH or policy), so VMs of the same shape share its cached verdict.
  const vmSlot = cacheable ? slotOf(`vm\n${[...(signatures as string[])].sort().join('\n')}`) : null;
  const bySig = new Map<string, number[]>();
  signatures.forEach((s, i) => {
    if (s === null) return;
    const list = bySig.get(s);
    if (list === undefined) bySig.set(s, [i]);
    else list.push(i);
  });
  const planSlot = cacheable ? slotOf(`plan\n${signatures.join('\n')}\n${pciMatch.join(',')}\n${budget}`) : null;
  return {
    requests, policy, budget, pciMatch, planSlot,
    matchNuma: pciMatch.includes('NUMA_NODE'),
    matchRoot: pciMatch.includes('PCIE_ROOT'),
    keys: requests.map(bucketKey),
    signatureSlots: signatures.map((s) => (s === null ? null : slotOf(`req\n${s}`))),
    vmSlot,
    oneSignature: first !== null && signatures.every((s) => s === first),
    sameSignature: [...bySig.values()].filter((l) => l.length > 1),
    pool: new Scratch(),
    seen: new Scratch(),
  };
}

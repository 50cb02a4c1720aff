/**
 * Complete backtracking search for one host: assign each request a distinct
 * candidate so that the VM's constraints hold, or prove none exists, within
 * a step budget. OpenNebula's first-fit is greedy and can fail when a
 * general request takes the only device a specific one needed; this cannot.
 *
 * Constraints checked here (the per-device ones are already in candidates):
 * - distinct devices per request;
 * - IOMMU groups come whole: taking a device adds its companions to the
 *   VM's set; a companion may then answer another request;
 * - no PF together with one of its own VFs in the set (unless relaxed, to
 *   explain a failure);
 * - PCI_MATCH on requested devices (companions excluded): every requested
 *   device has the attribute (null never equals anything) and all equal.
 */
import type { IndexedDevice } from './host-index.js';

export interface SearchInput {
  /** Per request, in request order: feasible free devices, in address order. */
  readonly candidates: readonly (readonly IndexedDevice[])[];
  /** Number of devices on the host (bounds `IndexedDevice.pos`). */
  readonly deviceCount: number;
  readonly matchNuma: boolean;
  readonly matchRoot: boolean;
  /** Explain-only relaxation: accept a PF with its own VF. */
  readonly allowPfWithVf?: boolean;
  readonly budget: number;
}

export type SearchResult =
  | {
      kind: 'found';
      /** Per request, in request order. */
      picks: IndexedDevice[];
      /** Every device the VM takes (picks and companions), in address order. */
      taken: IndexedDevice[];
      steps: number;
    }
  | { kind: 'none'; steps: number }
  | { kind: 'budget'; steps: number };

export function searchAssignment(input: SearchInput): SearchResult {
  const k = input.candidates.length;
  const search = new Search(input);
  const found = search.dfs(0);
  if (search.exhausted) return { kind: 'budget', steps: search.steps - 1 };
  if (!found) return { kind: 'none', steps: search.steps };
  const taken = new Set<IndexedDevice>();
  for (let r = 0; r < k; r++) {
    const p = search.picks[r]!;
    taken.add(p);
    for (const c of p.companions) taken.add(c);
  }
  return { kind: 'found', picks: search.picks, taken: [...taken].sort((a, b) => a.pos - b.pos), steps: search.steps };
}

/**
 * Search state in a class rather than closures, which would be re-created
 * (and, under tsx, renamed through defineProperty) on every search.
 */
class Search {
  readonly order: number[];
  /**
   * Identical candidate lists make requests interchangeable: forcing their
   * picks into increasing address order prunes k! symmetric branches.
   */
  readonly sameAsPrev: boolean[];
  /** Per device pos: >0 when in the VM's set (picked or companion). */
  readonly refs: Int32Array;
  /** Per device pos: 1 when it answers a request. */
  readonly answering: Uint8Array;
  readonly picks: IndexedDevice[];
  steps = 0;
  exhausted = false;

  constructor(readonly input: SearchInput) {
    const { candidates } = input;
    this.order = searchOrder(candidates);
    this.sameAsPrev = this.order.map((r, j) => j > 0 && sameList(candidates[r]!, candidates[this.order[j - 1]!]!));
    this.refs = new Int32Array(input.deviceCount);
    this.answering = new Uint8Array(input.deviceCount);
    this.picks = new Array<IndexedDevice>(candidates.length);
  }

  dfs(j: number): boolean {
    if (j === this.order.length) return true;
    const r = this.order[j]!;
    const list = this.input.candidates[r]!;
    const minPos = this.sameAsPrev[j] ? this.picks[this.order[j - 1]!]!.pos : -1;
    // Devices already in the set first (they cost no extra companions), then
    // the rest; address order within each, for deterministic choices.
    for (let pass = 0; pass < 2; pass++) {
      for (const d of list) {
        if (d.pos <= minPos || this.answering[d.pos] === 1) continue;
        if ((this.refs[d.pos]! > 0) !== (pass === 0)) continue;
        if (++this.steps > this.input.budget) {
          this.exhausted = true;
          return false;
        }
        if (!this.matches(d, j) || !this.take(d)) continue;
        this.answering[d.pos] = 1;
        this.picks[r] = d;
        if (this.dfs(j + 1)) return true;
        this.answering[d.pos] = 0;
        this.release(d);
        if (this.exhausted) return false;
      }
    }
    return false;
  }

  /** PCI_MATCH against the first pick (all picks equal, so the first stands for all). */
  private matches(d: IndexedDevice, j: number): boolean {
    const { matchNuma, matchRoot } = this.input;
    const s = d.state;
    if (matchNuma && s.numaNode === null) return false;
    if (matchRoot && s.pcieRoot === null) return false;
    if (j === 0) return true;
    const anchor = this.picks[this.order[0]!]!.state;
    if (matchNuma && s.numaNode !== anchor.numaNode) return false;
    if (matchRoot && s.pcieRoot !== anchor.pcieRoot) return false;
    return true;
  }

  /**
   * Adds d's group to the set; refuses (and undoes) when a newly added
   * device is a PF or VF of something in the set.
   */
  private take(d: IndexedDevice): boolean {
    const refs = this.refs;
    refs[d.pos]!++;
    for (const c of d.companions) refs[c.pos]!++;
    if (this.input.allowPfWithVf) return true;
    let conflict = refs[d.pos] === 1 && linkedInSet(d, refs);
    for (const c of d.companions) conflict ||= refs[c.pos] === 1 && linkedInSet(c, refs);
    if (conflict) this.release(d);
    return !conflict;
  }

  private release(d: IndexedDevice): void {
    this.refs[d.pos]!--;
    for (const c of d.companions) this.refs[c.pos]!--;
  }
}

/**
 * Most constrained request first (fewest candidates), so a specific request
 * claims its device before a general one can; identical lists adjacent (for
 * the symmetry cut); then request order.
 */
function searchOrder(candidates: readonly (readonly IndexedDevice[])[]): number[] {
  const klass = candidates.map((l, i) => {
    const first = candidates.findIndex((m) => sameList(l, m));
    return first === -1 ? i : first;
  });
  return candidates
    .map((_, i) => i)
    .sort((a, b) => candidates[a]!.length - candidates[b]!.length || klass[a]! - klass[b]! || a - b);
}

function sameList(a: readonly IndexedDevice[], b: readonly IndexedDevice[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether d's PF or one of its VFs is in the set. */
export function linkedInSet(d: IndexedDevice, refs: Int32Array): boolean {
  if (d.pf !== null && refs[d.pf.pos]! > 0) return true;
  for (const vf of d.vfs) if (refs[vf.pos]! > 0) return true;
  return false;
}

/**
 * Every rejection text the matcher produces, in one place, so wording
 * stays consistent and the tests can name them.
 */
import type { MatchAttribute, PciRequest } from '../spec.js';

/**
 * A short label for a request: `vendor:device:class` with empty parts for
 * missing ids (`10de::0300`), `short 01:00.0` for an address, plus
 * ` selector` when a selector narrows it. Kept alone so it can be swapped.
 */
export function requestLabel(req: Pick<PciRequest, 'vendor' | 'device' | 'class' | 'shortAddress' | 'selector'>): string {
  const base = req.shortAddress
    ? `short ${req.shortAddress}`
    : `${req.vendor ?? ''}:${req.device ?? ''}:${req.class ?? ''}`;
  return req.selector ? `${base} selector` : base;
}

export const OFFLINE = 'offline';
export const BUDGET_EXHAUSTED = 'search budget exhausted';
export const NO_HOSTS = 'no hosts';

export function requestName(req: PciRequest): string {
  return `PCI[${req.index}] (${requestLabel(req)})`;
}

export const reason = {
  noFreeMatch: (req: PciRequest) => `no free device matches ${requestName(req)}`,
  notAssignable: (address: string, why: readonly string[] | undefined) =>
    why && why.length > 0 ? `${address} is not assignable: ${why.join('; ')}` : `${address} is not assignable`,
  noIommuGroup: (address: string) => `${address} has no IOMMU group (IOMMU off)`,
  groupHeld: (group: number, vm: number) => `IOMMU group ${group} is held by VM ${vm}`,
  groupUnreported: (group: number, address: string) => `IOMMU group ${group} has unreported endpoint ${address}`,
  groupMissing: (group: number, address: string) => `IOMMU group ${group} has missing endpoint ${address}`,
  groupNotAssignable: (group: number, address: string, why: readonly string[] | undefined) =>
    `IOMMU group ${group} endpoint ${reason.notAssignable(address, why)}`,
  pfVfsInUse: (pf: string) => `PF ${pf} has VFs in use`,
  vfPfInUse: (vf: string, pf: string) => `VF ${vf}: PF ${pf} is in use`,
  pfWithOwnVf: (pf: string, vf: string) => `PF ${pf} and its VF ${vf} cannot go to one VM`,
  noEqual: (attrs: readonly MatchAttribute[]) => `no assignment with equal ${attrs.join(' and ')}`,
  notEnough: (reqs: readonly PciRequest[], free: number) => {
    const labels = reqs.map(requestLabel);
    const who = labels.every((l) => l === labels[0])
      ? `${reqs.map((r) => `PCI[${r.index}]`).join(', ')} (${labels[0]})`
      : reqs.map(requestName).join(', ');
    return `not enough free devices for ${who}: ${reqs.length} needed, ${free} free`;
  },
  noDistinct: (reqs: readonly PciRequest[]) =>
    `no assignment of distinct devices satisfies ${reqs.map(requestName).join(', ')}`,
};

/** At most this many reasons per host: enough to act on, short enough to read. */
export const MAX_REASONS_PER_HOST = 3;

/** Ordered, de-duplicated, capped reasons for one host. */
export class ReasonList {
  private readonly seen = new Set<string>();
  readonly items: string[] = [];

  add(text: string): void {
    if (this.items.length >= MAX_REASONS_PER_HOST || this.seen.has(text)) return;
    this.seen.add(text);
    this.items.push(text);
  }

  get size(): number {
    return this.items.length;
  }
}

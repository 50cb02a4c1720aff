/**
 * Pending reasons are stored on the VM; on a large cluster "why not" has an
 * answer per host. Keep the first hosts' reasons verbatim and fold the rest
 * into counts per reason, so `vm show` stays readable and the row small.
 */
import type { PendingReason } from './vm-store.js';

export const MAX_LISTED_HOSTS = 20;

const ELSEWHERE = 'probe streams to scheduler replica ';

/** A host this replica cannot judge: its probe streams to `holder`, another replica, which alone can prepare it. */
export function elsewhereReason(holder: string): string {
  return `${ELSEWHERE}${holder}; this replica cannot prepare it`;
}

export function isElsewhereReason(reason: string): boolean {
  return reason.startsWith(ELSEWHERE);
}

export function capReasons(reasons: PendingReason[], maxHosts = MAX_LISTED_HOSTS): PendingReason[] {
  const hosts = [...new Set(reasons.map((r) => r.host))];
  if (hosts.length <= maxHosts) return reasons;
  const listed = new Set(hosts.slice(0, maxHosts));
  const kept = reasons.filter((r) => listed.has(r.host));
  const counts = new Map<string, number>();
  for (const r of reasons) if (!listed.has(r.host)) counts.set(r.reason, (counts.get(r.reason) ?? 0) + 1);
  const top = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = top.slice(0, 5).map(([reason, n]) => `${n}× ${reason}`);
  if (top.length > 5) shown.push(`${top.length - 5} other reasons`);
  return [...kept, { host: null, reason: `${hosts.length - maxHosts} more hosts: ${shown.join('; ')}` }];
}

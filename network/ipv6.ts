/**
 * IPv6 addresses as eight 16-bit groups: parsing (RFC 4291 text forms,
 * including `::` and a trailing dotted IPv4 part) and the canonical text form
 * of RFC 5952 (lowercase, no leading zeros, the longest run of two or more
 * zero groups — the first one on a tie — compressed to `::`).
 */
import { parseIpv4 } from './ipv4.js';

/** Eight 16-bit groups, most significant first. */
export type Ipv6Groups = readonly number[];

const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** Groups of one colon-separated half; the last piece may be dotted IPv4 when `allowV4`. */
function halfGroups(part: string, allowV4: boolean): number[] | null {
  if (part === '') return [];
  const pieces = part.split(':');
  const out: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i]!;
    if (HEX_GROUP.test(p)) {
      out.push(parseInt(p, 16));
    } else if (allowV4 && i === pieces.length - 1 && p.includes('.')) {
      const v4 = parseIpv4(p);
      if (v4 === null) return null;
      out.push(v4 >>> 16, v4 & 0xffff);
    } else {
      return null;
    }
  }
  return out;
}

/** The eight groups of an IPv6 address, or null when `s` is not one (zone ids are refused). */
export function parseIpv6(s: string): number[] | null {
  if (typeof s !== 'string' || s.length === 0 || s.length > 45) return null;
  const dc = s.indexOf('::');
  if (dc === -1) {
    const g = halfGroups(s, true);
    return g !== null && g.length === 8 ? g : null;
  }
  if (s.indexOf('::', dc + 1) !== -1) return null; // two `::`, or `:::`
  const head = halfGroups(s.slice(0, dc), false);
  const tail = halfGroups(s.slice(dc + 2), true);
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return null; // `::` stands for at least one group
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

/** RFC 5952 canonical text; IPv4-mapped addresses (`::ffff:0:0/96`) end in dotted IPv4. */
export function formatIpv6(groups: Ipv6Groups): string {
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) {
    throw new RangeError(`not eight 16-bit groups: ${groups.join(',')}`);
  }
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [a, b] = [groups[6]!, groups[7]!];
    return `::ffff:${a >>> 8}.${a & 0xff}.${b >>> 8}.${b & 0xff}`;
  }
  let bestStart = -1;
  let bestLen = 1; // a single zero group is never compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (gs: Ipv6Groups) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart === -1) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

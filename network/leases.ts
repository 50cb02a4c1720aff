/**
 * Address leases within one network: index ↔ IPv4 address, the next free
 * index, and the MAC and IPv6 address OpenNebula derives for a lease.
 *
 * A lease is identified by its index in the network's IPv4 range (0 is the
 * range's first address). Programming errors (an index outside the range, a
 * network without a range where one is needed) throw RangeError; malformed
 * user text throws ValidationError.
 */
import { ValidationError } from '../common/index.js';
import type { NetworkDefinition, Ipv4Range } from './definition.js';
import { formatIpv4, parseIpv4 } from './ipv4.js';
import { formatIpv6, parseIpv6 } from './ipv6.js';
import { macFromPrefix, macOctets } from './mac.js';

function rangeOf(net: NetworkDefinition): Ipv4Range {
  if (net.ipRange === null) throw new RangeError(`network ${net.name} has no IPv4 range`);
  return net.ipRange;
}

function checkIndex(r: Ipv4Range, index: number, net: NetworkDefinition): void {
  if (!Number.isInteger(index) || index < 0 || index >= r.size) {
    throw new RangeError(`index ${index} is outside network ${net.name} (0..${r.size - 1})`);
  }
}

/** The IPv4 address at `index` (0-based) of the network's range. */
export function ipAt(net: NetworkDefinition, index: number): string {
  const r = rangeOf(net);
  checkIndex(r, index, net);
  return formatIpv4(r.firstInt + index);
}

/**
 * The index of `ip` in the network's range, or null when it lies outside (or
 * the network has no range). Throws ValidationError (field `ip`) when `ip` is
 * not a dotted-quad IPv4 address.
 */
export function ipIndex(net: NetworkDefinition, ip: string): number | null {
  const n = parseIpv4(typeof ip === 'string' ? ip.trim() : '');
  if (n === null) throw new ValidationError(`${JSON.stringify(ip)} is not an IPv4 address`, { field: 'ip' });
  const r = net.ipRange;
  if (r === null || n < r.firstInt || n >= r.firstInt + r.size) return null;
  return n - r.firstInt;
}

/**
 * The first index not in `used`, searching from `start` to the end of the
 * range and then from 0 (so a caller passing "last allocated + 1" cycles
 * through the range before reusing released addresses). `start` at or past the
 * end wraps to 0. Null when every address is used or the network has no range.
 */
export function nextFreeIpIndex(net: NetworkDefinition, used: ReadonlySet<number>, start = 0): number | null {
  if (!Number.isInteger(start) || start < 0) throw new RangeError(`bad start index: ${start}`);
  const r = net.ipRange;
  if (r === null) return null;
  const from = start % r.size;
  // Every index tried and found taken is in `used`, so used.size + 1 tries suffice.
  const tries = Math.min(r.size, used.size + 1);
  for (let k = 0; k < tries; k++) {
    const i = (from + k) % r.size;
    if (!used.has(i)) return i;
  }
  return null;
}

/** OpenNebula's MAC for a lease: MAC_PREFIX followed by the 4 octets of its IPv4 address. */
export function macFor(net: NetworkDefinition, ipIndex: number): string {
  const r = rangeOf(net);
  checkIndex(r, ipIndex, net);
  return macFromPrefix(net.macPrefix, r.firstInt + ipIndex);
}

/**
 * The network's /64 prefix followed by the modified EUI-64 interface id of
 * `mac` (U/L bit flipped, ff:fe inserted; RFC 4291 appendix A), in RFC 5952
 * form: MAC 52:54:00:12:34:56 in 2001:db8::/64 → 2001:db8::5054:ff:fe12:3456.
 * Null when the network has no IPv6 prefix. Throws ValidationError (field
 * `mac`) for a malformed MAC.
 */
export function ip6For(net: NetworkDefinition, mac: string): string | null {
  const o = macOctets(mac);
  if (net.ip6Prefix === null) return null;
  const prefix = parseIpv6(net.ip6Prefix.split('/')[0]!);
  if (prefix === null) throw new RangeError(`network ${net.name} has a malformed ip6Prefix ${net.ip6Prefix}`);
  const iid = [((o[0]! ^ 0x02) << 8) | o[1]!, (o[2]! << 8) | 0xff, 0xfe00 | o[3]!, (o[4]! << 8) | o[5]!];
  return formatIpv6([...prefix.slice(0, 4), ...iid]);
}

export interface Lease {
  index: number;
  ip: string;
  mac: string;
  /** null when the network has no IPv6 prefix. */
  ip6: string | null;
}

/** Everything a lease at `index` gets: IPv4, the MAC derived from it, and the IPv6 derived from the MAC. */
export function leaseAt(net: NetworkDefinition, index: number): Lease {
  const mac = macFor(net, index);
  return { index, ip: ipAt(net, index), mac, ip6: ip6For(net, mac) };
}

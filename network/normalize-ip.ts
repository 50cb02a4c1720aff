/** normalizeIp: one canonical text per address, for storage and comparison. */
import { ValidationError } from '../common/index.js';
import { formatIpv4, parseIpv4 } from './ipv4.js';
import { formatIpv6, parseIpv6 } from './ipv6.js';

/**
 * An IPv4 address (strict dotted quad, returned as is) or an IPv6 address
 * (returned in RFC 5952 canonical form). Surrounding whitespace is ignored.
 * Throws ValidationError naming `field` otherwise.
 */
export function normalizeIp(s: string, field = 'ip'): string {
  const t = typeof s === 'string' ? s.trim() : '';
  const v4 = parseIpv4(t);
  if (v4 !== null) return formatIpv4(v4);
  const v6 = parseIpv6(t);
  if (v6 !== null) return formatIpv6(v6);
  throw new ValidationError(
    `${JSON.stringify(s)} is not an IP address (IPv4 as a dotted quad without leading zeros, or IPv6)`,
    { field },
  );
}

/** Like normalizeIp, but IPv4 only. */
export function normalizeIpv4(s: string, field = 'ip'): string {
  const v4 = parseIpv4(typeof s === 'string' ? s.trim() : '');
  if (v4 === null) {
    throw new ValidationError(`${JSON.stringify(s)} is not an IPv4 address (dotted quad, no leading zeros)`, { field });
  }
  return formatIpv4(v4);
}

/** Like normalizeIp, but IPv6 only. */
export function normalizeIpv6(s: string, field = 'ip6'): string {
  const v6 = parseIpv6(typeof s === 'string' ? s.trim() : '');
  if (v6 === null) throw new ValidationError(`${JSON.stringify(s)} is not an IPv6 address`, { field });
  return formatIpv6(v6);
}

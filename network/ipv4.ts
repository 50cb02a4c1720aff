/**
 * IPv4 addresses in strict dotted-quad form: four decimal octets 0–255, no
 * leading zeros (`010.0.0.1` is refused: inet_aton would read it as octal),
 * no surrounding whitespace.
 */

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const IPV4_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** Largest IPv4 address as an unsigned integer (255.255.255.255). */
export const IPV4_MAX = 0xffffffff;

/** The address as an unsigned 32-bit integer, or null when `s` is not a strict dotted quad. */
export function parseIpv4(s: string): number | null {
  if (typeof s !== 'string' || !IPV4_RE.test(s)) return null;
  return s.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

/** Dotted quad of an unsigned 32-bit integer. */
export function formatIpv4(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > IPV4_MAX) throw new RangeError(`not an IPv4 integer: ${n}`);
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}

/** The four octets of an unsigned 32-bit integer, most significant first. */
export function ipv4Octets(n: number): [number, number, number, number] {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

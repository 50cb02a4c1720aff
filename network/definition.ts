/**
 * Network definitions: what a user may create, validated into the stored
 * form, and overlap detection against the networks that already exist.
 *
 * Choices:
 * - Optional fields may be omitted or null (JSON bodies often carry null).
 * - Runtime types are checked too: the input usually comes from a request body.
 * - The IPv4 range is not checked against special-purpose blocks (0/8,
 *   multicast…): OpenNebula's address ranges do not check either.
 * - An IPv6 prefix in ff00::/8 (multicast) is refused: SLAAC addresses are unicast.
 * - The IPv6 prefix is stored in canonical form (`2001:db8::/64`), so equal
 *   prefixes compare equal as strings.
 */
import { ConflictError, ValidationError, quoted } from '../common/index.js';
import { IPV4_MAX, formatIpv4, parseIpv4 } from './ipv4.js';
import { formatIpv6, parseIpv6 } from './ipv6.js';
import { DEFAULT_MAC_PREFIX, normalizeMacPrefix } from './mac.js';

export interface NetworkInput {
  name: string;
  /** 802.1Q VLAN id, 1–4094. */
  vlanId?: number | null;
  /** IPv4 range: first address and number of addresses (1 … 2^24). */
  ipRange?: { first: string; size: number } | null;
  /** OpenNebula's global IPv6 prefix for SLAAC-style addresses: `PREFIX/64`. */
  ip6Prefix?: string | null;
  /** OpenNebula's MAC_PREFIX, `XX:XX`; default `02:00`. */
  macPrefix?: string | null;
}

export interface Ipv4Range {
  /** First address, dotted quad. */
  readonly first: string;
  /** First address as an unsigned 32-bit integer. */
  readonly firstInt: number;
  /** Number of addresses; the last one is firstInt + size - 1. */
  readonly size: number;
}

export interface NetworkDefinition {
  readonly name: string;
  readonly vlanId: number | null;
  readonly ipRange: Ipv4Range | null;
  /** Canonical `PREFIX/64`, e.g. `2001:db8::/64`. */
  readonly ip6Prefix: string | null;
  /** Lowercase `XX:XX`. */
  readonly macPrefix: string;
}

const NAME_RE = /^[A-Za-z0-9._-]+$/;
export const MAX_RANGE_SIZE = 2 ** 24;

function validateName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new ValidationError('a network name is required (1–64 characters of A-Z a-z 0-9 . _ -)', { field: 'name' });
  }
  if (name.length > 64) throw new ValidationError(`name is ${name.length} characters long; at most 64`, { field: 'name' });
  if (!NAME_RE.test(name)) {
    throw new ValidationError(`${JSON.stringify(name)} may only hold A-Z a-z 0-9 . _ -`, { field: 'name' });
  }
  return name;
}

function validateVlanId(v: unknown): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 4094) {
    throw new ValidationError(`${JSON.stringify(v)} is not a VLAN id: an integer from 1 to 4094`, { field: 'vlanId' });
  }
  return v;
}

/**
 * Refuses a field the object does not have. Why: a misspelt one (`cidr`,
 * `vlan`) would otherwise create a network without what was meant.
 */
function refuseUnknown(input: object, known: readonly string[], what: string, at = ''): void {
  for (const key of Object.keys(input)) {
    if (known.includes(key)) continue;
    const list = `${known.slice(0, -1).join(', ')} and ${known.at(-1)}`;
    throw new ValidationError(`unknown field ${quoted(key)}: ${what} has ${list}`, { field: `${at}${key}` });
  }
}

const NETWORK_FIELDS = ['name', 'vlanId', 'ipRange', 'ip6Prefix', 'macPrefix'];
const RANGE_FIELDS = ['first', 'size'];

function validateIpRange(r: unknown): Ipv4Range | null {
  if (r === undefined || r === null) return null;
  if (typeof r !== 'object' || Array.isArray(r)) throw new ValidationError('expected { first, size }', { field: 'ipRange' });
  refuseUnknown(r, RANGE_FIELDS, 'an IPv4 range', 'ipRange.');
  const { first, size } = r as { first?: unknown; size?: unknown };
  const firstInt = typeof first === 'string' ? parseIpv4(first) : null;
  if (firstInt === null) {
    throw new ValidationError(
      `${JSON.stringify(first)} is not an IPv4 address (dotted quad, no leading zeros)`,
      { field: 'ipRange.first' },
    );
  }
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > MAX_RANGE_SIZE) {
    throw new ValidationError(`${JSON.stringify(size)} is not a range size: an integer from 1 to ${MAX_RANGE_SIZE}`, {
      field: 'ipRange.size',
    });
  }
  if (firstInt + size - 1 > IPV4_MAX) {
    throw new ValidationError(
      `${size} addresses from ${first} run past 255.255.255.255 (at most ${IPV4_MAX - firstInt + 1} fit)`,
      { field: 'ipRange.size' },
    );
  }
  return { first: formatIpv4(firstInt), firstInt, size };
}

/** `PREFIX/64` → canonical `PREFIX/64`; throws ValidationError naming `field`. */
export function normalizeIp6Prefix(s: unknown, field = 'ip6Prefix'): string {
  if (typeof s !== 'string' || s.split('/').length !== 2) {
    throw new ValidationError(`${JSON.stringify(s)} is not an IPv6 prefix: expected PREFIX/64, e.g. 2001:db8::/64`, { field });
  }
  const [addr, len] = s.split('/') as [string, string];
  const groups = parseIpv6(addr);
  if (groups === null) throw new ValidationError(`${JSON.stringify(addr)} is not an IPv6 address`, { field });
  if (len !== '64') {
    throw new ValidationError(`prefix length /${len} is not supported: the global IPv6 prefix must be a /64`, { field });
  }
  const canonical = `${formatIpv6([...groups.slice(0, 4), 0, 0, 0, 0])}/64`;
  if (groups.slice(4).some((g) => g !== 0)) {
    throw new ValidationError(`${s} has host bits set: the /64 prefix is ${canonical}`, { field });
  }
  if (groups[0]! >>> 8 === 0xff) throw new ValidationError(`${canonical} is multicast (ff00::/8)`, { field });
  return canonical;
}

/** Validates a request to create a network; throws ValidationError naming the field. */
export function validateNetworkInput(input: NetworkInput): NetworkDefinition {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ValidationError('expected a network object');
  refuseUnknown(input, NETWORK_FIELDS, 'a network');
  const ip6 = input.ip6Prefix;
  const mac = input.macPrefix;
  return {
    name: validateName(input.name),
    vlanId: validateVlanId(input.vlanId),
    ipRange: validateIpRange(input.ipRange),
    ip6Prefix: ip6 === undefined || ip6 === null ? null : normalizeIp6Prefix(ip6),
    macPrefix: mac === undefined || mac === null ? DEFAULT_MAC_PREFIX : normalizeMacPrefix(mac),
  };
}

/** Last address of a range, as an integer. */
export function rangeLastInt(r: Ipv4Range): number {
  return r.firstInt + r.size - 1;
}

function ip4Overlap(a: NetworkDefinition, b: NetworkDefinition): boolean {
  const [x, y] = [a.ipRange, b.ipRange];
  return x !== null && y !== null && x.firstInt <= rangeLastInt(y) && y.firstInt <= rangeLastInt(x);
}

function ip6Overlap(a: NetworkDefinition, b: NetworkDefinition): boolean {
  if (a.ip6Prefix === null || b.ip6Prefix === null) return false;
  const pa = parseIpv6(a.ip6Prefix.split('/')[0]!);
  const pb = parseIpv6(b.ip6Prefix.split('/')[0]!);
  return pa !== null && pb !== null && pa.slice(0, 4).every((g, i) => g === pb[i]);
}

/** True when the IPv4 ranges share an address or the IPv6 /64 prefixes are the same. */
export function rangesOverlap(a: NetworkDefinition, b: NetworkDefinition): boolean {
  return ip4Overlap(a, b) || ip6Overlap(a, b);
}

/**
 * The first of `existing` that overlaps `candidate`, or null. When updating a
 * network, leave its stored version out of `existing`.
 */
export function findOverlap(candidate: NetworkDefinition, existing: readonly NetworkDefinition[]): NetworkDefinition | null {
  return existing.find((e) => rangesOverlap(candidate, e)) ?? null;
}

const rangeText = (r: Ipv4Range) => `${r.first}-${formatIpv4(rangeLastInt(r))}`;

/** Throws ConflictError naming the other network when findOverlap finds one. */
export function assertNoOverlap(candidate: NetworkDefinition, existing: readonly NetworkDefinition[]): void {
  const other = findOverlap(candidate, existing);
  if (other === null) return;
  const them = `network ${JSON.stringify(other.name)}`;
  const what = ip4Overlap(candidate, other)
    ? `IPv4 range ${rangeText(candidate.ipRange!)} overlaps ${them} (${rangeText(other.ipRange!)})`
    : `IPv6 prefix ${candidate.ip6Prefix} is already used by ${them}`;
  throw new ConflictError(`network ${JSON.stringify(candidate.name)}: ${what}`);
}

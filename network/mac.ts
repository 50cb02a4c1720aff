/**
 * MAC addresses. OpenNebula builds a lease's MAC from a 2-octet MAC_PREFIX
 * (default `02:00`: locally administered, unicast) and 4 more octets: the
 * lease's IPv4 address when the network has a range, otherwise a counter.
 *
 * Note: with the same prefix, counter MACs and IP-derived MACs share one
 * space (counter 0x0a000005 and IP 10.0.0.5 both give 02:00:0a:00:00:05), so
 * the lease layer checks every new MAC against the leased ones
 * (nextFreeMacSequence does so for counters).
 */
import { ValidationError } from '../common/index.js';

export const DEFAULT_MAC_PREFIX = '02:00';

const MAC_PREFIX_RE = /^[0-9a-f]{2}:[0-9a-f]{2}$/i;
const MAC_RE = /^[0-9a-f]{1,2}([:-])[0-9a-f]{1,2}(?:\1[0-9a-f]{1,2}){4}$/i;

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/**
 * `aa:bb:cc:dd:ee:ff`, lowercase. Accepts `:` or `-` separators (one kind),
 * octets of one or two hex digits, surrounding whitespace. Throws
 * ValidationError naming `field` otherwise.
 */
export function normalizeMac(s: string, field = 'mac'): string {
  const t = typeof s === 'string' ? s.trim() : '';
  if (!MAC_RE.test(t)) {
    throw new ValidationError(`${JSON.stringify(s)} is not a MAC address (six hex octets, e.g. 02:00:0a:00:00:05)`, { field });
  }
  return t.split(/[:-]/).map((o) => o.toLowerCase().padStart(2, '0')).join(':');
}

/** The six octets of a normalized (or normalizable) MAC. */
export function macOctets(mac: string, field = 'mac'): number[] {
  return normalizeMac(mac, field).split(':').map((o) => parseInt(o, 16));
}

/** True when the first octet's lowest bit (I/G) is 0: an address a NIC may own. */
export function isUnicastMac(mac: string): boolean {
  return (macOctets(mac)[0]! & 1) === 0;
}

/**
 * OpenNebula's MAC_PREFIX, `XX:XX`, lowercased; the first octet must be
 * unicast (lowest bit 0). Throws ValidationError naming `field`.
 */
export function normalizeMacPrefix(s: string, field = 'macPrefix'): string {
  if (typeof s !== 'string' || !MAC_PREFIX_RE.test(s)) {
    throw new ValidationError(`${JSON.stringify(s)} is not a MAC prefix: expected two hex octets XX:XX, e.g. 02:00`, { field });
  }
  const p = s.toLowerCase();
  if (parseInt(p.slice(0, 2), 16) & 1) {
    throw new ValidationError(
      `MAC prefix ${p} is multicast (the first octet's lowest bit is 1); a NIC needs a unicast MAC, e.g. 02:00`,
      { field },
    );
  }
  return p;
}

/** `PREFIX:` followed by the 4 octets of an unsigned 32-bit value (IPv4 address or counter). */
export function macFromPrefix(prefix: string, n: number): string {
  const p = normalizeMacPrefix(prefix);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`MAC suffix out of range: ${n}`);
  return [p, hex2(n >>> 24), hex2((n >>> 16) & 0xff), hex2((n >>> 8) & 0xff), hex2(n & 0xff)].join(':');
}

/**
 * MAC for a network without an IP range: prefix + 32-bit counter `n`
 * (0 ≤ n ≤ 2^32-1), e.g. `macForSequence('02:00', 1)` → `02:00:00:00:00:01`.
 * Unique as long as the caller's counter is cluster-wide; see the note above.
 */
export function macForSequence(prefix: string, n: number): string {
  return macFromPrefix(prefix, n);
}

/**
 * The first counter value from `start` (wrapping past 2^32-1 to 0) whose MAC
 * is not in `usedMacs` (normalized MACs, as normalizeMac returns them), or
 * null when every one is used. Looks at most usedMacs.size + 1 values.
 */
export function nextFreeMacSequence(
  prefix: string,
  usedMacs: ReadonlySet<string>,
  start = 0,
): { n: number; mac: string } | null {
  if (!Number.isInteger(start) || start < 0 || start > 0xffffffff) throw new RangeError(`bad counter start: ${start}`);
  const p = normalizeMacPrefix(prefix);
  const tries = Math.min(usedMacs.size + 1, 0x100000000);
  for (let k = 0; k < tries; k++) {
    const n = (start + k) % 0x100000000;
    const mac = macFromPrefix(p, n);
    if (!usedMacs.has(mac)) return { n, mac };
  }
  return null;
}

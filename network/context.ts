/**
 * OpenNebula's per-NIC context variables (ETH<i>_*), as the context packages
 * in the guest read them from context.sh.
 *
 * Names follow OpenNebula's VirtualMachineContext.cc: ETHi_MAC, ETHi_IP,
 * ETHi_IP6 (IP6_GLOBAL), ETHi_VLAN_ID, ETHi_NETWORK. Note that OpenNebula's
 * ETHi_NETWORK is the network ADDRESS (its NETWORK_ADDRESS, e.g. 10.0.0.0),
 * not the network's name: the guest's context scripts write it into the
 * interface configuration, and derive it from the IP (/24) when it is absent.
 * So `network` must be an IPv4 address or empty; a name is refused.
 *
 * formatContext quotes like OpenNebula's generate_context: VALUE in single
 * quotes, each ' written as '\'' — safe for `. context.sh` whatever the value.
 */
import { ValidationError } from '../common/index.js';
import { normalizeMac } from './mac.js';
import { normalizeIpv4, normalizeIpv6 } from './normalize-ip.js';

export interface ContextNic {
  /** i in ETHi_*; NICs and PCI NICs share one numbering in template order. */
  index: number;
  mac: string;
  ip: string | null;
  ip6: string | null;
  vlanId: number | null;
  /** Network address (OpenNebula's NETWORK_ADDRESS), e.g. `10.0.0.0`; `''` to leave it to the guest. */
  network: string;
}

const present = (s: string | null | undefined): s is string => typeof s === 'string' && s.trim() !== '';

/**
 * The ETHi_* variables of every NIC, NICs by ascending index, and for each
 * MAC, IP, IP6, VLAN_ID, NETWORK; null or empty values are left out. Values
 * are normalized (lowercase MAC, canonical IPv6). Throws ValidationError
 * naming `nics[k].<field>` (k: position in the array) for a bad value or a
 * repeated index.
 */
export function contextVariables(nics: readonly ContextNic[]): Array<[string, string]> {
  const seen = new Map<number, number>();
  nics.forEach((n, k) => {
    if (!Number.isInteger(n.index) || n.index < 0) {
      throw new ValidationError(`${JSON.stringify(n.index)} is not a NIC index (integer ≥ 0)`, { field: `nics[${k}].index` });
    }
    const prev = seen.get(n.index);
    if (prev !== undefined) throw new ValidationError(`index ${n.index} is also nics[${prev}]`, { field: `nics[${k}].index` });
    seen.set(n.index, k);
  });
  const order = nics.map((n, k) => ({ n, k })).sort((a, b) => a.n.index - b.n.index);
  const out: Array<[string, string]> = [];
  for (const { n, k } of order) {
    const eth = `ETH${n.index}`;
    const f = (name: string) => `nics[${k}].${name}`;
    out.push([`${eth}_MAC`, normalizeMac(n.mac, f('mac'))]);
    if (present(n.ip)) out.push([`${eth}_IP`, normalizeIpv4(n.ip, f('ip'))]);
    if (present(n.ip6)) out.push([`${eth}_IP6`, normalizeIpv6(n.ip6, f('ip6'))]);
    if (n.vlanId !== null && n.vlanId !== undefined) {
      if (!Number.isInteger(n.vlanId) || n.vlanId < 1 || n.vlanId > 4094) {
        throw new ValidationError(`${JSON.stringify(n.vlanId)} is not a VLAN id (1–4094)`, { field: f('vlanId') });
      }
      out.push([`${eth}_VLAN_ID`, String(n.vlanId)]);
    }
    if (present(n.network)) {
      out.push([
        `${eth}_NETWORK`,
        normalizeIpv4WithReason(n.network, f('network')),
      ]);
    }
  }
  return out;
}

function normalizeIpv4WithReason(s: string, field: string): string {
  try {
    return normalizeIpv4(s, field);
  } catch (e) {
    throw new ValidationError(
      `${JSON.stringify(s)} is not an IPv4 network address: ETHi_NETWORK is the network's address (e.g. 10.0.0.0), not its name`,
      { field },
      { cause: e },
    );
  }
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `NAME='value'` with every ' as '\'' (OpenNebula's quoting). */
export function shellAssignment(name: string, value: string): string {
  return `${name}='${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * context.sh lines, one per variable in the given order, each ending in a
 * newline: `ETH0_MAC='02:00:0a:00:00:05'`. Throws ValidationError naming
 * `vars[i]` for a name that is not a shell variable name or a value holding
 * a NUL character (which no shell string can hold).
 */
export function formatContext(vars: ReadonlyArray<readonly [string, string]>): string {
  return vars
    .map(([name, value], i) => {
      if (!NAME_RE.test(name)) {
        throw new ValidationError(`${JSON.stringify(name)} is not a shell variable name`, { field: `vars[${i}]` });
      }
      if (typeof value !== 'string' || value.includes('\0')) {
        throw new ValidationError(`the value of ${name} must be a string without NUL characters`, { field: `vars[${i}]` });
      }
      return `${shellAssignment(name, value)}\n`;
    })
    .join('');
}

/** PCI addresses as sysfs names them (`0000:01:00.0`) and as lspci prints them. */

import { PCI_ADDRESS_RE } from '../common/index.js';

export { PCI_ADDRESS_RE, isPciAddress, shortAddress } from '../common/index.js';

/** Numeric sort key (domain, bus, device, function) in one number; lspci's order. */
export function addressSortKey(address: string): number {
  const m = PCI_ADDRESS_RE.exec(address);
  if (!m) return Number.MAX_SAFE_INTEGER;
  return parseInt(m[1]!, 16) * 0x10000 + parseInt(m[2]!, 16) * 0x100 + parseInt(m[3]!, 16) * 8 + parseInt(m[4]!, 16);
}

export function compareAddresses(a: string, b: string): number {
  return addressSortKey(a) - addressSortKey(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * The root port above a device, from its real sysfs path relative to `sys/devices`
 * (`pci0000:00/0000:00:01.0/0000:01:00.0` → `0000:00:01.0`): the topmost PCI device on
 * the path, or null when that is the device itself (it sits on the root bus).
 */
export function pcieRootFromPath(relPath: string, address: string): string | null {
  for (const part of relPath.split('/')) {
    if (PCI_ADDRESS_RE.test(part)) return part === address ? null : part;
  }
  return null;
}

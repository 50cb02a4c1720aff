/** PCI addresses as sysfs names them (`0000:01:00.0`) and as lspci prints them. */

/** `dddd:bb:dd.f`; VMD and some hypervisors use 5-digit domains (`10000:e1:00.0`). */
export const PCI_ADDRESS_RE = /^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/;

export function isPciAddress(s: string): boolean {
  return PCI_ADDRESS_RE.test(s);
}

/** As `lspci -mm` prints it: `01:00.0`, with the domain only when it is not 0000. */
export function shortAddress(address: string): string {
  return address.startsWith('0000:') && address.length === 12 ? address.slice(5) : address;
}

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

/** Small PCI helpers shared by the passthrough checks. */
import { PCI_BRIDGE_CLASS } from '../common/index.js';
import { normalizeName } from './kernel-cmdline.js';

export const isBridge = (cls: string) => cls.toLowerCase() === PCI_BRIDGE_CLASS;

/** Display controllers: class 03xx (VGA, XGA, 3D controller). */
export const isGpu = (cls: string) => cls.startsWith('03');

/** `0000:01:00.1` → `0000:01:00`, the slot (domain, bus, device) without the function. */
export function slotOf(address: string): string {
  const dot = address.lastIndexOf('.');
  return (dot < 0 ? address : address.slice(0, dot)).toLowerCase();
}

export const sameSlot = (a: string, b: string) => slotOf(a) === slotOf(b);

/** Drivers that leave a device free for VFIO. */
export function isVfioDriver(driver: string | null): boolean {
  if (driver === null) return false;
  const d = normalizeName(driver);
  return d === 'vfio_pci' || d === 'pci_stub';
}

/** `vvvv:dddd`, lowercased. */
export const vendorDevice = (d: { vendor: string; device: string }) => `${d.vendor}:${d.device}`.toLowerCase();

/** Sorted copy, without duplicates. */
export const sortedUnique = (items: Iterable<string>) => [...new Set(items)].sort();

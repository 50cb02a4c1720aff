/**
 * Which network interfaces belong to which PCI device, from `sys/class/net`.
 *
 * Listing every bound device's net/ directory on each rescan costs a few syscalls per
 * device; one listing of sys/class/net sees every interface that appears, vanishes or
 * is renamed (a rename replaces the old name by the new one in the listing). Each entry
 * is a link to `…/<pci address>/net/<name>`, read once when the name first appears, so
 * an unchanged listing costs one readdir. What the listing cannot show, two interfaces
 * swapping names between two scans, is caught by re-reading a share of the links on
 * every scan (the scanner's refresh round robin).
 *
 * Like a device's own net/ directory, sys/class/net shows the interfaces of the network
 * namespace sysfs was mounted in; interfaces below a non-PCI child device (virtio's
 * `virtioN/net/`) belong to no PCI device, as they never showed up in the PCI device's
 * net/ either.
 */
import { isPciAddress } from './pci-address.js';
import type { SysfsReader } from './sysfs-reader.js';

const NONE: readonly string[] = [];

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The PCI device whose net/ directory a sys/class/net link points into, or null. */
export function ownerOfNetLink(target: string): string | null {
  const parts = target.split('/');
  const n = parts.length;
  return n >= 3 && parts[n - 2] === 'net' && isPciAddress(parts[n - 3]!) ? parts[n - 3]! : null;
}

export class NetIndex {
  /** sys/class/net as last listed (readdir order), and each name's owner. */
  private names: string[] = [];
  private owner = new Map<string, string | null>();
  private byDevice = new Map<string, readonly string[]>();
  private present = false;

  constructor(
    private readonly reader: SysfsReader,
    private readonly dir: string,
  ) {}

  /** False when the host root has no sys/class/net: the caller lists each device's net/ instead. */
  get available(): boolean {
    return this.present;
  }

  /**
   * Lists sys/class/net again and re-reads the links of the names at `slot`, `slot +
   * period`, … Returns true when some device's interface list may have changed.
   */
  refresh(slot: number, period: number): boolean {
    const names = this.reader.listDirIfPresent(this.dir);
    if (names === null) {
      const was = this.present;
      this.present = false;
      this.names = [];
      this.owner.clear();
      this.byDevice.clear();
      return was;
    }
    this.present = true;
    let changed = false;
    if (!sameList(names, this.names)) {
      const owner = new Map<string, string | null>();
      for (const name of names) owner.set(name, this.owner.has(name) ? this.owner.get(name)! : this.resolve(name));
      this.owner = owner;
      this.names = names;
      changed = true;
    }
    for (let i = slot; i < names.length; i += period) {
      const name = names[i]!;
      const now = this.resolve(name);
      if (now !== this.owner.get(name)) {
        this.owner.set(name, now);
        changed = true;
      }
    }
    if (changed) this.rebuild();
    return changed;
  }

  /**
   * The interfaces of a device, sorted; a shared array: copy before handing out. (Not
   * frozen: slice() of a frozen array takes V8's slow path, which showed per scan.)
   */
  of(address: string): readonly string[] {
    return this.byDevice.get(address) ?? NONE;
  }

  private resolve(name: string): string | null {
    const target = this.reader.readLinkExpected(`${this.dir}/${name}`);
    return target === null ? null : ownerOfNetLink(target);
  }

  private rebuild(): void {
    const lists = new Map<string, string[]>();
    for (const [name, address] of this.owner) {
      if (address === null) continue;
      const list = lists.get(address);
      if (list === undefined) lists.set(address, [name]);
      else list.push(name);
    }
    this.byDevice = new Map();
    for (const [address, list] of lists) this.byDevice.set(address, list.sort());
  }
}

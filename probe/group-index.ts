/**
 * IOMMU group membership (from every device's group, reported or not) and each group's
 * reserved region types, kept between scans: membership is recomputed only when the
 * scanner saw a device or a group link change, and reserved_regions is read again only
 * for a new or changed membership or when the caller asks (the refresh round robin).
 * The kernel builds reserved_regions from the members at read time, so the same members
 * mean the same text, short of firmware tables changing under a running kernel.
 */
import { join } from 'node:path';
import { attrFile, closeAttr, type AttrFile, type SysfsReader } from './sysfs-reader.js';
import { compareAddresses } from './pci-address.js';

export interface GroupDevice {
  address: string;
  class: string;
  sortKey: number;
}

export interface GroupState<T extends GroupDevice> {
  /** Members in address order; the same objects mean the same devices (a re-added device is a new object). */
  members: T[];
  /** reserved_regions, through a descriptor kept open; reopened with a new membership (a group re-created under the same number). */
  file: AttrFile;
  text: string | null;
  /** Distinct region types, sorted; null until read. */
  types: string[] | null;
  /** Scan that last considered re-reading the file. */
  checked: number;
}

const bySortKey = (a: GroupDevice, b: GroupDevice) => a.sortKey - b.sortKey || compareAddresses(a.address, b.address);

function sameMembers<T>(a: T[], b: T[]): boolean {
  return a.length === b.length && a.every((m, i) => m === b[i]);
}

export class GroupIndex<T extends GroupDevice> {
  private groups = new Map<number, GroupState<T>>();

  constructor(
    private readonly reader: SysfsReader,
    private readonly groupsDir: string,
  ) {}

  get(group: number | null): GroupState<T> | undefined {
    return group === null ? undefined : this.groups.get(group);
  }

  /** Recomputes membership; groups whose members did not change keep their state (and open file). */
  rebuild(devices: readonly T[], groupOf: (d: T) => number | null): void {
    const lists = new Map<number, T[]>();
    for (const d of devices) {
      const g = groupOf(d);
      if (g === null) continue;
      const list = lists.get(g);
      if (list === undefined) lists.set(g, [d]);
      else list.push(d);
    }
    const next = new Map<number, GroupState<T>>();
    for (const [g, members] of lists) {
      if (members.length > 1) members.sort(bySortKey);
      const old = this.groups.get(g);
      if (old !== undefined && sameMembers(old.members, members)) {
        next.set(g, old);
        continue;
      }
      if (old !== undefined) closeAttr(old.file);
      next.set(g, { members, file: attrFile(join(this.groupsDir, String(g), 'reserved_regions')), text: null, types: null, checked: 0 });
    }
    for (const [g, old] of this.groups) if (!next.has(g)) closeAttr(old.file);
    this.groups = next;
  }

  /** Region types of a group, read again when never read or when `reread`; parsed only when the text changed. */
  regions(g: GroupState<T>, reread: boolean): string[] {
    if (g.types !== null && !reread) return g.types;
    const text = this.reader.readAttr(g.file);
    if (g.types === null || text !== g.text) {
      const types = new Set<string>();
      for (const line of (text ?? '').split('\n')) {
        const type = line.trim().split(/\s+/)[2];
        if (type) types.add(type);
      }
      g.text = text;
      g.types = [...types].sort();
    }
    return g.types;
  }

  close(): void {
    for (const g of this.groups.values()) closeAttr(g.file);
    this.groups = new Map();
  }
}

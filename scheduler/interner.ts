/**
 * One copy of each value that many hosts report alike. Ten thousand hosts of
 * a few models report the same vendor and device names, ids, addresses,
 * reset methods and group layouts; decoded from the wire, each report holds
 * its own copies. Sharing them is most of what keeps the scheduler near 1 KB
 * of heap per device. Shared values are frozen: nobody may edit a report.
 *
 * The tables only grow, so they stop taking new values at `limit` entries
 * each (values are then kept as they come, still correct, only not shared).
 * Shared reports and assessments are numbered, so a host's layout (see the
 * matcher's `HostState.layout`) is the list of its devices' numbers.
 */
import type { DeviceReport, GroupMember } from '../common/index.js';
import type { Assignability } from '../passthrough/index.js';

const DEFAULT_LIMIT = 200_000;

export class Interner {
  private readonly strings = new Map<string, string>();
  private readonly lists = new Map<string, readonly string[]>();
  private readonly members = new Map<string, readonly GroupMember[]>();
  private readonly assessments = new Map<string, Assignability>();
  private readonly layouts = new Map<string, number>();
  private readonly reports = new Map<string, DeviceReport>();
  private readonly reportIds = new Map<DeviceReport, number>();
  private readonly assessmentIds = new Map<Assignability, number>();
  private nextLayout = 0;

  constructor(private readonly limit = DEFAULT_LIMIT) {}

  str(s: string): string {
    const hit = this.strings.get(s);
    if (hit !== undefined) return hit;
    if (this.strings.size < this.limit) this.strings.set(s, s);
    return s;
  }

  strOrNull(s: string | null): string | null {
    return s === null ? null : this.str(s);
  }

  list(items: readonly string[]): string[] {
    if (items.length === 0) return EMPTY as unknown as string[];
    const key = items.join('\n');
    return this.shared(this.lists, key, () => Object.freeze(items.map((s) => this.str(s)))) as string[];
  }

  groupMembers(items: readonly GroupMember[]): GroupMember[] {
    if (items.length === 0) return EMPTY as unknown as GroupMember[];
    const key = items.map((m) => `${m.address} ${m.class}`).join('\n');
    return this.shared(this.members, key, () => Object.freeze(items.map((m) => Object.freeze({ address: this.str(m.address), class: this.str(m.class) })))) as GroupMember[];
  }

  assessment(a: Assignability): Assignability {
    const key = `${a.assignable}\n${a.reasons.join('\t')}\n${a.warnings.join('\t')}\n${a.notes.join('\t')}`;
    return this.shared(this.assessments, key, () => {
      const shared = Object.freeze({ assignable: a.assignable, reasons: this.list(a.reasons), warnings: this.list(a.warnings), notes: this.list(a.notes) });
      this.assessmentIds.set(shared, this.assessmentIds.size);
      return shared;
    });
  }

  /**
   * A small number per distinct device layout (the matcher's
   * `HostState.layout`), from a digest of everything the matcher reads.
   */
  layout(devices: ReadonlyArray<{ report: DeviceReport; assessment: Assignability; missing: boolean }>): number {
    // Shared reports and assessments have numbers: the layout is the list of them.
    let key = '';
    for (const d of devices) {
      const r = this.reportIds.get(d.report);
      const a = this.assessmentIds.get(d.assessment);
      // A value the full tables did not take: this layout is not shared.
      if (r === undefined || a === undefined) return this.nextLayout++;
      key += `${r}.${a}${d.missing ? 'm' : ''},`;
    }
    let id = this.layouts.get(key);
    if (id === undefined) {
      // Past the limit every new layout gets its own number: still correct, only not shared.
      id = this.nextLayout++;
      if (this.layouts.size < this.limit) this.layouts.set(key, id);
    }
    return id;
  }

  /**
   * The shared copy of a report (frozen), whose every field is shared too
   * where other devices reported the same.
   */
  report(r: DeviceReport): DeviceReport {
    return this.shared(this.reports, JSON.stringify(r), () => {
      const shared = Object.freeze(this.fields(r));
      this.reportIds.set(shared, this.reportIds.size);
      return shared;
    });
  }

  private fields(r: DeviceReport): DeviceReport {
    return {
      address: this.str(r.address),
      shortAddress: this.str(r.shortAddress),
      vendor: this.str(r.vendor),
      device: this.str(r.device),
      class: this.str(r.class),
      progIf: this.str(r.progIf),
      subsystemVendor: this.str(r.subsystemVendor),
      subsystemDevice: this.str(r.subsystemDevice),
      revision: this.str(r.revision),
      vendorName: this.str(r.vendorName),
      deviceName: this.str(r.deviceName),
      className: this.str(r.className),
      subsystemName: this.str(r.subsystemName),
      numaNode: r.numaNode,
      iommuGroup: r.iommuGroup,
      groupMembers: this.groupMembers(r.groupMembers),
      driver: this.strOrNull(r.driver),
      sriov: r.sriov,
      physfn: this.strOrNull(r.physfn),
      numVfs: r.numVfs,
      totalVfs: r.totalVfs,
      virtfns: this.list(r.virtfns),
      netInterfaces: this.list(r.netInterfaces),
      pcieRoot: this.strOrNull(r.pcieRoot),
      resetMethods: this.list(r.resetMethods),
      groupReservedRegions: this.list(r.groupReservedRegions),
    };
  }

  private shared<T>(table: Map<string, T>, key: string, make: () => T): T {
    const hit = table.get(key);
    if (hit !== undefined) return hit;
    const value = make();
    if (table.size < this.limit) table.set(key, value);
    return value;
  }
}

const EMPTY: readonly never[] = Object.freeze([]);

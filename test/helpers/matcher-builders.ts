/**
 * Plain-data builders for matcher tests and benchmarks; kept out of the
 * engine's folder. `request` builds a CompiledPciRequest by hand (ids and short
 * address compared like the template compiler does), so matcher tests do
 * not depend on the template parser.
 */
import type { CompiledPciRequest, CompiledVmSpec, PciRequest } from '../../scheduler/spec.js';
import type { DeviceState, HostState, PlacementResult } from '../../scheduler/matcher/index.js';
import { baseReport, group } from './device-report.js';

export { group };

/**
 * A free, present, assignable device alone in its IOMMU group. The group
 * number defaults to one derived from the address, unique per host.
 */
export function device(address: string, over: Partial<DeviceState> = {}): DeviceState {
  const m = /([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(address);
  const autoGroup = m ? 100 + parseInt(m[1]!, 16) * 256 + parseInt(m[2]!, 16) * 8 + parseInt(m[3]!, 16) : 100;
  return {
    ...baseReport(address),
    iommuGroup: autoGroup,
    pcieRoot: 'pci0000:00/0000:00:01.0',
    missing: false, heldBy: null,
    ...over,
  };
}

/** Links a PF and its VFs both ways, VFs enabled. */
export function sriov(pf: DeviceState, vfs: DeviceState[]): DeviceState[] {
  pf.sriov = 'pf';
  pf.numVfs = vfs.length;
  pf.totalVfs = Math.max(vfs.length, 8);
  pf.virtfns = vfs.map((v) => v.address);
  for (const v of vfs) {
    v.sriov = 'vf';
    v.physfn = pf.address;
  }
  return [pf, ...vfs];
}

export interface RequestFields {
  vendor?: string;
  device?: string;
  class?: string;
  shortAddress?: string;
  /** Stands for a compiled CEL selector. */
  where?: (d: DeviceState) => boolean;
}

const selectorIds = new WeakMap<object, string>();
let selectorCount = 0;

/**
 * The matcher keys its caches by selector source, as a CEL source names one
 * predicate; here each `where` function stands for its own source.
 */
function selectorSource(where: object): string {
  let id = selectorIds.get(where);
  if (id === undefined) selectorIds.set(where, (id = `test selector ${++selectorCount}`));
  return id;
}

export function request(index: number, f: RequestFields): CompiledPciRequest {
  const req: PciRequest = { index, attributes: {} };
  if (f.vendor !== undefined) req.vendor = f.vendor;
  if (f.device !== undefined) req.device = f.device;
  if (f.class !== undefined) req.class = f.class;
  if (f.shortAddress !== undefined) req.shortAddress = f.shortAddress;
  if (f.where !== undefined) req.selector = selectorSource(f.where);
  const eq = (a: string, b: string | undefined) => b === undefined || a.toLowerCase() === b.toLowerCase();
  return {
    ...req,
    matchesDevice: (d) =>
      eq(d.vendor, f.vendor) && eq(d.device, f.device) && eq(d.class, f.class) &&
      (f.shortAddress === undefined || eq(d.shortAddress, f.shortAddress) || eq(d.address, f.shortAddress)) &&
      (f.where === undefined || f.where(d as DeviceState)),
  };
}

/** Requests numbered in order, as the template compiler would. */
export function vm(requests: RequestFields[], over: Partial<CompiledVmSpec> = {}): CompiledVmSpec {
  return { name: 'vm', pci: requests.map((r, i) => request(i, r)), pciMatch: [], attributes: {}, ...over };
}

export function host(name: string, devices: DeviceState[], over: Partial<HostState> = {}): HostState {
  return { name, online: true, devices, ...over };
}

/** Expected result: `picks` as [address, request index], then companion addresses. */
export function placed(hostName: string, picks: Array<[string, number]>, companions: string[] = []): PlacementResult {
  return {
    kind: 'placed',
    host: hostName,
    devices: [
      ...picks.map(([address, request]) => ({ address, request, companion: false })),
      ...companions.map((address) => ({ address, request: null, companion: true })),
    ],
  };
}

export function unplaceable(...reasons: Array<[string | null, string]>): PlacementResult {
  return { kind: 'unplaceable', reasons: reasons.map(([h, reason]) => ({ host: h, reason })) };
}

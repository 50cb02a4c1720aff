/**
 * Per-host structure the matcher needs on every placement, computed once
 * per host and kept in a WeakMap keyed by the caller's HostState:
 * devices in address order, IOMMU-group companions and SR-IOV links as
 * direct references, and buckets by id so a request only looks at devices
 * that can match it.
 *
 * Only static facts (ids, addresses, groups, links) are indexed. Live
 * fields (missing, heldBy, assignable) are read from the caller's objects
 * at placement time, or cached in `LiveCache` while a PlacementCache
 * vouches for the host.
 */
import { PCI_BRIDGE_CLASS } from '../../common/index.js';
import type { PciRequest } from '../spec.js';
import { PlacementInputError, type DeviceState, type HostState } from './types.js';

export interface IndexedDevice {
  readonly state: DeviceState;
  readonly address: string;
  /** Position in address order: a dense id for the search's flag arrays. */
  readonly pos: number;
  /** Reported endpoints of the same IOMMU group, except this device. */
  readonly companions: readonly IndexedDevice[];
  /** Endpoints of the group that the host did not report (probe filter). */
  readonly unreportedEndpoints: readonly string[];
  /** For a VF: its PF, when reported. */
  readonly pf: IndexedDevice | null;
  /** For a PF: its reported VFs (`virtfns` and devices naming it as `physfn`). */
  readonly vfs: readonly IndexedDevice[];
}

/** A request's candidates on one host, cached per request signature with the live state. */
export interface CachedCandidates {
  /** Free, feasible, matching devices in address order. */
  readonly list: readonly IndexedDevice[];
}

/**
 * Live-state caches of one host, valid until it changes. Indexed by interned
 * slot numbers (`slotOf`) rather than keyed Maps: one Map per host costs a
 * hash lookup in cold memory on every host of every placement.
 */
export interface LiveCache {
  /** Candidates per request-signature slot; see `requestSignature`. */
  readonly candidates: (CachedCandidates | undefined)[];
  /** Per device pos: undefined = not computed, null = feasible, else the reason. */
  readonly blocks: (string | null | undefined)[];
}

/** What the placement loop reads per host: static index plus live caches. */
export interface HostView {
  readonly host: HostState;
  readonly index: HostIndex;
  readonly live: LiveCache;
}

const slotIds = new Map<string, number>();

/**
 * A small integer for a cache key, stable for the process. The set of keys
 * is bounded by the distinct request shapes the cluster sees.
 */
export function slotOf(key: string): number {
  let id = slotIds.get(key);
  if (id === undefined) slotIds.set(key, (id = slotIds.size));
  return id;
}

export class HostIndex {
  readonly devices: readonly IndexedDevice[];
  readonly byAddress: ReadonlyMap<string, IndexedDevice>;
  private readonly buckets: ReadonlyMap<string, readonly IndexedDevice[]>;

  constructor(hostName: string, states: readonly DeviceState[]) {
    const sorted = [...states].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    const nodes: MutableDevice[] = sorted.map((state, pos) => ({
      state, address: state.address, pos, companions: [], unreportedEndpoints: [], pf: null, vfs: [],
    }));
    const byAddress = new Map<string, MutableDevice>();
    for (const n of nodes) {
      // Two devices at one address means the report or the store is corrupt:
      // placing on it could hand the same function to two VMs.
      if (byAddress.has(n.address)) throw new PlacementInputError(`host ${hostName} reports ${n.address} twice`);
      byAddress.set(n.address, n);
    }
    linkGroups(nodes, byAddress);
    linkSriov(nodes, byAddress);
    compactLists(nodes);
    this.devices = nodes;
    this.byAddress = byAddress;
    this.buckets = buildBuckets(nodes);
  }

  /**
   * The devices a request can possibly match, in address order: the bucket
   * of its most selective id (`bucketKey`). Relies on `matchesDevice` never
   * accepting a device whose vendor/device/class/short address differs
   * (case-insensitively) from one the request gives; the selector only
   * narrows further.
   */
  devicesFor(key: string | null): readonly IndexedDevice[] {
    if (key === null) return this.devices;
    // Addresses are not bucketed (two keys per device on every host, for a
    // request most templates never make): a short scan finds them.
    if (key.startsWith('s:')) {
      const a = key.slice(2);
      return this.devices.filter((d) => d.address.toLowerCase() === a || d.state.shortAddress.toLowerCase() === a);
    }
    return this.buckets.get(key) ?? EMPTY;
  }
}

// Shared, so never to be written; `readonly` says so, not Object.freeze: V8
// iterates a frozen array through its generic path (an iterator and a
// result object per step, ~4x slower), and every device without companions
// or VFs has this list, in the matcher's hottest loops.
const EMPTY: readonly never[] = [];

/**
 * The bucket a request looks in, computed once per placement: the most
 * selective id it gives (an address names one device; vendor+device is
 * within vendor; vendor is usually rarer than class), or null for all
 * devices (selector only).
 */
export function bucketKey(req: PciRequest): string | null {
  if (req.shortAddress) return `s:${req.shortAddress.toLowerCase()}`;
  if (req.vendor && req.device) return `vd:${req.vendor.toLowerCase()}:${req.device.toLowerCase()}`;
  if (req.vendor) return `v:${req.vendor.toLowerCase()}`;
  if (req.class) return `c:${req.class.toLowerCase()}`;
  return null;
}

/**
 * Requests with the same signature match the same devices, so their
 * candidate lists can be shared across VMs and placements. A CEL selector
 * reads only the device's report (see template/selector.ts), which changes
 * only with a new device list, so its source text is part of the signature
 * and selector requests are cached like the others.
 */
export function requestSignature(req: PciRequest): string | null {
  const l = (s: string | undefined) => (s ?? '').toLowerCase();
  return `${l(req.vendor)}|${l(req.device)}|${l(req.class)}|${l(req.shortAddress)}|${req.selector ?? ''}`;
}

interface Entry extends HostView {
  devices: DeviceState[];
  length: number;
  live: LiveCache;
  /** Whether `live` may be reused by the next caller that allows reuse. */
  liveReusable: boolean;
}

const cache = new WeakMap<HostState, Entry>();

/**
 * The host's index and live caches. The index is built on first use and
 * reused while `host.devices` is the same array with the same length
 * (replace the array, or call `invalidateHostIndex`, to report a changed
 * device list). Live caches are reused only when `reuseLive` is set (a
 * PlacementCache vouches that the host has not changed since) and are
 * otherwise fresh, so a caller without a cache never sees stale state.
 */
export function hostView(host: HostState, reuseLive: boolean): HostView {
  let e = cache.get(host);
  if (e === undefined || e.devices !== host.devices || e.length !== host.devices.length) {
    e = {
      host, devices: host.devices, length: host.devices.length,
      index: new HostIndex(host.name, host.devices), live: freshLive(), liveReusable: reuseLive,
    };
    cache.set(host, e);
  } else if (!reuseLive || !e.liveReusable) {
    e.live = freshLive();
    e.liveReusable = reuseLive;
  }
  return e;
}

/** Drops the host's live caches (its devices' live fields changed). */
export function dropLiveCache(host: HostState): void {
  const e = cache.get(host);
  if (e !== undefined) e.liveReusable = false;
}

function freshLive(): LiveCache {
  return { candidates: [], blocks: [] };
}

/** Forget everything cached for a host (e.g. after editing devices in place). */
export function invalidateHostIndex(host: HostState): void {
  cache.delete(host);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type MutableDevice = Mutable<IndexedDevice> & { companions: IndexedDevice[]; unreportedEndpoints: string[]; vfs: IndexedDevice[] };

/**
 * A group's endpoints are the union of what its reported members say
 * (themselves and their `groupMembers`), bridges excluded: a bridge stays
 * with the host, and the kernel lets vfio take a group whose only other
 * members are bridges.
 */
function linkGroups(nodes: MutableDevice[], byAddress: Map<string, MutableDevice>): void {
  const endpoints = new Map<number, Set<string>>();
  for (const n of nodes) {
    const g = n.state.iommuGroup;
    if (g === null) continue;
    let set = endpoints.get(g);
    if (set === undefined) endpoints.set(g, (set = new Set()));
    if (n.state.class !== PCI_BRIDGE_CLASS) set.add(n.address);
    for (const m of n.state.groupMembers) if (m.class !== PCI_BRIDGE_CLASS) set.add(m.address);
  }
  for (const n of nodes) {
    const g = n.state.iommuGroup;
    if (g === null) continue;
    const members = [...endpoints.get(g)!].sort();
    for (const a of members) {
      if (a === n.address) continue;
      const other = byAddress.get(a);
      if (other !== undefined) n.companions.push(other);
      else n.unreportedEndpoints.push(a);
    }
  }
}

function linkSriov(nodes: MutableDevice[], byAddress: Map<string, MutableDevice>): void {
  for (const n of nodes) {
    if (n.state.physfn) {
      const pf = byAddress.get(n.state.physfn);
      if (pf !== undefined) {
        n.pf = pf;
        if (!pf.vfs.includes(n)) pf.vfs.push(n);
      }
    }
    for (const a of n.state.virtfns) {
      const vf = byAddress.get(a);
      if (vf !== undefined && !n.vfs.includes(vf)) n.vfs.push(vf);
    }
  }
  for (const n of nodes) n.vfs.sort((a, b) => a.pos - b.pos);
}

/**
 * Most devices have no companions, VFs or unreported endpoints. One shared
 * empty list for each saves three arrays per device on every indexed host:
 * at 10k hosts, ~1M objects that each full GC would mark. The others are
 * copied to their exact length: a list grown by push keeps room for 16.
 */
function compactLists(nodes: Mutable<IndexedDevice>[]): void {
  for (const n of nodes) {
    n.companions = kept(n.companions);
    n.unreportedEndpoints = kept(n.unreportedEndpoints);
    n.vfs = kept(n.vfs);
  }
}

/** A list built by push, as it should be kept: the shared empty list, or a copy of its exact length. */
export function kept<T>(list: readonly T[]): readonly T[] {
  return list.length === 0 ? EMPTY : list.slice();
}

/** Bucket keys, one string per distinct key for the process rather than per host. */
const bucketKeys = new Map<string, string>();

function sharedKey(key: string): string {
  let shared = bucketKeys.get(key);
  if (shared === undefined) bucketKeys.set(key, (shared = key));
  return shared;
}

function buildBuckets(nodes: readonly IndexedDevice[]): Map<string, IndexedDevice[]> {
  const buckets = new Map<string, IndexedDevice[]>();
  const add = (built: string, d: IndexedDevice) => {
    const key = sharedKey(built);
    const list = buckets.get(key);
    if (list === undefined) buckets.set(key, [d]);
    else if (list[list.length - 1] !== d) list.push(d);
  };
  for (const d of nodes) {
    const s = d.state;
    const vendor = s.vendor.toLowerCase();
    add(`vd:${vendor}:${s.device.toLowerCase()}`, d);
    add(`v:${vendor}`, d);
    add(`c:${s.class.toLowerCase()}`, d);
  }
  for (const [key, list] of buckets) buckets.set(key, list.slice());
  return buckets;
}

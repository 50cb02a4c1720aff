/**
 * The scheduler's in-memory cluster, in one place: hosts by name and id,
 * the matcher's input (one stable view slot per host) and its cache, the
 * interner, and which live VM is on which host. Every change to a host goes
 * through here, so the PlacementCache hears of each one (its contract).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { CompiledVmSpec, PlacementPolicy } from './spec.js';
import { ValidationError, type Logger } from '../common/index.js';
import { deviceAt, setHolder, setOnline, toMemHost, type MemHost } from './cluster.js';
import type { StoredHost } from './host-store.js';
import { Interner } from './interner.js';
import { OFFLINE, placeVm, warmBounds, warmSearch, PlacementCache, type HostState, type PlacementOptions } from './matcher/index.js';
import { capReasons, elsewhereReason } from './pending-reasons.js';
import type { PendingReason, VmDevice } from './vm-store.js';

/** The matcher's answer for one VM, with what a commit needs. */
export type Decision =
  | { kind: 'placed'; host: MemHost; devices: VmDevice[]; allocations: Array<{ deviceId: number; request: number | null; companion: boolean }> }
  | { kind: 'pending'; reasons: PendingReason[] };

export class ClusterState {
  readonly hosts = new Map<string, MemHost>();
  readonly byId = new Map<number, MemHost>();
  /** Live VMs: route a release without reading the database. */
  readonly liveVms = new Map<number, { hostId: number; leases: boolean }>();
  /** Matcher input: one slot per host, so the same array goes to every placement. */
  private readonly views: HostState[] = [];
  private readonly viewSlots = new Map<string, number>();
  private readonly placementCache = new PlacementCache();
  /** Shares what hosts report alike (names, ids, addresses, group layouts). */
  private readonly interner = new Interner();

  constructor(
    private readonly options: { policy: PlacementPolicy; stepBudget?: number; logger: Logger },
  ) {}

  /**
   * Puts a stored host in memory (replacing any older copy) and returns it.
   * VMs holding its devices that memory did not know (stored before a
   * restart, or placed by another replica) become live VMs; whether they
   * have leases is not known, so their release deletes them to be sure.
   */
  load(stored: StoredHost, online: boolean, lastSeenAt: Date | null): MemHost {
    for (const d of stored.devices) if (d.vmId !== null && !this.liveVms.has(d.vmId)) this.liveVms.set(d.vmId, { hostId: stored.id, leases: true });
    const host = toMemHost(stored, online, lastSeenAt, this.interner);
    this.hosts.set(host.name, host);
    this.byId.set(host.id, host);
    this.publish(host);
    return host;
  }

  /** Records who holds the devices at `addresses` (null: free). */
  hold(host: MemHost, addresses: Iterable<string>, vmId: number | null): void {
    setHolder(host, addresses, vmId);
    this.publish(host);
  }

  setOnline(host: MemHost, online: boolean): void {
    setOnline(host, online);
    this.publish(host);
  }

  hostOf(vmId: number): MemHost | undefined {
    const live = this.liveVms.get(vmId);
    return live === undefined ? undefined : this.byId.get(live.hostId);
  }

  /**
   * Prepares `decide(spec)` in slices of about `sliceMs`, yielding to the
   * event loop between them: a template shape the cluster has not seen
   * costs a prefilter of every host, 0.6 s at 10k hosts, and sometimes a
   * long first search, which would otherwise hold up heartbeats and HTTP.
   * Returns the number of slices (1 when nothing was left to do). Never
   * throws: `decide` reports a broken input.
   */
  async warm(spec: CompiledVmSpec, sliceMs = 4): Promise<number> {
    const options = this.placementOptions(spec);
    let slices = 0;
    let next = 0;
    let searched = false;
    let searching = false;
    for (;;) {
      slices++;
      const deadline = performance.now() + sliceMs;
      const stop = () => performance.now() >= deadline;
      try {
        // Bounds for every host first, then the exact scores the search will want;
        // each does at least one host before it asks `stop`, so every slice gets somewhere.
        if (next < this.views.length) next = warmBounds(spec, this.views, options, next, stop);
        if (next >= this.views.length) {
          searched = warmSearch(spec, this.views, options, stop, searching);
          searching = true;
        }
      } catch {
        return slices;
      }
      if (searched) return slices;
      await nextTurn();
    }
  }

  /** The matcher's answer against memory. Never throws: a broken input is a pending reason. */
  decide(spec: CompiledVmSpec): Decision {
    try {
      const result = placeVm(spec, this.views, this.placementOptions(spec));
      if (result.kind === 'unplaceable') return { kind: 'pending', reasons: capReasons(result.reasons.map((r) => this.elsewhere(r))) };
      const host = this.hosts.get(result.host)!;
      return {
        kind: 'placed',
        host,
        devices: result.devices.map((d) => vmDevice(host, d)),
        allocations: result.devices.map((d) => ({ deviceId: deviceAt(host, d.address)!.id, request: d.request, companion: d.companion })),
      };
    } catch (err) {
      if (err instanceof ValidationError) return { kind: 'pending', reasons: [{ host: null, reason: err.message }] };
      // Broken, not "does not fit": keep the VM pending and say so.
      this.options.logger.error({ err }, 'placement failed');
      return { kind: 'pending', reasons: [{ host: null, reason: `internal error during placement: ${(err as Error).message}` }] };
    }
  }

  /** A host offline here but online through another replica (host list shows it online): the reason says where. */
  private elsewhere(r: PendingReason): PendingReason {
    if (r.reason !== OFFLINE || r.host === null) return r;
    const holder = this.hosts.get(r.host)?.replicaId;
    return holder ? { host: r.host, reason: elsewhereReason(holder) } : r;
  }

  private placementOptions(spec: CompiledVmSpec): PlacementOptions {
    return { policy: spec.policy ?? this.options.policy, stepBudget: this.options.stepBudget, cache: this.placementCache };
  }

  /** Puts a host's current view in its slot and tells the matcher's cache. */
  private publish(host: MemHost): void {
    const slot = this.viewSlots.get(host.name);
    if (slot === undefined) {
      this.viewSlots.set(host.name, this.views.length);
      this.views.push(host.view);
    } else {
      this.views[slot] = host.view;
    }
    this.placementCache.invalidate(host.view);
  }
}

function vmDevice(host: MemHost, d: { address: string; request: number | null; companion: boolean }): VmDevice {
  const r = deviceAt(host, d.address)!;
  return { address: r.address, shortAddress: r.shortAddress, vendor: r.vendor, device: r.device, class: r.class, request: d.request, companion: d.companion };
}

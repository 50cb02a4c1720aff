/**
 * The scheduler service: probe reports in, VM placements out.
 *
 * Placement runs one at a time in this process (an async queue) against the
 * in-memory cluster view, then commits to the database with an optimistic
 * check on the host's allocVersion. A lost race reloads that host and
 * retries. VMs that fit nowhere stay pending with reasons, and are retried in
 * submission order whenever capacity may have changed.
 */
import type { Clock, HostFacts, Logger, DeviceReport } from '../common/index.js';
import { NotFoundError, ValidationError } from '../common/index.js';
import type { Db } from './db/index.js';
import { HostStore } from './host-store.js';
import { NetworkStore, NoFreeAddressError, type NicPlan } from './network-store.js';
import { VmStore, PlacementConflictError, type VmRecord, type PendingReason, type VmDevice } from './vm-store.js';
import { toMemHost, setHolder, setOnline, deviceAt, hostView, type MemHost, type HostView } from './cluster.js';
import { Interner } from './interner.js';
import type { CompiledVmSpec, PlacementPolicy, VmSpec } from './spec.js';
import { compileSpec } from './template/index.js';
import { placeVm, PlacementCache, type HostState } from './matcher/index.js';
import { SerialQueue } from './serial-queue.js';
import { commitBatch, maxVmId, type BatchWrite, type NewVmRow, type Released } from './batch-store.js';
import { capReasons } from './pending-reasons.js';
import { Preparation, type PrepareReply, type SendPrepare } from './preparation.js';
import { adviseKernelParams, type Advice } from '../passthrough/index.js';

export interface SchedulerOptions {
  db: Db;
  clock: Clock;
  logger: Logger;
  /** Default placement policy; a VM's SCHED_POLICY overrides it. */
  policy?: PlacementPolicy;
  /** A host is offline after this many heartbeat intervals without news. */
  missedHeartbeats?: number;
  stepBudget?: number;
}

const MAX_COMMIT_ATTEMPTS = 8;

export class Scheduler {
  private readonly hosts = new Map<string, MemHost>();
  private readonly hostsById = new Map<number, MemHost>();
  /** Matcher input: one slot per host, replaced (never mutated) on change, so the cache stays valid. */
  private readonly views: HostState[] = [];
  private readonly viewSlots = new Map<string, number>();
  private readonly placementCache = new PlacementCache();
  /** Shares what hosts report alike (names, ids, addresses, group layouts). */
  private readonly interner = new Interner();
  /** Pending VMs in submission (id) order. */
  private readonly pending = new Map<number, CompiledVmSpec>();
  private readonly queue = new SerialQueue();
  private readonly hostStore: HostStore;
  private readonly vmStore: VmStore;
  private readonly preparation: Preparation;
  readonly networks: NetworkStore;
  private readonly policy: PlacementPolicy;
  private readonly missed: number;
  /** Live VMs: route a release without reading the database. */
  private readonly liveVms = new Map<number, { hostId: number; leases: boolean }>();
  /** The highest VM id stored: a batch hands out the ids above it. */
  private maxVmId = 0;
  /** Submissions and releases waiting for the next group commit. */
  private readonly inbox: BatchItem[] = [];
  private drainQueued = false;
  private retryRequested = false;
  private retryRunning: Promise<void> | null = null;
  private sweeper: NodeJS.Timeout | null = null;

  private constructor(private readonly opts: SchedulerOptions) {
    this.hostStore = new HostStore(opts.db, opts.clock);
    this.vmStore = new VmStore(opts.db, opts.clock);
    this.preparation = new Preparation(this.vmStore, opts.logger);
    this.networks = new NetworkStore(opts.db, opts.clock);
    this.policy = opts.policy ?? 'pack';
    this.missed = opts.missedHeartbeats ?? 3;
  }

  /** Loads hosts (all offline until their probe reconnects) and pending VMs. */
  static async open(opts: SchedulerOptions): Promise<Scheduler> {
    const s = new Scheduler(opts);
    for (const stored of await s.hostStore.loadAll()) {
      // After a restart no probe is connected yet: every host starts offline.
      s.addHost(toMemHost(stored, false, stored.lastSeenAt, s.interner));
      // Whether a loaded VM has leases is not known here: its release deletes them to be sure.
      for (const d of stored.devices) if (d.vmId !== null) s.liveVms.set(d.vmId, { hostId: stored.id, leases: true });
    }
    await s.hostStore.markAllOffline();
    s.maxVmId = await maxVmId(opts.db);
    for (const vm of await s.vmStore.list({ state: 'pending' })) {
      try {
        s.pending.set(vm.id, compileSpec(vm.spec));
      } catch (err) {
        opts.logger.error({ vm: vm.id, err }, 'stored VM spec no longer compiles; leaving it pending');
      }
    }
    return s;
  }

  private addHost(host: MemHost): void {
    this.hosts.set(host.name, host);
    this.hostsById.set(host.id, host);
    this.publish(host);
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

  /** Starts the liveness sweep. */
  start(sweepMs = 1000): void {
    this.sweeper ??= setInterval(() => void this.sweepLiveness().catch((err) => this.opts.logger.error({ err }, 'liveness sweep failed')), sweepMs);
    this.sweeper.unref();
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    await this.queue.idle();
    await this.retryRunning;
  }

  // ---- probe side -------------------------------------------------------

  /** A probe opened a stream. Returns the generation we hold for its session (0 forces a snapshot). */
  async probeHello(name: string, session: string, intervalMs: number): Promise<number> {
    const host = this.hosts.get(name);
    if (!host) return 0;
    host.intervalMs = intervalMs || host.intervalMs;
    await this.markSeen(host);
    return host.session === session ? host.generation : 0;
  }

  async probeSnapshot(input: { name: string; session: string; generation: number; intervalMs: number; facts: HostFacts; devices: DeviceReport[] }): Promise<void> {
    await this.queue.run(async () => {
      const { host: stored, devicesChanged } = await this.hostStore.ingestSnapshot(input);
      const wasOnline = this.hosts.get(input.name)?.online ?? false;
      const mem = toMemHost(stored, true, this.opts.clock.now(), this.interner);
      this.addHost(mem);
      this.opts.logger.info({ host: input.name, generation: input.generation, devices: input.devices.length, changed: devicesChanged }, 'snapshot stored');
      if (devicesChanged || !wasOnline) this.requestRetry();
    });
  }

  /** Registers the stream a host's probe listens on for prepare requests, and re-sends what it may have missed. */
  attachProbe(name: string, send: SendPrepare): () => void {
    const detach = this.preparation.attach(name, send);
    const host = this.hosts.get(name);
    if (host) {
      void this.queue
        .run(() => this.preparation.reconcile(name, host.id))
        .catch((err) => this.opts.logger.error({ host: name, err }, 'reconcile failed'));
    }
    return detach;
  }

  async probePrepareResult(name: string, reply: PrepareReply): Promise<void> {
    await this.queue.run(async () => {
      const vm = await this.vmStore.get(reply.vmId).catch(() => null);
      if (!vm || vm.host !== name) {
        this.opts.logger.warn({ host: name, vm: reply.vmId }, 'prepare result for a VM not on this host; ignored');
        return;
      }
      if ((await this.preparation.onReply(name, reply)) === 'release') await this.releaseNow(reply.vmId);
    });
  }

  /** A heartbeat: memory only, unless the host comes back online. Returns false if a resync is needed. */
  async probeHeartbeat(name: string, generation: number): Promise<boolean> {
    const host = this.hosts.get(name);
    if (!host || host.generation !== generation) return false;
    await this.markSeen(host);
    return true;
  }

  private async markSeen(host: MemHost): Promise<void> {
    host.lastSeenAt = this.opts.clock.now();
    if (!host.online) {
      setOnline(host, true);
      this.publish(host);
      await this.hostStore.setState(host.name, 'online', host.lastSeenAt);
      this.opts.logger.info({ host: host.name }, 'host online');
      this.requestRetry();
    }
  }

  /** Marks hosts offline after `missedHeartbeats` intervals without news. */
  async sweepLiveness(): Promise<void> {
    const now = this.opts.clock.now().getTime();
    for (const host of this.hosts.values()) {
      if (!host.online || !host.lastSeenAt) continue;
      if (now - host.lastSeenAt.getTime() > this.missed * host.intervalMs) {
        setOnline(host, false);
        this.publish(host);
        await this.hostStore.setState(host.name, 'offline', null);
        this.opts.logger.warn({ host: host.name, lastSeenAt: host.lastSeenAt }, 'host offline: heartbeats missed');
        // Devices of VMs waiting for the host to release them are freed once it is offline.
        await this.queue.run(async () => {
          for (const vm of await this.vmStore.listOnHost(host.id, ['releasing'])) await this.releaseNow(vm.id);
        });
      }
    }
  }

  // ---- VM side ------------------------------------------------------------

  /**
   * Places a VM (or leaves it pending with reasons) and stores it. The result
   * is returned only once it is committed, so nothing acknowledged is lost.
   * Submissions without NICs are group-committed: those arriving while a
   * batch commits go together in the next one.
   */
  async submit(spec: VmSpec): Promise<VmRecord> {
    const compiled = compileSpec(spec); // ValidationError before anything is stored
    await this.checkNetworks(spec);
    if (spec.pci.some((r) => r.type === 'NIC')) return this.submitOne(spec, compiled);
    return new Promise((resolve, reject) => this.enqueue({ kind: 'submit', spec, compiled, resolve, reject }));
  }

  /** One VM on its own: stored pending first, then placed (leases need per-VM queries). */
  private async submitOne(spec: VmSpec, compiled: CompiledVmSpec): Promise<VmRecord> {
    const vm = await this.vmStore.create(spec);
    this.maxVmId = Math.max(this.maxVmId, vm.id);
    return this.queue.run(async () => {
      this.pending.set(vm.id, compiled);
      return this.tryPlace(vm.id, compiled);
    });
  }

  /**
   * Releases a VM. If its host's probe is connected, the probe first restores
   * the host drivers and the devices are freed when it confirms (the VM is
   * `releasing` meanwhile); otherwise they are freed at once.
   */
  async release(id: number): Promise<VmRecord> {
    const live = this.liveVms.get(id);
    const host = live === undefined ? undefined : this.hostsById.get(live.hostId);
    // No probe to ask first: freed at once, group-committed.
    if (!host?.online || !this.preparation.connected(host.name)) {
      return new Promise((resolve, reject) => this.enqueue({ kind: 'release', id, resolve, reject }));
    }
    return this.releaseOne(id);
  }

  private async releaseOne(id: number): Promise<VmRecord> {
    return this.queue.run(async () => {
      const vm = await this.vmStore.get(id);
      if (vm.state === 'released' || vm.state === 'pending') return this.releaseNow(id);
      const host = vm.host ? this.hosts.get(vm.host) : undefined;
      if (host?.online && this.preparation.send(host.name, vm, true)) {
        await this.vmStore.transition(id, ['allocated', 'ready', 'prepare_failed'], 'releasing', vm.lastError);
        return this.vmStore.get(id);
      }
      return this.releaseNow(id);
    });
  }

  /** Frees a VM's devices now (inside the queue). Idempotent. */
  private async releaseNow(id: number): Promise<VmRecord> {
    {
      const { vm, hostId } = await this.vmStore.release(id);
      this.pending.delete(id);
      this.liveVms.delete(id);
      const host = hostId === null ? undefined : this.hostsById.get(hostId);
      if (host) {
        host.allocVersion += 1;
        setHolder(host, vm.devices.map((d) => d.address), null);
        this.publish(host);
        this.preparation.unprepareFailures.get(host.name)?.delete(id);
        this.requestRetry();
      }
      return vm;
    }
  }

  getVm(id: number): Promise<VmRecord> {
    return this.vmStore.get(id);
  }

  listVms(): Promise<VmRecord[]> {
    return this.vmStore.list();
  }

  listHosts(): HostView[] {
    return [...this.hosts.values()].sort((a, b) => a.id - b.id).map((h) => hostView(h, this.preparation.unprepareFailures.get(h.name)));
  }

  /** Kernel parameters to add on a host for the chosen devices (never applied). */
  adviseHost(name: string, chosen: string[]): Advice {
    const host = this.hosts.get(name);
    if (!host) throw new NotFoundError('host', name);
    const devices = host.devices.filter((d) => !d.missing);
    const byShort = new Map(devices.map((d) => [d.shortAddress, d.address]));
    return adviseKernelParams({ hostName: name, readiness: host.readiness, devices, chosen: chosen.map((a) => byShort.get(a) ?? a) });
  }

  getHost(name: string): HostView {
    const host = this.hosts.get(name);
    if (!host) throw new NotFoundError('host', name);
    return hostView(host, this.preparation.unprepareFailures.get(name));
  }

  /** Resolves once queued placements and pending retries have finished (tests, shutdown). */
  async settled(): Promise<void> {
    do {
      await this.queue.idle();
      await this.retryRunning;
    } while (this.retryRequested || this.retryRunning);
  }

  // ---- placement ----------------------------------------------------------

  /** NIC requests must name an existing network (400 otherwise). */
  private async checkNetworks(spec: VmSpec): Promise<void> {
    const nics = spec.pci.filter((r) => r.type === 'NIC');
    for (const r of nics) {
      if (!r.attributes.NETWORK) throw new ValidationError('a TYPE = "NIC" request needs NETWORK', { field: `PCI[${r.index}].NETWORK` });
    }
    if (nics.length === 0) return;
    const missing = await this.networks.missing(nics.map((r) => r.attributes.NETWORK!));
    if (missing.length > 0) {
      const r = nics.find((n) => n.attributes.NETWORK === missing[0])!;
      throw new ValidationError(`unknown network "${missing[0]}"`, { field: `PCI[${r.index}].NETWORK` });
    }
  }

  private async tryPlace(vmId: number, spec: CompiledVmSpec): Promise<VmRecord> {
    let reasons: PendingReason[] = [];
    try {
      const demand = new Map<string, number>();
      for (const r of spec.pci) if (r.type === 'NIC') demand.set(r.attributes.NETWORK!, (demand.get(r.attributes.NETWORK!) ?? 0) + 1);
      const full = demand.size > 0 ? await this.networks.exhausted(demand) : [];
      if (full.length > 0) {
        reasons = full.map((n) => ({ host: null, reason: `network ${n} has no free address` }));
        await this.vmStore.setPending(vmId, reasons);
        return this.vmStore.get(vmId);
      }
      for (let attempt = 0; attempt < MAX_COMMIT_ATTEMPTS; attempt++) {
        const decision = this.decide(spec);
        if (decision.kind === 'pending') {
          reasons = decision.reasons;
          break;
        }
        const { host, devices, allocations } = decision;
        try {
          const vm = await this.vmStore.commitPlacement(vmId, host.id, host.allocVersion, allocations, devices, nicPlans(spec, devices));
          host.allocVersion += 1;
          setHolder(host, devices.map((d) => d.address), vmId);
          this.publish(host);
          this.pending.delete(vmId);
          this.liveVms.set(vmId, { hostId: host.id, leases: vm.nics.length > 0 });
          this.preparation.send(host.name, vm, false);
          this.opts.logger.info({ vm: vmId, host: host.name, devices: devices.map((d) => d.address) }, 'VM placed');
          return vm;
        } catch (err) {
          if (err instanceof NoFreeAddressError) {
            reasons = [{ host: null, reason: err.message }];
            break;
          }
          if (!(err instanceof PlacementConflictError)) throw err;
          this.opts.logger.debug({ vm: vmId, host: host.name, err: err.message }, 'placement conflict; reloading host');
          await this.reloadHost(host.name);
          const current = await this.vmStore.get(vmId);
          if (current.state !== 'pending') {
            this.pending.delete(vmId);
            return current;
          }
          reasons = [{ host: null, reason: 'placement conflicted with concurrent changes; will retry' }];
        }
      }
    } catch (err) {
      if (err instanceof ValidationError) {
        reasons = [{ host: null, reason: err.message }];
      } else {
        // Broken, not "does not fit": keep the VM pending and say so.
        this.opts.logger.error({ vm: vmId, err }, 'placement failed');
        reasons = [{ host: null, reason: `internal error during placement: ${(err as Error).message}` }];
      }
    }
    await this.vmStore.setPending(vmId, reasons);
    return this.vmStore.get(vmId);
  }

  // ---- group commit ---------------------------------------------------------

  private enqueue(item: BatchItem): void {
    this.inbox.push(item);
    this.scheduleDrain();
  }

  /** One queue task per batch; what arrives meanwhile waits for the next. */
  private scheduleDrain(): void {
    if (this.drainQueued || this.inbox.length === 0) return;
    this.drainQueued = true;
    void this.queue
      .run(async () => {
        // A commit runs in microtasks and never lets the event loop read
        // sockets: wait one turn, so requests already received (each parsed
        // in its own I/O callback) join this batch instead of the next.
        await new Promise((resolve) => setImmediate(resolve));
        this.drainQueued = false;
        const batch = this.inbox.splice(0, MAX_BATCH);
        try {
          await this.runBatch(batch);
        } catch (err) {
          // Broken, not refused: memory may be ahead of the database, so reload it; callers get the error.
          this.opts.logger.error({ err, items: batch.length }, 'group commit failed');
          for (const host of [...this.hosts.values()]) await this.reloadHost(host.name);
          for (const item of batch) item.reject(err);
        }
        this.scheduleDrain();
      })
      .catch((err) => this.opts.logger.error({ err }, 'group commit failed'));
  }

  /**
   * Decides every item against memory in order (later ones see earlier
   * ones), then commits all of them in one transaction. VM ids are handed
   * out here, so placements hold their devices under their real ids. On any
   * commit failure memory is reloaded and each item runs on its own.
   */
  private async runBatch(batch: BatchItem[]): Promise<void> {
    const write: BatchWrite = { placedOn: [], freedOn: [], releases: [], releasesLeases: false, goneDevices: [], vms: [], allocations: [] };
    const placedOn = new Map<number, { host: MemHost; expected: number }>();
    const freed = new Set<MemHost>();
    const submits: Array<{ item: SubmitItem; vm: VmRecord; host: MemHost | null }> = [];
    const now = this.opts.clock.now();
    let nextId = this.maxVmId;
    for (const item of batch) {
      if (item.kind === 'release') {
        write.releases.push(item.id);
        const live = this.liveVms.get(item.id);
        write.releasesLeases ||= live?.leases ?? true;
        const host = this.hostsById.get(live?.hostId ?? -1);
        if (host) {
          const held = host.devices.filter((d) => d.heldBy === item.id);
          write.goneDevices.push(...held.filter((d) => d.missing).map((d) => d.id));
          setHolder(host, held.map((d) => d.address), null);
          this.publish(host);
          freed.add(host);
        }
        continue;
      }
      const id = ++nextId;
      const decision = this.decide(item.compiled);
      const host = decision.kind === 'placed' ? decision.host : null;
      const vm: VmRecord = {
        id, name: item.spec.name || `vm-${id}`, state: host ? 'allocated' : 'pending', host: host?.name ?? null,
        devices: decision.kind === 'placed' ? decision.devices : [], nics: [],
        pendingReasons: decision.kind === 'pending' ? decision.reasons : [], lastError: null, createdAt: now, updatedAt: now, spec: item.spec,
      };
      write.vms.push({
        id, name: vm.name, state: vm.state as NewVmRow['state'], hostId: host?.id ?? null, template: JSON.stringify(item.spec),
        devices: JSON.stringify(vm.devices), pendingReasons: JSON.stringify(vm.pendingReasons),
      });
      submits.push({ item, vm, host });
      if (decision.kind === 'placed') {
        if (!placedOn.has(decision.host.id)) placedOn.set(decision.host.id, { host: decision.host, expected: decision.host.allocVersion });
        setHolder(decision.host, vm.devices.map((d) => d.address), id);
        this.publish(decision.host);
        for (const a of decision.allocations) write.allocations.push({ vmId: id, ...a });
      }
    }
    write.placedOn = [...placedOn.values()].map(({ host, expected }) => ({ id: host.id, expected }));
    write.freedOn = [...freed].filter((h) => !placedOn.has(h.id)).map((h) => h.id);

    let released: Released;
    try {
      released = await commitBatch(this.opts.db, write, now, (id) => (id === null ? null : (this.hostsById.get(id)?.name ?? null)));
    } catch (err) {
      this.opts.logger.warn({ err, items: batch.length }, 'group commit refused; reloading hosts and committing one by one');
      for (const host of new Set([...freed, ...[...placedOn.values()].map((p) => p.host)])) await this.reloadHost(host.name);
      this.maxVmId = await maxVmId(this.opts.db);
      for (const item of batch) await this.runAlone(item);
      return;
    }
    this.maxVmId = nextId;

    for (const { host, expected } of placedOn.values()) host.allocVersion = expected + 1;
    for (const host of freed) if (!placedOn.has(host.id)) host.allocVersion += 1;
    for (const { vm, hostId } of released) {
      this.liveVms.delete(vm.id);
      this.pending.delete(vm.id);
      const host = hostId === null ? undefined : this.hostsById.get(hostId);
      if (host) this.preparation.unprepareFailures.get(host.name)?.delete(vm.id);
    }
    for (const { item, vm, host } of submits) {
      if (host) {
        this.liveVms.set(vm.id, { hostId: host.id, leases: false });
        this.preparation.send(host.name, vm, false);
      } else {
        this.pending.set(vm.id, item.compiled);
      }
      item.resolve(vm);
    }
    const byId = new Map(released.map((r) => [r.vm.id, r.vm]));
    for (const item of batch) {
      if (item.kind !== 'release') continue;
      const vm = byId.get(item.id);
      // Not released by this batch: already released, or unknown (NotFoundError).
      if (vm) item.resolve(vm);
      else await this.vmStore.get(item.id).then(item.resolve, item.reject);
    }
    if (released.length > 0) this.requestRetry();
  }

  /** The one-at-a-time path for an item whose batch could not commit. */
  private async runAlone(item: BatchItem): Promise<void> {
    try {
      if (item.kind === 'release') {
        item.resolve(await this.releaseNow(item.id));
      } else {
        const vm = await this.vmStore.create(item.spec);
        this.maxVmId = Math.max(this.maxVmId, vm.id);
        this.pending.set(vm.id, item.compiled);
        item.resolve(await this.tryPlace(vm.id, item.compiled));
      }
    } catch (err) {
      item.reject(err);
    }
  }

  /** The matcher's answer for one VM against memory, with what a commit needs. */
  private decide(spec: CompiledVmSpec): Decision {
    try {
      const result = placeVm(spec, this.views, { policy: spec.policy ?? this.policy, stepBudget: this.opts.stepBudget, cache: this.placementCache });
      if (result.kind === 'unplaceable') return { kind: 'pending', reasons: capReasons(result.reasons) };
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
      this.opts.logger.error({ err }, 'placement failed');
      return { kind: 'pending', reasons: [{ host: null, reason: `internal error during placement: ${(err as Error).message}` }] };
    }
  }

  private async reloadHost(name: string): Promise<void> {
    const stored = await this.hostStore.load(name);
    const old = this.hosts.get(name);
    if (stored && old) this.addHost(toMemHost(stored, old.online, old.lastSeenAt, this.interner));
  }

  /** Coalesces retry requests: one pass at a time, another if asked meanwhile. */
  private requestRetry(): void {
    this.retryRequested = true;
    if (this.retryRunning) return;
    this.retryRunning = (async () => {
      while (this.retryRequested) {
        this.retryRequested = false;
        await this.queue.run(() => this.retryPendingPass());
      }
    })()
      .catch((err) => this.opts.logger.error({ err }, 'pending retry failed'))
      .finally(() => {
        this.retryRunning = null;
      });
  }

  private async retryPendingPass(): Promise<void> {
    const ids = [...this.pending.keys()].sort((a, b) => a - b);
    for (const id of ids) {
      const spec = this.pending.get(id);
      if (spec) await this.tryPlace(id, spec);
      // SQLite calls resolve as microtasks: yield so heartbeats and the liveness sweep are not starved.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

/** The VM's NIC-type requests, in template order, with the device each got. */
function nicPlans(spec: CompiledVmSpec, devices: VmDevice[]): NicPlan[] {
  return spec.pci
    .filter((r) => r.type === 'NIC')
    .map((r, index) => ({
      index,
      request: r.index,
      network: r.attributes.NETWORK!,
      address: devices.find((d) => d.request === r.index)!.address,
      mac: r.attributes.MAC,
      ip: r.attributes.IP,
    }));
}

function vmDevice(host: MemHost, d: { address: string; request: number | null; companion: boolean }): VmDevice {
  const r = deviceAt(host, d.address)!;
  return { address: r.address, shortAddress: r.shortAddress, vendor: r.vendor, device: r.device, class: r.class, request: d.request, companion: d.companion };
}

const MAX_BATCH = 64;

interface SubmitItem {
  kind: 'submit';
  spec: VmSpec;
  compiled: CompiledVmSpec;
  resolve: (vm: VmRecord) => void;
  reject: (err: unknown) => void;
}

interface ReleaseItem {
  kind: 'release';
  id: number;
  resolve: (vm: VmRecord) => void;
  reject: (err: unknown) => void;
}

type BatchItem = SubmitItem | ReleaseItem;

type Decision =
  | { kind: 'placed'; host: MemHost; devices: VmDevice[]; allocations: Array<{ deviceId: number; request: number | null; companion: boolean }> }
  | { kind: 'pending'; reasons: PendingReason[] };

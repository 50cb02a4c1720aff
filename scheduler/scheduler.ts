/**
 * The scheduler service: probe reports in, VM placements out.
 *
 * Placement runs one at a time in this process (an async queue) against the
 * in-memory cluster (cluster-state.ts), then commits to the database with an
 * optimistic check on the host's allocVersion. Submissions and releases are
 * group-committed (group-commit.ts); VMs with NICs, whose leases need
 * per-VM queries, go one at a time, and so does a batch the database
 * refuses. A lost race reloads the host and retries. VMs that fit nowhere
 * stay pending with reasons, and are retried in submission order whenever
 * capacity may have changed.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Clock, HostFacts, Logger, DeviceReport } from '../common/index.js';
import { NotFoundError, ValidationError } from '../common/index.js';
import { directSql, type Db } from './db/index.js';
import { HostStore, type StoredHost } from './host-store.js';
import { HostLiveness } from './host-liveness.js';
import { NetworkStore, NoFreeAddressError, type NicPlan } from './network-store.js';
import { VmStore, PlacementConflictError, type VmRecord, type PendingReason, type VmDevice, type VmListFilter } from './vm-store.js';
import { hostView, replicaOf, type HostView } from './cluster.js';
import { ClusterState } from './cluster-state.js';
import { GroupCommit, type BatchItem } from './group-commit.js';
import { silentObserver, type SchedulerObserver } from './observer.js';
import { ReplicaLease, newReplicaId } from './replica-lease.js';
import { ReplicaSync } from './replica-sync.js';
import type { CompiledVmSpec, PlacementPolicy, VmSpec } from './spec.js';
import { compileSpec } from './template/index.js';
import { SerialQueue } from './serial-queue.js';
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
  /** On PostgreSQL, how often to pick up what other scheduler replicas changed (ms; default 1000, 0 never). */
  replicaSyncMs?: number;
  /** This process among the replicas on one database (default: host name, pid and a random part). */
  replicaId?: string;
  /** Told about each group-commit batch (metrics, the benchmark). */
  observer?: SchedulerObserver;
  /** On PostgreSQL, a replica that has not renewed its lease for this long has its hosts marked offline (ms; default 10 s). */
  replicaLeaseMs?: number;
}

/** Counts for metrics: cheap to take at every scrape, whatever the cluster's size. */
export interface SchedulerStats {
  /** Hosts whose probes stream to this replica. */
  hostsOnline: number;
  /** Hosts online through another replica (a shared database). */
  hostsElsewhere: number;
  hostsOffline: number;
  /** VMs waiting for room that this replica tries to place (on a shared database, other replicas' too). */
  pendingVms: number;
  /** VMs holding devices, as this replica knows them. */
  liveVms: number;
}

const MAX_COMMIT_ATTEMPTS = 8;

export class Scheduler {
  private readonly cluster: ClusterState;
  private readonly groupCommit: GroupCommit;
  private readonly replicaSync: ReplicaSync;
  private readonly lease: ReplicaLease;
  /** Several replicas may share the database (PostgreSQL): liveness goes through leases. */
  private readonly shared: boolean;
  /** Pending VMs in submission (id) order. */
  private readonly pending = new Map<number, CompiledVmSpec>();
  private readonly liveness: HostLiveness;
  /** Pending VMs of other replicas whose stored spec does not compile here (a newer replica's template syntax, say). */
  private readonly uncompiled = new Set<number>();
  private readonly queue = new SerialQueue();
  private readonly hostStore: HostStore;
  private readonly vmStore: VmStore;
  private readonly preparation: Preparation;
  readonly networks: NetworkStore;
  private retryRequested = false;
  private retryRunning: Promise<void> | null = null;
  private sweeper: NodeJS.Timeout | null = null;

  private constructor(private readonly opts: SchedulerOptions) {
    const replicaId = opts.replicaId ?? newReplicaId();
    this.shared = directSql(opts.db).provider === 'postgres';
    this.lease = new ReplicaLease(opts.db, opts.clock, replicaId, opts.replicaLeaseMs);
    this.hostStore = new HostStore(opts.db, opts.clock, this.lease);
    this.vmStore = new VmStore(opts.db, opts.clock);
    this.preparation = new Preparation(this.vmStore, opts.logger);
    this.networks = new NetworkStore(opts.db, opts.clock);
    this.cluster = new ClusterState({ policy: opts.policy ?? 'pack', stepBudget: opts.stepBudget, logger: opts.logger });
    this.liveness = new HostLiveness({
      cluster: this.cluster, hostStore: this.hostStore, lease: this.lease, clock: opts.clock, logger: opts.logger, shared: this.shared,
      missedHeartbeats: opts.missedHeartbeats ?? 3,
      cameOnline: () => this.requestRetry(),
      // Devices of VMs waiting for the host to release them are freed once it is offline.
      wentOffline: (host) =>
        this.queue.run(async () => {
          for (const vm of await this.vmStore.listOnHost(host.id, ['releasing'])) await this.releaseNow(vm.id);
        }),
    });
    this.groupCommit = new GroupCommit({
      db: opts.db, clock: opts.clock, logger: opts.logger, queue: this.queue, cluster: this.cluster, vmStore: this.vmStore, observer: opts.observer ?? silentObserver,
      hooks: {
        placed: (vm, host) => this.preparation.send(host.name, vm, false),
        pending: (id, spec) => this.pending.set(id, spec),
        released: (released) => {
          for (const { vm, hostId } of released) {
            this.pending.delete(vm.id);
            const host = hostId === null ? undefined : this.cluster.byId.get(hostId);
            if (host) this.preparation.unprepareFailures.get(host.name)?.delete(vm.id);
          }
          this.requestRetry();
        },
        alone: (item) => this.runAlone(item),
        reloadHost: (name) => this.reloadHost(name),
      },
    });
    this.replicaSync = new ReplicaSync({
      db: opts.db, queue: this.queue, cluster: this.cluster, hostStore: this.hostStore, lease: this.lease, logger: opts.logger,
      observer: opts.observer ?? silentObserver,
      apply: (stored) => this.applyStored(stored),
      probeSession: (host) => this.liveness.session(host),
      changed: () => this.requestRetry(),
      syncPending: () => this.syncPending(),
    });
  }

  /**
   * Loads hosts and pending VMs. No probe streams to a new process yet, so
   * its hosts are all offline here. Alone on its database (SQLite), it marks
   * them offline there too; on a shared one, only hosts whose replica's lease
   * has lapsed: the others' probes still stream to live replicas.
   */
  static async open(opts: SchedulerOptions): Promise<Scheduler> {
    const s = new Scheduler(opts);
    if (s.shared) {
      await s.lease.renew();
      await s.lease.expire();
    } else {
      await s.hostStore.markAllOffline();
    }
    for (const stored of await s.hostStore.loadAll()) s.cluster.load(stored, false, stored.lastSeenAt);
    await s.groupCommit.open();
    for (const vm of await s.vmStore.list({ states: ['pending'] })) {
      try {
        s.pending.set(vm.id, compileSpec(vm.spec));
      } catch (err) {
        opts.logger.error({ vm: vm.id, err }, 'stored VM spec no longer compiles; leaving it pending');
      }
    }
    return s;
  }

  /** Starts the liveness sweep. */
  start(sweepMs = 1000): void {
    this.sweeper ??= setInterval(() => void this.sweepLiveness().catch((err) => this.opts.logger.error({ err }, 'liveness sweep failed')), sweepMs);
    this.sweeper.unref();
    if (this.shared) this.replicaSync.start(this.opts.replicaSyncMs ?? 1000);
  }

  /** Picks up now what other scheduler replicas changed in the database (PostgreSQL; it runs every replicaSyncMs anyway). */
  syncFromDatabase(): Promise<string[]> {
    return this.replicaSync.once();
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    await this.replicaSync.stop();
    await this.queue.idle();
    await this.retryRunning;
    await this.liveness.settled();
    // Its probes will reconnect elsewhere: other replicas need not wait for the lease to lapse.
    if (this.shared) await this.lease.release().catch((err: unknown) => this.opts.logger.warn({ err }, 'could not give up the replica lease; it will lapse'));
  }

  // ---- probe side -------------------------------------------------------

  /** A probe opened a stream. Returns the generation we hold for its session (0 forces a snapshot). */
  async probeHello(name: string, session: string, intervalMs: number): Promise<number> {
    const host = this.cluster.hosts.get(name);
    if (!host) return 0;
    await this.liveness.seen(host, session);
    host.intervalMs = intervalMs || host.intervalMs;
    return host.session === session ? host.generation : 0;
  }

  async probeSnapshot(input: { name: string; session: string; generation: number; intervalMs: number; facts: HostFacts; devices: DeviceReport[] }): Promise<void> {
    await this.queue.run(async () => {
      const { host: stored, devicesChanged } = await this.hostStore.ingestSnapshot(input);
      this.liveness.snapshotStored(input.name, input.session);
      const wasOnline = this.cluster.hosts.get(input.name)?.online ?? false;
      this.cluster.load(stored, true, this.opts.clock.now());
      this.opts.logger.info({ host: input.name, generation: input.generation, devices: input.devices.length, changed: devicesChanged }, 'snapshot stored');
      if (devicesChanged || !wasOnline) this.requestRetry();
    });
  }

  /** Registers the stream a host's probe listens on for prepare requests, and re-sends what it may have missed. */
  attachProbe(name: string, send: SendPrepare): () => void {
    const detach = this.preparation.attach(name, send);
    const host = this.cluster.hosts.get(name);
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
  async probeHeartbeat(name: string, generation: number, session: string): Promise<boolean> {
    const host = this.cluster.hosts.get(name);
    if (!host || host.generation !== generation) return false;
    await this.liveness.seen(host, session);
    return true;
  }

  /** The stream of the host's probe (`session`) ended here (HostLiveness.gone). */
  probeGone(name: string, session: string): Promise<void> {
    return this.liveness.gone(name, session);
  }

  /** Marks hosts offline after `missedHeartbeats` intervals without news (it runs every sweepMs anyway). */
  sweepLiveness(): Promise<void> {
    return this.liveness.sweep();
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
    return this.groupCommit.submit(spec, compiled);
  }

  /** One VM on its own: stored pending first, then placed (leases need per-VM queries). */
  private async submitOne(spec: VmSpec, compiled: CompiledVmSpec): Promise<VmRecord> {
    const vm = await this.vmStore.create(spec);
    this.groupCommit.noteVmId(vm.id);
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
    const host = this.cluster.hostOf(id);
    // No probe to ask first: freed at once, group-committed.
    if (!host?.online || !this.preparation.connected(host.name)) return this.groupCommit.release(id);
    return this.releaseOne(id);
  }

  private async releaseOne(id: number): Promise<VmRecord> {
    return this.queue.run(async () => {
      const vm = await this.vmStore.get(id);
      if (vm.state === 'released' || vm.state === 'pending') return this.releaseNow(id);
      const host = vm.host ? this.cluster.hosts.get(vm.host) : undefined;
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
      this.cluster.liveVms.delete(id);
      const host = hostId === null ? undefined : this.cluster.byId.get(hostId);
      if (host) {
        host.allocVersion += 1;
        this.cluster.hold(host, vm.devices.map((d) => d.address), null);
        this.preparation.unprepareFailures.get(host.name)?.delete(id);
        this.requestRetry();
      }
      return vm;
    }
  }

  getVm(id: number): Promise<VmRecord> {
    return this.vmStore.get(id);
  }

  listVms(filter: VmListFilter = {}): Promise<VmRecord[]> {
    return this.vmStore.list(filter);
  }

  stats(): SchedulerStats {
    let online = 0;
    let elsewhere = 0;
    for (const h of this.cluster.hosts.values()) {
      const replica = replicaOf(h, this.lease.replicaId);
      if (replica === this.lease.replicaId) online++;
      else if (replica !== null) elsewhere++;
    }
    return { hostsOnline: online, hostsElsewhere: elsewhere, hostsOffline: this.cluster.hosts.size - online - elsewhere, pendingVms: this.pending.size, liveVms: this.cluster.liveVms.size };
  }

  listHosts(): HostView[] {
    return [...this.cluster.hosts.values()].sort((a, b) => a.id - b.id).map((h) => hostView(h, this.lease.replicaId, this.preparation.unprepareFailures.get(h.name)));
  }

  /** Kernel parameters to add on a host for the chosen devices (never applied). */
  adviseHost(name: string, chosen: string[]): Advice {
    const host = this.cluster.hosts.get(name);
    if (!host) throw new NotFoundError('host', name);
    const devices = host.devices.filter((d) => !d.missing);
    const byShort = new Map(devices.map((d) => [d.shortAddress, d.address]));
    return adviseKernelParams({ hostName: name, readiness: host.readiness, devices, chosen: chosen.map((a) => byShort.get(a) ?? a) });
  }

  getHost(name: string): HostView {
    const host = this.cluster.hosts.get(name);
    if (!host) throw new NotFoundError('host', name);
    return hostView(host, this.lease.replicaId, this.preparation.unprepareFailures.get(name));
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
      await this.cluster.warm(spec);
      for (let attempt = 0; attempt < MAX_COMMIT_ATTEMPTS; attempt++) {
        const decision = this.cluster.decide(spec);
        if (decision.kind === 'pending') {
          reasons = decision.reasons;
          break;
        }
        const { host, devices, allocations } = decision;
        try {
          const vm = await this.vmStore.commitPlacement(vmId, host.id, host.allocVersion, allocations, devices, nicPlans(spec, devices));
          host.allocVersion += 1;
          this.cluster.hold(host, devices.map((d) => d.address), vmId);
          this.pending.delete(vmId);
          this.cluster.liveVms.set(vmId, { hostId: host.id, leases: vm.nics.length > 0 });
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

  /** The one-at-a-time path for an item whose batch could not commit. */
  private async runAlone(item: BatchItem): Promise<void> {
    try {
      if (item.kind === 'release') {
        item.resolve(await this.releaseNow(item.id));
      } else {
        const vm = await this.vmStore.create(item.spec);
        this.groupCommit.noteVmId(vm.id);
        this.pending.set(vm.id, item.compiled);
        item.resolve(await this.tryPlace(vm.id, item.compiled));
      }
    } catch (err) {
      item.reject(err);
    }
  }

  private async reloadHost(name: string): Promise<void> {
    const stored = await this.hostStore.load(name);
    if (stored && this.cluster.hosts.has(name)) this.applyStored(stored);
  }

  /** Memory of a host replaced by what the database holds, keeping this scheduler's view of its liveness (offline if new here). */
  private applyStored(stored: StoredHost): void {
    const old = this.cluster.hosts.get(stored.name);
    this.cluster.load(stored, old?.online ?? false, old?.lastSeenAt ?? stored.lastSeenAt);
  }

  /** Pending VMs as the shared database holds them (inside the queue): other replicas' are taken up, placed or released ones dropped. */
  private async syncPending(): Promise<boolean> {
    const stored = await this.vmStore.pendingIds();
    const still = new Set(stored);
    for (const id of this.pending.keys()) if (!still.has(id)) this.pending.delete(id);
    let adopted = false;
    for (const id of stored) {
      if (this.pending.has(id) || this.uncompiled.has(id)) continue;
      const vm = await this.vmStore.get(id);
      try {
        this.pending.set(id, compileSpec(vm.spec));
        adopted = true;
      } catch (err) {
        // Left pending, as at startup; not read again on every pass.
        this.uncompiled.add(id);
        this.opts.logger.warn({ vm: id, err }, 'pending VM spec does not compile here; leaving it pending');
      }
    }
    return adopted;
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
      await nextTurn();
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

/**
 * Group commit of submissions and releases. Callers wait in an inbox; each
 * turn of the scheduler's serial queue takes the whole inbox, decides every
 * item against memory in order (later ones see earlier ones), hands out VM
 * ids, and commits everything in one transaction (batch-store.ts). The
 * promise of each item resolves only after that commit, so nothing
 * acknowledged is lost. If the database refuses the batch (a constraint:
 * another writer moved a host on), the hosts it touched are reloaded and each
 * item runs on its own, the one-at-a-time path. If the database fails, the
 * callers get its error and those hosts are reloaded before the next decision.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Clock, Logger } from '../common/index.js';
import { commitBatch, maxVmId, nextVmIds, type BatchWrite, type NewVmRow, type Released } from './batch-store.js';
import type { MemHost } from './cluster.js';
import type { SchedulerObserver } from './observer.js';
import type { ClusterState } from './cluster-state.js';
import type { Db } from './db/index.js';
import type { SerialQueue } from './serial-queue.js';
import type { CompiledVmSpec, VmSpec } from './spec.js';
import { PlacementConflictError, type VmRecord, type VmStore } from './vm-store.js';

/** A batch carries at most this many items; the rest wait for the next turn. */
const MAX_BATCH = 64;

export interface SubmitItem {
  kind: 'submit';
  spec: VmSpec;
  compiled: CompiledVmSpec;
  resolve: (vm: VmRecord) => void;
  reject: (err: unknown) => void;
}

export interface ReleaseItem {
  kind: 'release';
  id: number;
  resolve: (vm: VmRecord) => void;
  reject: (err: unknown) => void;
}

export type BatchItem = SubmitItem | ReleaseItem;

/** What the scheduler does around a batch. */
export interface GroupCommitHooks {
  /** A committed placement: ask the host to prepare it. */
  placed(vm: VmRecord, host: MemHost): void;
  /** A committed VM that fits nowhere yet: retried later. */
  pending(vmId: number, spec: CompiledVmSpec): void;
  /** Committed releases: capacity may have freed up. */
  released(released: Released): void;
  /** The one-at-a-time path for an item whose batch the database refused. */
  alone(item: BatchItem): Promise<void>;
  reloadHost(name: string): Promise<void>;
}

export class GroupCommit {
  private readonly inbox: BatchItem[] = [];
  private drainQueued = false;
  /** The highest VM id stored: a batch hands out the ids above it. */
  private maxVmId = 0;
  /** Hosts whose memory holds decisions of a batch that did not commit. */
  private readonly stale = new Set<string>();

  constructor(
    private readonly deps: { db: Db; clock: Clock; logger: Logger; queue: SerialQueue; cluster: ClusterState; vmStore: VmStore; hooks: GroupCommitHooks; observer: SchedulerObserver },
  ) {}

  async open(): Promise<void> {
    this.maxVmId = await maxVmId(this.deps.db);
  }

  /** A VM stored outside a batch (the one-at-a-time path): batch ids must stay above it. */
  noteVmId(id: number): void {
    this.maxVmId = Math.max(this.maxVmId, id);
  }

  submit(spec: VmSpec, compiled: CompiledVmSpec): Promise<VmRecord> {
    return new Promise((resolve, reject) => this.enqueue({ kind: 'submit', spec, compiled, resolve, reject }));
  }

  /** Frees a VM's devices at once (no probe to ask first). */
  release(id: number): Promise<VmRecord> {
    return new Promise((resolve, reject) => this.enqueue({ kind: 'release', id, resolve, reject }));
  }

  private enqueue(item: BatchItem): void {
    this.inbox.push(item);
    this.scheduleDrain();
  }

  /** One queue task per batch; what arrives meanwhile waits for the next. */
  private scheduleDrain(): void {
    if (this.drainQueued || this.inbox.length === 0) return;
    this.drainQueued = true;
    const { queue, logger } = this.deps;
    void queue
      .run(async () => {
        // A commit runs in microtasks and never lets the event loop read
        // sockets: wait one turn, so requests already received (each parsed
        // in its own I/O callback) join this batch instead of the next.
        await nextTurn();
        this.drainQueued = false;
        const batch = this.inbox.splice(0, MAX_BATCH);
        try {
          await this.runBatch(batch);
        } catch (err) {
          // Broken, not refused (the database failed): callers get the error
          // at once; the hosts the batch touched are reloaded now if the
          // database answers, else before the next batch.
          logger.error({ err, items: batch.length }, 'group commit failed');
          for (const item of batch) item.reject(err);
          await this.reloadStale().catch((reloadErr: unknown) => logger.error({ err: reloadErr, hosts: this.stale.size }, 'hosts not reloaded yet'));
        } finally {
          this.scheduleDrain();
        }
      })
      .catch((err) => logger.error({ err }, 'group commit failed'));
  }

  /** Reloads the hosts whose memory may be ahead of the database; throws (keeping them) if it cannot. */
  private async reloadStale(): Promise<void> {
    for (const name of [...this.stale]) {
      await this.deps.hooks.reloadHost(name);
      this.stale.delete(name);
    }
  }

  private async runBatch(batch: BatchItem[]): Promise<void> {
    const { db, clock, logger, cluster, vmStore, hooks, observer } = this.deps;
    const started = performance.now();
    // A failed batch left hosts to reload: no decision on them before that.
    await this.reloadStale();
    const write: BatchWrite = { placedOn: [], freedOn: [], releases: [], releasesElsewhere: [], releasesLeases: false, goneDevices: [], vms: [], allocations: [] };
    const placedOn = new Map<number, { host: MemHost; expected: number }>();
    const freed = new Set<MemHost>();
    const submits: Array<{ item: SubmitItem; vm: VmRecord; host: MemHost | null }> = [];
    const now = clock.now();
    const ids = await nextVmIds(db, batch.filter((item) => item.kind === 'submit').length, this.maxVmId);
    // A new template shape is prefiltered here in slices, not in one long decision below.
    for (const item of batch) if (item.kind === 'submit') await cluster.warm(item.compiled);
    let taken = 0;
    for (const item of batch) {
      if (item.kind === 'release') {
        write.releases.push(item.id);
        write.releasesLeases ||= cluster.liveVms.get(item.id)?.leases ?? true;
        const host = cluster.hostOf(item.id);
        if (host) {
          const held = host.devices.filter((d) => d.heldBy === item.id);
          write.goneDevices.push(...held.filter((d) => d.missing).map((d) => d.id));
          cluster.hold(host, held.map((d) => d.address), null);
          freed.add(host);
        } else {
          write.releasesElsewhere.push(item.id);
        }
        continue;
      }
      const id = ids[taken++]!;
      const decision = cluster.decide(item.compiled);
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
        cluster.hold(decision.host, vm.devices.map((d) => d.address), id);
        for (const a of decision.allocations) write.allocations.push({ vmId: id, ...a });
      }
    }
    const touched = new Set([...freed, ...[...placedOn.values()].map((p) => p.host)]);
    write.placedOn = [...placedOn.values()].map(({ host, expected }) => ({ id: host.id, expected }));
    write.freedOn = [...freed].filter((h) => !placedOn.has(h.id)).map((h) => h.id);

    const decided = performance.now();
    const event = { submits: submits.length, releases: write.releases.length, placed: 0, pending: 0, decideMs: decided - started, commitMs: 0 };
    let released: Released;
    try {
      released = await commitBatch(db, write, now, (id) => (id === null ? null : (cluster.byId.get(id)?.name ?? null)));
    } catch (err) {
      // Memory holds this batch's decisions, which the database does not.
      for (const host of touched) this.stale.add(host.name);
      const refused = err instanceof PlacementConflictError;
      observer.batch({ ...event, commitMs: performance.now() - decided, outcome: refused ? 'refused' : 'failed' });
      if (!refused) throw err;
      logger.warn({ err, items: batch.length }, 'group commit refused; reloading hosts and committing one by one');
      await this.reloadStale();
      this.maxVmId = await maxVmId(db);
      for (const item of batch) await hooks.alone(item);
      return;
    }
    this.maxVmId = Math.max(this.maxVmId, ...ids);
    const placedCount = submits.filter((x) => x.host !== null).length;
    observer.batch({ ...event, placed: placedCount, pending: submits.length - placedCount, commitMs: performance.now() - decided, outcome: 'committed' });

    for (const { host, expected } of placedOn.values()) host.allocVersion = expected + 1;
    for (const host of freed) if (!placedOn.has(host.id)) host.allocVersion += 1;
    for (const { vm } of released) cluster.liveVms.delete(vm.id);
    for (const { item, vm, host } of submits) {
      if (host) {
        cluster.liveVms.set(vm.id, { hostId: host.id, leases: false });
        hooks.placed(vm, host);
      } else {
        hooks.pending(vm.id, item.compiled);
      }
      item.resolve(vm);
    }
    const byId = new Map(released.map((r) => [r.vm.id, r.vm]));
    for (const item of batch) {
      if (item.kind !== 'release') continue;
      const vm = byId.get(item.id);
      // Not released by this batch: already released, or unknown (NotFoundError).
      if (vm) item.resolve(vm);
      else await vmStore.get(item.id).then(item.resolve, item.reject);
    }
    if (released.length > 0) hooks.released(released);
    logger.info({ placed: placedCount, pending: submits.length - placedCount, released: released.length }, 'batch committed');
    for (const { vm } of submits) logger.debug({ vm: vm.id, state: vm.state, host: vm.host, devices: vm.devices.map((d) => d.address) }, 'VM stored');
  }
}

/**
 * Prometheus metrics of one scheduler process, on a registry of its own (no
 * global default registry: two servers in one test process stay apart).
 * Batches are recorded as they commit, through the scheduler's observer;
 * counts of hosts and VMs are read from the scheduler at each scrape.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BatchEvent, SchedulerObserver, SchedulerStats, SyncEvent } from '../scheduler/index.js';

/** Seconds: 0.1 ms to 1 s, where a commit's fsync tail and a new template shape's first placement fall. */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64];

export interface SchedulerMetrics {
  readonly registry: Registry;
  /** Pass to Scheduler.open. */
  readonly observer: SchedulerObserver;
  /** Where the host and VM counts come from; set once the scheduler is open. */
  watch(stats: () => SchedulerStats): void;
  /** The exposition text and its content type, for GET /metrics. */
  render(): Promise<{ contentType: string; body: string }>;
}

export function createSchedulerMetrics(options: { processMetrics?: boolean } = {}): SchedulerMetrics {
  const registry = new Registry();
  // CPU, memory, event-loop lag and GC pauses of this process.
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'pcisched_' });
  const registers = [registry];
  const batches = new Counter({ name: 'pcisched_batches_total', help: 'Group-commit batches, by outcome', labelNames: ['outcome'] as const, registers });
  const vms = new Counter({ name: 'pcisched_vm_submissions_total', help: 'VM submissions committed in batches, by result', labelNames: ['result'] as const, registers });
  const releases = new Counter({ name: 'pcisched_vm_releases_batched_total', help: 'VM releases committed in batches', registers });
  const decide = new Histogram({ name: 'pcisched_batch_decide_seconds', help: 'Deciding a batch against memory, before its commit', buckets: LATENCY_BUCKETS, registers });
  const commit = new Histogram({ name: 'pcisched_batch_commit_seconds', help: 'A batch transaction, durable on return', labelNames: ['outcome'] as const, buckets: LATENCY_BUCKETS, registers });
  const size = new Histogram({ name: 'pcisched_batch_items', help: 'Submissions and releases per batch', buckets: BATCH_SIZE_BUCKETS, registers });
  const sync = new Histogram({ name: 'pcisched_replica_sync_seconds', help: 'A replica sync pass (PostgreSQL), during which batches wait', buckets: LATENCY_BUCKETS, registers });
  const syncRead = new Counter({ name: 'pcisched_replica_sync_hosts_read_total', help: 'Host rows read by replica sync passes (those written since the pass before)', registers });
  const syncReloaded = new Counter({ name: 'pcisched_replica_sync_hosts_reloaded_total', help: 'Hosts reloaded because another replica changed them', registers });

  let stats: (() => SchedulerStats) | null = null;
  const read = (pick: (s: SchedulerStats) => void) => {
    if (stats) pick(stats());
  };
  new Gauge({
    name: 'pcisched_hosts',
    help: 'Hosts by liveness as this replica sees them: online (probe streams here), elsewhere (to another replica), offline',
    labelNames: ['state'] as const,
    registers,
    collect() {
      read((s) => {
        this.set({ state: 'online' }, s.hostsOnline);
        this.set({ state: 'elsewhere' }, s.hostsElsewhere);
        this.set({ state: 'offline' }, s.hostsOffline);
      });
    },
  });
  new Gauge({ name: 'pcisched_pending_vms', help: 'VMs waiting for room that this replica tries to place', registers, collect() { read((s) => this.set(s.pendingVms)); } });
  new Gauge({ name: 'pcisched_live_vms', help: 'VMs holding devices', registers, collect() { read((s) => this.set(s.liveVms)); } });

  const observer: SchedulerObserver = {
    batch(e: BatchEvent) {
      batches.inc({ outcome: e.outcome });
      size.observe(e.submits + e.releases);
      decide.observe(e.decideMs / 1000);
      commit.observe({ outcome: e.outcome }, e.commitMs / 1000);
      if (e.outcome !== 'committed') return;
      if (e.placed > 0) vms.inc({ result: 'placed' }, e.placed);
      if (e.pending > 0) vms.inc({ result: 'pending' }, e.pending);
      if (e.releases > 0) releases.inc(e.releases);
    },
    replicaSync(e: SyncEvent) {
      sync.observe(e.ms / 1000);
      syncRead.inc(e.hostsRead);
      syncReloaded.inc(e.hostsReloaded);
    },
  };
  return {
    registry,
    observer,
    watch(fn) {
      stats = fn;
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

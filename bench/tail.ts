/**
 * Where a latency tail comes from, measured in the run itself: the scheduler's
 * group-commit batches (decisions and the durable commit, through its
 * observer) and V8's GC pauses (perf_hooks 'gc' entries), with the p99 of the
 * submissions that overlapped no GC pause. `place` prints these next to its
 * p99, so the README's account of the tail can be checked on any machine.
 */
import { PerformanceObserver, constants, type NodeGCPerformanceDetail, type PerformanceEntry } from 'node:perf_hooks';
import type { BatchEvent, SchedulerObserver, SyncEvent } from '../scheduler/index.js';
import { Latencies, round } from './stats.js';

/** Records batches while `active` (the timed phase only). */
export class BatchRecorder implements SchedulerObserver {
  active = false;
  readonly decide = new Latencies();
  readonly commit = new Latencies();
  private items = 0;
  private refused = 0;
  /** Replica sync passes (PostgreSQL) in the timed phase: batches wait while one runs. */
  readonly sync = new Latencies();
  private syncRead = 0;

  batch(e: BatchEvent): void {
    if (!this.active) return;
    this.decide.add(e.decideMs);
    this.commit.add(e.commitMs);
    this.items += e.submits + e.releases;
    if (e.outcome !== 'committed') this.refused++;
  }

  replicaSync(e: SyncEvent): void {
    if (!this.active) return;
    this.sync.add(e.ms);
    this.syncRead += e.hostsRead;
  }

  fields() {
    const n = this.commit.count;
    return {
      batches: n,
      batch_items_mean: round(n === 0 ? 0 : this.items / n, 2),
      batches_not_committed: this.refused,
      batch_decide_p50_ms: round(this.decide.percentile(50)),
      batch_decide_p99_ms: round(this.decide.percentile(99)),
      batch_commit_p50_ms: round(this.commit.percentile(50)),
      batch_commit_p99_ms: round(this.commit.percentile(99)),
      batch_commit_max_ms: round(this.commit.max()),
      ...(this.sync.count > 0 && {
        replica_sync_passes: this.sync.count,
        replica_sync_p50_ms: round(this.sync.percentile(50)),
        replica_sync_max_ms: round(this.sync.max()),
        replica_sync_hosts_read: this.syncRead,
      }),
    };
  }
}

/** GC pauses from start() to stop(), on the performance.now() clock. */
export class GcWatch {
  // `major`: a full (mark-compact) collection. Young-generation scavenges are
  // cheap and frequent; one of these over a 300+ MB heap is not.
  private readonly pauses: Array<{ start: number; end: number; major: boolean }> = [];
  private readonly observer = new PerformanceObserver((list) => this.take(list.getEntries()));

  start(): void {
    this.observer.observe({ entryTypes: ['gc'] });
  }

  /** Entries are delivered after the pause; a short wait lets the last ones in. */
  async stop(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 20));
    this.take(this.observer.takeRecords());
    this.observer.disconnect();
  }

  /** `spans`: [start, end] of each timed operation, performance.now() ms. */
  fields(spans: ReadonlyArray<readonly [number, number]>) {
    const outside = new Latencies();
    let during = 0;
    for (const [t0, t1] of spans) {
      if (this.pauses.some((p) => p.start < t1 && p.end > t0)) during++;
      else outside.add(t1 - t0);
    }
    const lengths = this.pauses.map((p) => p.end - p.start);
    const major = this.pauses.filter((p) => p.major).map((p) => p.end - p.start);
    return {
      gc_pauses: lengths.length,
      gc_pause_max_ms: round(Math.max(0, ...lengths)),
      gc_pause_total_ms: round(lengths.reduce((s, x) => s + x, 0)),
      ops_during_gc: during,
      p99_outside_gc_ms: round(outside.percentile(99)),
      gc_major_pauses: major.length,
      gc_major_max_ms: round(Math.max(0, ...major)),
    };
  }

  private take(entries: PerformanceEntry[]): void {
    for (const e of entries) {
      // 'gc' entries carry their kind in `detail`, which the PerformanceEntry type omits.
      const { detail } = e as PerformanceEntry & { detail?: NodeGCPerformanceDetail };
      this.pauses.push({ start: e.startTime, end: e.startTime + e.duration, major: detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR });
    }
  }
}

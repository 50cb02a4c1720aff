/**
 * What the scheduler reports about its own work, for metrics (metrics/) and
 * the benchmark, which each pass their own observer. Calls are synchronous
 * and must be cheap: they run on the placement path.
 */

/** One group-commit batch. */
export interface BatchEvent {
  submits: number;
  releases: number;
  /** Submissions placed and left pending (0 unless committed). */
  placed: number;
  pending: number;
  /** Warm-up and decisions against memory, before the commit (ms). */
  decideMs: number;
  /** The database transaction (ms), durable on return. */
  commitMs: number;
  /** Refused: a constraint (another replica moved a host); its items went one by one. Failed: the database erred. */
  outcome: 'committed' | 'refused' | 'failed';
}

/** One replica sync pass (PostgreSQL): what another replica changed, read in. */
export interface SyncEvent {
  /** The whole pass, lease included (ms); batches wait meanwhile. */
  ms: number;
  /** Host rows the pass read: those written since the last pass. */
  hostsRead: number;
  /** Hosts loaded or reloaded from the database. */
  hostsReloaded: number;
}

export interface SchedulerObserver {
  batch(event: BatchEvent): void;
  replicaSync(event: SyncEvent): void;
}

export const silentObserver: SchedulerObserver = { batch() {}, replicaSync() {} };

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

export interface SchedulerObserver {
  batch(event: BatchEvent): void;
}

export const silentObserver: SchedulerObserver = { batch() {} };

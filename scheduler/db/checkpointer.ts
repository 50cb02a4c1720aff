/**
 * WAL checkpoints on a worker thread.
 *
 * Why: with SQLite's automatic checkpoint, the commit that crosses 1,000 WAL
 * pages copies them into the database file and syncs it, on the thread that
 * committed: 9–14 ms, once every few hundred batches, measured. That was
 * most of the placement p99. Here the scheduler's connection turns automatic
 * checkpoints off, and a second connection on a worker thread runs PASSIVE
 * checkpoints, which never block the writer (it keeps appending while pages
 * are copied). If the worker dies, the caller turns automatic checkpoints
 * back on, so the WAL never grows without bound.
 *
 * One PASSIVE pass a tick does not bound the WAL under steady writes: the
 * writer starts the WAL over only once a checkpoint has copied every frame,
 * and a writer that commits every few milliseconds always appends some while
 * the copy runs. Measured in the place benchmark, the WAL grew to 286 MB over
 * a 50 MB database and was never reused, so every commit's fsync also
 * extended the file. So each tick runs PASSIVE passes until one finds nothing
 * new (each copies only what arrived during the last, up to `catchUpPasses`
 * more); a writer transaction that begins after that starts the WAL over.
 * Back-to-back transactions never begin there, so when the passes never
 * catch up, or the WAL holds more than `restartFrames` frames anyway, and at
 * most `restartFrames` are left to copy, the worker runs a RESTART, which
 * holds the writer off while it copies those and syncs the file. Run every
 * tick, as it once was, the writer's busy handler slept through it each
 * time: 1 to 12 ms of frozen event loop.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../common/index.js';

export interface CheckpointerOptions {
  file: string;
  logger: Logger;
  /** Time between checkpoints; default 1 s. */
  intervalMs?: number;
  /** RESTART when the PASSIVE passes did not catch up or the WAL holds more frames than this, and at most this many are left uncopied; default 1,024 (4 MiB of pages), -1 for never. */
  restartFrames?: number;
  /** PASSIVE passes after the first, while the writer keeps appending; default 8, 0 for none. */
  catchUpPasses?: number;
  /** Called once if the worker fails: the caller turns automatic checkpoints back on. */
  onFailure: (err: Error) => void;
}

export interface Checkpointer {
  /**
   * Resolves once the worker has its connection open and checkpoints run
   * (or it failed, and automatic checkpoints are back on). Starting a
   * thread takes 60–400 ms here, more on a loaded machine.
   */
  ready: Promise<void>;
  /** Stops the worker after a last checkpoint. */
  stop(): Promise<void>;
}

// The thread's code, in plain JavaScript (see the file for why).
const WORKER_FILE = new URL('./checkpoint-worker.cjs', import.meta.url);

/** What one tick did: passes run, whether the last found nothing new, whether a RESTART went through. */
export interface CheckpointTickResult {
  passes: number;
  caughtUp: boolean;
  restarted: boolean;
}

/**
 * The worker's tick, on a connection of the caller's: PASSIVE passes until
 * one finds nothing new, then maybe a RESTART (see checkpoint-worker.cjs).
 * `duringPass(n, pass)` runs the n-th pass by calling `pass()`, and stands
 * in for a writer that appends while it runs.
 */
export const checkpointTick = (createRequire(import.meta.url)('./checkpoint-worker.cjs') as {
  checkpointTick(db: { pragma(source: string): unknown }, options: { catchUpPasses: number; restartFrames: number }, duringPass?: (n: number, pass: () => void) => void): CheckpointTickResult;
}).checkpointTick;

export function startCheckpointer(options: CheckpointerOptions): Checkpointer {
  const checkpointer = { file: options.file, intervalMs: options.intervalMs ?? 1000, restartFrames: options.restartFrames ?? 1024, catchUpPasses: options.catchUpPasses ?? 8 };
  const worker = new Worker(WORKER_FILE, { workerData: { checkpointer } });
  let failed = false;
  let stopping: Promise<void> | null = null;
  let opened!: () => void;
  const ready = new Promise<void>((resolve) => (opened = resolve));
  const fail = (err: Error) => {
    opened();
    if (failed || stopping) return;
    failed = true;
    options.logger.error({ err }, 'WAL checkpointer failed; automatic checkpoints are back on');
    options.onFailure(err);
  };
  worker.on('error', fail);
  worker.on('exit', (code) => {
    if (code !== 0) fail(new Error(`checkpointer exited with code ${code}`));
  });
  worker.on('message', (msg: { error?: string; open?: boolean }) => {
    if (msg.open) opened();
    if (msg.error) {
      fail(new Error(msg.error));
      void worker.terminate();
    }
  });
  // The worker must not keep a finished process alive, once it is up (a caller may be waiting for that).
  void ready.then(() => worker.unref());
  return {
    ready,
    stop() {
      if (failed) return Promise.resolve();
      stopping ??= new Promise<void>((resolve) => {
        // Unreferenced, the worker would not keep the process alive until it has stopped.
        worker.ref();
        worker.once('exit', () => resolve());
        // The worker answers {stopped} after its last checkpoint ({open} may still be on its way).
        const stopped = (msg: { stopped?: boolean }) => {
          if (!msg.stopped) return;
          worker.off('message', stopped);
          void worker.terminate();
        };
        worker.on('message', stopped);
        worker.postMessage('stop');
      });
      return stopping;
    },
  };
}

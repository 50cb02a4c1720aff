'use strict';
/**
 * The WAL checkpointer's thread; checkpointer.ts says why it exists.
 *
 * Plain JavaScript: worker threads run without the TypeScript loader. Tests
 * require `checkpointTick` and run the same passes on two connections of
 * their own, deciding exactly when the writer appends.
 */
const { isMainThread, parentPort, workerData } = require('node:worker_threads');

/**
 * One tick: a PASSIVE pass, then more while the writer keeps appending.
 *
 * A pass reports the WAL as it was when the pass began, so each further pass
 * copies what the writer appended during the last. One that finds nothing
 * new has caught up, and the writer can start the WAL over at its next
 * commit. If up to `catchUpPasses` more never catch up, or the WAL already
 * holds more than `restartFrames` frames, and at most `restartFrames` are
 * left uncopied (-1: never), a RESTART copies them while it holds the writer
 * off, and the writer's next commit starts the WAL over for certain; a busy
 * one (the writer held on) is tried again at the next tick.
 *
 * `duringPass(n, pass)` runs the n-th pass by calling `pass()`: tests append
 * frames around it that the pass must not reach, as a writer does while a
 * pass runs.
 *
 * @param {{ pragma(source: string): unknown }} db a better-sqlite3 connection
 * @param {{ catchUpPasses: number, restartFrames: number }} options
 * @param {(n: number, pass: () => void) => void} [duringPass]
 * @returns {{ passes: number, caughtUp: boolean, restarted: boolean }}
 */
function checkpointTick(db, options, duringPass) {
  let passes = 0;
  let done;
  const pass = () => {
    [done] = db.pragma('wal_checkpoint(PASSIVE)');
  };
  const next = () => {
    passes++;
    if (duringPass) duringPass(passes, pass);
    else pass();
  };
  next();
  let caughtUp = false;
  while (passes <= options.catchUpPasses && done && !caughtUp) {
    const before = done.log;
    next();
    caughtUp = done.log === before && done.checkpointed === done.log;
  }
  // Caught up, the writer starts the WAL over at its next commit only if
  // that commit's transaction began after the last pass. One open across it
  // does not, nor does the next, which begins after that commit's frames:
  // back to back, they never leave the gap. In the place benchmark every
  // tick caught up, and the WAL grew to 493 MB during 10k hosts' ingest and
  // to 87-160 MB during 3k hosts' placements. So a WAL of more than
  // `restartFrames` frames gets a RESTART even when caught up; it has only
  // the last commits' frames to copy while it holds the writer off.
  let restarted = false;
  const worthIt = done && done.log > 0 && (!caughtUp || done.log > options.restartFrames);
  if (worthIt && done.log - done.checkpointed <= options.restartFrames) {
    const [restart] = db.pragma('wal_checkpoint(RESTART)');
    restarted = restart.busy === 0;
  }
  return { passes, caughtUp, restarted };
}

/** The thread: a tick every `intervalMs`, a last PASSIVE pass on 'stop'. */
function run({ file, intervalMs, catchUpPasses, restartFrames }) {
  const Database = require('better-sqlite3');
  const db = new Database(file);
  // RESTART waits for the writer's lock between its commits; never for long.
  db.pragma('busy_timeout = 200');
  parentPort.postMessage({ open: true });
  let timer = null;
  const tick = () => {
    try {
      checkpointTick(db, { catchUpPasses, restartFrames });
    } catch (err) {
      parentPort.postMessage({ error: String((err && err.message) || err) });
      return;
    }
    timer = setTimeout(tick, intervalMs);
  };
  timer = setTimeout(tick, intervalMs);
  parentPort.on('message', (msg) => {
    if (msg !== 'stop') return;
    clearTimeout(timer);
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // Stopping anyway: the next open's first checkpoint copies what is left.
    }
    db.close();
    parentPort.postMessage({ stopped: true });
  });
}

if (!isMainThread && workerData && workerData.checkpointer) run(workerData.checkpointer);

module.exports = { checkpointTick };

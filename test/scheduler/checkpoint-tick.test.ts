/**
 * The checkpointer's tick, run on real SQLite files with the writer and the
 * checkpoint connection on this thread, so that the test decides what the
 * writer appends while each pass runs. On the worker thread that is a race,
 * and how it goes depends on the machine's load; here each outcome is fixed,
 * and the WAL files say what SQLite did.
 *
 * "Appended while the pass ran" is staged before the pass: a reader takes a
 * snapshot at the WAL's end, the writer commits, and the pass cannot copy
 * past the reader's snapshot, as it could not copy frames that did not yet
 * exist when it began. (It does count them in its report; a real pass
 * finds them one pass later.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { checkpointTick } from '../../scheduler/db/index.js';
import { walBackfilled, walSequence } from '../helpers/wal-files.js';

/** A WAL database with automatic checkpoints off, as the scheduler runs it, and a second connection for the ticks. */
interface Wal {
  file: string;
  writer: Database.Database;
  checkpoints: Database.Database;
  commit(n: number): void;
  /** A `duringPass` in which the writer commits `commits(n)` times while the n-th pass runs. */
  writerDuring(commits: (n: number) => number): (n: number, pass: () => void) => void;
  walBytes(): number;
}

function withWal(fn: (w: Wal) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'pcisched-tick-'));
  const file = path.join(dir, 'w.db');
  const writer = new Database(file);
  writer.pragma('journal_mode = WAL');
  writer.pragma('wal_autocheckpoint = 0');
  writer.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)');
  const insert = writer.prepare('INSERT INTO t (body) VALUES (?)');
  const commit = (n: number) => {
    for (let i = 0; i < n; i++) insert.run('x'.repeat(8000));
  };
  const checkpoints = new Database(file);
  // A RESTART held off by a reader reports busy at once instead of waiting.
  checkpoints.pragma('busy_timeout = 0');
  const snapshot = new Database(file);
  const read = snapshot.prepare('SELECT count(*) FROM t');
  const writerDuring = (commits: (n: number) => number) => (n: number, pass: () => void) => {
    const k = commits(n);
    if (k === 0) return pass();
    snapshot.exec('BEGIN');
    read.get();
    commit(k);
    try {
      pass();
    } finally {
      snapshot.exec('COMMIT');
    }
  };
  try {
    fn({ file, writer, checkpoints, commit, writerDuring, walBytes: () => statSync(`${file}-wal`).size });
  } finally {
    snapshot.close();
    checkpoints.close();
    writer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('passes run until one finds nothing new; the writer\'s next commit then starts the WAL over in the same file', () =>
  withWal(({ file, commit, checkpoints, writerDuring, walBytes }) => {
    commit(20);
    const sequence = walSequence(file);
    // The writer appends while the first two passes run, then pauses: the third copies the rest and finds nothing new.
    const result = checkpointTick(checkpoints, { catchUpPasses: 8, restartFrames: -1 }, writerDuring((n) => (n <= 2 ? 3 : 0)));
    assert.deepEqual(result, { passes: 3, caughtUp: true, restarted: false });
    assert.ok(walBackfilled(file), 'every frame copied');
    const size = walBytes();
    commit(1);
    assert.notEqual(walSequence(file), sequence, 'the writer started the WAL over');
    assert.equal(walBytes(), size, 'from its first frame, in the file it had');
  }));

test('one pass per tick leaves what the writer appended meanwhile, and the WAL is never started over', () =>
  withWal(({ file, commit, checkpoints, writerDuring, walBytes }) => {
    commit(20);
    const sequence = walSequence(file);
    const sizes: number[] = [];
    for (let tick = 0; tick < 5; tick++) {
      const result = checkpointTick(checkpoints, { catchUpPasses: 0, restartFrames: -1 }, writerDuring(() => 3));
      assert.deepEqual(result, { passes: 1, caughtUp: false, restarted: false }, `tick ${tick}`);
      assert.equal(walBackfilled(file), false, `tick ${tick}: frames left`);
      commit(1);
      sizes.push(walBytes());
    }
    assert.equal(walSequence(file), sequence);
    assert.ok(sizes.every((size, i) => i === 0 || size > sizes[i - 1]!), `the WAL grew every tick: ${sizes.join(', ')}`);
    // The same writer with catch-up passes: caught up every tick.
    for (let tick = 0; tick < 5; tick++) {
      const before = walSequence(file);
      const result = checkpointTick(checkpoints, { catchUpPasses: 8, restartFrames: -1 }, writerDuring((n) => (n === 1 ? 3 : 0)));
      assert.deepEqual(result, { passes: 2, caughtUp: true, restarted: false }, `tick ${tick}`);
      commit(1);
      assert.notEqual(walSequence(file), before, `tick ${tick}: started over`);
    }
  }));

test('a writer that never pauses: the passes stop after catchUpPasses more, and a RESTART takes what is left only when that is at most restartFrames', () =>
  withWal(({ file, commit, checkpoints, writerDuring }) => {
    commit(20);
    const appending = writerDuring(() => 1);
    for (const restartFrames of [-1, 1]) {
      const sequence = walSequence(file);
      assert.deepEqual(checkpointTick(checkpoints, { catchUpPasses: 3, restartFrames }, appending), { passes: 4, caughtUp: false, restarted: false }, `restartFrames ${restartFrames}`);
      assert.equal(walBackfilled(file), false);
      commit(1);
      assert.equal(walSequence(file), sequence, `restartFrames ${restartFrames}: not started over`);
    }
    const sequence = walSequence(file);
    assert.deepEqual(checkpointTick(checkpoints, { catchUpPasses: 3, restartFrames: 1024 }, appending), { passes: 4, caughtUp: false, restarted: true });
    assert.ok(walBackfilled(file), 'the RESTART copied every frame');
    commit(1);
    assert.notEqual(walSequence(file), sequence, 'started over after the RESTART');
  }));

test('a RESTART held off by a reader reports that it did not go through; the next tick\'s does', () =>
  withWal(({ file, commit, checkpoints, writerDuring }) => {
    commit(20);
    const reader = new Database(file);
    try {
      reader.exec('BEGIN');
      assert.equal((reader.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 20);
      const options = { catchUpPasses: 2, restartFrames: 1024 };
      assert.deepEqual(checkpointTick(checkpoints, options, writerDuring(() => 1)), { passes: 3, caughtUp: false, restarted: false });
      reader.exec('COMMIT');
      assert.deepEqual(checkpointTick(checkpoints, options, writerDuring(() => 1)), { passes: 3, caughtUp: false, restarted: true });
    } finally {
      reader.close();
    }
  }));

test('a writer transaction open while the passes caught up does not start the WAL over, so a caught-up tick restarts a WAL of more than restartFrames itself', () =>
  withWal(({ file, writer, commit, checkpoints }) => {
    commit(20);
    const sequence = walSequence(file);
    // Interactive transactions back to back: each began before the last pass
    // and commits after it, and the next begins after those frames.
    const openAcross = (restartFrames: number) => {
      writer.exec('BEGIN IMMEDIATE');
      commit(1);
      // RESTART needs the writer's lock: busy at once here, where the worker would wait for the commit.
      const result = checkpointTick(checkpoints, { catchUpPasses: 8, restartFrames }, undefined);
      writer.exec('COMMIT');
      return result;
    };
    for (let round = 0; round < 3; round++) {
      assert.deepEqual(openAcross(-1), { passes: 2, caughtUp: true, restarted: false });
      assert.equal(walSequence(file), sequence, `round ${round}: caught up, and still not started over`);
    }
    // A WAL this small is left to the writer.
    assert.deepEqual(checkpointTick(checkpoints, { catchUpPasses: 8, restartFrames: 100_000 }), { passes: 2, caughtUp: true, restarted: false });
    // More than restartFrames frames: the caught-up tick runs a RESTART, with nothing left to copy.
    assert.deepEqual(checkpointTick(checkpoints, { catchUpPasses: 8, restartFrames: 8 }), { passes: 2, caughtUp: true, restarted: true });
    commit(1);
    assert.notEqual(walSequence(file), sequence, 'started over after the RESTART');
  }));

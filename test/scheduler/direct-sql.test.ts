/**
 * The hot-path SQL (db/direct-sql.ts) and the WAL checkpointer, on real
 * SQLite files: each of the three ways to run a transaction (the adapter's
 * better-sqlite3 connection with kept statements, the generic adapter
 * contract PostgreSQL uses, Prisma Client) commits all or nothing, reads
 * RETURNING rows, and reports constraint violations by code.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import { eventually } from '../helpers/processes.js';
import { silentLogger } from '../../common/index.js';
import {
  Prisma, adapterSql, capturingFactory, clientSql, directSql, migrateSqlite, openSqliteDatabase, readMigrations, startCheckpointer, MIGRATIONS_DIR,
} from '../../scheduler/db/index.js';
import { PrismaClient } from '../../gen/prisma/client.js';
import { exercise, host } from '../helpers/direct-sql-checks.js';
import { walBackfilled, walFrames, walSequence } from '../helpers/wal-files.js';

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'pcisched-sql-'));

/** A migrated database file and a Prisma client over a captured adapter. */
async function openClient(dir: string) {
  const file = path.join(dir, 'pcisched.db');
  const raw = new Database(file);
  raw.pragma('journal_mode = WAL');
  migrateSqlite(raw, readMigrations(MIGRATIONS_DIR), silentLogger());
  raw.close();
  const captured = capturingFactory(new PrismaBetterSQLite3({ url: file }));
  const db = new PrismaClient({ adapter: captured.factory });
  await db.$connect();
  return { db, file, adapter: captured.adapter() };
}

/** A migrated client on a temp dir for `fn`, removed afterwards. */
async function withClient(fn: (opened: Awaited<ReturnType<typeof openClient>>) => Promise<void>): Promise<void> {
  const dir = tempDir();
  const opened = await openClient(dir);
  try {
    await fn(opened);
  } finally {
    await opened.db.$disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('direct SQL on the adapter connection: all or nothing, RETURNING rows, constraint codes', () =>
  withClient(({ db, adapter }) => exercise(adapterSql(adapter), db)));

test('the generic adapter contract (what PostgreSQL uses) behaves the same', () =>
  withClient(async ({ db, adapter }) => {
    // Without the driver's `client`, adapterSql takes the adapter-method path.
    const generic = { provider: adapter.provider, startTransaction: (level?: string) => adapter.startTransaction(level) };
    await exercise(adapterSql(generic), db);
  }));

test('the Prisma Client fallback behaves the same', () => withClient(({ db }) => exercise(clientSql(db), db)));

test('interleaved direct and client transactions never see each other half-done', async () => {
  await withClient(async ({ db, adapter }) => {
    const sql = adapterSql(adapter);
    const work: Array<Promise<unknown>> = [];
    for (let i = 0; i < 40; i++) {
      work.push(sql.transaction([{ sql: host(`d${i}`) }, { sql: Prisma.sql`UPDATE "Host" SET "generation" = ${i} WHERE "name" = ${`d${i}`}` }]));
      work.push(db.$transaction(async (tx) => {
        const h = await tx.host.create({ data: { name: `c${i}`, registeredAt: new Date() } });
        await tx.host.update({ where: { id: h.id }, data: { generation: i } });
      }));
    }
    await Promise.all(work);
    const hosts = await db.host.findMany();
    assert.equal(hosts.length, 80);
    for (const h of hosts) assert.equal(h.generation, Number(h.name.slice(1)), h.name);
  });
});

test('an opened database syncs every commit and leaves checkpoints to the worker, which keeps the WAL from growing', async () => {
  const dir = tempDir();
  const opened = await openSqliteDatabase({ dataDir: dir, logger: silentLogger(), checkpointIntervalMs: 50 });
  try {
    const pragma = async (name: string) => Number(Object.values((await opened.db.$queryRawUnsafe<Array<Record<string, unknown>>>(`PRAGMA ${name}`))[0]!)[0]);
    assert.equal(await pragma('synchronous'), 2, 'FULL');
    assert.equal(await pragma('wal_autocheckpoint'), 0);
    assert.equal(await pragma('journal_size_limit'), 64 * 1024 * 1024);
    const sql = directSql(opened.db);
    const wal = `${opened.file}-wal`;
    const fill = async (prefix: string) => {
      for (let i = 0; i < 100; i++) {
        await sql.transaction([{ sql: Prisma.sql`INSERT INTO "Host" ("name", "registeredAt", "facts") VALUES (${`${prefix}${i}`}, ${new Date()}, ${'x'.repeat(8000)})` }]);
      }
    };
    await fill('a');
    const first = statSync(wal).size;
    assert.ok(first > 800_000, `WAL holds the first round (${first} bytes)`);
    // Once the worker has copied every frame, a writer starts the WAL over
    // (the header's checkpoint sequence moves on). Without checkpoints
    // (autocheckpoint is off) it never would, and the file would double. A
    // wait, not a fixed sleep: a loaded machine can starve the worker's
    // thread for a while. Which commit of the second round starts it over
    // is a race with the worker's next tick (a commit that begins during a
    // pass appends: 70 commits in once here), so the sequence is the
    // evidence, not the file's size.
    await eventually(async () => walBackfilled(opened.file), 10_000, 'the worker copied every frame');
    const sequence = walSequence(opened.file);
    await fill('b');
    const second = statSync(wal).size;
    assert.ok(walSequence(opened.file) > sequence, `WAL started over in the second round (${first} → ${second} bytes)`);
    assert.equal(await opened.db.host.count(), 200);
  } finally {
    await opened.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('under steady writes through the scheduler\'s connection the worker keeps starting the WAL over', async () => {
  // About 12 MB of frames, a commit every millisecond or so, as batches come
  // between turns of the event loop. Whether a tick's passes catch up or its
  // RESTART takes the rest is a race (checkpoint-tick.test.ts fixes each
  // outcome); either way the writer starts the WAL over. How large the WAL
  // grows between restarts depends on the machine's load (2.9-3.4 MB alone
  // here, 6.4-7.4 MB with three busy processes on two cores, 16.5 MB once in
  // CI without RESTART), so it is printed by the benchmark, not asserted.
  const { restarts, largest, frames } = await walOfScheduledWrites();
  const written = frames * (4096 + 24);
  assert.ok(restarts >= 3, `the writer started the WAL over ${restarts} times in 1,000 commits`);
  assert.ok(largest < written / 2, `the WAL grew to ${largest} bytes, for ${written} bytes of frames written`);
});

/**
 * 1,000 commits of ~8 KB through the direct path of an opened database: how
 * often the writer started the WAL over, the largest the file grew, and the
 * frames (4 KiB pages) written in all.
 */
async function walOfScheduledWrites(): Promise<{ restarts: number; largest: number; frames: number }> {
  const dir = tempDir();
  const opened = await openSqliteDatabase({ dataDir: dir, logger: silentLogger(), checkpointIntervalMs: 50 });
  try {
    const sql = directSql(opened.db);
    const wal = `${opened.file}-wal`;
    let largest = 0;
    let restarts = 0;
    let frames = 0;
    let last = -1;
    let lastFrames = 0;
    for (let i = 0; i < 1000; i++) {
      await sql.transaction([{ sql: Prisma.sql`INSERT INTO "Host" ("name", "registeredAt", "facts") VALUES (${`s${i}`}, ${new Date()}, ${'x'.repeat(8000)})` }]);
      const sequence = walSequence(opened.file);
      const now = walFrames(opened.file);
      const started = last !== -1 && sequence !== last;
      if (started) restarts++;
      frames += started ? now : now - lastFrames;
      last = sequence;
      lastFrames = now;
      largest = Math.max(largest, statSync(wal).size);
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.equal(await opened.db.host.count(), 1000);
    return { restarts, largest, frames };
  } finally {
    await opened.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Another connection that takes SQLite's write lock when asked, as the
 * checkpointer's RESTART does, on a worker thread so that this thread's busy
 * handler can wait for it. `hold()` resolves once the lock is held; the
 * worker lets go `holdMs` later.
 */
function writeLockHolder(file: string, holdMs: number) {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const Database = require(workerData.driver);
    const db = new Database(workerData.file);
    db.pragma('busy_timeout = 5000');
    parentPort.on('message', (msg) => {
      if (msg === 'stop') { db.close(); parentPort.close(); return; }
      db.exec('BEGIN IMMEDIATE');
      parentPort.postMessage('held');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.holdMs);
      db.exec('COMMIT');
    });
  `;
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(source, { eval: true, workerData: { file, driver, holdMs } });
  return {
    hold: () =>
      new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
        worker.postMessage('hold');
      }),
    stop: () => new Promise<void>((resolve) => worker.once('exit', () => resolve()).postMessage('stop')),
  };
}

test('a transaction that reads before it writes waits for another connection\'s write lock instead of failing busy', async () => {
  const dir = tempDir();
  const opened = await openSqliteDatabase({ dataDir: dir, logger: silentLogger() });
  const holder = writeLockHolder(opened.file, 30);
  try {
    const { db } = opened;
    const sql = directSql(db);
    await db.host.create({ data: { name: 'h', registeredAt: new Date() } });
    // Each transaction starts while the other connection holds the lock. A
    // deferred one would read, then get SQLITE_BUSY at once when it writes
    // (Prisma: "Operation has timed out"); these must wait and get through.
    for (let i = 0; i < 5; i++) {
      await holder.hold();
      await db.$transaction(async (tx) => {
        const h = await tx.host.findUniqueOrThrow({ where: { name: 'h' } });
        await tx.host.update({ where: { id: h.id }, data: { generation: h.generation + 1 } });
      });
      await holder.hold();
      await sql.interactive(async (s) => {
        const [row] = await s.rows(Prisma.sql`SELECT "generation" FROM "Host" WHERE "name" = 'h'`);
        await s.run(Prisma.sql`UPDATE "Host" SET "generation" = ${Number(row!.generation) + 1} WHERE "name" = 'h'`);
      });
    }
    assert.equal((await db.host.findUniqueOrThrow({ where: { name: 'h' } })).generation, 10);
  } finally {
    await holder.stop();
    await opened.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a checkpointer that cannot open its file reports the failure once', async () => {
  const failures: Error[] = [];
  // The worker is unreferenced: keep this test's event loop alive meanwhile.
  const alive = setTimeout(() => undefined, 10_000);
  const stopped = new Promise<void>((resolve) => {
    const cp = startCheckpointer({
      file: path.join(tempDir(), 'missing-dir', 'x.db'),
      logger: silentLogger(),
      onFailure: (err) => {
        failures.push(err);
        resolve();
      },
    });
    void cp;
  });
  await stopped;
  await new Promise((r) => setTimeout(r, 50));
  clearTimeout(alive);
  assert.equal(failures.length, 1);
  assert.match(failures[0]!.message, /directory does not exist|unable to open|cannot open/i);
});

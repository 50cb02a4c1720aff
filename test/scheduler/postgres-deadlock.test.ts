/**
 * A transaction PostgreSQL aborts to break a deadlock is run again (40P01):
 * made real on a real server, with a second session that takes the same two
 * rows in the other order. The side session's own deadlock check is put off
 * (deadlock_timeout 10 s), so PostgreSQL picks ours as the victim after its
 * default 1 s.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { silentLogger } from '../../common/index.js';
import { openPostgresDatabase } from '../../scheduler/index.js';
import { DirectSqlError, MAX_TRANSACTION_RUNS, Prisma, directSql, retrying, type DirectSql } from '../../scheduler/db/index.js';
import { freshDatabase, pgUnavailable } from '../helpers/postgres.js';

const skip = pgUnavailable();

/**
 * A database with rows 1 and 2 in table "t", our DirectSql on it, and a side
 * session that has begun a transaction holding row 2.
 */
async function withDeadlockSetup(fn: (sql: DirectSql, side: pg.Client) => Promise<void>): Promise<void> {
  const fresh = await freshDatabase();
  const opened = await openPostgresDatabase({ url: fresh.url, logger: silentLogger() });
  const side = new pg.Client({ connectionString: fresh.url });
  await side.connect();
  try {
    await side.query('CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)');
    await side.query('INSERT INTO t VALUES (1, 0), (2, 0)');
    await side.query('BEGIN');
    await side.query("SET LOCAL deadlock_timeout = '10s'");
    await side.query('UPDATE t SET v = v + 10 WHERE id = 2');
    await fn(directSql(opened.db), side);
  } finally {
    await side.end();
    await opened.close();
    await fresh.drop();
  }
}

/** Waits until another session of this database waits for a lock (ours, on row 2). */
async function someoneWaits(side: pg.Client): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    // The side session is inside a transaction, which would keep its first view of pg_stat_activity.
    await side.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await side.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
    );
    if (rows[0]!.n > 0) return;
    if (Date.now() > deadline) throw new Error('our transaction never waited for row 2');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Closes the cycle: the side session asks for row 1 (ours holds it), then commits once PostgreSQL has broken the deadlock. */
async function closeCycle(side: pg.Client): Promise<void> {
  await someoneWaits(side);
  await side.query('UPDATE t SET v = v + 10 WHERE id = 1');
  await side.query('COMMIT');
}

async function values(side: pg.Client): Promise<number[]> {
  return (await side.query<{ v: number }>('SELECT v FROM t ORDER BY id')).rows.map((r) => r.v);
}

test('an interactive transaction chosen as a deadlock victim runs again and commits', { skip }, async () => {
  await withDeadlockSetup(async (sql, side) => {
    let runs = 0;
    const ours = sql.interactive(async (tx) => {
      runs++;
      await tx.run(Prisma.sql`UPDATE t SET v = v + 1 WHERE id = 1`);
      await tx.run(Prisma.sql`UPDATE t SET v = v + 1 WHERE id = 2`);
      return 'committed';
    });
    await closeCycle(side);
    assert.equal(await ours, 'committed');
    assert.equal(runs, 2, 'aborted once, then run again');
    // Both sessions' updates stand, ours once: the aborted run left nothing.
    assert.deepEqual(await values(side), [11, 11]);
  });
});

test('a batch of statements chosen as a deadlock victim runs again and commits', { skip }, async () => {
  await withDeadlockSetup(async (sql, side) => {
    const ours = sql.transaction([
      { sql: Prisma.sql`UPDATE t SET v = v + 1 WHERE id = 1` },
      { sql: Prisma.sql`UPDATE t SET v = v + 1 WHERE id = 2 RETURNING v`, rows: true },
    ]);
    await closeCycle(side);
    const [first, second] = await ours;
    assert.equal(first, 1);
    assert.deepEqual((second as Array<{ v: number }>).map((r) => Number(r.v)), [11]);
    assert.deepEqual(await values(side), [11, 11]);
  });
});

test('retrying: only deadlocks and serialization failures are run again, at most MAX_TRANSACTION_RUNS times', async () => {
  const failing = (codes: Array<string | null>) => {
    let calls = 0;
    const run = async () => {
      const code = codes[calls++];
      if (code === undefined) return calls;
      throw new DirectSqlError(`failed with ${code}`, code);
    };
    return { run, calls: () => calls };
  };
  const twice = failing(['40P01', '40001']);
  assert.equal(await retrying(twice.run), 3);

  const always = failing(['40P01', '40P01', '40P01', '40P01']);
  await assert.rejects(retrying(always.run), /failed with 40P01/);
  assert.equal(always.calls(), MAX_TRANSACTION_RUNS);

  for (const code of ['23505', null]) {
    const other = failing([code]);
    await assert.rejects(retrying(other.run), (err: unknown) => err instanceof DirectSqlError && err.code === code);
    assert.equal(other.calls(), 1, `${code} is not retried`);
  }
  let plain = 0;
  await assert.rejects(retrying(async () => {
    plain++;
    throw new Error('not a database error');
  }), /not a database error/);
  assert.equal(plain, 1);
});

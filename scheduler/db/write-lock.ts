/**
 * Transactions on the scheduler's SQLite connection take the write lock at
 * BEGIN.
 *
 * Why: Prisma's better-sqlite3 adapter opens every transaction with a
 * deferred BEGIN. A deferred transaction that has read and then writes asks
 * for the write lock while holding a read snapshot, and SQLite answers
 * SQLITE_BUSY at once, without the busy handler (waiting could deadlock two
 * such readers). Prisma reports it as "Operation has timed out". Another
 * connection does take the write lock: the checkpointer's RESTART, for about
 * a millisecond. One such collision failed a VM submission with a 500 in CI.
 * `BEGIN IMMEDIATE` takes the lock first, where busy_timeout waits for it;
 * with one writing connection it costs nothing else.
 *
 * The adapter's BEGIN is a literal in its code, so the connection's
 * `prepare` is wrapped to substitute it (one prepared statement, reused).
 * Opening fails if the adapter no longer exposes its connection, rather than
 * silently keeping deferred transactions (test/scheduler/direct-sql.test.ts
 * shows the difference).
 */
import { sqliteDriverOf, type SqlAdapter, type SqliteDriver } from './direct-sql.js';

const WRAPPED = Symbol('pcisched.beginImmediate');

export function beginImmediate(adapter: SqlAdapter): void {
  const driver = sqliteDriverOf(adapter) as (SqliteDriver & { [WRAPPED]?: true }) | null;
  if (!driver) {
    throw new Error('the Prisma SQLite adapter no longer exposes its better-sqlite3 connection; transactions cannot be made IMMEDIATE');
  }
  if (driver[WRAPPED]) return;
  const prepare = driver.prepare.bind(driver);
  // Prepared once: the adapter prepares its BEGIN anew for every transaction,
  // and each prepared statement is a native object the GC must sweep.
  let begin: ReturnType<SqliteDriver['prepare']> | null = null;
  driver.prepare = (sql: string) => (sql === 'BEGIN' ? (begin ??= prepare('BEGIN IMMEDIATE')) : prepare(sql));
  driver[WRAPPED] = true;
}

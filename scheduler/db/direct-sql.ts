/**
 * Hot-path SQL through Prisma's driver adapter, the layer Prisma Client
 * itself runs its SQL through, on the same connection.
 *
 * Why: Prisma 6.19's client engine plans every query in its Wasm compiler,
 * raw ones included (about 0.2 ms per statement and 0.3 ms per transaction
 * on this 2-vCPU VM, measured); the adapter runs the same statement in about
 * 0.03 ms. The statements that run on every batch or snapshot
 * (batch-store.ts, host-store.ts) go here; everything else stays on Prisma
 * Client. On SQLite the statements run on the adapter's own better-sqlite3
 * connection with prepared statements kept (see sqliteSql).
 *
 * A transaction follows the adapter contract the client follows:
 * `startTransaction()` takes the adapter's lock and sends BEGIN, the caller
 * sends COMMIT or ROLLBACK and then calls `commit()`/`rollback()` to release
 * the lock. Client transactions take the same lock, so the two never
 * interleave. A plain client query takes no lock: as with Prisma's own
 * interactive transactions, one that reaches the connection between two
 * awaited statements of `interactive()` runs inside it. `transaction()` on
 * SQLite runs its statements synchronously, so nothing can.
 */
import { Prisma } from '../../gen/prisma/client.js';
import type { Db } from './database.js';

/** The subset of `@prisma/driver-adapter-utils`' SqlDriverAdapter used here. */
export interface SqlAdapter {
  readonly provider: 'sqlite' | 'postgres' | 'mysql';
  startTransaction(isolationLevel?: string): Promise<SqlAdapterTransaction>;
}

interface SqlAdapterTransaction {
  executeRaw(query: AdapterQuery): Promise<number>;
  queryRaw(query: AdapterQuery): Promise<{ columnNames: string[]; rows: unknown[][] }>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

interface AdapterQuery {
  sql: string;
  args: unknown[];
  argTypes: Array<{ scalarType: string; arity: 'scalar' | 'list' }>;
}

export type SqlRow = Record<string, unknown>;

/** A DateTime column as raw SQL returns it: a Date (Prisma Client, pg) or ISO text / epoch number (SQLite driver). */
export function sqlDate(value: unknown): Date {
  if (value instanceof Date) return value;
  return new Date(typeof value === 'bigint' ? Number(value) : (value as string | number));
}

/** One statement: `rows` to read what it returns (SELECT, RETURNING), else its change count. */
export interface SqlStep {
  sql: Prisma.Sql;
  rows?: boolean;
}

export type SqlResult = number | SqlRow[];

/**
 * A statement failed; `code` is the driver's (SQLITE_CONSTRAINT_NOTNULL,
 * 23505, …) when it gave one. The transaction was rolled back.
 */
export class DirectSqlError extends Error {
  constructor(
    message: string,
    readonly code: string | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DirectSqlError';
  }
}

/** Whether the database refused the statement on a constraint (unique, NOT NULL, foreign key, check). */
export function isConstraintViolation(err: DirectSqlError): boolean {
  const code = err.code ?? '';
  return code.startsWith('SQLITE_CONSTRAINT') || /^23\d{3}$/.test(code) || /^P20(02|03|11)$/.test(code) || code.endsWith('ConstraintViolation');
}

/** Statements inside an interactive transaction. */
export interface SqlSession {
  rows(sql: Prisma.Sql): Promise<SqlRow[]>;
  run(sql: Prisma.Sql): Promise<number>;
}

export interface DirectSql {
  /** Which SQL dialect the statements meet. */
  readonly provider: 'sqlite' | 'postgres';
  /**
   * Runs the steps in order in one transaction: all take effect or none.
   * On PostgreSQL (the adapter path), a transaction the server aborted as a
   * deadlock victim or a serialization failure is run again (see `retrying`).
   */
  transaction(steps: SqlStep[]): Promise<SqlResult[]>;
  /**
   * One transaction whose statements depend on earlier results. Committed when `fn`
   * resolves, rolled back when it throws (its error is rethrown; a statement's error
   * arrives as DirectSqlError). Retried as `transaction` is, so `fn` may run more
   * than once: it must have no effect outside the session.
   */
  interactive<T>(fn: (session: SqlSession) => Promise<T>): Promise<T>;
}

/** PostgreSQL's codes for "nothing was done, run it again": a deadlock victim, a serialization failure. */
const RETRYABLE_CODES = new Set(['40P01', '40001']);
/** Runs in all of a transaction PostgreSQL keeps aborting with a retryable code. */
export const MAX_TRANSACTION_RUNS = 3;

/**
 * Runs `run` again, after a short random wait, while it fails with a
 * retryable code, up to MAX_TRANSACTION_RUNS runs; then its error stands.
 *
 * Why: PostgreSQL breaks a deadlock by aborting one of the transactions in
 * it, and says to retry. Our statements take locks in one order, so none is
 * expected, but several replicas share the database and an operator's
 * session may lock rows too; a group commit that failed for that would
 * answer every VM in its batch with a 500. The rolled-back transaction left
 * nothing behind, and its statements carry their own checks (allocVersion,
 * unique devices), so running it again is safe. The wait lets the winner
 * finish; its randomness keeps two victims from meeting again.
 */
export async function retrying<T>(run: () => Promise<T>): Promise<T> {
  for (let runs = 1; ; runs++) {
    try {
      return await run();
    } catch (err) {
      if (runs >= MAX_TRANSACTION_RUNS || !(err instanceof DirectSqlError) || !RETRYABLE_CODES.has(err.code ?? '')) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * runs));
    }
  }
}

/** Direct SQL over a captured adapter connection. */
export function adapterSql(adapter: SqlAdapter): DirectSql {
  const sqlite = sqliteDriverOf(adapter);
  if (sqlite) return sqliteSql(adapter, sqlite);
  const postgres = adapter.provider === 'postgres';
  const toQuery = (sql: Prisma.Sql): AdapterQuery => ({
    // Prisma.Sql renders `?` placeholders for SQLite and `$n` for PostgreSQL.
    sql: postgres ? sql.text : sql.sql,
    args: sql.values.map(toArg),
    argTypes: sql.values.map(argType),
  });
  const once = async <T>(fn: (session: SqlSession) => Promise<T>): Promise<T> => {
    const tx = await adapter.startTransaction();
    const wrap = (err: unknown) => new DirectSqlError(messageOf(err), codeOf(err), { cause: err });
    const session: SqlSession = {
      rows: (sql) =>
        tx.queryRaw(toQuery(sql)).then(
          (set) => set.rows.map((row) => rowObject(set.columnNames, row)),
          (err: unknown) => Promise.reject(wrap(err)),
        ),
      run: (sql) => tx.executeRaw(toQuery(sql)).catch((err: unknown) => Promise.reject(wrap(err))),
    };
    let result: T;
    try {
      result = await fn(session);
      await tx.executeRaw({ sql: 'COMMIT', args: [], argTypes: [] }).catch((err: unknown) => Promise.reject(wrap(err)));
    } catch (err) {
      await tx.executeRaw({ sql: 'ROLLBACK', args: [], argTypes: [] }).catch(() => undefined);
      await tx.rollback();
      throw err;
    }
    await tx.commit();
    return result;
  };
  const interactive = <T>(fn: (session: SqlSession) => Promise<T>): Promise<T> => (postgres ? retrying(() => once(fn)) : once(fn));
  return {
    provider: postgres ? 'postgres' : 'sqlite',
    interactive,
    transaction: (steps) => interactive((session) => runSteps(session, steps)),
  };
}

async function runSteps(session: SqlSession, steps: SqlStep[]): Promise<SqlResult[]> {
  const results: SqlResult[] = [];
  for (const step of steps) results.push(step.rows ? await session.rows(step.sql) : await session.run(step.sql));
  return results;
}

/** The better-sqlite3 `Database` inside Prisma's SQLite adapter, if that is what it wraps. */
export interface SqliteDriver {
  prepare(sql: string): SqliteStatement;
}

interface SqliteStatement {
  readonly reader: boolean;
  run(...args: unknown[]): { changes: number | bigint };
  all(...args: unknown[]): SqlRow[];
}

/** The better-sqlite3 connection inside Prisma's SQLite adapter, or null (another provider, or the adapter no longer exposes it). */
export function sqliteDriverOf(adapter: SqlAdapter): SqliteDriver | null {
  const client = (adapter as { client?: unknown }).client;
  if (adapter.provider !== 'sqlite' || typeof client !== 'object' || client === null) return null;
  return typeof (client as { prepare?: unknown }).prepare === 'function' ? (client as SqliteDriver) : null;
}

/** Prepared statements kept per SQL text; batch statements vary only by row count, so the set is small. */
const STATEMENT_CACHE = 512;

/**
 * SQLite through the adapter's own better-sqlite3 connection, inside the
 * adapter's transaction lock, with prepared statements kept.
 *
 * Why keep them: the adapter prepares every statement anew, and each
 * prepared statement is a native object with a weak handle. Measured at
 * 2,000 hosts, the handles of statements prepared per batch made every
 * young-generation GC spend ~3.5 ms on weak handles (pause 6 ms, every
 * ~170 ms), most of the placement p99.
 */
function sqliteSql(adapter: SqlAdapter, driver: SqliteDriver): DirectSql {
  const cache = new Map<string, SqliteStatement>();
  const statement = (sql: string): SqliteStatement => {
    let st = cache.get(sql);
    if (st) {
      cache.delete(sql); // re-insert: Map order is the LRU order
    } else {
      st = driver.prepare(sql);
      if (cache.size >= STATEMENT_CACHE) cache.delete(cache.keys().next().value!);
    }
    cache.set(sql, st);
    return st;
  };
  /** Ends a failed transaction and releases the adapter's lock. */
  const abort = async (tx: SqlAdapterTransaction): Promise<void> => {
    try {
      statement('ROLLBACK').run();
    } catch {
      // Already rolled back by SQLite (some errors end the transaction).
    }
    await tx.rollback();
  };
  return {
    provider: 'sqlite',
    async transaction(steps) {
      const tx = await adapter.startTransaction();
      const results: SqlResult[] = [];
      // Synchronous from here to COMMIT: nothing else can run on the connection meanwhile.
      try {
        for (const step of steps) {
          const st = statement(step.sql.sql);
          const args = step.sql.values.map(sqliteArg);
          results.push(step.rows ? st.all(...args) : Number(st.run(...args).changes));
        }
        statement('COMMIT').run();
      } catch (err) {
        await abort(tx);
        throw new DirectSqlError(messageOf(err), codeOf(err), { cause: err });
      }
      await tx.commit();
      return results;
    },
    async interactive(fn) {
      const tx = await adapter.startTransaction();
      const exec = <R>(sql: Prisma.Sql, read: (st: SqliteStatement, args: unknown[]) => R): Promise<R> => {
        try {
          return Promise.resolve(read(statement(sql.sql), sql.values.map(sqliteArg)));
        } catch (err) {
          return Promise.reject(new DirectSqlError(messageOf(err), codeOf(err), { cause: err }));
        }
      };
      const session: SqlSession = {
        rows: (sql) => exec(sql, (st, args) => st.all(...args)),
        run: (sql) => exec(sql, (st, args) => Number(st.run(...args).changes)),
      };
      let result;
      try {
        result = await fn(session);
        statement('COMMIT').run();
      } catch (err) {
        await abort(tx);
        throw err instanceof DirectSqlError || !isDriverError(err) ? err : new DirectSqlError(messageOf(err), codeOf(err), { cause: err });
      }
      await tx.commit();
      return result;
    },
  };
}

/** An error thrown by the SQLite driver itself (COMMIT can fail: busy, constraint deferred). */
function isDriverError(err: unknown): boolean {
  return typeof (err as { code?: unknown })?.code === 'string' && String((err as { code: string }).code).startsWith('SQLITE_');
}

/** Values as the adapter would bind them: dates as ISO text with +00:00, booleans as 0/1. */
function sqliteArg(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString().replace('Z', '+00:00');
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

/** The same contract over Prisma Client, for a client opened without a captured adapter. */
export function clientSql(db: Db, provider: DirectSql['provider'] = 'sqlite'): DirectSql {
  const wrap = (err: unknown): unknown => {
    if (!(err instanceof Prisma.PrismaClientKnownRequestError)) return err;
    // P2010 is "raw query failed": the driver's own code is in meta.
    const meta = err.meta as { driverAdapterError?: { cause?: { originalCode?: unknown } } } | undefined;
    const driverCode = meta?.driverAdapterError?.cause?.originalCode;
    return new DirectSqlError(messageOf(err), typeof driverCode === 'string' ? driverCode : err.code, { cause: err });
  };
  return {
    provider,
    async transaction(steps) {
      const calls = steps.map((s) => (s.rows ? db.$queryRaw<SqlRow[]>(s.sql) : db.$executeRaw(s.sql)));
      try {
        return (await db.$transaction(calls)) as SqlResult[];
      } catch (err) {
        throw wrap(err);
      }
    },
    interactive(fn) {
      return db.$transaction((tx) =>
        fn({
          rows: (sql) => tx.$queryRaw<SqlRow[]>(sql).catch((err: unknown) => Promise.reject(wrap(err))),
          run: (sql) => tx.$executeRaw(sql).catch((err: unknown) => Promise.reject(wrap(err))),
        }),
      );
    },
  };
}

const registered = new WeakMap<Db, DirectSql>();

/** Registers the direct path of a client opened by this module. */
export function registerDirectSql(db: Db, sql: DirectSql): void {
  registered.set(db, sql);
}

/** The direct path for `db`: its captured adapter if it has one, else Prisma Client. */
export function directSql(db: Db): DirectSql {
  let sql = registered.get(db);
  if (!sql) {
    sql = clientSql(db);
    registered.set(db, sql);
  }
  return sql;
}

/**
 * Wraps an adapter factory so the connection Prisma Client opens is kept:
 * direct SQL then shares the client's connection and its transaction lock.
 */
export function capturingFactory<F extends { provider: string; adapterName: string; connect(): Promise<unknown> }>(factory: F): { factory: F; adapter(): SqlAdapter } {
  let connection: SqlAdapter | null = null;
  // Methods are bound to the real factory: its state lives in private fields.
  const wrapped = new Proxy(factory, {
    get(target, key) {
      if (key === 'connect') {
        return async () => {
          const opened = await target.connect();
          connection = opened as SqlAdapter;
          return opened;
        };
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    factory: wrapped,
    adapter() {
      if (!connection) throw new Error('the Prisma client has not connected yet');
      return connection;
    },
  };
}

function toArg(value: unknown): unknown {
  if (value instanceof Date) return value;
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function argType(value: unknown): AdapterQuery['argTypes'][number] {
  const scalarType =
    value instanceof Date ? 'datetime'
    : typeof value === 'boolean' ? 'boolean'
    : typeof value === 'bigint' ? 'bigint'
    : typeof value === 'number' ? (Number.isInteger(value) ? 'int' : 'float')
    : 'string';
  return { scalarType, arity: 'scalar' };
}

function rowObject(columns: string[], row: unknown[]): SqlRow {
  const out: SqlRow = {};
  for (let i = 0; i < columns.length; i++) out[columns[i]!] = row[i];
  return out;
}

function messageOf(err: unknown): string {
  const e = err as { cause?: { originalMessage?: string }; message?: string };
  return e?.cause?.originalMessage ?? e?.message ?? String(err);
}

function codeOf(err: unknown): string | null {
  const e = err as { code?: unknown; cause?: { originalCode?: unknown; kind?: unknown } };
  const code = e?.cause?.originalCode ?? e?.code ?? e?.cause?.kind;
  return typeof code === 'string' ? code : null;
}

/**
 * Opens the scheduler's database on PostgreSQL: migrations first (ours, on a
 * pg pool, under an advisory lock), then a Prisma client over
 * @prisma/adapter-pg, generated from the same models as the SQLite one
 * (prisma/postgres/schema.mjs).
 *
 * The PostgreSQL client has the same model API as the SQLite one; only the
 * generated types are distinct, so it is handed out as `Db`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient as PostgresClient } from '../../gen/prisma-postgres/client.js';
import { ConfigError, PcischedError, UnavailableError, type Logger } from '../../common/index.js';
import type { Db, OpenedDatabase } from './database.js';
import { migratePostgres, readMigrations } from './migrate.js';
import { adapterSql, capturingFactory, registerDirectSql } from './direct-sql.js';

export const POSTGRES_MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../prisma/postgres/migrations');

export async function openPostgresDatabase(options: { url: string; logger: Logger; migrationsDir?: string }): Promise<OpenedDatabase> {
  if (!/^postgres(ql)?:\/\//.test(options.url)) {
    throw new ConfigError('expected a postgresql:// URL', { field: '--database-url' });
  }
  const pool = new pg.Pool({ connectionString: options.url, max: 2 });
  try {
    const { rows } = await pool.query<{ server_version_num: string }>('SHOW server_version_num');
    requirePostgresVersion(rows[0]?.server_version_num ?? '0', options.url);
    await migratePostgres(pool, readMigrations(options.migrationsDir ?? POSTGRES_MIGRATIONS_DIR), options.logger);
  } catch (err) {
    if (err instanceof PcischedError) throw err;
    throw new UnavailableError(`cannot use PostgreSQL at ${redact(options.url)}: ${(err as Error).message}`, { cause: err });
  } finally {
    await pool.end();
  }
  const captured = capturingFactory(new PrismaPg({ connectionString: options.url }));
  const client = new PostgresClient({ adapter: captured.factory });
  await client.$connect();
  const db = client as unknown as Db;
  registerDirectSql(db, adapterSql(captured.adapter()));
  return { db, file: redact(options.url), close: () => client.$disconnect() };
}

/** PostgreSQL 13 brought pg_current_snapshot(), which the replica sync pass reads (replica-sync.ts). */
export const MIN_POSTGRES_VERSION = 130000;

/** Throws a ConfigError naming the server when its `server_version_num` is older than MIN_POSTGRES_VERSION. */
export function requirePostgresVersion(serverVersionNum: string, url: string): void {
  const version = Number(serverVersionNum);
  if (Number.isInteger(version) && version >= MIN_POSTGRES_VERSION) return;
  throw new ConfigError(`PostgreSQL 13 or later is needed; ${redact(url)} runs server_version_num ${serverVersionNum}`, { field: '--database-url' });
}

/** The URL without its password, for logs. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgresql://…';
  }
}

/**
 * Applies prisma/migrations/<name>/migration.sql at server start, the way
 * `prisma migrate deploy` does, and records each in `_prisma_migrations` with
 * the same checksum (sha256 of the file), so `prisma migrate status` agrees.
 * We do it ourselves because the server must not depend on a migration engine
 * binary, and on PostgreSQL 15 the Wasm engine's deploy fails.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import type pg from 'pg';
import type { Logger } from '../../common/index.js';
import { PcischedError } from '../../common/index.js';

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends PcischedError {
  constructor(
    readonly migration: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`migration ${migration}: ${message}`, options);
  }
}

/** Migrations in name order (Prisma names them by timestamp). */
export function readMigrations(dir: string): Migration[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(path.join(dir, e.name, 'migration.sql')))
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`;

/**
 * Applies pending migrations on a SQLite connection. Each migration runs in
 * one IMMEDIATE transaction together with its record, so a crash leaves it
 * either applied and recorded or neither, and two servers starting at once
 * on the same file serialise instead of applying it twice.
 */
export function migrateSqlite(db: Database.Database, migrations: Migration[], logger: Logger): string[] {
  db.exec(CREATE_TABLE);
  const applied: string[] = [];
  for (const m of migrations) {
    const run = db.transaction(() => {
      const row = db
        .prepare(`SELECT checksum FROM "_prisma_migrations" WHERE migration_name = ? AND rolled_back_at IS NULL AND finished_at IS NOT NULL`)
        .get(m.name) as { checksum: string } | undefined;
      if (row) {
        if (row.checksum !== m.checksum) {
          logger.warn({ migration: m.name }, 'migration was modified after it was applied');
        }
        return false;
      }
      const started = new Date().toISOString();
      db.exec(m.sql);
      db.prepare(
        `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES (?, ?, ?, ?, NULL, NULL, ?, 1)`,
      ).run(randomUUID(), m.checksum, new Date().toISOString(), m.name, started);
      return true;
    });
    try {
      if (run.immediate()) {
        applied.push(m.name);
        logger.info({ migration: m.name }, 'applied migration');
      }
    } catch (err) {
      throw new MigrationError(m.name, (err as Error).message, { cause: err });
    }
  }
  return applied;
}

/** Prisma's own table on PostgreSQL, as `prisma migrate deploy` creates it. */
const CREATE_TABLE_POSTGRES = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** Any fixed number: replicas starting at once take this advisory lock in turn. */
const MIGRATION_LOCK = 72_617_401;

/**
 * Applies pending migrations on PostgreSQL. Each migration runs in one
 * transaction with its record (PostgreSQL DDL is transactional), under an
 * advisory lock so that replicas starting at once apply it once.
 */
export async function migratePostgres(pool: pg.Pool, migrations: Migration[], logger: Logger): Promise<string[]> {
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(CREATE_TABLE_POSTGRES);
    for (const m of migrations) {
      const { rows } = await client.query<{ checksum: string }>(
        'SELECT checksum FROM "_prisma_migrations" WHERE migration_name = $1 AND rolled_back_at IS NULL AND finished_at IS NOT NULL',
        [m.name],
      );
      if (rows[0]) {
        if (rows[0].checksum !== m.checksum) logger.warn({ migration: m.name }, 'migration was modified after it was applied');
        continue;
      }
      try {
        await client.query('BEGIN');
        const started = new Date();
        await client.query(m.sql);
        await client.query(
          'INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES ($1, $2, now(), $3, NULL, NULL, $4, 1)',
          [randomUUID(), m.checksum, m.name, started],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new MigrationError(m.name, (err as Error).message, { cause: err });
      }
      applied.push(m.name);
      logger.info({ migration: m.name }, 'applied migration');
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
  return applied;
}

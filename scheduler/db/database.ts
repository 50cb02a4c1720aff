/**
 * Opens the scheduler's database: migrations first (on a plain driver
 * connection), then a Prisma client over the driver adapter.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient } from '../../gen/prisma/client.js';
import type { Logger } from '../../common/index.js';
import { migrateSqlite, readMigrations } from './migrate.js';
import { startCheckpointer } from './checkpointer.js';
import { adapterSql, capturingFactory, registerDirectSql } from './direct-sql.js';
import { beginImmediate } from './write-lock.js';

export type Db = InstanceType<typeof PrismaClient>;
export { Prisma } from '../../gen/prisma/client.js';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../prisma/migrations');

export interface OpenedDatabase {
  db: Db;
  file: string;
  close(): Promise<void>;
}

export async function openSqliteDatabase(options: { dataDir: string; logger: Logger; migrationsDir?: string; checkpointIntervalMs?: number }): Promise<OpenedDatabase> {
  mkdirSync(options.dataDir, { recursive: true });
  const file = path.join(options.dataDir, 'pcisched.db');
  const raw = new Database(file);
  try {
    // WAL lets readers (REST) proceed while the scheduler commits.
    raw.pragma('journal_mode = WAL');
    raw.pragma('busy_timeout = 10000');
    migrateSqlite(raw, readMigrations(options.migrationsDir ?? MIGRATIONS_DIR), options.logger);
  } finally {
    raw.close();
  }
  // Started first: its thread starts while Prisma connects (60–400 ms here).
  let db: PrismaClient | undefined;
  let checkpointerFailed = false;
  const checkpointer = startCheckpointer({
    file,
    logger: options.logger,
    intervalMs: options.checkpointIntervalMs,
    onFailure: () => {
      checkpointerFailed = true;
      void db?.$queryRawUnsafe('PRAGMA wal_autocheckpoint = 1000').catch(() => undefined);
    },
  });
  const captured = capturingFactory(new PrismaBetterSQLite3({ url: file, timeout: 10000 }));
  const client = new PrismaClient({ adapter: captured.factory });
  db = client;
  try {
    await client.$connect();
    beginImmediate(captured.adapter());
    registerDirectSql(client, adapterSql(captured.adapter()));
    // Prisma's sqlite adapter opens its own connection: same pragmas there.
    await client.$queryRawUnsafe('PRAGMA busy_timeout = 10000');
    // The driver's WAL default is NORMAL, which a power loss can roll back
    // past an acknowledged commit. FULL syncs the WAL on every commit: about
    // 0.1-0.4 ms here, once per group-committed batch.
    await client.$queryRawUnsafe('PRAGMA synchronous = FULL');
    // The WAL file never shrinks by itself: after a burst (10k probes
    // registering at once grew it to 67-266 MB in the place benchmark), the
    // commit that starts it over truncates it to 64 MiB, above the 17-31 MB
    // steady placements used.
    await client.$queryRawUnsafe('PRAGMA journal_size_limit = 67108864');
    // Automatic checkpoints stay on if the worker already failed.
    await client.$queryRawUnsafe(`PRAGMA wal_autocheckpoint = ${checkpointerFailed ? 1000 : 0}`);
    // Checkpoints run from the first commit on: a writer that starts before them grows the WAL unchecked.
    await checkpointer.ready;
  } catch (err) {
    await checkpointer.stop();
    await client.$disconnect().catch(() => undefined);
    throw err;
  }
  return {
    db: client,
    file,
    async close() {
      await checkpointer.stop();
      await client.$disconnect();
    },
  };
}

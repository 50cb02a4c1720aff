/**
 * The server's own migrator: applies prisma/migrations in order, in a
 * transaction each, keeps data across schema changes, and records them so
 * that Prisma's `migrate status` agrees.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { readMigrations, migrateSqlite, MigrationError } from '../../scheduler/db/index.js';
import { openSqliteDatabase, MIGRATIONS_DIR } from '../../scheduler/db/index.js';
import { silentLogger } from '../../common/index.js';
import { REPO_ROOT } from '../helpers/processes.js';

const run = promisify(execFile);

test('later migrations keep existing rows and foreign keys intact', () => {
  const all = readMigrations(MIGRATIONS_DIR);
  assert.ok(all.length >= 2);
  const db = new Database(':memory:');
  db.pragma('foreign_keys = ON');
  assert.deepEqual(migrateSqlite(db, all.slice(0, 1), silentLogger()), [all[0]!.name]);
  db.exec(`INSERT INTO Host (name, registeredAt) VALUES ('h', 0);
    INSERT INTO Device (hostId, address, shortAddress, vendor, device, class, report) VALUES (1, '0000:01:00.0', '01:00.0', '10de', '1b80', '0300', '{}');
    INSERT INTO Vm (name, state, template, createdAt, updatedAt) VALUES ('v', 'allocated', '{}', 0, 0);
    INSERT INTO Allocation (deviceId, vmId) VALUES (1, 1);`);
  assert.deepEqual(migrateSqlite(db, all, silentLogger()), all.slice(1).map((m) => m.name));
  assert.deepEqual(db.prepare('SELECT name, state FROM Vm').all(), [{ name: 'v', state: 'allocated' }]);
  assert.deepEqual(db.prepare('SELECT deviceId, vmId FROM Allocation').all(), [{ deviceId: 1, vmId: 1 }]);
  assert.deepEqual(db.pragma('foreign_key_check'), []);
  // Applying again is a no-op.
  assert.deepEqual(migrateSqlite(db, all, silentLogger()), []);
  const recorded = db.prepare('SELECT migration_name, checksum, applied_steps_count FROM _prisma_migrations ORDER BY migration_name').all();
  assert.deepEqual(recorded, all.map((m) => ({ migration_name: m.name, checksum: m.checksum, applied_steps_count: 1 })));
});

test('the double allocation of a device is refused by the schema itself', () => {
  const db = new Database(':memory:');
  migrateSqlite(db, readMigrations(MIGRATIONS_DIR), silentLogger());
  db.exec(`INSERT INTO Host (name, registeredAt) VALUES ('h', 0);
    INSERT INTO Device (hostId, address, shortAddress, vendor, device, class, report) VALUES (1, '0000:01:00.0', '01:00.0', '10de', '1b80', '0300', '{}');
    INSERT INTO Vm (name, state, template, createdAt, updatedAt) VALUES ('a', 'allocated', '{}', 0, 0), ('b', 'allocated', '{}', 0, 0);
    INSERT INTO Allocation (deviceId, vmId) VALUES (1, 1);`);
  assert.throws(() => db.exec('INSERT INTO Allocation (deviceId, vmId) VALUES (1, 2)'), /UNIQUE constraint failed: Allocation.deviceId/);
});

test('a failing migration is rolled back whole and named in the error', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pcisched-mig-'));
  try {
    mkdirSync(path.join(dir, '1_ok'));
    writeFileSync(path.join(dir, '1_ok', 'migration.sql'), 'CREATE TABLE a (x INTEGER);');
    mkdirSync(path.join(dir, '2_bad'));
    writeFileSync(path.join(dir, '2_bad', 'migration.sql'), 'CREATE TABLE b (x INTEGER);\nCREATE TABLE a (x INTEGER);');
    const db = new Database(':memory:');
    assert.throws(() => migrateSqlite(db, readMigrations(dir), silentLogger()), (err: unknown) => err instanceof MigrationError && err.migration === '2_bad' && /already exists/.test(err.message));
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('a', 'b')").all();
    assert.deepEqual(tables, [{ name: 'a' }]);
    assert.deepEqual(db.prepare('SELECT migration_name FROM _prisma_migrations').all(), [{ migration_name: '1_ok' }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("Prisma's own `migrate status` agrees with what the server applied", async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'pcisched-status-'));
  try {
    const opened = await openSqliteDatabase({ dataDir, logger: silentLogger() });
    await opened.close();
    const { stdout } = await run(path.join(REPO_ROOT, 'node_modules', '.bin', 'prisma'), ['migrate', 'status'], {
      cwd: REPO_ROOT,
      env: { ...process.env, PCISCHED_DATA_DIR: dataDir },
    });
    assert.match(stdout, new RegExp(`${readMigrations(MIGRATIONS_DIR).length} migrations? found`));
    assert.match(stdout, /Database schema is up to date!/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

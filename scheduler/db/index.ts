/** Database access: open SQLite or PostgreSQL (with migrations), the Prisma client type, the hot-path SQL. */
export { openSqliteDatabase, MIGRATIONS_DIR, Prisma, type Db, type OpenedDatabase } from './database.js';
export { readMigrations, migrateSqlite, migratePostgres, MigrationError, type Migration } from './migrate.js';
export { openPostgresDatabase, requirePostgresVersion, POSTGRES_MIGRATIONS_DIR } from './postgres.js';
export { directSql, sqlDate, adapterSql, clientSql, capturingFactory, isConstraintViolation, retrying, MAX_TRANSACTION_RUNS, DirectSqlError, type DirectSql, type SqlSession, type SqlRow, type SqlStep, type SqlResult } from './direct-sql.js';
export { startCheckpointer, checkpointTick, type Checkpointer, type CheckpointTickResult } from './checkpointer.js';

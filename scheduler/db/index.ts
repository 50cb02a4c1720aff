/** Database access: open (with migrations) and the Prisma client type. */
export { openSqliteDatabase, MIGRATIONS_DIR, Prisma, type Db, type OpenedDatabase } from './database.js';
export { readMigrations, migrateSqlite, MigrationError, type Migration } from './migrate.js';
export { directSql, sqlDate, adapterSql, clientSql, capturingFactory, isConstraintViolation, DirectSqlError, type DirectSql, type SqlSession, type SqlRow, type SqlStep, type SqlResult } from './direct-sql.js';
export { startCheckpointer, type Checkpointer } from './checkpointer.js';

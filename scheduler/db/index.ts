/** Database access: open (with migrations) and the Prisma client type. */
export { openSqliteDatabase, MIGRATIONS_DIR, Prisma, type Db, type OpenedDatabase } from './database.js';
export { readMigrations, migrateSqlite, MigrationError, type Migration } from './migrate.js';

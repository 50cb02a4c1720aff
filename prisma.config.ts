// Prisma CLI configuration: the JS engine with the better-sqlite3 adapter, so
// generate, migrate diff and migrate deploy work offline (no native engine).
import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';

const dataDir = process.env.PCISCHED_DATA_DIR ?? 'data';

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: path.join('prisma', 'schema.prisma'),
  migrations: { path: path.join('prisma', 'migrations') },
  async adapter() {
    return new PrismaBetterSQLite3({ url: path.join(dataDir, 'pcisched.db') });
  },
});

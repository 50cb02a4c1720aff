// Writes gen/postgres/schema.prisma: prisma/schema.prisma with the
// PostgreSQL datasource and its own client output, so both providers share
// one set of models. Run by `npm run generate` before `prisma generate`.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const source = readFileSync(path.join(root, 'prisma/schema.prisma'), 'utf8');
const replace = (text, from, to) => {
  if (!text.includes(from)) throw new Error(`prisma/schema.prisma: expected ${JSON.stringify(from)}`);
  return text.replace(from, to);
};
let schema = replace(source, 'provider = "sqlite"', 'provider = "postgresql"');
schema = replace(schema, 'url      = "file:../data/pcisched.db"', 'url      = "postgresql://localhost/pcisched"');
schema = replace(schema, 'output       = "../gen/prisma"', 'output       = "../prisma-postgres"');
const out = path.join(root, 'gen/postgres/schema.prisma');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `// Generated from prisma/schema.prisma by prisma/postgres/schema.mjs: do not edit.\n${schema}`);

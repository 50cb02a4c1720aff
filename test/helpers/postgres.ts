/**
 * A real PostgreSQL server for tests: PCISCHED_TEST_PG_URL names one
 * (`postgresql://postgres@127.0.0.1:PORT/postgres`, as .ci/run starts it). Each test
 * gets a database of its own, dropped afterwards. Without the variable the
 * PostgreSQL tests are skipped with a message, except under CI, where they fail.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const SERVER = process.env.PCISCHED_TEST_PG_URL;

/** Why PostgreSQL tests cannot run here, or false when they can (`test(name, { skip: pgUnavailable() }, …)`). */
export function pgUnavailable(): string | false {
  if (SERVER) return false;
  if (process.env.CI) throw new Error('PCISCHED_TEST_PG_URL is not set: CI must start PostgreSQL (see .ci/run)');
  return 'PCISCHED_TEST_PG_URL is not set (a PostgreSQL server for tests; .ci/run starts one)';
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A new empty database on the test server (or on `server`, a postgresql:// URL). */
export async function freshDatabase(server = SERVER): Promise<TestDatabase> {
  if (!server) throw new Error('no PostgreSQL server: set PCISCHED_TEST_PG_URL');
  const name = `pcisched_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: server });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

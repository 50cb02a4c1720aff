/**
 * The open loop's floor: durable group commit and nothing else. It opens a
 * database of its own as the scheduler does (openSqliteDatabase: WAL, FULL
 * sync, the checkpoint worker, Prisma's driver adapter) and answers each
 * submission once a transaction holding it has committed, through the same
 * direct SQL the scheduler's batches use, one batch at a time. A batch is one
 * row per VM and one DELETE for its releases: no matching, no VM rows, no
 * allocations, no memory kept of hosts.
 *
 * Why: on this shared VM the disk's flushes and the machine's own stalls
 * put a floor under the open loop's p99, and it moves from minute to
 * minute. Run before each size with the same arrivals (floor-child.ts),
 * the floor says what any design that answers after a durable commit on
 * this disk meets in that minute; the scheduler's figure beside it says
 * what its own work adds.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { directSql, openSqliteDatabase, Prisma, type OpenedDatabase, type VmSpec } from '../scheduler/index.js';
import type { Logger } from '../common/index.js';
import type { Placer } from './open-loop.js';

/** As the scheduler's group commit (group-commit.ts): the rest wait for the next batch. */
const MAX_BATCH = 64;

interface Item {
  id: number;
  kind: 'submit' | 'release';
  name: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface CommitFloor extends Placer {
  /** Batches committed, and the submissions and releases they held. */
  stats(): { batches: number; submits: number; releases: number };
  /** Rows stored now: one per submission not yet released. */
  storedRows(): Promise<number>;
  close(): Promise<void>;
}

export async function openCommitFloor(options: { dataDir: string; logger: Logger }): Promise<CommitFloor> {
  const database: OpenedDatabase = await openSqliteDatabase({ dataDir: options.dataDir, logger: options.logger });
  try {
    await database.db.$executeRawUnsafe('CREATE TABLE "BenchFloorVm" ("id" INTEGER NOT NULL PRIMARY KEY, "name" TEXT NOT NULL)');
  } catch (err) {
    await database.close();
    throw err;
  }
  const sql = directSql(database.db);
  const inbox: Item[] = [];
  const counts = { batches: 0, submits: 0, releases: 0 };
  let nextId = 1;
  let draining = false;

  const commit = async (batch: Item[]) => {
    const added = batch.filter((item) => item.kind === 'submit').map((item) => [item.id, item.name]);
    const removed = batch.filter((item) => item.kind === 'release').map((item) => item.id);
    // Two statements whatever the batch holds: one prepared shape each, as the scheduler's batches keep.
    await sql.transaction([
      { sql: Prisma.sql`INSERT INTO "BenchFloorVm" ("id", "name") SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(${JSON.stringify(added)})` },
      { sql: Prisma.sql`DELETE FROM "BenchFloorVm" WHERE "id" IN (SELECT value FROM json_each(${JSON.stringify(removed)}))` },
    ]);
    counts.batches++;
    counts.submits += added.length;
    counts.releases += removed.length;
  };

  const drain = async () => {
    // As group-commit.ts: wait one turn, so what has already arrived joins this batch.
    await nextTurn();
    const batch = inbox.splice(0, MAX_BATCH);
    try {
      await commit(batch);
      for (const item of batch) item.resolve();
    } catch (err) {
      for (const item of batch) item.reject(err);
    }
    if (inbox.length > 0) void drain();
    else draining = false;
  };

  const enqueue = (kind: Item['kind'], id: number, name: string) =>
    new Promise<void>((resolve, reject) => {
      inbox.push({ id, kind, name, resolve, reject });
      if (draining) return;
      draining = true;
      void drain();
    });

  return {
    async submit(spec: VmSpec) {
      const id = nextId++;
      await enqueue('submit', id, spec.name);
      return { id, state: 'allocated' };
    },
    async release(id: number) {
      await enqueue('release', id, '');
    },
    stats: () => ({ ...counts }),
    async storedRows() {
      const [rows] = (await sql.transaction([{ rows: true, sql: Prisma.sql`SELECT count(*) AS "n" FROM "BenchFloorVm"` }])) as [Array<{ n: unknown }>];
      return Number(rows[0]!.n);
    },
    close: () => database.close(),
  };
}

/**
 * One sequence of checks for a DirectSql implementation against a real,
 * migrated database (SQLite or PostgreSQL): all or nothing, RETURNING rows,
 * constraint codes, interactive transactions.
 */
import assert from 'node:assert/strict';
import { DirectSqlError, Prisma, isConstraintViolation, type Db, type DirectSql } from '../../scheduler/db/index.js';

export const host = (name: string) => Prisma.sql`INSERT INTO "Host" ("name", "registeredAt") VALUES (${name}, ${new Date('2026-01-02T03:04:05Z')})`;

export async function exercise(sql: DirectSql, db: Db): Promise<void> {
  const [inserted, rows] = await sql.transaction([
    { sql: host('a') },
    { sql: Prisma.sql`UPDATE "Host" SET "allocVersion" = "allocVersion" + ${2} WHERE "name" = ${'a'} RETURNING "name", "allocVersion"`, rows: true },
  ]);
  assert.equal(inserted, 1);
  assert.deepEqual((rows as Array<Record<string, unknown>>).map((r) => [r.name, Number(r.allocVersion)]), [['a', 2]]);
  // Prisma Client reads what was written, dates included.
  const stored = await db.host.findUniqueOrThrow({ where: { name: 'a' } });
  assert.equal(stored.registeredAt.toISOString(), '2026-01-02T03:04:05.000Z');

  // A NOT NULL violation in the second statement undoes the first.
  await assert.rejects(
    sql.transaction([{ sql: host('b') }, { sql: Prisma.sql`UPDATE "Host" SET "allocVersion" = NULL WHERE "name" = ${'a'}` }]),
    (err: unknown) => err instanceof DirectSqlError && isConstraintViolation(err),
  );
  assert.equal(await db.host.count({ where: { name: 'b' } }), 0);
  // A unique violation is a constraint violation too; a syntax error is not.
  await assert.rejects(sql.transaction([{ sql: host('a') }]), (err: unknown) => err instanceof DirectSqlError && isConstraintViolation(err));
  await assert.rejects(sql.transaction([{ sql: Prisma.sql`UPDATE "Nope" SET "x" = 1` }]), (err: unknown) => err instanceof DirectSqlError && !isConstraintViolation(err));
  // The connection is usable afterwards: the lock was released, no transaction is left open.
  await sql.transaction([{ sql: host('c') }]);
  assert.deepEqual((await db.host.findMany({ orderBy: { name: 'asc' } })).map((h) => h.name), ['a', 'c']);

  // Interactive: a write that depends on a read commits with it.
  const got = await sql.interactive(async (tx) => {
    const [row] = await tx.rows(Prisma.sql`SELECT "allocVersion" FROM "Host" WHERE "name" = ${'a'}`);
    await tx.run(Prisma.sql`UPDATE "Host" SET "generation" = ${Number(row!.allocVersion) * 10} WHERE "name" = ${'a'}`);
    return Number(row!.allocVersion);
  });
  assert.equal(got, 2);
  assert.equal((await db.host.findUniqueOrThrow({ where: { name: 'a' } })).generation, 20);
  // The caller's own error rolls back what it wrote, and comes back unchanged.
  const mine = new Error('changed my mind');
  await assert.rejects(
    sql.interactive(async (tx) => {
      await tx.run(host('d'));
      throw mine;
    }),
    (err: unknown) => err === mine,
  );
  // A statement's error arrives as DirectSqlError, and nothing of the transaction stays.
  await assert.rejects(
    sql.interactive(async (tx) => {
      await tx.run(host('e'));
      await tx.run(host('a'));
    }),
    (err: unknown) => err instanceof DirectSqlError && isConstraintViolation(err),
  );
  assert.deepEqual((await db.host.findMany({ orderBy: { name: 'asc' } })).map((h) => h.name), ['a', 'c']);
}


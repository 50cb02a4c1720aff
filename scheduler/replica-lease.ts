/**
 * Which scheduler replica holds which host online, when several replicas share
 * a PostgreSQL database. A host is online through the replica its probe streams
 * to (`Host.replicaId`); each replica renews a lease row (`Replica.heartbeatAt`)
 * on every sync pass, and any replica marks offline the hosts of a replica whose
 * lease has lapsed (a crash, a partition). So a replica that starts no longer
 * marks every host offline, and every replica shows every host's liveness.
 *
 * Probe heartbeats still write nothing: the lease is one write per replica per
 * pass. Lease times come from each replica's clock, so replicas need clocks in
 * step to well within `leaseMs` (NTP does that).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Clock } from '../common/index.js';
import { Prisma, directSql, type Db, type SqlRow } from './db/index.js';

/** A replica's lease lapses after this long without a renewal (ten sync passes). */
export const DEFAULT_LEASE_MS = 10_000;

/** Host name, pid and a random part: readable in `host show`, and new on every start. */
export function newReplicaId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export class ReplicaLease {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    readonly replicaId: string,
    private readonly leaseMs = DEFAULT_LEASE_MS,
  ) {}

  // renew and expire run every sync pass, so they are raw statements on the
  // driver adapter: through Prisma Client they were five planned queries,
  // ~13 ms of each pass at 10k hosts.

  /**
   * SQL, true for a "Host" row that a probe with `session` may not take for
   * this replica: it is online through another replica whose lease is live,
   * from a probe with another session whose stream there has not ended
   * (HostStore.letGo empties the session). Why the session: the same probe
   * reconnecting through another replica (a balancer moved it) may take its
   * host over, a second probe under the same name (a cloned configuration)
   * may not, and a restarted probe (a new session) may once the old one's
   * stream ended. The in-process rule for one replica is in probe-service.ts.
   */
  heldElsewhere(session: string): Prisma.Sql {
    const cutoff = new Date(this.clock.now().getTime() - this.leaseMs);
    return Prisma.sql`("Host"."state" = 'online' AND "Host"."replicaId" IS NOT NULL AND "Host"."replicaId" <> ${this.replicaId}
      AND "Host"."session" <> ${session} AND "Host"."session" <> ''
      AND "Host"."replicaId" IN (SELECT "id" FROM "Replica" WHERE "heartbeatAt" >= ${cutoff}))`;
  }

  /** Takes or renews this replica's lease (again after another replica found it lapsed and removed it). */
  async renew(): Promise<void> {
    const now = this.clock.now();
    await directSql(this.db).transaction([
      {
        sql: Prisma.sql`INSERT INTO "Replica" ("id", "startedAt", "heartbeatAt") VALUES (${this.replicaId}, ${now}, ${now})
          ON CONFLICT ("id") DO UPDATE SET "heartbeatAt" = EXCLUDED."heartbeatAt"`,
      },
    ]);
  }

  /**
   * Marks offline every host held by a replica whose lease has lapsed (or by
   * none, as rows from before leases were), and forgets those replicas.
   * Returns the names of the hosts it marked offline. One statement finds
   * and marks them, so a host claimed in between is not marked.
   */
  async expire(): Promise<string[]> {
    const cutoff = new Date(this.clock.now().getTime() - this.leaseMs);
    const [marked] = await directSql(this.db).transaction([
      {
        rows: true,
        sql: Prisma.sql`UPDATE "Host" SET "state" = 'offline', "replicaId" = NULL
          WHERE "state" = 'online' AND ("replicaId" IS NULL OR "replicaId" NOT IN (SELECT "id" FROM "Replica" WHERE "heartbeatAt" >= ${cutoff}))
          RETURNING "name"`,
      },
      { sql: Prisma.sql`DELETE FROM "Replica" WHERE "heartbeatAt" < ${cutoff}` },
    ]);
    return (marked as SqlRow[]).map((r) => String(r.name)).sort();
  }

  /** Gives the lease up on a clean stop: the hosts this replica held go offline at once rather than when it lapses. */
  async release(): Promise<void> {
    await this.db.host.updateMany({ where: { replicaId: this.replicaId }, data: { state: 'offline', replicaId: null } });
    await this.db.replica.deleteMany({ where: { id: this.replicaId } });
  }
}

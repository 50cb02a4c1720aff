/**
 * Keeps this scheduler's in-memory hosts coherent with a database that other
 * scheduler replicas also write (PostgreSQL). Every placement, release and
 * device change bumps a host's allocVersion in the same transaction, so a
 * host row whose allocVersion or generation differs from memory is one
 * another replica changed; it is reloaded, and hosts registered through
 * another replica are loaded.
 *
 * Each pass reads only the host rows written since the last pass could see
 * (`changedHosts`), not every row: at 10k hosts the full read took ~35 ms
 * and the whole pass ~78 ms, every second, on the serial queue that
 * placements wait on. PostgreSQL stamps every row version with the id of
 * the transaction that wrote it (`xmin`), and a statement's snapshot says
 * which transactions may still be running (its xmin): every transaction
 * older than that had finished, so its writes were visible to that
 * statement. The next pass asks for rows written by that transaction or
 * later, so a write that commits after a read, with however old an id, is
 * still seen. The first pass reads every host, and one after a failed pass
 * reads as far back as the last pass that finished. Skipping the other rows
 * loses nothing: what a pass does with a row depends on this replica's
 * memory too, but memory changes only along with a write to that row
 * (a probe coming online here, a commit), which the next pass reads.
 *
 * Each pass also renews this replica's lease and expires lapsed ones
 * (replica-lease.ts), and reads which replica holds each host online: hosts
 * held elsewhere show online here (`MemHost.replicaId`) though this replica
 * does not place on them, as their probes cannot be asked to prepare through
 * it. A host whose probe streams here but which the database lost (this
 * replica's lease was found lapsed, say after a long stall) is claimed back.
 *
 * Pending VMs are shared too: each replica takes up the VMs pending in the
 * database, whichever replica they were submitted to, so a VM that fits only
 * on hosts whose probes stream to another replica is placed there. Two
 * replicas may try the same VM; the placement commit moves it from pending
 * only once, and the other drops it.
 *
 * The pass runs on the scheduler's serial queue, between batches, so this
 * replica's own commits have already moved its memory to the versions the
 * database holds and are not mistaken for another's. SQLite has a single
 * writer, the scheduler, and does not run it.
 */
import type { Logger } from '../common/index.js';
import type { ClusterState } from './cluster-state.js';
import { Prisma, directSql, type Db } from './db/index.js';
import type { HostStore, StoredHost } from './host-store.js';
import type { SchedulerObserver } from './observer.js';
import type { ReplicaLease } from './replica-lease.js';
import type { SerialQueue } from './serial-queue.js';

export interface ReplicaSyncDeps {
  db: Db;
  queue: SerialQueue;
  cluster: ClusterState;
  hostStore: HostStore;
  lease: ReplicaLease;
  logger: Logger;
  observer: SchedulerObserver;
  /** Memory of a host replaced (or made) by what the database holds, keeping this replica's view of its liveness. */
  apply(stored: StoredHost): void;
  /** The session of the probe streaming to this replica for a host, if one does. */
  probeSession(host: string): string | undefined;
  /** Something changed: pending VMs may fit now. */
  changed(): void;
  /** Takes up the pending VMs the database holds (others' too) and drops those no longer pending; true if any were new here. */
  syncPending(): Promise<boolean>;
}

export class ReplicaSync {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  /** The 32-bit transaction id every write the last finished pass did not see is at or after; null: read every host. */
  private seen: number | null = null;

  constructor(private readonly deps: ReplicaSyncDeps) {}

  start(intervalMs: number): void {
    if (this.timer || intervalMs <= 0) return;
    this.timer = setInterval(() => {
      // One pass at a time; a slow one skips ticks rather than piling up.
      this.running ??= this.once()
        .catch((err: unknown) => this.deps.logger.error({ err }, 'replica sync failed'))
        .finally(() => (this.running = null));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass; returns the names of the hosts loaded or reloaded. */
  once(): Promise<string[]> {
    const { db, queue, cluster, hostStore, lease, logger, observer } = this.deps;
    return queue.run(async () => {
      // A duration, not a time of day: the monotonic clock, as group-commit.ts times batches.
      const started = performance.now();
      await lease.renew();
      const expired = await lease.expire();
      if (expired.length > 0) logger.warn({ hosts: expired }, 'hosts offline: the scheduler replica holding them stopped renewing its lease');
      const [rows] = await directSql(db).transaction([{ rows: true, sql: changedHosts(this.seen) }]);
      let horizon: number | null = null;
      let read = 0;
      const moved: string[] = [];
      for (const row of rows as Array<Record<string, unknown>>) {
        horizon ??= Number(BigInt(String(row.horizon)) % XID_SPACE);
        if (row.id === null) continue;
        read++;
        let mem = cluster.byId.get(Number(row.id));
        if (!mem || mem.allocVersion !== Number(row.allocVersion) || mem.generation !== Number(row.generation)) {
          const stored = await hostStore.load(String(row.name));
          if (!stored) continue;
          // Loading also makes the VMs another replica placed there known, so a release through this one frees them in memory too.
          this.deps.apply(stored);
          moved.push(stored.name);
          mem = cluster.byId.get(stored.id);
          if (!mem) continue;
        }
        const holder = row.state === 'online' && row.replicaId !== null ? String(row.replicaId) : null;
        if (mem.online && holder === null && (await hostStore.reclaim(mem.name, mem.lastSeenAt))) {
          logger.warn({ host: mem.name }, 'host claimed back: its probe streams to this replica');
          mem.replicaId = lease.replicaId;
        } else if (mem.online && holder !== null && holder !== lease.replicaId && String(row.session) !== this.deps.probeSession(mem.name)) {
          // Another replica took the host for another probe: this replica's
          // lease lapsed, or the stream here ended and the probe restarted
          // there (HostStore.letGo). A probe still streaming here is a second
          // one under that name now: offline here, its next message claims the
          // host and is refused.
          cluster.setOnline(mem, false);
          mem.replicaId = holder;
          logger.warn({ host: mem.name, heldBy: holder }, 'host taken by another replica for another probe; the probe streaming here is refused from its next message');
        } else {
          // Another replica's probe stream: shown online here; this replica's own sweep decides for a stream it still holds.
          mem.replicaId = holder;
        }
      }
      const adopted = await this.deps.syncPending();
      // Only a pass that got this far moves on: a failed one is read again.
      this.seen = horizon;
      if (moved.length > 0) logger.debug({ hosts: moved.length }, 'hosts changed by another replica reloaded');
      if (moved.length > 0 || adopted) this.deps.changed();
      observer.replicaSync({ ms: performance.now() - started, hostsRead: read, hostsReloaded: moved.length });
      return moved;
    });
  }
}

/** PostgreSQL's `xid` (what `xmin` holds) is 32 bits and wraps around; `xid8` counts on. */
const XID_SPACE = 2n ** 32n;

/**
 * Host rows written by transaction `since` or later (all of them when
 * null), each with `horizon`: the xmin of this statement's snapshot, the
 * next pass's `since`. One row with a null id when none was written.
 *
 * `age(xid)` counts the transactions since `xid` modulo 2^32, as
 * PostgreSQL compares ids: a live id is never more than 2^31 behind the
 * newest, because VACUUM freezes older rows first, and a frozen row's age
 * is the largest there is, so it is never read again.
 */
function changedHosts(since: number | null): Prisma.Sql {
  const written =
    since === null
      ? Prisma.sql`TRUE`
      : Prisma.sql`age(h."xmin") <= age(CAST(${String(since)} AS xid))`;
  return Prisma.sql`SELECT s."horizon", h."id", h."name", h."allocVersion", h."generation", h."state", h."replicaId", h."session"
    FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS "horizon") s
    LEFT JOIN "Host" h ON ${written}`;
}

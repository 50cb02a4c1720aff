/**
 * Keeps this scheduler's in-memory hosts coherent with a database that other
 * scheduler replicas also write (PostgreSQL). Every placement, release and
 * device change bumps a host's allocVersion in the same transaction, so one
 * small query (id, allocVersion, generation of every host) shows which hosts
 * another replica changed; those are reloaded, and hosts registered through
 * another replica are loaded.
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
import type { ReplicaLease } from './replica-lease.js';
import type { SerialQueue } from './serial-queue.js';

export interface ReplicaSyncDeps {
  db: Db;
  queue: SerialQueue;
  cluster: ClusterState;
  hostStore: HostStore;
  lease: ReplicaLease;
  logger: Logger;
  /** Memory of a host replaced (or made) by what the database holds, keeping this replica's view of its liveness. */
  apply(stored: StoredHost): void;
  /** Something changed: pending VMs may fit now. */
  changed(): void;
  /** Takes up the pending VMs the database holds (others' too) and drops those no longer pending; true if any were new here. */
  syncPending(): Promise<boolean>;
}

export class ReplicaSync {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

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
    const { db, queue, cluster, hostStore, lease, logger } = this.deps;
    return queue.run(async () => {
      await lease.renew();
      const expired = await lease.expire();
      if (expired.length > 0) logger.warn({ hosts: expired }, 'hosts offline: the scheduler replica holding them stopped renewing its lease');
      const [rows] = await directSql(db).transaction([
        { rows: true, sql: Prisma.sql`SELECT "id", "name", "allocVersion", "generation", "state", "replicaId" FROM "Host"` },
      ]);
      const moved: string[] = [];
      for (const row of rows as Array<Record<string, unknown>>) {
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
        } else {
          // Another replica's probe stream: shown online here; this replica's own sweep decides for a stream it still holds.
          mem.replicaId = holder;
        }
      }
      const adopted = await this.deps.syncPending();
      if (moved.length > 0) logger.debug({ hosts: moved.length }, 'hosts changed by another replica reloaded');
      if (moved.length > 0 || adopted) this.deps.changed();
      return moved;
    });
  }
}

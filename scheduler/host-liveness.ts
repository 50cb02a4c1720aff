/**
 * Which hosts are online through this replica, from their probes' news.
 *
 * A hello or heartbeat takes a host online; `missedHeartbeats` intervals
 * without news take it offline (the sweep). Heartbeats stay in memory: only
 * these transitions are written. A stream that ends leaves the host online
 * until the sweep, as the probe may be back in a moment, but on a shared
 * database no probe holds it any more, so a restarted probe may take it
 * through another replica at once.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Clock, Logger } from '../common/index.js';
import type { MemHost } from './cluster.js';
import type { ClusterState } from './cluster-state.js';
import type { HostStore } from './host-store.js';
import type { ReplicaLease } from './replica-lease.js';

/** Hosts the sweep looks at between turns of the event loop (~0.5 ms of work at 10k hosts). */
const SWEEP_SLICE = 1024;

export interface HostLivenessDeps {
  cluster: ClusterState;
  hostStore: HostStore;
  lease: ReplicaLease;
  clock: Clock;
  logger: Logger;
  /** Several replicas share the database (PostgreSQL). */
  shared: boolean;
  /** A host is offline after this many heartbeat intervals without news. */
  missedHeartbeats: number;
  /** A host came online here: pending VMs may fit now. */
  cameOnline(): void;
  /** A host went offline after missed heartbeats. */
  wentOffline(host: MemHost): Promise<void>;
}

export class HostLiveness {
  /** The session of the probe last heard from here, per host online through this replica. */
  private readonly sessions = new Map<string, string>();
  /** Hosts whose probe's stream here ended (shared database), and the write that said so: the next news holds them again. */
  private readonly letGo = new Map<string, Promise<void>>();

  constructor(private readonly deps: HostLivenessDeps) {}

  /** The session of the probe streaming here for `host`, if one does. */
  session(host: string): string | undefined {
    return this.sessions.get(host);
  }

  /** A snapshot from `session` was stored (and took the host online). */
  snapshotStored(host: string, session: string): void {
    this.sessions.set(host, session);
  }

  /** News from the host's probe (`session`); throws HostHeldError, changing nothing, if another replica holds the host for another probe. */
  async seen(host: MemHost, session: string): Promise<void> {
    const { hostStore, cluster, lease, clock, logger } = this.deps;
    const now = clock.now();
    const letGo = this.letGo.get(host.name);
    if (!host.online || letGo) {
      // After the write that let the host go, so that it cannot land last.
      await letGo;
      await hostStore.setState(host.name, 'online', now, session, host.session === session);
      if (this.letGo.get(host.name) === letGo) this.letGo.delete(host.name);
      host.replicaId = lease.replicaId;
      if (!host.online) {
        cluster.setOnline(host, true);
        logger.info({ host: host.name }, 'host online');
        this.deps.cameOnline();
      }
    }
    host.lastSeenAt = now;
    this.sessions.set(host.name, session);
  }

  /**
   * The stream of a host's probe (`session`) ended here. On a shared
   * database no probe holds the host any more (HostStore.letGo), so a
   * restarted probe (a new session) may take it through another replica at
   * once instead of being refused until this replica's sweep; this
   * replica's next sync pass then sees that and lets it go.
   */
  async gone(name: string, session: string): Promise<void> {
    if (!this.deps.shared || this.sessions.get(name) !== session) return;
    this.sessions.delete(name);
    const write = this.deps.hostStore.letGo(name);
    this.letGo.set(name, write.catch(() => undefined));
    await write;
  }

  /**
   * Marks hosts offline after `missedHeartbeats` intervals without news.
   * Yields to the event loop every SWEEP_SLICE hosts: at 10k hosts the walk
   * alone takes 4–10 ms, every second, and heartbeats and requests would
   * wait behind it.
   */
  async sweep(): Promise<void> {
    const { hostStore, cluster, lease, clock, logger, missedHeartbeats } = this.deps;
    const now = clock.now().getTime();
    let walked = 0;
    for (const host of cluster.hosts.values()) {
      if (++walked % SWEEP_SLICE === 0) await nextTurn();
      if (!host.online || !host.lastSeenAt) continue;
      if (now - host.lastSeenAt.getTime() > missedHeartbeats * host.intervalMs) {
        cluster.setOnline(host, false);
        this.sessions.delete(host.name);
        if (host.replicaId === lease.replicaId) host.replicaId = null;
        await hostStore.setState(host.name, 'offline', null);
        logger.warn({ host: host.name, lastSeenAt: host.lastSeenAt }, 'host offline: heartbeats missed');
        await this.deps.wentOffline(host);
      }
    }
  }

  /** Resolves once no write letting a host go is in flight. */
  async settled(): Promise<void> {
    await Promise.all(this.letGo.values());
  }
}

/**
 * Composes the scheduler service: database, Scheduler, gRPC ProbeService and
 * the REST API (with Prometheus metrics at /metrics), each on its own listener.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Clock, Logger } from '../common/index.js';
import { systemClock } from '../common/index.js';
import { Scheduler, createProbeService, openPostgresDatabase, openSqliteDatabase, type PlacementPolicy } from '../scheduler/index.js';
import { createApiApp } from '../api/index.js';
import { createSchedulerMetrics } from '../metrics/index.js';
import { ProbeServiceService, channelOptions } from '../wire/index.js';
import { parseListen, formatHostPort } from './listen.js';

export interface ServerOptions {
  dataDir: string;
  /** A postgresql:// URL: the database is PostgreSQL there instead of SQLite in dataDir. */
  databaseUrl?: string;
  grpcListen: string;
  httpListen: string;
  logger: Logger;
  clock?: Clock;
  policy?: PlacementPolicy;
  missedHeartbeats?: number;
  sweepMs?: number;
}

export interface RunningServer {
  grpcAddress: string;
  httpUrl: string;
  scheduler: Scheduler;
  close(): Promise<void>;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const grpcAt = parseListen(opts.grpcListen, '--grpc-listen');
  const httpAt = parseListen(opts.httpListen, '--http-listen');
  const database = opts.databaseUrl
    ? await openPostgresDatabase({ url: opts.databaseUrl, logger: opts.logger })
    : await openSqliteDatabase({ dataDir: opts.dataDir, logger: opts.logger });
  const metrics = createSchedulerMetrics();
  const scheduler = await Scheduler.open({
    db: database.db,
    observer: metrics.observer,
    clock: opts.clock ?? systemClock,
    logger: opts.logger.child({ component: 'scheduler' }),
    policy: opts.policy,
    missedHeartbeats: opts.missedHeartbeats,
  });
  metrics.watch(() => scheduler.stats());
  scheduler.start(opts.sweepMs);

  const grpcServer = new Server(channelOptions);
  grpcServer.addService(ProbeServiceService, createProbeService(scheduler, opts.logger.child({ component: 'grpc' })));
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync(formatHostPort(grpcAt.host, grpcAt.port), ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );

  const app = createApiApp({ scheduler, logger: opts.logger.child({ component: 'api' }), metrics: () => metrics.render() });
  const httpServer = http.createServer(app);
  // Longer than clients' idle pools, so a reused keep-alive socket is not
  // closed under a request in flight (ECONNRESET on busy clients).
  httpServer.keepAliveTimeout = 65_000;
  httpServer.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(httpAt.port, httpAt.host, () => resolve());
  });
  const httpPort = (httpServer.address() as AddressInfo).port;

  const grpcAddress = formatHostPort(grpcAt.host, grpcPort);
  const httpUrl = `http://${formatHostPort(httpAt.host, httpPort)}`;
  opts.logger.info({ grpc: grpcAddress, http: httpUrl, dataDir: opts.dataDir }, 'pcisched server listening');

  let closing: Promise<void> | null = null;
  return {
    grpcAddress,
    httpUrl,
    scheduler,
    close() {
      closing ??= (async () => {
        httpServer.closeAllConnections();
        await new Promise<void>((resolve) => httpServer.close(() => resolve()));
        await new Promise<void>((resolve) => {
          grpcServer.tryShutdown(() => resolve());
          // Streams from probes stay open forever; do not wait on them.
          setTimeout(() => {
            grpcServer.forceShutdown();
            resolve();
          }, 500).unref();
        });
        await scheduler.stop();
        await database.close();
      })();
      return closing;
    },
  };
}

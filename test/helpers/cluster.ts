/**
 * An in-process cluster for integration tests: the real server (SQLite file,
 * gRPC and HTTP on loopback ports) and real probe agents reading fake host
 * roots over gRPC.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger, type Logger } from '../../common/index.js';
import { startServer, type RunningServer, type ServerOptions } from '../../server/index.js';
import { ProbeAgent, createScanner, parseFilterConfig, type AgentOptions } from '../../probe/index.js';
import type { FakeHost } from './fake-host.js';
import { eventually } from './processes.js';

export interface TestCluster {
  server: RunningServer;
  dataDir: string;
  agents: Map<string, ProbeAgent>;
  addProbe(name: string, host: FakeHost, config?: string, extra?: Partial<AgentOptions>): Promise<ProbeAgent>;
  api<T = unknown>(method: string, urlPath: string, body?: unknown, contentType?: string): Promise<{ status: number; body: T; type: string }>;
  stop(): Promise<void>;
}

export async function startCluster(options: Partial<ServerOptions> & { logger?: Logger } = {}): Promise<TestCluster> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'pcisched-it-'));
  // Errors only, on stderr: a server that answers 500 in a test says why there.
  const logger = options.logger ?? createLogger({ name: 'test-server', level: 'error' });
  const server = await startServer({ grpcListen: '127.0.0.1:0', httpListen: '127.0.0.1:0', sweepMs: 100, ...options, dataDir, logger });
  const agents = new Map<string, ProbeAgent>();
  const cluster: TestCluster = {
    server,
    dataDir,
    agents,
    async addProbe(name, host, config, extra) {
      const filter = parseFilterConfig(config ?? '', `${name}.pci.conf`);
      const agent = new ProbeAgent({
        server: server.grpcAddress,
        hostName: name,
        source: createScanner({ hostRoot: host.root, filter, logger, hostName: name }),
        intervalSec: 0.2,
        logger,
        backoffInitialMs: 50,
        backoffMaxMs: 500,
        ...extra,
      });
      agents.set(name, agent);
      agent.start();
      await eventually(async () => (await cluster.api<{ state: string }>('GET', `/api/v1/hosts/${name}`)).body.state === 'online', 15_000, `${name} online`);
      return agent;
    },
    async api(method, urlPath, body, contentType) {
      const init: RequestInit = { method };
      if (body !== undefined) {
        const type = contentType ?? (typeof body === 'string' ? 'text/plain' : 'application/json');
        init.headers = { 'content-type': type };
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
      }
      const res = await fetch(`${server.httpUrl}${urlPath}`, init).catch((err: Error & { cause?: unknown }) => {
        throw new Error(`${method} ${urlPath}: ${err.message}: ${String(err.cause)}`, { cause: err });
      });
      const text = await res.text();
      return { status: res.status, type: res.headers.get('content-type') ?? '', body: (text ? JSON.parse(text) : null) as never };
    },
    async stop() {
      await Promise.all([...agents.values()].map((a) => a.stop()));
      await server.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return cluster;
}

/**
 * `rest`: VM submissions through the real HTTP server (startServer on
 * 127.0.0.1:0, SQLite in a temp dir) from C concurrent fetch clients in this
 * process. Hosts are registered with `server.scheduler.probeSnapshot` (the
 * call the gRPC service makes for a snapshot), not over gRPC: the ingest
 * scenario measures that path. Every `releaseEvery`-th submission a client
 * also DELETEs the oldest live VM (and whenever more than `liveVmsPerHost`
 * × hosts VMs are live); those requests are timed separately.
 */
import { createLogger, silentLogger } from '../common/index.js';
import { startServer, type RunningServer } from '../server/index.js';
import { generateHost, templateBody } from './cluster-gen.js';
import { Latencies, RssSampler, emit, now, progress, round, rssMb, submitReleaseFields, tempDir, yieldToLoop, type ResultLine } from './stats.js';

export interface RestOptions {
  hosts: number;
  devicesPerHost: number;
  ops: number;
  clients: number;
  releaseEvery: number;
  /** Also release the oldest while more than this many VMs per host are live. */
  liveVmsPerHost: number;
}

interface VmJson {
  id: number;
  state: string;
}

async function call(method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    // undici hides the socket error in `cause`.
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${method} ${url}: ${(err as Error).message}${cause ? ` (${cause.code ?? ''} ${cause.message ?? ''})` : ''}`, { cause: err });
  }
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : null };
}

export async function runRest(opts: RestOptions): Promise<ResultLine> {
  const sampler = new RssSampler();
  const tmp = tempDir('rest');
  let server: RunningServer | null = null;
  try {
    // BENCH_SERVER_LOG=warn shows the server's own log on stderr when diagnosing a failure.
    const logger = process.env.BENCH_SERVER_LOG ? createLogger({ name: 'bench-server', level: process.env.BENCH_SERVER_LOG }) : silentLogger();
    server = await startServer({ dataDir: tmp.dir, grpcListen: '127.0.0.1:0', httpListen: '127.0.0.1:0', logger });
    progress(`rest: server at ${server.httpUrl}; registering ${opts.hosts} hosts via server.scheduler.probeSnapshot`);
    const ingestStart = now();
    for (let i = 0; i < opts.hosts; i++) {
      const g = generateHost(i, opts.devicesPerHost);
      // The liveness sweep runs in the server: a long interval keeps these probe-less hosts online.
      await server.scheduler.probeSnapshot({ name: g.name, session: 'bench', generation: 1, intervalMs: 3_600_000, facts: g.facts, devices: g.devices });
      await yieldToLoop();
    }
    await server.scheduler.settled();
    const ingestMs = now() - ingestStart;

    const base = `${server.httpUrl}/api/v1`;
    const submit = new Latencies();
    const release = new Latencies();
    const live: number[] = [];
    let next = 0;
    let placed = 0;
    let pending = 0;
    const step = Math.max(1, Math.floor(opts.ops / 10));
    progress(`rest: ${opts.ops} POST /api/v1/vms from ${opts.clients} concurrent clients`);
    const client = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= opts.ops) return;
        const t0 = now();
        const res = await call('POST', `${base}/vms`, templateBody(i));
        submit.add(now() - t0);
        if (res.status !== 201) throw new Error(`POST /vms → ${res.status}: ${JSON.stringify(res.json)}`);
        const vm = res.json as VmJson;
        if (vm.state === 'pending') pending++;
        else {
          placed++;
          live.push(vm.id);
        }
        let toRelease = opts.releaseEvery > 0 && (i + 1) % opts.releaseEvery === 0 ? 1 : 0;
        toRelease = Math.max(toRelease, live.length - opts.liveVmsPerHost * opts.hosts);
        for (; toRelease > 0 && live.length > 0; toRelease--) {
          const id = live.shift()!;
          const t1 = now();
          const del = await call('DELETE', `${base}/vms/${id}`);
          release.add(now() - t1);
          if (del.status !== 200) throw new Error(`DELETE /vms/${id} → ${del.status}: ${JSON.stringify(del.json)}`);
        }
        if ((i + 1) % step === 0) progress(`rest: ${i + 1}/${opts.ops} submitted, p50 ${round(submit.percentile(50))} ms`);
      }
    };
    const loopStart = now();
    await Promise.all(Array.from({ length: Math.max(1, opts.clients) }, client));
    const wallMs = now() - loopStart;
    await server.scheduler.settled();

    const s = submit.summary();
    const line: ResultLine = {
      scenario: 'rest',
      hosts: opts.hosts,
      devices: opts.hosts * opts.devicesPerHost,
      ops: s.count,
      ops_per_s: round((s.count * 1000) / wallMs, 1),
      ...submitReleaseFields(submit, release, placed, pending),
      rss_mb: rssMb(),
      rss_peak_mb: sampler.stop(),
      clients: opts.clients,
      wall_ms: round(wallMs, 1),
      host_registration: 'scheduler.probeSnapshot',
      ingest_ms: round(ingestMs, 1),
    };
    emit(line);
    return line;
  } finally {
    sampler.stop();
    await server?.close();
    tmp.dispose();
  }
}

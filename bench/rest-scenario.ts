/**
 * `rest`: VM submissions through the real HTTP server (startServer on
 * 127.0.0.1:0, SQLite in a temp dir) from C concurrent keep-alive clients in
 * a child process (rest-clients.ts), so the server has its event loop to
 * itself as it would with remote clients. Hosts are registered with
 * `server.scheduler.probeSnapshot` (the call the gRPC service makes for a
 * snapshot), not over gRPC: the ingest scenario measures that path. Every
 * `releaseEvery`-th submission a client also DELETEs the oldest live VM (and
 * whenever more than `liveVmsPerHost` × hosts VMs are live); those requests
 * are timed separately.
 *
 * `warmupOps` untimed submissions come first. Why: in a process that has
 * just started, V8 is still optimizing express, node's HTTP and our handlers
 * on its helper threads, and the first 2,000 requests cost about twice the
 * CPU of later ones (with `--no-opt` the two cost the same). A scheduler
 * serves requests for days; the timed part measures that state. The server's
 * CPU is measured over the timed part only.
 *
 * Then the same clients, warm-up and timed part run against the floor
 * (rest-floor.ts): a bare express app that answers with a real VM's JSON and
 * no scheduler behind it, so `vs_floor` says what share of the stack's own
 * rate on this machine, in this minute, the scheduler keeps.
 */
import { vmJson } from '../api/index.js';
import { createLogger, silentLogger } from '../common/index.js';
import { startServer, type RunningServer } from '../server/index.js';
import { TEMPLATES, generateHost } from './cluster-gen.js';
import type { ClientsJob, ClientsResult } from './rest-clients.js';
import { startFloorServer } from './rest-floor.js';
import { CpuMeter, forkBenchChild, monotonicUs, Latencies, PeakSampler, emit, now, progress, round, rssMb, submitReleaseFields, tempDir, yieldToLoop, type ResultLine } from './stats.js';

export interface RestOptions {
  hosts: number;
  devicesPerHost: number;
  ops: number;
  clients: number;
  releaseEvery: number;
  /** Also release the oldest while more than this many VMs per host are live. */
  liveVmsPerHost: number;
  /** Untimed submissions (each with a release) before the timed ones. */
  warmupOps: number;
  /** False: return the line without printing it, nor progress (tests). */
  print?: boolean;
}

export async function runRest(opts: RestOptions): Promise<ResultLine> {
  const sampler = new PeakSampler();
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
    progress(`rest: ${opts.ops} POST /api/v1/vms from ${opts.clients} concurrent clients in a child process`);
    const job = { ops: opts.ops, clients: opts.clients, hosts: opts.hosts, releaseEvery: opts.releaseEvery, liveVmsPerHost: opts.liveVmsPerHost, warmupOps: opts.warmupOps };
    const { result, cpu, timedMark } = await measureClients({ base, ...job }, () => server!.scheduler.settled());
    const endMark = monotonicUs();
    const rssAtEnd = rssMb();
    const sample = (await server.scheduler.listVms()).filter((vm) => vm.state === 'allocated').at(-1);
    if (!sample) throw new Error('rest: no VM was placed, so the floor has no response to send');
    await server.close();
    server = null;

    progress('rest: the same clients against the floor, a bare express app with no scheduler (rest-floor.ts)');
    const floorServer = await startFloorServer(vmJson(sample));
    let floor: Awaited<ReturnType<typeof measureClients>>;
    let floorEndMark = 0;
    try {
      floor = await measureClients({ base: floorServer.base, ...job }, async () => {});
      floorEndMark = monotonicUs();
    } finally {
      await floorServer.close();
    }
    const floorPerS = (floor.result.submitMs.length * 1000) / floor.result.wallMs;

    const submit = new Latencies();
    const release = new Latencies();
    for (const ms of result.submitMs) submit.add(ms);
    for (const ms of result.releaseMs) release.add(ms);
    const { placed, pending, wallMs, coldMaxMs, clientCpuMs } = result;

    const s = submit.summary();
    const line: ResultLine = {
      scenario: 'rest',
      hosts: opts.hosts,
      devices: opts.hosts * opts.devicesPerHost,
      ops: s.count,
      ops_per_s: round((s.count * 1000) / wallMs, 1),
      requests_per_s: round(((s.count + release.count) * 1000) / wallMs, 1),
      warmup_templates: TEMPLATES.length,
      warmup_ops: opts.warmupOps,
      cold_max_ms: round(coldMaxMs, 1),
      ...submitReleaseFields(submit, release, placed, pending),
      rss_mb: rssAtEnd,
      rss_peak_mb: sampler.stop(),
      clients: opts.clients,
      server_cpu_ms_per_request: cpu.cpu_ms_per_op,
      server_loop_busy_ms_per_request: cpu.loop_busy_ms_per_op,
      server_loop_utilization: cpu.loop_utilization,
      machine_steal_pct: cpu.machine_steal_pct,
      // CPU the load generator itself used, per request: it shares the machine with the server.
      client_cpu_ms_per_request: round(clientCpuMs / Math.max(1, s.count + release.count), 3),
      wall_ms: round(wallMs, 1),
      host_registration: 'scheduler.probeSnapshot',
      ingest_ms: round(ingestMs, 1),
      // The timed part on the monotonic clock, for `profile-top.ts --window`.
      marks_us: { timed: timedMark, end: endMark, floor_timed: floor.timedMark, floor_end: floorEndMark },
      floor_ops_per_s: round(floorPerS, 1),
      floor_server_cpu_ms_per_request: floor.cpu.cpu_ms_per_op,
      vs_floor: round((s.count * 1000) / wallMs / floorPerS),
    };
    if (opts.print !== false) emit(line);
    return line;
  } finally {
    sampler.stop();
    await server?.close();
    tmp.dispose();
  }
}

/** The clients' warm-up, then their timed part, with this process's CPU over the timed part alone. */
async function measureClients(job: ClientsJob, settle: () => Promise<void>) {
  let meter = new CpuMeter();
  let timedMark = monotonicUs();
  const result = await runClients(job, () => {
    if (job.warmupOps > 0) progress(`rest: warm-up of ${job.warmupOps} submissions done; timing ${job.ops}`);
    meter = new CpuMeter();
    timedMark = monotonicUs();
  });
  await settle();
  // The server's CPU per request (the clients run in their own process).
  const cpu = meter.stop(result.submitMs.length + result.releaseMs.length);
  return { result, cpu, timedMark };
}

/** Runs the clients in a child process (see rest-clients.ts) and returns what they measured. */
function runClients(job: ClientsJob, onWarm: () => void): Promise<Extract<ClientsResult, { type: 'done' }>> {
  const child = forkBenchChild(new URL('./rest-clients.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    child.on('message', (m: ClientsResult) => {
      if (m.type === 'warm') onWarm();
      else if (m.type === 'done') resolve(m);
      else reject(new Error(`rest clients failed: ${m.error}`));
    });
    child.once('exit', (code) => reject(new Error(`rest clients exited with ${code} before reporting`)));
    child.once('error', reject);
    child.send(job);
  });
}

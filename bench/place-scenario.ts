/**
 * `place`: in-process placements through Scheduler.submit (the REST
 * handler's code path after parsing), committed to a SQLite file in a temp
 * dir. Hosts are ingested first through Scheduler.probeSnapshot (what the
 * gRPC service calls for a probe's snapshot), then M VMs are submitted by
 * `concurrency` submitters at once (a burst; each waits for its own
 * durable commit, and the scheduler group-commits what is in flight);
 * every `releaseEvery`-th submission also releases the oldest live VM, and
 * so does every submission that leaves more than `liveVmsPerHost` × hosts
 * VMs live (no probe is attached, so a release frees the devices at once).
 * Releases are timed separately; ops_per_s is placements per second of
 * wall time, releases included.
 */
import { existsSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { silentLogger, systemClock } from '../common/index.js';
import { Scheduler, openPostgresDatabase, openSqliteDatabase, type OpenedDatabase, type VmSpec } from '../scheduler/index.js';
import { freshDatabase, type TestDatabase } from '../test/helpers/postgres.js';
import { walFrames } from '../test/helpers/wal-files.js';
import { TEMPLATES, generateHost, hostName, releasesDue, templateSpecs } from './cluster-gen.js';
import { openLoopPhase, type OpenLoopResult } from './open-loop.js';
import type { FloorJob, FloorMessage } from './floor-child.js';
import { BatchRecorder, GcWatch } from './tail.js';
import { CpuMeter, Latencies, forkBenchChild, monotonicUs, PeakSampler, emit, heapUsedMb, now, onInterrupt, progress, round, rssMb, submitReleaseFields, tempDir, yieldToLoop, type ResultLine } from './stats.js';

export interface PlaceOptions {
  /** Host counts to run, smallest first; growth compares the last to the first. */
  sizes: number[];
  devicesPerHost: number;
  vms: number;
  /** Release the oldest live VM after every this many submissions (0: never). */
  releaseEvery: number;
  /** Also release the oldest while more than this many VMs per host are live (keeps GPUs available). */
  liveVmsPerHost: number;
  /** Submissions in flight at once (a burst of requests; group commit batches them). */
  concurrency: number;
  /** More phases at these levels after the main one, at the largest size (`sweep` in the line). */
  sweepConcurrency: number[];
  /** Then an open-loop phase of submissions arriving at this many per second on average (0: none): bench/open-loop.ts. */
  openLoopRate: number;
  /** How many submissions that phase times; default `vms`. */
  openLoopOps?: number;
  /** A PostgreSQL server (postgresql:// URL) to run on instead of SQLite: a scratch database is made there. */
  postgresServer?: string;
  /**
   * Untimed submissions (each followed by a release) before the timed ones,
   * at the same concurrency: V8 has then optimized the hot code, as in a
   * scheduler that has run for a while (`--no-opt` makes warm and cold equal).
   */
  warmupOps: number;
  /** Print the line (default); tests take the returned one. */
  print?: boolean;
}

export interface PlaceRun {
  hosts: number;
  devices: number;
  ingest_ms: number;
  ingest_hosts_per_s: number;
  ingest_p50_ms: number;
  ingest_p99_ms: number;
  rss_after_ingest_mb: number;
  ops: number;
  /** Placements per second of wall time while `concurrency` submitters run. */
  ops_per_s: number;
  concurrency: number;
  /** Untimed submissions before measuring (PlaceOptions.warmupOps). */
  warmup_ops: number;
  /** CPU of every thread, and the event loop's busy time, per submission or release (stats.ts CpuMeter). */
  cpu_ms_per_op: number;
  loop_busy_ms_per_op: number;
  loop_utilization: number;
  /** Templates placed once before measuring, and the slowest of those (cold matcher caches). */
  warmup_templates: number;
  cold_max_ms: number;
  /** The longest event-loop delay meanwhile (new shapes are prefiltered in slices: ClusterState.warm). */
  cold_loop_delay_max_ms: number;
  sweep: Array<{ concurrency: number; ops_per_s: number; p50_ms: number; p99_ms: number; mean_ms: number; max_ms: number }>;
  /** Latency at a set load (PlaceOptions.openLoopRate), after the closed-loop phase; null when not run. */
  open_loop: OpenLoopResult | null;
  /** The same arrivals against durable group commit alone (commit-floor.ts), in the same minute; null when the open loop did not run or on PostgreSQL. */
  open_loop_floor: OpenLoopResult | null;
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
  max_ms: number;
  placed: number;
  pending: number;
  releases: number;
  release_p50_ms: number;
  release_p99_ms: number;
  rss_mb: number;
  rss_peak_mb: number;
  heap_used_mb: number;
  /** The most the SQLite WAL held (frames since it last started over) during ingest and during the timed submissions (null on PostgreSQL). */
  wal_ingest_peak_mb: number | null;
  wal_submit_peak_mb: number | null;
  wall_s: number;
  /** Submit latency per template (name without the `vm-<i>-` prefix): p50 and p99 ms, count. */
  by_template: Record<string, { n: number; p50: number; p99: number }>;
  /** Monotonic clock (µs, the clock of V8's .cpuprofile timestamps) at phase starts, for `profile-top --window`. */
  marks_us: { ingest: number; submit: number; end: number };
}


/** One size of the place scenario: `hosts` hosts, the rest as in PlaceOptions. */
async function placeRun(hosts: number, opts: Omit<PlaceOptions, 'sizes'> & { sweepConcurrency: number[] }): Promise<PlaceRun> {
  const { devicesPerHost, vms, releaseEvery, liveVmsPerHost, concurrency, sweepConcurrency, postgresServer, warmupOps, openLoopRate } = opts;
  const openLoopOps = opts.openLoopOps ?? vms;
  const started = now();
  const sampler = new PeakSampler();
  const tmp = tempDir('place');
  const logger = silentLogger();
  let database: OpenedDatabase | null = null;
  // The WAL's size on SQLite, sampled over ingest and then over the timed submissions.
  let walSize: (() => number) | null = null;
  let walSampler: PeakSampler | null = null;
  let scratch: TestDatabase | null = null;
  let scheduler: Scheduler | null = null;
  let openLoopFloor: OpenLoopResult | null = null;
  try {
    if (openLoopRate > 0 && !postgresServer) {
      // First, before this size's cluster exists: what the disk and the machine alone allow.
      progress(`place: the open loop's arrivals against the commit floor (commit-floor.ts): durable group commit, no scheduler`);
      openLoopFloor = await floorPhase({ vms, openLoop: { ratePerS: openLoopRate, ops: openLoopOps, releaseEvery, liveLimit: liveVmsPerHost * hosts } });
    }
    if (postgresServer) {
      // A database of its own on that server, dropped afterwards.
      scratch = await freshDatabase(postgresServer);
      database = await openPostgresDatabase({ url: scratch.url, logger });
    } else {
      database = await openSqliteDatabase({ dataDir: tmp.dir, logger });
      // Frames since the WAL last started over (the file itself never shrinks), as 4 KiB pages and their headers.
      const file = database.file;
      walSize = () => (existsSync(`${file}-shm`) ? walFrames(file) * (4096 + 24) : 0);
      walSampler = new PeakSampler(50, walSize);
    }
    const batches = new BatchRecorder();
    scheduler = await Scheduler.open({ db: database.db, clock: systemClock, logger, policy: 'pack', observer: batches });
    // Its timers run as in the server: the liveness sweep, and on PostgreSQL
    // the replica sync pass every second, which batches wait behind.
    scheduler.start();

    progress(`place: ingesting ${hosts} hosts × ${devicesPerHost} devices via Scheduler.probeSnapshot`);
    const ingest = new Latencies();
    const ingestStart = now();
    const ingestMark = monotonicUs();
    const step = Math.max(1, Math.floor(hosts / 10));
    for (let i = 0; i < hosts; i++) {
      const g = generateHost(i, devicesPerHost);
      const t0 = now();
      // A long interval: no heartbeats come, and the sweep must leave the hosts online.
      await scheduler.probeSnapshot({ name: g.name, session: 'bench', generation: 1, intervalMs: 3_600_000, facts: g.facts, devices: g.devices });
      ingest.add(now() - t0);
      await yieldToLoop();
      if ((i + 1) % step === 0) progress(`place: ingested ${i + 1}/${hosts} hosts (${Math.round(((i + 1) * 1000) / (now() - ingestStart))} hosts/s, rss ${rssMb()} MB)`);
    }
    await scheduler.settled();
    const ingestMs = now() - ingestStart;
    const rssAfterIngest = rssMb();

    const sample = scheduler.getHost(hostName(0));
    const assignable = sample.devices.filter((d) => d.assignable).length;
    if (sample.devicesTotal !== devicesPerHost || assignable === 0) {
      throw new Error(`generated host ${sample.name} has ${sample.devicesTotal} devices, ${assignable} assignable: ${JSON.stringify(sample.devices[0]?.reasons)}`);
    }

    const specs = templateSpecs(vms);

    // Warm-up, not measured: the first VM of each template makes the matcher
    // work out every host for that shape (see cold_max_ms), once per process.
    const warm = new Latencies();
    // The longest the event loop went unanswered while those first VMs were
    // placed: what heartbeats and HTTP requests would have waited.
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    const seen = new Set<string>();
    for (let i = 0; i < vms && seen.size < TEMPLATES.length; i++) {
      const template = specs[i]!.name.replace(/^vm-\d+-/, '');
      if (seen.has(template)) continue;
      seen.add(template);
      const t0 = now();
      const vm = await scheduler.submit({ ...specs[i]!, name: `warmup-${template}` });
      warm.add(now() - t0);
      await scheduler.release(vm.id);
    }
    loopDelay.disable();
    const coldLoopDelayMaxMs = loopDelay.max / 1e6;
    progress(`place: warm-up placed ${warm.count} templates once, slowest ${round(warm.summary().max)} ms, event loop held up to ${round(coldLoopDelayMaxMs)} ms`);

    const live: number[] = [];
    if (warmupOps > 0) {
      progress(`place: warm-up of ${warmupOps} untimed submissions, each followed by a release`);
      const warmSpecs = Array.from({ length: warmupOps }, (_, i) => ({ ...specs[i % specs.length]!, name: `warmup-${i}` }));
      await submitPhase(scheduler, warmSpecs, concurrency, live, { hosts, devices: hosts * devicesPerHost, releaseEvery: 1, liveVmsPerHost });
      // Back to an empty cluster: the timed part starts as it would without warm-up.
      for (const id of live.splice(0)) await scheduler.release(id);
      await scheduler.settled();
    }
    const phase = (c: number) => submitPhase(scheduler!, specs, c, live, { hosts, devices: hosts * devicesPerHost, releaseEvery, liveVmsPerHost });
    progress(`place: submitting ${vms} VMs, ${concurrency} in flight (release the oldest every ${releaseEvery || '∞'} and above ${liveVmsPerHost * hosts} live)`);
    const submitMark = monotonicUs();
    const walIngestPeak = walSampler?.stop() ?? null;
    if (walSize) walSampler = new PeakSampler(50, walSize);
    const gc = new GcWatch();
    gc.start();
    batches.active = true;
    const meter = new CpuMeter();
    const main = await phase(concurrency);
    const cpu = meter.stop(main.submit.count + main.release.count);
    const walSubmitPeak = walSampler?.stop() ?? null;
    const endMark = monotonicUs();
    batches.active = false;
    await gc.stop();
    let openLoop: OpenLoopResult | null = null;
    if (openLoopRate > 0) {
      progress(`place: ${openLoopOps} VMs arriving at ${openLoopRate}/s on average (open loop)`);
      openLoop = await openLoopPhase(scheduler, specs, live, { ratePerS: openLoopRate, ops: openLoopOps, releaseEvery, liveLimit: liveVmsPerHost * hosts });
    }
    const sweep = [];
    for (const c of sweepConcurrency) {
      progress(`place: again with ${c} in flight`);
      const r = await phase(c);
      const rs = r.submit.summary();
      sweep.push({ concurrency: c, ops_per_s: round((rs.count * 1000) / r.wallMs, 1), p50_ms: rs.p50, p99_ms: rs.p99, mean_ms: rs.mean, max_ms: rs.max });
    }
    await scheduler.settled();
    const { submit, release, perTemplate, placed, pending, firstPendingReason, wallMs: submitWall } = main;
    if (firstPendingReason) progress(`place: ${pending} VMs stayed pending, e.g. ${firstPendingReason}`);
    if (placed === 0) throw new Error(`no VM was placed: ${firstPendingReason}`);

    const s = submit.summary();
    return {
      hosts,
      devices: hosts * devicesPerHost,
      ingest_ms: round(ingestMs, 1),
      ingest_hosts_per_s: round((hosts * 1000) / ingestMs, 1),
      ingest_p50_ms: round(ingest.percentile(50)),
      ingest_p99_ms: round(ingest.percentile(99)),
      rss_after_ingest_mb: rssAfterIngest,
      ops: s.count,
      ops_per_s: round((s.count * 1000) / submitWall, 1),
      concurrency,
      warmup_ops: warmupOps,
      // Per submission or release, the load generator's share included (it runs in this process).
      ...cpu,
      warmup_templates: warm.count,
      cold_max_ms: round(warm.summary().max, 1),
      cold_loop_delay_max_ms: round(coldLoopDelayMaxMs, 1),
      sweep,
      open_loop: openLoop,
      open_loop_floor: openLoopFloor,
      ...submitReleaseFields(submit, release, placed, pending),
      // Where the tail comes from: the batches' decisions and commits, and GC pauses.
      ...batches.fields(),
      ...gc.fields(main.spans),
      rss_mb: rssMb(),
      rss_peak_mb: sampler.stop(),
      heap_used_mb: heapUsedMb(),
      wal_ingest_peak_mb: walIngestPeak,
      wal_submit_peak_mb: walSubmitPeak,
      wall_s: round((now() - started) / 1000, 1),
      by_template: Object.fromEntries(
        [...perTemplate].sort((a, b) => a[0].localeCompare(b[0])).map(([name, l]) => [name, { n: l.count, p50: round(l.percentile(50), 2), p99: round(l.percentile(99), 2) }]),
      ),
      marks_us: { ingest: ingestMark, submit: submitMark, end: endMark },
    };
  } finally {
    sampler.stop();
    walSampler?.stop();
    await scheduler?.stop();
    await database?.close();
    await scratch?.drop();
    tmp.dispose();
  }
}

/** The open loop's arrivals against a commit floor, in a process of its own (floor-child.ts). */
function floorPhase(job: FloorJob): Promise<OpenLoopResult> {
  const child = forkBenchChild(new URL('./floor-child.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    child.once('message', (m: FloorMessage) => (m.type === 'done' ? resolve(m.result) : reject(new Error(`commit floor failed: ${m.error}`))));
    child.once('exit', (code) => reject(new Error(`commit floor exited with ${code} before reporting`)));
    child.once('error', reject);
    child.send(job);
  });
}

interface PhaseResult {
  submit: Latencies;
  /** [start, end] of each submission (performance.now() ms), for the GC overlap. */
  spans: Array<[number, number]>;
  release: Latencies;
  perTemplate: Map<string, Latencies>;
  placed: number;
  pending: number;
  firstPendingReason: string | null;
  wallMs: number;
}

/**
 * `concurrency` submitters at once, as a burst of requests arrives: each
 * submits, and releases the oldest live VM when its turn says so, then goes
 * on. Stopped by hand (a 10k-host run takes long), it prints what it has.
 */
async function submitPhase(
  scheduler: Scheduler,
  specs: VmSpec[],
  concurrency: number,
  live: number[],
  opts: { hosts: number; devices: number; releaseEvery: number; liveVmsPerHost: number },
): Promise<PhaseResult> {
  const r: PhaseResult = { submit: new Latencies(), spans: [], release: new Latencies(), perTemplate: new Map(), placed: 0, pending: 0, firstPendingReason: null, wallMs: 0 };
  const start = now();
  const removeHook = onInterrupt(() => {
    const s = r.submit.summary();
    emit({
      scenario: 'place', partial: true, hosts: opts.hosts, devices: opts.devices, concurrency, ops: s.count, ops_per_s: round(s.count === 0 ? 0 : (s.count * 1000) / (now() - start), 1),
      p50_ms: s.p50, p99_ms: s.p99, mean_ms: s.mean, max_ms: s.max, placed: r.placed, pending: r.pending, releases: r.release.count, rss_mb: rssMb(), heap_used_mb: heapUsedMb(),
    });
  });
  const step = Math.max(1, Math.floor(specs.length / 10));
  let next = 0;
  const worker = async () => {
    while (next < specs.length) {
      const i = next++;
      const t0 = now();
      const vm = await scheduler.submit(specs[i]!);
      const t1 = now();
      const ms = t1 - t0;
      r.submit.add(ms);
      r.spans.push([t0, t1]);
      const template = specs[i]!.name.replace(/^vm-\d+-/, '');
      if (!r.perTemplate.has(template)) r.perTemplate.set(template, new Latencies());
      r.perTemplate.get(template)!.add(ms);
      if (vm.state === 'pending') {
        r.pending++;
        r.firstPendingReason ??= `${vm.name}: ${vm.pendingReasons.slice(0, 2).map((x) => `${x.host ?? '-'} ${x.reason}`).join('; ')}`;
      } else {
        r.placed++;
        live.push(vm.id);
      }
      for (let n = releasesDue(i, opts.releaseEvery, live.length, opts.liveVmsPerHost * opts.hosts); n > 0 && live.length > 0; n--) {
        const t2 = now();
        await scheduler.release(live.shift()!);
        r.release.add(now() - t2);
      }
      if ((i + 1) % step === 0) progress(`place: ${i + 1}/${specs.length} VMs, p50 ${round(r.submit.percentile(50))} ms, rss ${rssMb()} MB`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  r.wallMs = now() - start;
  removeHook();
  return r;
}

export async function runPlace(opts: PlaceOptions): Promise<ResultLine> {
  const runs: PlaceRun[] = [];
  for (const hosts of opts.sizes) {
    // The other concurrency levels only at the largest size: one more ingest costs minutes.
    const sweep = hosts === opts.sizes[opts.sizes.length - 1] ? opts.sweepConcurrency : [];
    const run = await placeRun(hosts, { ...opts, sweepConcurrency: sweep });
    progress(`place: ${hosts} hosts done: ${JSON.stringify(run)}`);
    runs.push(run);
  }
  const large = runs[runs.length - 1]!;
  const small = runs[0]!;
  const line: ResultLine = {
    scenario: 'place',
    database: opts.postgresServer ? 'postgresql' : 'sqlite',
    ...large,
    growth_10k_vs_1k: runs.length > 1 ? round(large.mean_ms / small.mean_ms, 2) : null,
    growth_p50: runs.length > 1 ? round(large.p50_ms / small.p50_ms, 2) : null,
    growth_sizes: runs.map((r) => r.hosts),
    runs: runs.length > 1 ? runs.slice(0, -1) : undefined,
  };
  if (opts.print !== false) emit(line);
  return line;
}

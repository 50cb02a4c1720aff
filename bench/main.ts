/**
 * pcisched benchmark: `npm run bench -- [--quick] [--scenario NAME] [options]`.
 *
 * Prints one JSON line per scenario on stdout
 * (`{"scenario","hosts","devices","ops","ops_per_s","p50_ms","p99_ms","rss_mb",…}`);
 * progress goes to stderr. Exit 0 on success, 1 when a scenario fails, 2 on
 * bad usage. With more than one scenario, each runs in a process of its own
 * (this script again, same node flags), so none inherits another's heap.
 * Scenarios, in order:
 *   place       Scheduler.submit in process, SQLite in a temp dir, hosts
 *               ingested first via Scheduler.probeSnapshot; 1k and 10k hosts
 *               × 32 devices, 2000 VMs (quick: 20 and 200 hosts, 100 VMs: at
 *               ~15 snapshots/s a 500-host ingest alone takes ~35 s).
 *               `growth_10k_vs_1k` = mean cost per placement at the large
 *               size / at the small one; the small run is under `runs`.
 *               Then, at each size, `open_loop`: --open-ops VMs (default
 *               10,000, quick 100) arriving at --rate per second on average
 *               (default 2000), each timed from when it was due
 *               (bench/open-loop.ts). Five seconds of arrivals, not one: in
 *               one second the p99 is the 20th-worst submission, and one
 *               GC pause or slow sync decides it.
 *   match       the matcher alone (ClusterState.decide, no database) at
 *               the same sizes: its cost and growth apart from the commit's.
 *   rest        POST /api/v1/vms through the real server (startServer on
 *               127.0.0.1:0) from C concurrent keep-alive clients in a child
 *               process (default 8), 1,000 hosts (quick 20), one untimed VM
 *               per template first, then 2,000 untimed submissions (each
 *               with a release) so V8 has optimized the HTTP path; hosts
 *               registered via server.scheduler.probeSnapshot. Also prints
 *               the server's CPU per request (all threads) and its event
 *               loop's busy time per request. Then the same clients against
 *               a bare express app with no scheduler (rest-floor.ts):
 *               `floor_ops_per_s`, and `vs_floor`, the share of that rate the
 *               scheduler keeps, read in the same minute of this shared VM.
 *   ingest      P probe streams (default 2000, quick 100) over real gRPC from
 *               a child process on 8 channels to a real server: registration
 *               time, heartbeat ack p50/p99, changed snapshots, and whether
 *               heartbeats write to the database (`heartbeat_db_writes`).
 *   probe-scan  createScanner().scan() with a pci.conf filter on a fake sysfs
 *               root with 256 reported devices, repeated after a warm-up;
 *               after each rescan, the syscalls it cannot skip, bare
 *               (`floor_p50_ms`, `floor_p99_ms`).
 * Options: --quick, --scenario NAME (repeatable), --hosts N (place: one size
 * instead of two), --devices D, --vms M, --concurrency C (place: submissions
 * in flight, default 8), --sweep C1,C2 (place: more phases at these levels
 * after the main one, at the largest size; default 1,32, quick none),
 * --clients C, --streams P,
 * --rate N (place: the open-loop phase's arrivals per second; 0 skips it),
 * --open-ops N (place: the open-loop phase's submissions),
 * --warmup N (place: untimed submissions, each with a release, before the
 * timed ones, so V8 has optimized the hot code; default 0: it measured no
 * difference there), --rest-hosts N, --rest-ops N, --rest-warmup N (the same
 * for rest, where it halves the CPU per request; default 2000, quick 50),
 * --rest-release-every N (rest: DELETE the
 * oldest VM every N-th submission; default 0, quick 3), --interval-ms N, --changed-fraction F,
 * --database-url URL (place: on a scratch database of this PostgreSQL
 * server instead of SQLite), --rescans N (probe-scan: timed rescans, default 2000 so p99 is not the 2nd-worst of 200). BENCH_SERVER_LOG=warn shows the rest scenario's server log.
 * No thresholds anywhere: the numbers are for people to read.
 * Profiling: see bench/profile-top.ts.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { runPlace } from './place-scenario.js';
import { runMatch } from './match-scenario.js';
import { runRest } from './rest-scenario.js';
import { runIngest } from './ingest-scenario.js';
import { runProbeScan } from './probe-scan-scenario.js';
import { now, progress, round, runInterruptHooks, setLineContext } from './stats.js';

const SCENARIOS = ['place', 'match', 'rest', 'ingest', 'probe-scan'] as const;
type ScenarioName = (typeof SCENARIOS)[number];

function intOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, got "${value}"`);
  return n;
}

class UsageError extends Error {}

/** `abc1234`, `+dirty` when the code under test has uncommitted changes; null outside a git checkout. */
function codeVersion(): string | null {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const head = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain', '--', 'common', 'scheduler', 'metrics', 'server', 'api', 'probe', 'wire', 'passthrough', 'network', 'prisma') !== '';
    return `${head}${dirty ? '+dirty' : ''}`;
  } catch {
    return null;
  }
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      scenario: { type: 'string', multiple: true },
      hosts: { type: 'string' },
      devices: { type: 'string' },
      vms: { type: 'string' },
      clients: { type: 'string' },
      concurrency: { type: 'string' },
      sweep: { type: 'string' },
      streams: { type: 'string' },
      'rest-hosts': { type: 'string' },
      'rest-ops': { type: 'string' },
      'rest-release-every': { type: 'string' },
      'rest-warmup': { type: 'string' },
      warmup: { type: 'string' },
      rate: { type: 'string' },
      'open-ops': { type: 'string' },
      'database-url': { type: 'string' },
      'interval-ms': { type: 'string' },
      'changed-fraction': { type: 'string' },
      rescans: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stderr.write(`usage: npm run bench -- [--quick] [--scenario ${SCENARIOS.join('|')}] [options]; see bench/main.ts\n`);
    return;
  }
  const quick = values.quick;
  // The V8 flags the scheduler runs with (bin/node-flags), so figures are read with them.
  setLineContext({ code: codeVersion(), quick, node_flags: process.execArgv.filter((a) => /^--(v8-pool-size|max-semi-space-size|max-old-space-size)/.test(a)).join(' ') });
  const chosen = (values.scenario ?? [...SCENARIOS]) as string[];
  for (const s of chosen) if (!(SCENARIOS as readonly string[]).includes(s)) throw new UsageError(`unknown scenario "${s}"; choose from ${SCENARIOS.join(', ')}`);
  const devices = intOption(values.devices, 'devices', 32);
  const changedFraction = values['changed-fraction'] === undefined ? 0.1 : Number(values['changed-fraction']);
  if (!(changedFraction >= 0 && changedFraction <= 1)) throw new UsageError('--changed-fraction must be between 0 and 1');
  const hosts = values.hosts === undefined ? null : intOption(values.hosts, 'hosts', 0);
  if (hosts === 0) throw new UsageError('--hosts must be at least 1');
  // A phase of no arrivals has no latency to report; --rate 0 skips it.
  const openLoopOps = intOption(values['open-ops'], 'open-ops', quick ? 100 : 10_000);
  if (openLoopOps === 0) throw new UsageError('--open-ops must be at least 1 (--rate 0 skips the open loop)');
  // place and match run at the same sizes, so their growth figures compare.
  const sizes = hosts !== null ? [hosts] : quick ? [20, 200] : [1000, 10_000];

  const runs: Record<ScenarioName, () => Promise<unknown>> = {
    place: () =>
      runPlace({
        sizes,
        devicesPerHost: devices,
        vms: intOption(values.vms, 'vms', quick ? 100 : 2000),
        releaseEvery: 3,
        liveVmsPerHost: 2,
        concurrency: intOption(values.concurrency, 'concurrency', 8),
        sweepConcurrency: values.sweep === undefined ? (quick ? [] : [1, 32]) : values.sweep.split(',').filter(Boolean).map((v) => intOption(v, 'sweep', 1)),
        postgresServer: values['database-url'],
        warmupOps: intOption(values.warmup, 'warmup', 0),
        openLoopRate: intOption(values.rate, 'rate', 2000),
        openLoopOps,
      }),
    match: () =>
      runMatch({
        sizes,
        devicesPerHost: devices,
        vms: intOption(values.vms, 'vms', quick ? 100 : 3000),
        releaseEvery: 3,
      }),
    rest: () =>
      runRest({
        hosts: intOption(values['rest-hosts'], 'rest-hosts', quick ? 20 : 1000),
        devicesPerHost: devices,
        ops: intOption(values['rest-ops'], 'rest-ops', quick ? 100 : 2000),
        clients: intOption(values.clients, 'clients', 8),
        // Submissions only by default, on a cluster with room for all of them:
        // the scenario is VM submissions. --rest-release-every N mixes in a
        // DELETE of the oldest VM every N-th submission.
        releaseEvery: intOption(values['rest-release-every'], 'rest-release-every', quick ? 3 : 0),
        liveVmsPerHost: 2,
        warmupOps: intOption(values['rest-warmup'], 'rest-warmup', quick ? 50 : 2000),
      }),
    ingest: () =>
      runIngest({
        streams: intOption(values.streams, 'streams', quick ? 100 : 2000),
        devicesPerHost: devices,
        channels: 8,
        intervalMs: intOption(values['interval-ms'], 'interval-ms', quick ? 500 : 2000),
        heartbeatPhaseMs: quick ? 2000 : 20_000,
        changedPhaseMs: quick ? 2000 : 20_000,
        shapesPhaseMs: quick ? 2000 : 10_000,
        newShapeEveryMs: 250,
        changedFraction,
      }),
    'probe-scan': () =>
      runProbeScan({
        devices: values.devices === undefined ? 256 : devices,
        warmup: quick ? 10 : 20,
        rescans: intOption(values.rescans, 'rescans', quick ? 100 : 2000),
      }),
  };

  const selected = SCENARIOS.filter((name) => chosen.includes(name));
  for (const name of selected) {
    // Several scenarios: each in a process of its own, as the scheduler and the
    // probe agent each run in theirs, so none inherits another's heap or JIT state.
    if (selected.length > 1) {
      await runChild(argv, name);
      continue;
    }
    const t0 = now();
    progress(`scenario ${name}${quick ? ' (quick)' : ''} starting`);
    try {
      await runs[name]();
    } catch (err) {
      throw new Error(`scenario ${name} failed: ${(err as Error).stack ?? String(err)}`);
    }
    progress(`scenario ${name} done in ${round((now() - t0) / 1000, 1)} s`);
  }
}

let child: ChildProcess | null = null;

/** This benchmark again, with the same node flags and options, for one scenario; its lines go straight to stdout. */
function runChild(argv: string[], scenario: ScenarioName): Promise<void> {
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--scenario') i++;
    else if (!argv[i]!.startsWith('--scenario=')) rest.push(argv[i]!);
  }
  return new Promise((resolve, reject) => {
    child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...rest, '--scenario', scenario], { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      child = null;
      if (code === 0) resolve();
      else reject(new Error(`scenario ${scenario}: its process exited with ${signal ?? code}`));
    });
  });
}

// Ctrl-C or a kill: print what a long run has so far (place), remove temp dirs, exit non-zero.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    progress(`interrupted by ${signal}; cleaning up`);
    child?.kill(signal);
    runInterruptHooks();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

main(process.argv.slice(2)).then(
  () => {
    process.exitCode = 0;
    // Everything is closed; do not let a stray handle keep the process alive.
    setTimeout(() => process.exit(0), 2000).unref();
  },
  (err: unknown) => {
    const code = (err as { code?: unknown }).code;
    const usage = err instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'));
    process.stderr.write(`bench: ${usage ? 'usage: ' : ''}${(err as Error).message}\n`);
    process.exitCode = usage ? 2 : 1;
    setTimeout(() => process.exit(process.exitCode as number), 2000).unref();
  },
);

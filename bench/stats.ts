/** Timing, percentiles, memory and output helpers shared by the scenarios. */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

/** The line every scenario prints (extra fields welcome). */
export interface ResultLine {
  scenario: string;
  hosts: number;
  devices: number;
  ops: number;
  ops_per_s: number;
  p50_ms: number;
  p99_ms: number;
  rss_mb: number;
  [extra: string]: unknown;
}

export const REQUIRED_FIELDS = ['scenario', 'hosts', 'devices', 'ops', 'ops_per_s', 'p50_ms', 'p99_ms', 'rss_mb'] as const;

export function now(): number {
  return performance.now();
}

/** The monotonic clock in µs, as `--cpu-prof` timestamps are (for `profile-top.ts --window`). */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** Collects durations in milliseconds. */
export class Latencies {
  private values: number[] = [];

  add(ms: number): void {
    this.values.push(ms);
  }

  get count(): number {
    return this.values.length;
  }

  get total(): number {
    let s = 0;
    for (const v of this.values) s += v;
    return s;
  }

  /** Nearest-rank percentile (p in 0..100); 0 when empty. */
  percentile(p: number): number {
    if (this.values.length === 0) return 0;
    const sorted = Float64Array.from(this.values).sort();
    const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
    return sorted[rank - 1]!;
  }

  mean(): number {
    return this.values.length === 0 ? 0 : this.total / this.values.length;
  }

  max(): number {
    let m = 0;
    for (const v of this.values) if (v > m) m = v;
    return m;
  }

  summary(): { count: number; p50: number; p99: number; mean: number; max: number } {
    return { count: this.count, p50: round(this.percentile(50)), p99: round(this.percentile(99)), mean: round(this.mean()), max: round(this.max()) };
  }
}

/** The latency and outcome fields `place` and `rest` both report for submissions and releases. */
export function submitReleaseFields(submit: Latencies, release: Latencies, placed: number, pending: number) {
  const s = submit.summary();
  const r = release.summary();
  return {
    p50_ms: s.p50,
    p99_ms: s.p99,
    mean_ms: s.mean,
    max_ms: s.max,
    placed,
    pending,
    releases: r.count,
    release_p50_ms: r.p50,
    release_p99_ms: r.p99,
  };
}

export function round(v: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export function rssMb(): number {
  return round(process.memoryUsage.rss() / 1048576, 1);
}

export function heapUsedMb(): number {
  return round(process.memoryUsage().heapUsed / 1048576, 1);
}

/** Peak RSS of this process so far (getrusage maxrss). */
export function maxRssMb(): number {
  return round(process.resourceUsage().maxRSS / 1024, 1);
}

/** Progress for humans: stderr only, stdout stays JSON lines. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

const context: Record<string, unknown> = {};

/** Fields appended to every line (e.g. the code version measured). */
export function setLineContext(fields: Record<string, unknown>): void {
  Object.assign(context, fields);
}

export function emit(line: ResultLine): void {
  process.stdout.write(`${JSON.stringify({ ...line, ...context })}\n`);
}

const interruptHooks = new Set<() => void>();

/** Registers a synchronous hook run if the process is interrupted (SIGINT/SIGTERM); returns its remover. */
export function onInterrupt(hook: () => void): () => void {
  interruptHooks.add(hook);
  return () => interruptHooks.delete(hook);
}

/** Runs the interrupt hooks, newest first (partial results, then temp dirs). */
export function runInterruptHooks(): void {
  for (const hook of [...interruptHooks].reverse()) {
    try {
      hook();
    } catch (err) {
      progress(`cleanup after interrupt failed: ${(err as Error).message}`);
    }
  }
  interruptHooks.clear();
}

/**
 * Forks a benchmark module (rest-clients.ts, floor-child.ts) with this
 * process's node flags and an IPC channel; its stderr is this process's.
 */
export function forkBenchChild(module: URL): ChildProcess {
  // The child needs the tsx loader; profiling flags stay with this process.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--cpu-prof') && !a.startsWith('--heap-prof'));
  if (!execArgv.some((a) => a === '--import' || a.startsWith('--import=') || a.startsWith('--loader'))) execArgv.push('--import', 'tsx');
  return fork(fileURLToPath(module), [], { execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
}

/** A temp dir removed by `dispose` (idempotent), or on interrupt. */
export function tempDir(prefix: string): { dir: string; dispose(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), `pcisched-bench-${prefix}-`));
  const dispose = () => {
    remove();
    rmSync(dir, { recursive: true, force: true });
  };
  const remove = onInterrupt(dispose);
  return { dir, dispose };
}

/**
 * Lets the event loop turn. With SQLite (synchronous driver under promises) a
 * loop of awaited scheduler calls runs as microtasks only, so timers and
 * signal handlers would wait until it ends; call this between timed ops.
 */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Samples a size periodically (by default the RSS) to report its peak over one phase, in MB. */
export class PeakSampler {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 200, private readonly read: () => number = () => process.memoryUsage.rss()) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const size = this.read();
    if (size > this.peak) this.peak = size;
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return round(this.peak / 1048576, 1);
  }
}

/**
 * CPU the process spent (every thread) and the time its event loop was busy,
 * per operation over one phase. On a shared VM wall-clock rates swing with
 * the neighbours; these show whether the code or the machine changed. The
 * machine's steal time over the phase (Linux: the share of CPU time the
 * hypervisor gave to other guests) says how much the neighbours took: at
 * 20–30% a vCPU stalls for milliseconds at a time, in the middle of any
 * syscall, and tails grow with it.
 */
export class CpuMeter {
  private readonly cpu = process.cpuUsage();
  private readonly loop = performance.eventLoopUtilization();
  private readonly machine = machineTicks();

  stop(ops: number): { cpu_ms_per_op: number; loop_busy_ms_per_op: number; loop_utilization: number; machine_steal_pct: number | null } {
    const cpu = process.cpuUsage(this.cpu);
    const loop = performance.eventLoopUtilization(this.loop);
    const machine = machineTicks();
    const n = Math.max(1, ops);
    const total = machine && this.machine ? machine.total - this.machine.total : 0;
    return {
      cpu_ms_per_op: round((cpu.user + cpu.system) / 1000 / n),
      loop_busy_ms_per_op: round(loop.active / n),
      loop_utilization: round(loop.utilization),
      machine_steal_pct: machine && this.machine && total > 0 ? round((100 * (machine.steal - this.machine.steal)) / total, 1) : null,
    };
  }
}

/** All CPUs' ticks and their steal ticks from /proc/stat; null where there is none. */
function machineTicks(): { total: number; steal: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user).
    const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (ticks.length < 8 || ticks.some((t) => !Number.isFinite(t))) return null;
    return { total: ticks.reduce((a, b) => a + b, 0), steal: ticks[7]! };
  } catch {
    return null;
  }
}

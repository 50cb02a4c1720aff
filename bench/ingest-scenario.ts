/**
 * `ingest`: P probe streams over real gRPC (loopback) to a real server
 * (startServer, SQLite in a temp dir). The probes run in a child process
 * (probe-fleet.ts) on a few channels; this process is the server.
 *
 * Phases: registration (every stream: hello, snapshot, ack; all at once, as
 * after a scheduler restart), settle (two intervals), heartbeat-only, then
 * changed (a fraction of the streams send a changed snapshot instead of a
 * heartbeat each interval), then new shapes (heartbeats only, while this
 * process submits a VM of a template shape the scheduler has not seen every
 * 250 ms: each costs a prefilter of every host).
 *
 * Database writes are observed from a second SQLite connection on the same
 * file: `PRAGMA data_version` changes when another connection commits, and
 * the Host rows (state, lastSeenAt, generation, allocVersion) are compared
 * before and after a phase. `heartbeat_db_writes` is true when either moved
 * during the heartbeat-only phase; `changed_db_writes` is the control (it
 * must be true when changed snapshots were stored).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { silentLogger } from '../common/index.js';
import { startServer, type RunningServer } from '../server/index.js';
import { parseJsonSpec } from '../scheduler/index.js';
import type { FleetPhase, FleetStart, FleetStats } from './probe-fleet.js';
import { Latencies, PeakSampler, monotonicUs, emit, now, progress, round, rssMb, sleep, tempDir, type ResultLine } from './stats.js';

export interface IngestOptions {
  streams: number;
  devicesPerHost: number;
  channels: number;
  intervalMs: number;
  heartbeatPhaseMs: number;
  changedPhaseMs: number;
  /** Heartbeats while a VM of a new template shape is submitted every `newShapeEveryMs`. */
  shapesPhaseMs: number;
  newShapeEveryMs: number;
  changedFraction: number;
}

interface DbProbe {
  dataVersion: number;
  hostsHash: string;
  online: number;
  walBytes: number;
}

type FleetMessage = { type: 'registered'; totalMs: number; registration: { count: number; p50: number; p99: number; mean: number; max: number } } | FleetStats | { type: 'failed'; message: string };

/** A child's messages as a queue of awaitable replies; a failure or exit rejects what waits. */
class FleetLink {
  private readonly waiting: Array<{ type: string; resolve: (m: FleetMessage) => void; reject: (e: Error) => void }> = [];
  private failure: Error | null = null;

  constructor(readonly child: ChildProcess) {
    child.on('message', (m: FleetMessage) => {
      if (m.type === 'failed') return this.fail(new Error(`probe fleet: ${m.message}`));
      const i = this.waiting.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(m);
    });
    child.on('exit', (code, signal) => this.fail(new Error(`probe fleet exited (code ${code}, signal ${signal})`)));
    child.on('error', (err) => this.fail(err));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.splice(0)) w.reject(err);
  }

  next<T extends FleetMessage>(type: T['type'], timeoutMs: number): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`probe fleet: no "${type}" within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.push({
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  send(msg: FleetStart | { type: 'phase'; phase: FleetPhase } | { type: 'stop' }): void {
    this.child.send(msg);
  }
}

function probeDb(db: Database.Database, file: string): DbProbe {
  const rows = db.prepare('SELECT id, state, lastSeenAt, generation, allocVersion FROM Host ORDER BY id').raw().all();
  let walBytes = 0;
  try {
    walBytes = statSync(`${file}-wal`).size;
  } catch {
    walBytes = 0;
  }
  return {
    dataVersion: db.pragma('data_version', { simple: true }) as number,
    hostsHash: createHash('sha256').update(JSON.stringify(rows)).digest('hex'),
    online: (db.prepare(`SELECT count(*) FROM Host WHERE state = 'online'`).pluck().get() as number) ?? 0,
    walBytes,
  };
}

function forkFleet(): ChildProcess {
  // The child needs the tsx loader; profiling flags stay with this process.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--cpu-prof') && !a.startsWith('--heap-prof'));
  if (!execArgv.some((a) => a === '--import' || a.startsWith('--import=') || a.startsWith('--loader'))) execArgv.push('--import', 'tsx');
  const file = fileURLToPath(new URL('./probe-fleet.ts', import.meta.url));
  // stdout stays ours (JSON lines only); the child's progress goes to stderr.
  return fork(file, [], { execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
}

/**
 * Submits a VM of a template shape the scheduler has not seen (a selector
 * text of its own) every `everyMs` for `phaseMs`, one at a time, and
 * returns their latencies.
 */
async function submitNewShapes(server: RunningServer, phaseMs: number, everyMs: number): Promise<ReturnType<Latencies['summary']>> {
  const lat = new Latencies();
  const end = now() + phaseMs;
  for (let i = 0; now() < end; i++) {
    const t0 = now();
    await server.scheduler.submit(parseJsonSpec({ name: `shape-${i}`, pci: [{ vendor: '10de', selector: `device.numaNode == ${i % 2} && device.address != "none-${i}"` }] }));
    lat.add(now() - t0);
    await sleep(Math.max(0, everyMs - (now() - t0)));
  }
  return lat.summary();
}

export async function runIngest(opts: IngestOptions): Promise<ResultLine> {
  const sampler = new PeakSampler();
  const tmp = tempDir('ingest');
  let server: RunningServer | null = null;
  let monitor: Database.Database | null = null;
  let link: FleetLink | null = null;
  try {
    server = await startServer({ dataDir: tmp.dir, grpcListen: '127.0.0.1:0', httpListen: '127.0.0.1:0', logger: silentLogger(), sweepMs: 1000 });
    const file = path.join(tmp.dir, 'pcisched.db');
    monitor = new Database(file);
    monitor.pragma('busy_timeout = 10000');
    progress(`ingest: server at ${server.grpcAddress}; ${opts.streams} streams on ${opts.channels} channels, interval ${opts.intervalMs} ms`);

    link = new FleetLink(forkFleet());
    const registered = link.next<Extract<FleetMessage, { type: 'registered' }>>('registered', 15 * 60_000);
    link.send({ type: 'start', address: server.grpcAddress, streams: opts.streams, channels: opts.channels, devicesPerHost: opts.devicesPerHost, intervalMs: opts.intervalMs, changedFraction: opts.changedFraction });
    const reg = await registered;
    progress(`ingest: all ${opts.streams} streams registered in ${reg.totalMs} ms; settling for ${2 * opts.intervalMs} ms`);
    await sleep(2 * opts.intervalMs);

    const before = probeDb(monitor, file);
    // Phase starts on the clock profiles use, for `profile-top.ts --window`.
    const hbMark = monotonicUs();
    link.send({ type: 'phase', phase: 'hb' });
    progress(`ingest: heartbeat-only phase, ${opts.heartbeatPhaseMs} ms`);
    await sleep(opts.heartbeatPhaseMs);
    const afterHb = probeDb(monitor, file);
    const changedMark = monotonicUs();
    link.send({ type: 'phase', phase: 'changed' });
    progress(`ingest: changed phase (${Math.round(opts.changedFraction * 100)}% of streams send changed snapshots), ${opts.changedPhaseMs} ms`);
    await sleep(opts.changedPhaseMs);
    const afterChanged = probeDb(monitor, file);
    const shapesMark = monotonicUs();
    link.send({ type: 'phase', phase: 'shapes' });
    progress(`ingest: new-shape phase (a VM of an unseen template shape every ${opts.newShapeEveryMs} ms), ${opts.shapesPhaseMs} ms`);
    const shapes = await submitNewShapes(server, opts.shapesPhaseMs, opts.newShapeEveryMs);
    const endMark = monotonicUs();
    const statsP = link.next<FleetStats>('stats', 60_000);
    link.send({ type: 'stop' });
    const stats = await statsP;

    const hb = stats.phases.hb;
    const ch = stats.phases.changed;
    const sh = stats.phases.shapes;
    const line: ResultLine = {
      scenario: 'ingest',
      hosts: opts.streams,
      devices: opts.streams * opts.devicesPerHost,
      ops: hb.heartbeats.count,
      ops_per_s: round((hb.heartbeats.count * 1000) / hb.durationMs, 1),
      p50_ms: hb.heartbeats.p50,
      p99_ms: hb.heartbeats.p99,
      rss_mb: rssMb(),
      rss_peak_mb: sampler.stop(),
      fleet_rss_mb: stats.rssMb,
      channels: opts.channels,
      interval_ms: opts.intervalMs,
      registration_total_ms: reg.totalMs,
      registration_p50_ms: reg.registration.p50,
      registration_p99_ms: reg.registration.p99,
      registrations_per_s: round((opts.streams * 1000) / reg.totalMs, 1),
      heartbeat_max_ms: hb.heartbeats.max,
      heartbeat_db_writes: before.dataVersion !== afterHb.dataVersion || before.hostsHash !== afterHb.hostsHash,
      heartbeat_data_version_changed: before.dataVersion !== afterHb.dataVersion,
      heartbeat_host_rows_changed: before.hostsHash !== afterHb.hostsHash,
      heartbeat_wal_bytes_delta: afterHb.walBytes - before.walBytes,
      hosts_online: afterHb.online,
      changed_fraction: opts.changedFraction,
      changed_streams: stats.changedStreams,
      changed_reports: ch.snapshots.count,
      changed_per_s: round((ch.snapshots.count * 1000) / ch.durationMs, 1),
      changed_p50_ms: ch.snapshots.p50,
      changed_p99_ms: ch.snapshots.p99,
      changed_phase_heartbeat_p50_ms: ch.heartbeats.p50,
      changed_phase_heartbeat_p99_ms: ch.heartbeats.p99,
      changed_db_writes: afterHb.dataVersion !== afterChanged.dataVersion || afterHb.hostsHash !== afterChanged.hostsHash,
      // Each new shape costs a prefilter of every host; ClusterState.warm does it in slices.
      new_shape_submissions: shapes.count,
      new_shape_p50_ms: shapes.p50,
      new_shape_max_ms: shapes.max,
      shapes_phase_heartbeat_p99_ms: sh.heartbeats.p99,
      shapes_phase_heartbeat_max_ms: sh.heartbeats.max,
      resyncs: stats.resyncs,
      stream_errors: stats.streamErrors,
      first_stream_error: stats.firstError,
      marks_us: { hb: hbMark, changed: changedMark, shapes: shapesMark, end: endMark },
    };
    emit(line);
    return line;
  } finally {
    sampler.stop();
    const child = link?.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      if (child.connected) child.send({ type: 'stop' });
      await exited;
      clearTimeout(timer);
    }
    monitor?.close();
    await server?.close();
    tmp.dispose();
  }
}

/** Smoke tests of the benchmark's plumbing: scenarios at tiny sizes, and their JSON lines' shape. No timing assertions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { runProbeScan } from '../../bench/probe-scan-scenario.js';
import { runMatch } from '../../bench/match-scenario.js';
import { runPlace } from '../../bench/place-scenario.js';
import { runRest } from '../../bench/rest-scenario.js';
import { REQUIRED_FIELDS } from '../../bench/stats.js';

test('probe-scan at a tiny size yields one well-formed result line', async () => {
  const line = await runProbeScan({ devices: 32, warmup: 1, rescans: 3, print: false });
  const parsed = JSON.parse(JSON.stringify(line)) as Record<string, unknown>;
  for (const field of REQUIRED_FIELDS) assert.ok(field in parsed, `missing ${field}`);
  assert.equal(parsed.scenario, 'probe-scan');
  assert.equal(parsed.hosts, 1);
  assert.equal(parsed.devices, 32);
  assert.equal(parsed.ops, 3);
  for (const field of ['ops_per_s', 'p50_ms', 'p99_ms', 'rss_mb'] as const) {
    assert.equal(typeof parsed[field], 'number', field);
    assert.ok(Number.isFinite(parsed[field] as number) && (parsed[field] as number) >= 0, field);
  }
  // The bare-syscall floor ran beside each rescan: three listings, the drivers and each
  // driver's directory, the stat, one pread per PF.
  for (const field of ['floor_p50_ms', 'floor_p99_ms'] as const) assert.ok((parsed[field] as number) > 0, field);
  assert.ok((parsed.floor_syscalls as number) >= 6, `floor_syscalls ${String(parsed.floor_syscalls)}`);
});

test('match at tiny sizes places VMs and reports growth between the sizes', async () => {
  const line = await runMatch({ sizes: [3, 6], devicesPerHost: 32, vms: 20, releaseEvery: 3, print: false });
  const parsed = JSON.parse(JSON.stringify(line)) as Record<string, unknown>;
  for (const field of REQUIRED_FIELDS) assert.ok(field in parsed, `missing ${field}`);
  assert.equal(parsed.scenario, 'match');
  assert.equal(parsed.hosts, 6);
  assert.equal(parsed.devices, 6 * 32);
  assert.equal(parsed.ops, 20);
  assert.equal(typeof parsed.growth_10k_vs_1k, 'number');
  assert.deepEqual(parsed.growth_sizes, [3, 6]);
});

test('place at tiny sizes on SQLite places every VM and reports the WAL it held during ingest and during the placements', async () => {
  const line = await runPlace({ sizes: [3, 6], devicesPerHost: 32, vms: 20, releaseEvery: 3, liveVmsPerHost: 2, concurrency: 4, sweepConcurrency: [], warmupOps: 0, openLoopRate: 500, openLoopOps: 30, print: false });
  const parsed = JSON.parse(JSON.stringify(line)) as Record<string, unknown>;
  for (const field of REQUIRED_FIELDS) assert.ok(field in parsed, `missing ${field}`);
  assert.deepEqual([parsed.scenario, parsed.database, parsed.hosts, parsed.ops], ['place', 'sqlite', 6, 20]);
  assert.equal((parsed.placed as number) + (parsed.pending as number), 20);
  // The open-loop phase ran after it, at both sizes, with the submissions asked for.
  for (const run of [parsed, ...(parsed.runs as Array<Record<string, unknown>>)]) {
    const open = run.open_loop as Record<string, number>;
    assert.equal(open.offered_per_s, 500);
    assert.equal(open.ops, 30);
    assert.equal(open.placed + open.pending, 30);
    assert.ok(open.p50_ms > 0 && open.p99_ms >= open.p50_ms && open.max_ms >= open.p99_ms, JSON.stringify(open));
    assert.ok(open.gc_pauses >= 0 && open.ops_during_gc <= open.ops, JSON.stringify(open));
    // The same arrivals against the commit floor: every one stored, none left pending.
    const floor = run.open_loop_floor as Record<string, number>;
    assert.deepEqual([floor.offered_per_s, floor.ops, floor.placed, floor.pending], [500, 30, 30, 0]);
    assert.ok(floor.p50_ms > 0 && floor.p99_ms >= floor.p50_ms, JSON.stringify(floor));
  }
  assert.deepEqual(parsed.growth_sizes, [3, 6]);
  // Read from the WAL index: frames since the WAL last started over, so never 0 once snapshots were stored.
  for (const field of ['wal_ingest_peak_mb', 'wal_submit_peak_mb'] as const) {
    assert.ok(typeof parsed[field] === 'number' && (parsed[field] as number) > 0, `${field} ${String(parsed[field])}`);
  }
});

test('rest at a tiny size: an untimed warm-up first, then the timed submissions, with the server CPU of those alone', async () => {
  const line = await runRest({ hosts: 4, devicesPerHost: 32, ops: 24, clients: 3, releaseEvery: 0, liveVmsPerHost: 2, warmupOps: 30, print: false });
  const parsed = JSON.parse(JSON.stringify(line)) as Record<string, unknown>;
  for (const field of REQUIRED_FIELDS) assert.ok(field in parsed, `missing ${field}`);
  assert.equal(parsed.scenario, 'rest');
  // The warm-up's 30 submissions are neither counted nor left holding devices.
  assert.equal(parsed.ops, 24);
  assert.equal(parsed.warmup_ops, 30);
  const placed = parsed.placed as number;
  assert.equal(placed + (parsed.pending as number), 24);
  // Some templates may find no room on 4 busy hosts (pending); past 4 hosts × 2 live
  // VMs, each placement releases the oldest live one, so 8 stay live at the end.
  assert.ok(placed >= 8, `${placed} placed`);
  assert.equal(parsed.releases, placed - 8);
  for (const field of ['server_cpu_ms_per_request', 'server_loop_busy_ms_per_request', 'client_cpu_ms_per_request', 'floor_ops_per_s', 'floor_server_cpu_ms_per_request'] as const) {
    assert.ok(typeof parsed[field] === 'number' && (parsed[field] as number) > 0, field);
  }
  // The floor ran the same clients: vs_floor is the scheduler's rate over the floor's.
  const ratio = (parsed.ops_per_s as number) / (parsed.floor_ops_per_s as number);
  assert.ok(Math.abs((parsed.vs_floor as number) - ratio) < 0.01, `vs_floor ${String(parsed.vs_floor)}, rates give ${ratio}`);
  const marks = parsed.marks_us as Record<string, number>;
  assert.ok(marks.timed < marks.end && marks.end < marks.floor_timed && marks.floor_timed < marks.floor_end, JSON.stringify(marks));
});

test('the benchmark refuses an option it cannot use by name, with exit code 2, before running anything', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'bench/main.ts', '--scenario', 'place', ...args], { encoding: 'utf8', timeout: 60_000 });
  for (const [args, message] of [
    [['--open-ops', '0'], 'bench: usage: --open-ops must be at least 1 (--rate 0 skips the open loop)'],
    [['--open-ops', 'many'], 'bench: usage: --open-ops must be a non-negative integer, got "many"'],
  ] as const) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim(), message);
    assert.equal(r.stdout, '', 'no result line');
  }
});

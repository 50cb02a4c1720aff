/**
 * `match`: the matcher alone, as the scheduler drives it but with no
 * database: hosts built in memory the way the scheduler builds them
 * (ClusterState.load), VMs placed one after another through
 * ClusterState.decide, holders recorded, the oldest live VM released every
 * `releaseEvery`-th placement. It separates the matcher's cost and growth
 * from the commit's. The first VM of each template is placed once before
 * measuring, as in `place`.
 */
import { silentLogger } from '../common/index.js';
import { ClusterState } from '../scheduler/cluster-state.js';
import type { StoredHost } from '../scheduler/host-store.js';
import { compileSpec, type CompiledVmSpec } from '../scheduler/index.js';
import { TEMPLATES, generateHost, templateSpecs } from './cluster-gen.js';
import { Latencies, emit, now, progress, round, rssMb, type ResultLine } from './stats.js';

export interface MatchOptions {
  sizes: number[];
  devicesPerHost: number;
  vms: number;
  releaseEvery: number;
  /** Print the line (default true); the smoke test only wants the value. */
  print?: boolean;
}

interface MatchRun {
  hosts: number;
  ops: number;
  ops_per_s: number;
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
  max_ms: number;
  cold_max_ms: number;
  build_ms: number;
  rss_mb: number;
}

function matchRun(hosts: number, devicesPerHost: number, vms: number, releaseEvery: number): MatchRun {
  const t0 = now();
  const cluster = new ClusterState({ policy: 'pack', logger: silentLogger() });
  let deviceId = 1;
  for (let i = 0; i < hosts; i++) {
    const g = generateHost(i, devicesPerHost);
    // Reports as decoded from the wire: every host its own copies.
    const reports = JSON.parse(JSON.stringify(g.devices)) as typeof g.devices;
    const stored: StoredHost = {
      id: i + 1, name: g.name, state: 'online', lastSeenAt: null, registeredAt: new Date(0), generation: 1, session: 'bench', intervalMs: 3_600_000,
      facts: g.facts, allocVersion: 0, replicaId: null, devices: reports.map((report) => ({ id: deviceId++, report, missing: false, vmId: null })),
    };
    cluster.load(stored, true, null);
  }
  const buildMs = now() - t0;
  const specs: CompiledVmSpec[] = templateSpecs(vms).map((spec) => compileSpec(spec));
  const live: Array<{ id: number; host: string; addresses: string[] }> = [];
  let nextId = 1;
  const place = (spec: CompiledVmSpec): void => {
    const d = cluster.decide(spec);
    if (d.kind !== 'placed') return;
    const id = nextId++;
    const addresses = d.devices.map((x) => x.address);
    cluster.hold(d.host, addresses, id);
    live.push({ id, host: d.host.name, addresses });
  };
  const release = (): void => {
    const oldest = live.shift();
    if (oldest) cluster.hold(cluster.hosts.get(oldest.host)!, oldest.addresses, null);
  };
  const cold = new Latencies();
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.size === TEMPLATES.length) break;
    if (seen.has(spec.name.replace(/^vm-\d+-/, ''))) continue;
    seen.add(spec.name.replace(/^vm-\d+-/, ''));
    const t = now();
    place(spec);
    cold.add(now() - t);
    release();
  }
  const lat = new Latencies();
  const start = now();
  specs.forEach((spec, i) => {
    const t = now();
    place(spec);
    if (releaseEvery > 0 && (i + 1) % releaseEvery === 0) release();
    lat.add(now() - t);
  });
  const wall = now() - start;
  const s = lat.summary();
  return {
    hosts, ops: s.count, ops_per_s: round((s.count * 1000) / wall, 1), p50_ms: s.p50, p99_ms: s.p99, mean_ms: s.mean, max_ms: s.max,
    cold_max_ms: round(cold.summary().max, 1), build_ms: round(buildMs, 1), rss_mb: rssMb(),
  };
}

export async function runMatch(opts: MatchOptions): Promise<ResultLine> {
  const runs: MatchRun[] = [];
  for (const hosts of opts.sizes) {
    if (opts.print !== false) progress(`match: ${hosts} hosts × ${opts.devicesPerHost} devices in memory, ${opts.vms} placements`);
    runs.push(matchRun(hosts, opts.devicesPerHost, opts.vms, opts.releaseEvery));
  }
  const large = runs[runs.length - 1]!;
  const small = runs[0]!;
  const line: ResultLine = {
    scenario: 'match',
    devices: large.hosts * opts.devicesPerHost,
    ...large,
    growth_10k_vs_1k: runs.length > 1 ? round(large.mean_ms / small.mean_ms, 2) : null,
    growth_sizes: runs.map((r) => r.hosts),
    runs: runs.length > 1 ? runs.slice(0, -1) : undefined,
  };
  if (opts.print !== false) emit(line);
  return line;
}

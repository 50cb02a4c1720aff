/**
 * `probe-scan`: the probe's scan and pci.conf filter, in process, on a fake
 * sysfs root (test/helpers/fake-host.ts) laid out like a generated host with
 * `devices` reported endpoints plus their root ports (filtered out by the
 * endpoint pci.conf). One scanner, a warm-up, then `rescans` timed scans of
 * an unchanged tree, as the agent does every interval.
 */
import { silentLogger } from '../common/index.js';
import { createScanner, parseFilterConfig, type Scanner } from '../probe/index.js';
import { FAKE_PCI_IDS, buildFakeHostSync, type FakeHost } from '../test/helpers/fake-host.js';
import { ENDPOINT_FILTER, fakeHostSpec } from './cluster-gen.js';
import { Latencies, emit, now, progress, round, rssMb, type ResultLine } from './stats.js';

export interface ProbeScanOptions {
  devices: number;
  warmup: number;
  rescans: number;
  /** Print the line (default true); the smoke test only wants the value. */
  print?: boolean;
}

export async function runProbeScan(opts: ProbeScanOptions): Promise<ResultLine> {
  const spec = fakeHostSpec(0, opts.devices);
  const buildStart = now();
  let host: FakeHost | null = null;
  let scanner: Scanner | null = null;
  try {
    host = buildFakeHostSync({ cpuVendor: spec.cpuVendor, cmdline: spec.cmdline, modules: spec.modules, devices: spec.devices, pciIds: FAKE_PCI_IDS });
    const buildMs = now() - buildStart;
    progress(`probe-scan: fake sysfs with ${spec.devices.length} PCI functions built in ${round(buildMs, 1)} ms at ${host.root}`);
    const filter = parseFilterConfig(ENDPOINT_FILTER, 'bench.pci.conf');
    const t0 = now();
    scanner = createScanner({ hostRoot: host.root, filter, logger: silentLogger(), hostName: 'bench-probe' });
    const first = scanner.scan();
    const firstMs = now() - t0;
    if (first.devices.length !== opts.devices) {
      throw new Error(`scan reported ${first.devices.length} devices, expected ${opts.devices}`);
    }
    for (let i = 0; i < opts.warmup; i++) scanner.scan();
    const lat = new Latencies();
    let reported = 0;
    for (let i = 0; i < opts.rescans; i++) {
      const t1 = now();
      reported = scanner.scan().devices.length;
      lat.add(now() - t1);
    }
    const s = lat.summary();
    const line: ResultLine = {
      scenario: 'probe-scan',
      hosts: 1,
      devices: reported,
      ops: s.count,
      ops_per_s: round(s.count === 0 ? 0 : (s.count * 1000) / lat.total, 1),
      p50_ms: s.p50,
      p99_ms: s.p99,
      rss_mb: rssMb(),
      sysfs_functions: spec.devices.length,
      first_scan_ms: round(firstMs),
      warmup: opts.warmup,
      mean_ms: s.mean,
      max_ms: s.max,
    };
    if (opts.print !== false) emit(line);
    return line;
  } finally {
    scanner?.close();
    await host?.cleanup();
  }
}

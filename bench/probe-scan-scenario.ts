/**
 * `probe-scan`: the probe's scan and pci.conf filter, in process, on a fake
 * sysfs root (test/helpers/fake-host.ts) laid out like a generated host with
 * `devices` reported endpoints plus their root ports (filtered out by the
 * endpoint pci.conf). One scanner, a warm-up, then `rescans` timed scans of
 * an unchanged tree, as the agent does every interval (the headline p50/p99).
 * Between the two (`settled`), the tree is synced to disk and a full GC runs:
 * right after the build, ext4 journal commits of its thousands of new files
 * stall directory reads for milliseconds, and the mark-compact of the build's
 * garbage takes 10-100 ms; both landed in the timed scans and were all their
 * p99 showed. Real sysfs has neither, and an agent's heap has long settled.
 * The last of them must equal the first scan, so a fast but stale rescan
 * fails the run. Then `changedRescans` timed scans that each follow a driver
 * rebind of one VF (as a prepare or release does), every one of which must
 * be seen: `changed_p50_ms`/`changed_p99_ms`.
 *
 * Each timed rescan is followed by the floor (`floor_p50_ms`/`floor_p99_ms`):
 * the syscalls a steady-state rescan cannot skip (the listings, the stat and
 * the preads the scanner's header names), made bare, with no scanner around
 * them. Interleaved, the two meet the same moments of this shared VM, whose
 * speed swings from second to second, so the scanner's own share shows apart
 * from the machine's.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { silentLogger, type HostReport } from '../common/index.js';
import { createScanner, parseFilterConfig, type Scanner } from '../probe/index.js';
import { FAKE_PCI_IDS, buildFakeHostSync, type FakeHost } from '../test/helpers/fake-host.js';
import { ENDPOINT_FILTER, fakeHostSpec } from './cluster-gen.js';
import { Latencies, emit, now, progress, round, rssMb, type ResultLine } from './stats.js';

export interface ProbeScanOptions {
  devices: number;
  warmup: number;
  rescans: number;
  /** Scans after a driver rebind (default rescans / 4). */
  changedRescans?: number;
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
    const settled = await settle();
    const lat = new Latencies();
    const floorLat = new Latencies();
    const floor = syscallFloor(host.root);
    let last = first;
    for (let i = 0; i < opts.rescans; i++) {
      const t1 = now();
      last = scanner.scan();
      const t2 = now();
      floor.run();
      floorLat.add(now() - t2);
      lat.add(t2 - t1);
    }
    floor.close();
    if (JSON.stringify(last) !== JSON.stringify(first)) throw new Error('a rescan of the unchanged tree differs from the first scan');
    const reported = last.devices.length;
    const s = lat.summary();
    const f = floorLat.summary();
    const changed = timeRebinds(host, scanner, first, opts.changedRescans ?? Math.ceil(opts.rescans / 4));
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
      settled,
      floor_p50_ms: f.p50,
      floor_p99_ms: f.p99,
      floor_syscalls: floor.syscalls,
      changed_ops: changed.count,
      changed_p50_ms: changed.p50,
      changed_p99_ms: changed.p99,
    };
    if (opts.print !== false) emit(line);
    return line;
  } finally {
    scanner?.close();
    await host?.cleanup();
  }
}

/**
 * sync(1), a full GC and a turn of the event loop, so that neither writing
 * back the new tree nor collecting the build's garbage is timed as a rescan.
 * node runs the bench without --expose-gc; the flag can be set at run time,
 * and a new context then has gc(). False if either fails (the timed scans
 * then pay for it, as before).
 */
async function settle(): Promise<boolean> {
  let done = false;
  try {
    execFileSync('sync', { stdio: 'ignore' });
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
    done = true;
  } catch {
    // Not fatal: the measurement is only noisier.
  }
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

/**
 * The steady-state rescan's unavoidable syscalls, bare: readdir of
 * sys/bus/pci/devices, sys/bus/pci/drivers and each driver's directory,
 * sys/module and sys/class/net, a stat of sys/kernel/iommu_groups, and a
 * pread of each PF's sriov_numvfs through a descriptor kept open.
 */
function syscallFloor(root: string): { run(): void; close(): void; syscalls: number } {
  const devices = join(root, 'sys/bus/pci/devices');
  const driversDir = join(root, 'sys/bus/pci/drivers');
  const listed = [devices, join(root, 'sys/module'), join(root, 'sys/class/net')];
  const groups = join(root, 'sys/kernel/iommu_groups');
  const fds = readdirSync(devices)
    .map((a) => join(devices, a, 'sriov_numvfs'))
    .filter((path) => existsSync(path))
    .map((path) => openSync(path, 'r'));
  const buf = Buffer.alloc(64);
  const drivers = readdirSync(driversDir).length;
  return {
    run() {
      for (const dir of listed) readdirSync(dir);
      for (const driver of readdirSync(driversDir)) readdirSync(join(driversDir, driver));
      statSync(groups);
      for (const fd of fds) readSync(fd, buf, 0, buf.length, 0);
    },
    close() {
      for (const fd of fds) closeSync(fd);
    },
    syscalls: listed.length + 1 + drivers + 1 + fds.length,
  };
}

/** Scans that each follow a rebind of one VF between vfio-pci and mlx5_core; every rebind must show in the report. */
function timeRebinds(host: FakeHost, scanner: Scanner, first: HostReport, count: number): ReturnType<Latencies['summary']> {
  const vfs = first.devices.filter((d) => d.sriov === 'vf');
  const drivers = new Map(vfs.map((d) => [d.address, d.driver]));
  const lat = new Latencies();
  for (let i = 0; i < count && vfs.length > 0; i++) {
    const vf = vfs[i % vfs.length]!;
    const expected = drivers.get(vf.address) === 'vfio-pci' ? 'mlx5_core' : 'vfio-pci';
    drivers.set(vf.address, expected);
    host.bindDriver(vf.address, expected);
    const t = now();
    const report = scanner.scan();
    lat.add(now() - t);
    const seen = report.devices.find((d) => d.address === vf.address)?.driver;
    if (seen !== expected) throw new Error(`rebind of ${vf.address} to ${expected} not seen on the next scan (got ${seen})`);
  }
  return lat.summary();
}

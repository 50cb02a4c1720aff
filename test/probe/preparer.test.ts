/** DevicePreparer on fake hosts, with FakeKernel playing the kernel's part. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pino } from 'pino';
import { ConfigError, silentLogger, type Logger } from '../../common/index.js';
import { DevicePreparer, realSysfsWriter, type PrepareOutcome } from '../../probe/preparer.js';
import { edgeCaseHost, gpuHostSharedGroup, gpuHostSplitGroups, type FakeHost } from '../helpers/fake-host.js';
import { FakeKernel, errnoError, type FakeKernelOptions, type KernelWrite } from '../helpers/fake-kernel.js';

const GPU = '0000:01:00.0';
const AUDIO = '0000:01:00.1';
const GPU2 = '0000:02:00.0';
const PROBE = 'sys/bus/pci/drivers_probe';
const dev = (a: string, f: string) => `sys/bus/pci/devices/${a}/${f}`;
const drv = (d: string, f: string) => `sys/bus/pci/drivers/${d}/${f}`;
const w = (path: string, data: string): KernelWrite => ({ path, data });

/** The writes of a successful prepare of a device bound to a driver. */
const prepareWrites = (a: string) => [w(dev(a, 'driver_override'), 'vfio-pci'), w(dev(a, 'driver/unbind'), a), w(PROBE, a)];
/** The writes that give a device on vfio-pci back to `prev`. */
const restoreWrites = (a: string, prev: string) => [w(drv('vfio-pci', 'unbind'), a), w(dev(a, 'driver_override'), '\n'), w(drv(prev, 'bind'), a)];

interface Setup {
  host: FakeHost;
  kernel: FakeKernel;
  preparer: DevicePreparer;
  stateDir: string;
  stateFile: string;
  /** Another preparer on the same host and state dir (a restarted probe). */
  restart(opts?: { enabled?: boolean; logger?: Logger }): DevicePreparer;
}

async function setup(t: TestContext, build?: Promise<FakeHost>, opts: { enabled?: boolean; kernel?: FakeKernelOptions; logger?: Logger } = {}): Promise<Setup> {
  const host = await (build ?? gpuHostSharedGroup());
  t.after(() => host.cleanup());
  const stateDir = join(host.root, 'var/lib/pcisched');
  const kernel = new FakeKernel(host, opts.kernel);
  const make = (o: { enabled?: boolean; logger?: Logger } = {}) =>
    new DevicePreparer({ hostRoot: host.root, stateDir, enabled: o.enabled ?? true, logger: o.logger ?? silentLogger(), writer: kernel });
  const preparer = make(opts);
  return { host, kernel, preparer, stateDir, stateFile: join(stateDir, 'prepared.json'), restart: make };
}

function readState(s: Setup): unknown {
  return JSON.parse(readFileSync(s.stateFile, 'utf8'));
}

/** The device's driver, checked from both sides: the device's link and the driver's back-link. */
function boundTo(s: Setup, address: string): string | null {
  const link = join(s.host.root, 'sys/bus/pci/devices', address, 'driver');
  let driver: string | null = null;
  try {
    const target = resolve(dirname(link), readlinkSync(link));
    assert.equal(target, join(s.host.root, 'sys/bus/pci/drivers', target.split('/').pop()!), `${address}: driver link leads outside drivers/`);
    driver = target.split('/').pop()!;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // Exactly one driver dir holds a back-link to the device, and only when it is bound.
  const drivers = ['nvidia', 'snd_hda_intel', 'vfio-pci', 'i915', 'nouveau'];
  const backLinks = drivers.filter((d) => {
    try {
      lstatSync(join(s.host.root, 'sys/bus/pci/drivers', d, address));
      return true;
    } catch {
      return false;
    }
  });
  assert.deepEqual(backLinks, driver ? [driver] : [], `${address}: back-links`);
  if (driver) {
    const back = join(s.host.root, 'sys/bus/pci/drivers', driver, address);
    assert.equal(resolve(dirname(back), readlinkSync(back)), s.host.deviceDir(address), `${address}: back-link target`);
  }
  return driver;
}

function overrideFile(s: Setup, address: string): string {
  return readFileSync(join(s.host.root, dev(address, 'driver_override')), 'utf8');
}

function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

const okOutcome = (devices: Array<[string, string]>, dryRun = false): PrepareOutcome => ({
  ok: true,
  error: '',
  dryRun,
  devices: devices.map(([address, previousDriver]) => ({ address, ok: true, previousDriver, error: '' })),
});

test('prepare a GPU and its audio function: exact writes, links, driver_override and state file', async (t) => {
  const s = await setup(t);
  assert.ok(existsSync(s.stateDir), 'state dir created');
  assert.equal(existsSync(s.stateFile), false);
  // What the state file held when each device was first written to: the record comes first.
  const stateAtFirstWrite = new Map<string, unknown>();
  s.kernel.failOn = (path) => {
    const m = /devices\/([^/]+)\/driver_override$/.exec(path);
    if (m && !stateAtFirstWrite.has(m[1]!)) stateAtFirstWrite.set(m[1]!, existsSync(s.stateFile) ? readState(s) : null);
    return null;
  };

  const out = s.preparer.prepare(7, [GPU, AUDIO]);

  assert.deepEqual(out, okOutcome([[GPU, 'nvidia'], [AUDIO, 'snd_hda_intel']]));
  assert.deepEqual(s.kernel.writes, [...prepareWrites(GPU), ...prepareWrites(AUDIO)]);
  assert.deepEqual(s.kernel.failures, []);
  assert.equal(boundTo(s, GPU), 'vfio-pci');
  assert.equal(boundTo(s, AUDIO), 'vfio-pci');
  assert.equal(overrideFile(s, GPU), 'vfio-pci\n');
  assert.equal(overrideFile(s, AUDIO), 'vfio-pci\n');
  // Nothing else moved.
  assert.equal(boundTo(s, GPU2), 'nvidia');
  assert.equal(overrideFile(s, GPU2), '(null)\n');
  const expected = { version: 1, devices: { [GPU]: { vmId: 7, previousDriver: 'nvidia' }, [AUDIO]: { vmId: 7, previousDriver: 'snd_hda_intel' } } };
  assert.deepEqual(readState(s), expected);
  assert.deepEqual(
    s.preparer.prepared(),
    new Map([
      [GPU, { vmId: 7, previousDriver: 'nvidia' }],
      [AUDIO, { vmId: 7, previousDriver: 'snd_hda_intel' }],
    ]),
  );
  assert.deepEqual(stateAtFirstWrite.get(GPU), { version: 1, devices: { [GPU]: { vmId: 7, previousDriver: 'nvidia' } } });
  assert.deepEqual(stateAtFirstWrite.get(AUDIO), expected);
  assert.equal(existsSync(`${s.stateFile}.tmp`), false, 'no temp file left behind');
});

test('unprepare gives the devices back to their drivers and empties the state', async (t) => {
  const s = await setup(t);
  assert.equal(s.preparer.prepare(7, [GPU, AUDIO]).ok, true);
  s.kernel.reset();

  const out = s.preparer.unprepare(7, [GPU, AUDIO]);

  assert.deepEqual(out, okOutcome([[GPU, 'nvidia'], [AUDIO, 'snd_hda_intel']]));
  assert.deepEqual(s.kernel.writes, [...restoreWrites(GPU, 'nvidia'), ...restoreWrites(AUDIO, 'snd_hda_intel')]);
  assert.equal(boundTo(s, GPU), 'nvidia');
  assert.equal(boundTo(s, AUDIO), 'snd_hda_intel');
  assert.equal(overrideFile(s, GPU), '(null)\n');
  assert.equal(overrideFile(s, AUDIO), '(null)\n');
  assert.deepEqual(readState(s), { version: 1, devices: {} });
  assert.equal(s.preparer.prepared().size, 0);
});

test('prepare and unprepare are idempotent', async (t) => {
  const s = await setup(t);
  assert.equal(s.preparer.prepare(7, [GPU]).ok, true);
  s.kernel.reset();
  // A second call with one more device only touches the new one.
  assert.deepEqual(s.preparer.prepare(7, [GPU, AUDIO]), okOutcome([[GPU, 'nvidia'], [AUDIO, 'snd_hda_intel']]));
  assert.deepEqual(s.kernel.writes, prepareWrites(AUDIO));
  const stateAfterFirst = readFileSync(s.stateFile, 'utf8');
  s.kernel.reset();
  assert.deepEqual(s.preparer.prepare(7, [GPU, AUDIO]), okOutcome([[GPU, 'nvidia'], [AUDIO, 'snd_hda_intel']]));
  assert.deepEqual(s.kernel.writes, []);
  assert.equal(readFileSync(s.stateFile, 'utf8'), stateAfterFirst);
  assert.equal(boundTo(s, GPU), 'vfio-pci');
  assert.equal(boundTo(s, AUDIO), 'vfio-pci');

  assert.equal(s.preparer.unprepare(7, [GPU, AUDIO]).ok, true);
  s.kernel.reset();
  // Nothing recorded and not on vfio-pci: already done.
  assert.deepEqual(s.preparer.unprepare(7, [GPU, AUDIO]), okOutcome([[GPU, ''], [AUDIO, '']]));
  assert.deepEqual(s.kernel.writes, []);
  assert.equal(boundTo(s, GPU), 'nvidia');
  assert.equal(boundTo(s, AUDIO), 'snd_hda_intel');
  // Duplicates in one request count once.
  s.kernel.reset();
  const dup = s.preparer.prepare(7, [GPU, GPU]);
  assert.equal(dup.devices.length, 1);
  assert.deepEqual(s.kernel.writes, prepareWrites(GPU));
});

test('a failure midway rolls back the devices already switched and reports which failed and why', async (t) => {
  const s = await setup(t);
  s.kernel.failOn = (path, data) => (path === PROBE && data === AUDIO ? errnoError('EBUSY', join(s.host.root, path)) : null);

  const out = s.preparer.prepare(7, [GPU, AUDIO, GPU2]);

  assert.equal(out.ok, false);
  assert.equal(out.dryRun, false);
  assert.match(out.error, /^0000:01:00\.1: drivers_probe: writing "0000:01:00\.1" to .*drivers_probe failed: EBUSY/);
  assert.doesNotMatch(out.error, /rollback failed/);
  assert.deepEqual(
    out.devices.map((d) => [d.address, d.ok, d.previousDriver]),
    [
      [GPU, false, 'nvidia'],
      [AUDIO, false, 'snd_hda_intel'],
      [GPU2, false, ''],
    ],
  );
  assert.equal(out.devices[0]!.error, `rolled back because ${AUDIO} failed`);
  assert.equal(out.devices[1]!.error, out.error);
  assert.equal(out.devices[2]!.error, `not attempted: ${AUDIO} failed`);
  assert.deepEqual(s.kernel.writes, [
    ...prepareWrites(GPU),
    ...prepareWrites(AUDIO), // the probe of AUDIO fails
    // rollback: the failed device (already unbound from snd_hda_intel), then GPU
    w(dev(AUDIO, 'driver_override'), '\n'),
    w(drv('snd_hda_intel', 'bind'), AUDIO),
    ...restoreWrites(GPU, 'nvidia'),
  ]);
  assert.deepEqual(s.kernel.failures.map((f) => [f.path, f.data]), [[PROBE, AUDIO]]);
  assert.equal(boundTo(s, GPU), 'nvidia');
  assert.equal(boundTo(s, AUDIO), 'snd_hda_intel');
  assert.equal(boundTo(s, GPU2), 'nvidia');
  assert.equal(overrideFile(s, GPU), '(null)\n');
  assert.equal(overrideFile(s, AUDIO), '(null)\n');
  assert.deepEqual(readState(s), { version: 1, devices: {} });
  assert.equal(s.preparer.prepared().size, 0);
});

test('a failed rollback is reported and keeps the record so unprepare can finish the job', async (t) => {
  const s = await setup(t);
  s.kernel.failOn = (path, data) =>
    (path === PROBE && data === AUDIO) || (path === drv('nvidia', 'bind') && data === GPU) ? errnoError(path === PROBE ? 'EBUSY' : 'EIO', join(s.host.root, path)) : null;

  const out = s.preparer.prepare(7, [GPU, AUDIO]);

  assert.equal(out.ok, false);
  assert.match(out.error, /EBUSY.*; rollback failed: 0000:01:00\.0: bind to nvidia: .*EIO/);
  assert.match(out.devices[0]!.error, /^rolled back because 0000:01:00\.1 failed; rollback failed: 0000:01:00\.0: bind to nvidia/);
  assert.equal(boundTo(s, GPU), null);
  assert.equal(boundTo(s, AUDIO), 'snd_hda_intel');
  assert.deepEqual(s.preparer.prepared(), new Map([[GPU, { vmId: 7, previousDriver: 'nvidia' }]]));

  s.kernel.failOn = null;
  s.kernel.reset();
  assert.deepEqual(s.preparer.unprepare(7, [GPU]), okOutcome([[GPU, 'nvidia']]));
  assert.deepEqual(s.kernel.writes, [w(dev(GPU, 'driver_override'), '\n'), w(drv('nvidia', 'bind'), GPU)]);
  assert.equal(boundTo(s, GPU), 'nvidia');
  assert.equal(s.preparer.prepared().size, 0);
});

test('the verify step catches a bind that did not happen', async (t) => {
  const s = await setup(t, undefined, { kernel: { refuseBind: [AUDIO] } });

  const out = s.preparer.prepare(7, [GPU, AUDIO]);

  assert.equal(out.ok, false);
  assert.equal(out.error, `${AUDIO}: verify: driver is none after drivers_probe, expected vfio-pci`);
  assert.equal(out.devices[1]!.error, out.error);
  assert.deepEqual(s.kernel.failures, [], 'every write succeeded; only the check saw the problem');
  assert.deepEqual(s.kernel.writes, [
    ...prepareWrites(GPU),
    ...prepareWrites(AUDIO),
    w(dev(AUDIO, 'driver_override'), '\n'),
    w(drv('snd_hda_intel', 'bind'), AUDIO),
    ...restoreWrites(GPU, 'nvidia'),
  ]);
  assert.equal(boundTo(s, GPU), 'nvidia');
  assert.equal(boundTo(s, AUDIO), 'snd_hda_intel');
  assert.deepEqual(readState(s), { version: 1, devices: {} });
});

test('after a probe restart a new preparer on the same state dir restores the right drivers', async (t) => {
  const s = await setup(t);
  assert.equal(s.preparer.prepare(7, [GPU, AUDIO]).ok, true);
  s.kernel.reset();

  const restarted = s.restart();
  assert.deepEqual(restarted.prepared(), s.preparer.prepared());
  assert.equal(restarted.prepared().get(AUDIO)?.previousDriver, 'snd_hda_intel');
  assert.deepEqual(restarted.unprepare(7, [AUDIO, GPU]), okOutcome([[AUDIO, 'snd_hda_intel'], [GPU, 'nvidia']]));
  assert.deepEqual(s.kernel.writes, [...restoreWrites(AUDIO, 'snd_hda_intel'), ...restoreWrites(GPU, 'nvidia')]);
  assert.equal(boundTo(s, GPU), 'nvidia');
  assert.equal(boundTo(s, AUDIO), 'snd_hda_intel');
  assert.equal(s.restart().prepared().size, 0);
});

test('a crash between unbind and drivers_probe is undone, or finished, after a restart', async (t) => {
  const s = await setup(t);
  // The state a probe leaves when it dies after step 4: recorded, override set, unbound.
  writeFileSync(s.stateFile, JSON.stringify({ version: 1, devices: { [GPU]: { vmId: 3, previousDriver: 'nvidia' } } }));
  s.kernel.write(join(s.host.root, dev(GPU, 'driver_override')), 'vfio-pci');
  s.kernel.write(join(s.host.root, dev(GPU, 'driver/unbind')), GPU);
  assert.equal(boundTo(s, GPU), null);
  s.kernel.reset();

  // Finishing it keeps the recorded driver (the device has none right now).
  const retry = s.restart();
  assert.deepEqual(retry.prepare(3, [GPU]), okOutcome([[GPU, 'nvidia']]));
  assert.deepEqual(s.kernel.writes, [w(dev(GPU, 'driver_override'), 'vfio-pci'), w(PROBE, GPU)]);
  assert.deepEqual(retry.prepared(), new Map([[GPU, { vmId: 3, previousDriver: 'nvidia' }]]));
  assert.equal(boundTo(s, GPU), 'vfio-pci');

  // Same crash again, then a release instead of a retry.
  s.kernel.write(join(s.host.root, drv('vfio-pci', 'unbind')), GPU);
  s.kernel.reset();
  const release = s.restart();
  assert.deepEqual(release.unprepare(3, [GPU]), okOutcome([[GPU, 'nvidia']]));
  assert.deepEqual(s.kernel.writes, [w(dev(GPU, 'driver_override'), '\n'), w(drv('nvidia', 'bind'), GPU)]);
  assert.equal(boundTo(s, GPU), 'nvidia');
  assert.equal(overrideFile(s, GPU), '(null)\n');
  assert.equal(release.prepared().size, 0);
});

test('a device held by another VM is refused without touching anything', async (t) => {
  const s = await setup(t);
  assert.equal(s.preparer.prepare(1, [GPU]).ok, true);
  const state = readFileSync(s.stateFile, 'utf8');
  s.kernel.reset();

  const out = s.preparer.prepare(2, [GPU2, GPU]);
  assert.equal(out.ok, false);
  assert.equal(out.error, `${GPU}: held by VM 1; refused for VM 2`);
  assert.deepEqual(out.devices, [
    { address: GPU2, ok: false, previousDriver: 'nvidia', error: 'not attempted: another device was refused' },
    { address: GPU, ok: false, previousDriver: 'nvidia', error: out.error },
  ]);
  assert.deepEqual(s.kernel.writes, []);
  assert.equal(boundTo(s, GPU2), 'nvidia');
  assert.equal(boundTo(s, GPU), 'vfio-pci');
  assert.equal(readFileSync(s.stateFile, 'utf8'), state);

  // Nor may another VM release it; the other device of the request is fine (not prepared).
  const un = s.preparer.unprepare(2, [GPU, GPU2]);
  assert.equal(un.ok, false);
  assert.equal(un.error, `${GPU}: held by VM 1; refused for VM 2`);
  assert.deepEqual(un.devices.map((d) => d.ok), [false, true]);
  assert.deepEqual(s.kernel.writes, []);
  assert.equal(boundTo(s, GPU), 'vfio-pci');
  assert.equal(s.preparer.prepared().get(GPU)?.vmId, 1);
});

test('a corrupt state file is a ConfigError naming the file, at construction', async (t) => {
  const s = await setup(t);
  const cases: Array<[string, RegExp]> = [
    ['{"version": 1, "devices": {', /not JSON/],
    ['[]', /not a JSON object/],
    ['{"version": 2, "devices": {}}', /version must be 1/],
    ['{"version": 1}', /"devices" must be an object/],
    [`{"version": 1, "devices": {"01:00.0": {"vmId": 1, "previousDriver": null}}}`, /"01:00\.0" is not a PCI address/],
    [`{"version": 1, "devices": {"${GPU}": {"vmId": "7", "previousDriver": "nvidia"}}}`, /vmId must be a non-negative integer/],
    [`{"version": 1, "devices": {"${GPU}": {"vmId": 7, "previousDriver": "../../../etc"}}}`, /previousDriver must be a driver name or null/],
    ['', /not JSON/],
  ];
  for (const [text, reason] of cases) {
    writeFileSync(s.stateFile, text);
    assert.throws(
      () => s.restart(),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, `${text}: ${String(err)}`);
        assert.ok(err.message.includes(s.stateFile), `names the file: ${err.message}`);
        assert.match(err.message, /corrupt state file/);
        assert.match(err.message, reason);
        return true;
      },
      text,
    );
    assert.equal(readFileSync(s.stateFile, 'utf8'), text, 'the corrupt file is left for the operator');
  }
  // A state dir that cannot be created is one too.
  const blocker = join(s.host.root, 'not-a-dir');
  writeFileSync(blocker, '');
  assert.throws(
    () => new DevicePreparer({ hostRoot: s.host.root, stateDir: join(blocker, 'state'), enabled: true, logger: silentLogger() }),
    (err: unknown) => err instanceof ConfigError && err.message.includes(join(blocker, 'state')) && /cannot create state dir/.test(err.message),
  );
});

test('dry run logs every write it would make and changes nothing', async (t) => {
  const { logger, lines } = captureLogger();
  const s = await setup(t, undefined, { enabled: false, logger });
  const plannedWrites = () =>
    lines.filter((l) => l.level === 30 && /dry run: would write/.test(String(l.msg))).map((l) => w(relative(s.host.root, String(l.path)), String(l.data)));

  const out = s.preparer.prepare(7, [GPU, AUDIO]);

  assert.deepEqual(out, okOutcome([[GPU, 'nvidia'], [AUDIO, 'snd_hda_intel']], true));
  assert.deepEqual(s.kernel.writes, []);
  assert.deepEqual(plannedWrites(), [...prepareWrites(GPU), ...prepareWrites(AUDIO)]);
  assert.equal(boundTo(s, GPU), 'nvidia');
  assert.equal(boundTo(s, AUDIO), 'snd_hda_intel');
  assert.equal(overrideFile(s, GPU), '(null)\n');
  assert.equal(existsSync(s.stateDir), false, 'not even the state dir is created');
  assert.equal(s.preparer.prepared().size, 0);
  const un = s.preparer.unprepare(7, [GPU, AUDIO]);
  assert.deepEqual(un, okOutcome([[GPU, ''], [AUDIO, '']], true));
  assert.deepEqual(s.kernel.writes, []);

  // A dry run on the state an enabled probe left plans the release without doing it.
  const live = s.restart({ enabled: true });
  assert.equal(live.prepare(7, [GPU, AUDIO]).ok, true);
  s.kernel.reset();
  lines.length = 0;
  const dry = s.restart({ enabled: false, logger });
  assert.deepEqual(dry.unprepare(7, [GPU, AUDIO]), okOutcome([[GPU, 'nvidia'], [AUDIO, 'snd_hda_intel']], true));
  assert.deepEqual(plannedWrites(), [...restoreWrites(GPU, 'nvidia'), ...restoreWrites(AUDIO, 'snd_hda_intel')]);
  assert.deepEqual(s.kernel.writes, []);
  assert.equal(boundTo(s, GPU), 'vfio-pci');
  assert.equal(dry.prepared().size, 2);
});

test('write errors are reported, never thrown, and leave no record behind', async (t) => {
  const s = await setup(t, undefined, { kernel: { failOn: (path) => errnoError('EACCES', path) } });
  let out: PrepareOutcome | undefined;
  assert.doesNotThrow(() => {
    out = s.preparer.prepare(7, [GPU, AUDIO]);
  });
  assert.equal(out!.ok, false);
  assert.match(out!.error, /^0000:01:00\.0: set driver_override: writing "vfio-pci" to .* failed: EACCES/);
  // The rejected write changed nothing, so there is nothing to write back.
  assert.deepEqual(s.kernel.writes, [w(dev(GPU, 'driver_override'), 'vfio-pci')]);
  assert.equal(boundTo(s, GPU), 'nvidia');
  assert.deepEqual(readState(s), { version: 1, devices: {} });

  // A writer that throws something that is not even an Error.
  const odd = new DevicePreparer({
    hostRoot: s.host.root, stateDir: s.stateDir, enabled: true, logger: silentLogger(),
    writer: { write: () => { throw 'kaboom'; } },
  });
  const o2 = odd.prepare(7, [GPU]);
  assert.equal(o2.ok, false);
  assert.match(o2.error, /kaboom/);
});

test('unprepare goes on past a failing device and reports each one', async (t) => {
  const s = await setup(t);
  assert.equal(s.preparer.prepare(7, [GPU, AUDIO]).ok, true);
  s.kernel.reset();
  s.kernel.failOn = (path, data) => (path === drv('nvidia', 'bind') && data === GPU ? errnoError('EIO', join(s.host.root, path)) : null);

  const out = s.preparer.unprepare(7, [GPU, AUDIO]);

  assert.equal(out.ok, false);
  assert.match(out.error, /^0000:01:00\.0: bind to nvidia: writing "0000:01:00\.0" to .*nvidia\/bind failed: EIO/);
  assert.deepEqual(out.devices.map((d) => [d.address, d.ok, d.previousDriver]), [[GPU, false, 'nvidia'], [AUDIO, true, 'snd_hda_intel']]);
  assert.equal(out.devices[0]!.error, out.error);
  assert.deepEqual(s.kernel.writes, [...restoreWrites(GPU, 'nvidia'), ...restoreWrites(AUDIO, 'snd_hda_intel')]);
  assert.equal(boundTo(s, GPU), null);
  assert.equal(boundTo(s, AUDIO), 'snd_hda_intel');
  assert.deepEqual(s.preparer.prepared(), new Map([[GPU, { vmId: 7, previousDriver: 'nvidia' }]]), 'the failed one keeps its record');
});

test('devices without a driver, and devices already on vfio-pci at boot', async (t) => {
  const nic = '0000:02:00.0';
  const e = await setup(t, edgeCaseHost());
  assert.equal(boundTo(e, nic), null);
  assert.deepEqual(e.preparer.prepare(4, [nic]), okOutcome([[nic, '']]));
  assert.deepEqual(e.kernel.writes, [w(dev(nic, 'driver_override'), 'vfio-pci'), w(PROBE, nic)]);
  assert.deepEqual(readState(e), { version: 1, devices: { [nic]: { vmId: 4, previousDriver: null } } });
  assert.equal(boundTo(e, nic), 'vfio-pci');
  e.kernel.reset();
  assert.deepEqual(e.preparer.unprepare(4, [nic]), okOutcome([[nic, '']]));
  assert.deepEqual(e.kernel.writes, [w(drv('vfio-pci', 'unbind'), nic), w(dev(nic, 'driver_override'), '\n')]);
  assert.equal(boundTo(e, nic), null);

  // 02:00.0 was bound to vfio-pci at boot: only the override is added, and then removed.
  const v = await setup(t, gpuHostSplitGroups());
  assert.equal(boundTo(v, GPU2), 'vfio-pci');
  assert.deepEqual(v.preparer.unprepare(5, [GPU2]), okOutcome([[GPU2, '']]), 'not moved by pcisched: left alone');
  assert.deepEqual(v.kernel.writes, []);
  assert.deepEqual(v.preparer.prepare(5, [GPU2]), okOutcome([[GPU2, 'vfio-pci']]));
  assert.deepEqual(v.kernel.writes, [w(dev(GPU2, 'driver_override'), 'vfio-pci')]);
  v.kernel.reset();
  assert.deepEqual(v.preparer.unprepare(5, [GPU2]), okOutcome([[GPU2, 'vfio-pci']]));
  assert.deepEqual(v.kernel.writes, [w(dev(GPU2, 'driver_override'), '\n')]);
  assert.equal(boundTo(v, GPU2), 'vfio-pci');
  assert.equal(overrideFile(v, GPU2), '(null)\n');
});

test('bad requests are refused before any write', async (t) => {
  const s = await setup(t);
  for (const [vmId, addresses, reason] of [
    [7, ['../../../../etc/passwd'], /is not a PCI address/],
    [7, [GPU, '01:00.0'], /'01:00\.0' is not a PCI address/],
    [7, ['0000:09:00.0'], /0000:09:00\.0: no such PCI device/],
    [-1, [GPU], /invalid VM id -1/],
    [1.5, [GPU], /invalid VM id 1\.5/],
  ] as Array<[number, string[], RegExp]>) {
    const out = s.preparer.prepare(vmId, addresses);
    assert.equal(out.ok, false, String(addresses));
    assert.match(out.error, reason);
    assert.equal(out.devices.length, addresses.length);
    assert.ok(out.devices.every((d) => !d.ok));
    const un = s.preparer.unprepare(vmId, addresses);
    if (!/no such PCI device/.test(String(reason))) assert.equal(un.ok, false, `unprepare ${String(addresses)}`);
  }
  assert.deepEqual(s.kernel.writes, []);
  assert.equal(boundTo(s, GPU), 'nvidia');
  assert.equal(s.preparer.prepared().size, 0);
});

test('a state file that cannot be written stops prepare before the device is touched', async (t) => {
  const s = await setup(t);
  mkdirSync(s.stateFile); // renaming the temp file onto it fails
  const out = s.preparer.prepare(7, [GPU]);
  assert.equal(out.ok, false);
  assert.ok(out.error.startsWith(`${GPU}: record state: cannot write state file ${s.stateFile}`), out.error);
  assert.deepEqual(s.kernel.writes, []);
  assert.equal(boundTo(s, GPU), 'nvidia');
  assert.equal(s.preparer.prepared().size, 0);
});

test('unprepare of a device that vanished drops its record; one on a third driver is left alone', async (t) => {
  const s = await setup(t);
  assert.equal(s.preparer.prepare(7, [GPU, AUDIO]).ok, true);
  s.kernel.reset();
  s.host.removeDevice(AUDIO);
  s.host.bindDriver(GPU, null);
  s.host.bindDriver(GPU, 'nouveau');

  const out = s.preparer.unprepare(7, [GPU, AUDIO]);
  assert.equal(out.ok, false);
  assert.equal(out.error, `${GPU}: bound to nouveau, neither vfio-pci nor its previous driver nvidia; left as is`);
  assert.deepEqual(out.devices.map((d) => d.ok), [false, true]);
  assert.deepEqual(s.kernel.writes, []);
  assert.equal(boundTo(s, GPU), 'nouveau');
  assert.deepEqual([...s.preparer.prepared().keys()], [GPU]);
});

test('realSysfsWriter writes into existing files and never creates one', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pcisched-writer-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'bind'), 'old-and-longer');
  realSysfsWriter.write(join(dir, 'bind'), '0000:01:00.0');
  assert.equal(readFileSync(join(dir, 'bind'), 'utf8').slice(0, 12), '0000:01:00.0');
  assert.throws(() => realSysfsWriter.write(join(dir, 'nope'), 'x'), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
  assert.equal(existsSync(join(dir, 'nope')), false);
});

test('the fake kernel follows the kernel rules the preparer relies on', async (t) => {
  const s = await setup(t, gpuHostSharedGroup({ modules: [] }));
  const root = s.host.root;
  const write = (path: string, data: string) => s.kernel.write(join(root, path), data);
  const code = (fn: () => void) => {
    try {
      fn();
      return 'ok';
    } catch (err) {
      return (err as NodeJS.ErrnoException).code;
    }
  };
  assert.equal(existsSync(join(root, 'sys/bus/pci/drivers/vfio-pci')), false);
  assert.equal(code(() => write(drv('nvidia', 'bind'), GPU)), 'EBUSY', 'bound already');
  assert.equal(code(() => write(drv('snd_hda_intel', 'unbind'), GPU)), 'ENODEV', 'not bound to that driver');
  assert.equal(code(() => write(dev(GPU, 'driver/unbind'), `${GPU}\n`)), 'ok');
  assert.equal(code(() => write(dev(GPU, 'driver/unbind'), GPU)), 'ENOENT', 'no driver link any more');
  assert.equal(code(() => write(PROBE, GPU)), 'ok');
  assert.equal(s.kernel.driverOf(GPU), null, 'no override: drivers_probe leaves it alone here');
  assert.equal(code(() => write(dev(GPU, 'driver_override'), 'vfio-pci\n')), 'ok');
  assert.equal(s.kernel.overrideOf(GPU), 'vfio-pci');
  assert.equal(code(() => write(drv('nvidia', 'bind'), GPU)), 'ENODEV', 'override names another driver');
  assert.equal(code(() => write(PROBE, '0000:0a:00.0')), 'ENODEV');
  assert.equal(code(() => write(PROBE, GPU)), 'ok');
  assert.equal(boundTo(s, GPU), 'vfio-pci', 'driver dir created on demand');
  assert.ok(existsSync(join(root, drv('vfio-pci', 'bind'))));
  assert.equal(code(() => write(drv('no-such-driver', 'bind'), GPU)), 'ENOENT');
  assert.equal(code(() => s.kernel.write('/etc/passwd', 'x')), undefined, 'outside the root: a plain Error');
  assert.equal(s.kernel.failures.length, 6);
  assert.equal(s.kernel.writes.length, 10, "the write outside the root is not recorded");
});

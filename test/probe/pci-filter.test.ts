import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ConfigError, createLogger, type DeviceReport } from '../../common/index.js';
import { createScanner, defaultFilter, loadFilterConfig, matchesFilter, parseFilterConfig, type PciFilter } from '../../probe/index.js';
import { buildFakeHost, sriovNicHost, type FakeDevice } from '../helpers/fake-host.js';

type Dev = Pick<DeviceReport, 'vendor' | 'device' | 'class' | 'shortAddress' | 'deviceName'>;
const dev = (vendor: string, device: string, cls: string, shortAddress: string, deviceName: string): Dev => ({ vendor, device, class: cls, shortAddress, deviceName });

const GTX = dev('10de', '1b80', '0300', '01:00.0', 'GP104 [GeForce GTX 1080]');
const GTX_AUDIO = dev('10de', '10f0', '0403', '01:00.1', 'GP104 High Definition Audio Controller');
const USB = dev('8086', 'a36d', '0c03', '00:14.0', 'Cannon Lake PCH USB 3.1 xHCI Host Controller');
const PCH_AUDIO = dev('8086', 'a348', '0403', '00:1f.3', 'Cannon Lake PCH cAVS');
const NVME_D1 = dev('144d', 'a808', '0108', '0001:01:00.0', 'NVMe SSD Controller SM981/PM981/PM983');
const ALL = [GTX, GTX_AUDIO, USB, PCH_AUDIO, NVME_D1];

function kept(filter: PciFilter, devices: Dev[] = ALL): string[] {
  return devices.filter((d) => matchesFilter(filter, d)).map((d) => d.shortAddress);
}

const conf = (text: string) => parseFilterConfig(text, '/etc/pcisched/pci.conf');

/** Asserts a ConfigError whose message names the file, the key/index and the reason. */
function assertConfigError(text: string, ...parts: (string | RegExp)[]): void {
  assert.throws(
    () => conf(text),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
      assert.match(err.message, /^\/etc\/pcisched\/pci\.conf/);
      for (const p of parts) {
        if (typeof p === 'string') assert.ok(err.message.includes(p), `${JSON.stringify(err.message)} should include ${JSON.stringify(p)}`);
        else assert.match(err.message, p);
      }
      return true;
    },
  );
}

test('no config file means *:* (every device)', () => {
  assert.deepEqual(kept(loadFilterConfig()), ALL.map((d) => d.shortAddress));
  assert.deepEqual(kept(defaultFilter()), ALL.map((d) => d.shortAddress));
});

test("OpenNebula's shipped default '0:0' reports nothing, and so does an empty filter list", () => {
  assert.deepEqual(kept(conf(":filter: '0:0'\n")), []);
  assert.deepEqual(kept(conf(':filter: []\n')), []);
});

test('filter entries are OR-ed, with vendor, device and class fields', () => {
  // The documented example list from OpenNebula's pci.conf.
  const f = conf(":filter:\n  - '10de:*'\n  - '10de:11bf'\n  - '*:10d3'\n  - '8086::0c03'\n");
  assert.deepEqual(kept(f), ['01:00.0', '01:00.1', '00:14.0']);
  assert.deepEqual(kept(conf(":filter: '10de:1b80'\n")), ['01:00.0']);
  assert.deepEqual(kept(conf(":filter: '::0403'\n")), ['01:00.1', '00:1f.3']);
  assert.deepEqual(kept(conf(":filter: '10de::0403'\n")), ['01:00.1']);
  assert.deepEqual(kept(conf(":filter: ':'\n")), ALL.map((d) => d.shortAddress));
  assert.deepEqual(kept(conf(":filter: '*:*:*'\n")), ALL.map((d) => d.shortAddress));
});

test('a filter string and list entries are also split on commas', () => {
  assert.deepEqual(kept(conf(":filter: '10de:1b80,8086::0c03'\n")), ['01:00.0', '00:14.0']);
  assert.deepEqual(kept(conf(":filter: ['144d:*, 8086:a348']\n")), ['00:1f.3', '0001:01:00.0']);
});

test('ids are hex compared numerically: case and leading zeros do not matter', () => {
  assert.deepEqual(kept(conf(":filter: '10DE:1B80'\n")), ['01:00.0']);
  assert.deepEqual(kept(conf(":filter: '8086::C03'\n")), ['00:14.0']);
  assert.deepEqual(kept(conf(":filter: '0:0'\n"), [dev('0000', '0000', '0000', '00:00.0', 'x')]), ['00:00.0']);
});

test('short_address is an exact list AND-ed with the filter; empty means no restriction', () => {
  assert.deepEqual(kept(conf(":filter: '*:*'\n:short_address:\n  - '01:00.0'\n  - '0001:01:00.0'\n")), ['01:00.0', '0001:01:00.0']);
  assert.deepEqual(kept(conf(":filter: '8086:*'\n:short_address: ['01:00.0']\n")), []);
  assert.deepEqual(kept(conf(':short_address: []\n')), ALL.map((d) => d.shortAddress));
  // lspci never prints domain 0000, so the full address never matches (and is flagged).
  const full = conf(":short_address: ['0000:01:00.0']\n");
  assert.deepEqual(kept(full), []);
  assert.match(full.warnings[0]!, /:short_address\[0\] '0000:01:00\.0' never matches/);
});

test('device_name: case-insensitive regexes searched in the device name, any match keeps', () => {
  assert.deepEqual(kept(conf(":device_name: ['geforce']\n")), ['01:00.0']);
  assert.deepEqual(kept(conf(":device_name: ['^gp104', 'USB.*Host Controller']\n")), ['01:00.0', '01:00.1', '00:14.0']);
  assert.deepEqual(kept(conf(":device_name: ['Controller$']\n")), ['01:00.1', '00:14.0']);
  assert.deepEqual(kept(conf(":filter: '10de:*'\n:device_name: ['audio']\n")), ['01:00.1']);
  assert.deepEqual(kept(conf(':device_name: []\n')), ALL.map((d) => d.shortAddress));
});

test("the documented pci.conf example: all three options AND-ed", () => {
  // OpenNebula's example keeps 00:1f.3 only if its name contains Ethernet or Audio Controller.
  const example = ":filter: '*:*'\n:short_address:\n  - '00:1f.3'\n:device_name:\n  - 'Ethernet'\n  - 'Audio Controller'\n";
  const smbus = dev('8086', '9c22', '0c05', '00:1f.3', '8 Series SMBus Controller');
  const hdAudio = dev('8086', '9c20', '0403', '00:1f.3', '8 Series HD Audio Controller');
  assert.deepEqual(kept(conf(example), [smbus]), []);
  assert.deepEqual(kept(conf(example), [hdAudio, GTX_AUDIO]), ['00:1f.3']);
});

test('plain keys work like the colon ones; nvidia_vendors is accepted silently; unknown keys warn', () => {
  const lines: string[] = [];
  const logger = createLogger({ name: 't', level: 'warn', destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  const f = parseFilterConfig("filter: '10de:*'\nshort_address: ['01:00.1']\n:nvidia_vendors: ['10de']\n:colour: blue\n", 'pci.conf', logger);
  assert.deepEqual(kept(f), ['01:00.1']);
  assert.equal(f.warnings.length, 1);
  assert.match(f.warnings[0]!, /unknown key :colour/);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /unknown key :colour/);
});

test('an empty file or a key without a value means no restriction', () => {
  assert.deepEqual(kept(conf('')), ALL.map((d) => d.shortAddress));
  assert.deepEqual(kept(conf('# only comments\n')), ALL.map((d) => d.shortAddress));
  assert.deepEqual(kept(conf(':filter:\n:device_name:\n')), ALL.map((d) => d.shortAddress));
});

test('malformed filter entries are ConfigErrors naming file, key, index and reason', () => {
  assertConfigError(":filter: ['10de:*', '0x10de:*']\n", ':filter[1]', "invalid vendor id '0x10de'");
  assertConfigError(":filter: 'xyz:1b80'\n", ':filter:', "invalid vendor id 'xyz'");
  assertConfigError(":filter: ['10de:1b8g']\n", ':filter[0]', "invalid device id '1b8g'");
  assertConfigError(":filter: ['10de::03000']\n", ':filter[0]', "invalid class '03000'");
  assertConfigError(":filter: ['10de']\n", ':filter[0]', "':' expected");
  assertConfigError(":filter: ['1:2:3:4']\n", ':filter[0]', 'too many');
  assertConfigError(":filter: ['10de:*,,8086:*']\n", ':filter[0]', 'empty filter entry');
});

test('wrong types are ConfigErrors', () => {
  assertConfigError(':filter: 10\n', ':filter', 'expected a string or a list of strings, got number 10');
  assertConfigError(":short_address: ['01:00.0', 1]\n", ':short_address[1]', 'expected a string, got number 1');
  assertConfigError(':device_name: {a: 1}\n', ':device_name', 'got a mapping');
  assertConfigError(":nvidia_vendors: ['nvidia']\n", ':nvidia_vendors[0]', 'not a 4-hex-digit vendor id');
  assertConfigError("- '10de:*'\n", 'expected a mapping');
  assertConfigError(":filter: '10de:*'\nfilter: '8086:*'\n", 'filter', 'given twice');
});

test('regexes re2js rejects are ConfigErrors', () => {
  assertConfigError(":device_name: ['ok', '(unclosed']\n", ':device_name[1]', "invalid regular expression '(unclosed'");
  assertConfigError(":device_name: ['(?<=GP)104']\n", ':device_name[0]', 'invalid regular expression');
  assertConfigError(":device_name: ['(a)\\1']\n", ':device_name[0]', 'invalid regular expression');
});

test('unparseable YAML is a ConfigError with file and line', () => {
  assertConfigError(":filter: '10de:*'\n:short_address: ['01:00.0'\n", /pci\.conf: line \d+/, 'invalid YAML');
});

test('loadFilterConfig reads the file, and names it when it cannot', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pcisched-conf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'pci.conf');
  writeFileSync(path, ":filter: '10de:*'\n");
  assert.deepEqual(kept(loadFilterConfig(path)), ['01:00.0', '01:00.1']);
  assert.equal(loadFilterConfig(path).source, path);
  assert.throws(() => loadFilterConfig(join(dir, 'missing.conf')), (e: unknown) => e instanceof ConfigError && e.message.includes('missing.conf'));
  writeFileSync(path, ":filter: ['10de:zz']\n");
  assert.throws(() => loadFilterConfig(path), (e: unknown) => e instanceof ConfigError && e.message.startsWith(`${path}: :filter[0]`));
});

test('a pathological regex runs in linear time', { timeout: 10_000 }, () => {
  // (a+)+$ backtracks exponentially in a backtracking engine on "aaaa...!".
  const f = conf(":device_name: ['(a+)+$']\n");
  const long = dev('1234', '5678', '0000', '00:00.0', `${'a'.repeat(50_000)}!`);
  const ok = dev('1234', '5678', '0000', '00:00.1', 'a'.repeat(50_000));
  assert.deepEqual(kept(f, [long, ok]), ['00:00.1']);
});

test('end to end: a scanner reports what the filter keeps, each device once', async (t) => {
  const host = await sriovNicHost();
  t.after(() => host.cleanup());
  const scan = (text: string) => {
    const s = createScanner({ hostRoot: host.root, filter: conf(text), hostName: 'h' });
    try {
      return s.scan().devices.map((d) => d.shortAddress);
    } finally {
      s.close();
    }
  };
  assert.deepEqual(scan(":device_name: ['MT27800']\n"), ['41:00.0', '41:00.1', '41:00.2', '41:00.3', '41:00.4', '41:00.5']);
  assert.deepEqual(scan(":device_name: ['virtual function']\n:short_address: ['41:00.2', '41:00.0']\n"), ['41:00.2']);
  // Matched by two entries, reported once (OpenNebula would list it twice).
  assert.deepEqual(scan(":filter: ['15b3:1017', '*::0200']\n:short_address: ['41:00.0']\n"), ['41:00.0']);
  assert.deepEqual(scan(":filter: '0:0'\n"), []);
});

test('end to end: the documented `onehost show` host with the documented filters', async (t) => {
  const d = (address: string, type: string, extra: Partial<FakeDevice> = {}): FakeDevice => {
    const [vendor, device, cls] = type.split(':') as [string, string, string];
    return { address, vendor, device, class: `${cls}00`, iommuGroup: 1, ...extra };
  };
  const ids = [
    '8086  Intel Corporation',
    '\t08b1  Wireless 7260', '\t0a04  Haswell-ULT DRAM Controller', '\t0a0c  Haswell-ULT HD Audio Controller',
    '\t0a16  Haswell-ULT Integrated Graphics Controller', '\t10d3  82574L Gigabit Network Connection',
    '\t9c03  8 Series SATA Controller 1 [AHCI mode]', '\t9c10  8 Series PCI Express Root Port 1',
    '\t9c14  8 Series PCI Express Root Port 3', '\t9c20  8 Series HD Audio Controller', '\t9c22  8 Series SMBus Controller',
    '\t9c26  8 Series USB EHCI #1', '\t9c31  8 Series USB xHCI HC', '\t9c3a  8 Series HECI #0', '\t9c43  8 Series LPC Controller',
    '10de  NVIDIA Corporation', '\t11bf  GK104GL [GRID K2]',
  ].join('\n');
  const host = await buildFakeHost({
    pciIds: `${ids}\n`,
    devices: [
      d('0000:00:00.0', '8086:0a04:0600'), d('0000:00:02.0', '8086:0a16:0300'), d('0000:00:03.0', '8086:0a0c:0403'),
      d('0000:00:14.0', '8086:9c31:0c03'), d('0000:00:16.0', '8086:9c3a:0780'), d('0000:00:1b.0', '8086:9c20:0403'),
      d('0000:00:1c.0', '8086:9c10:0604'), d('0000:00:1c.2', '8086:9c14:0604'), d('0000:00:1d.0', '8086:9c26:0c03'),
      d('0000:00:1f.0', '8086:9c43:0601'), d('0000:00:1f.2', '8086:9c03:0106'), d('0000:00:1f.3', '8086:9c22:0c05'),
      d('0000:02:00.0', '8086:08b1:0280', { parent: '0000:00:1c.2' }),
      d('0000:06:00.0', '8086:10d3:0200', { parent: '0000:00:1c.0' }),
      d('0000:07:00.0', '10de:11bf:0300', { parent: '0000:00:1c.0' }),
    ],
  });
  t.after(() => host.cleanup());
  const scan = (text: string) => {
    const s = createScanner({ hostRoot: host.root, filter: conf(text), hostName: 'doc' });
    try {
      return s.scan().devices.map((x) => x.shortAddress);
    } finally {
      s.close();
    }
  };
  assert.deepEqual(scan(":filter:\n  - '10de:*'\n  - '10de:11bf'\n  - '*:10d3'\n  - '8086::0c03'\n"), ['00:14.0', '00:1d.0', '06:00.0', '07:00.0']);
  assert.deepEqual(scan(":short_address:\n  - '07:00.0'\n  - '06:00.0'\n"), ['06:00.0', '07:00.0']);
  assert.deepEqual(scan(":device_name:\n  - 'Virtual Function'\n  - 'Gigabit Network'\n  - 'USB.*Host Controller'\n  - '^MegaRAID'\n"), ['06:00.0']);
  assert.deepEqual(scan(":device_name: ['Audio Controller']\n"), ['00:03.0', '00:1b.0']);
  // The documented final example: 00:1f.3 is the SMBus controller, so nothing is left.
  assert.deepEqual(scan(":filter: '*:*'\n:short_address:\n  - '00:1f.3'\n:device_name:\n  - 'Ethernet'\n  - 'Audio Controller'\n"), []);
  assert.deepEqual(scan(":filter: '0:0'\n"), []);
});

/**
 * The probe against lspci itself, on the same fake sysfs tree: `-O sysfs.path=` points
 * pciutils' linux-sysfs backend at ROOT/sys/bus/pci, `-i` at the tree's pci.ids, and
 * `-O hwdb.disable=1` keeps udev's hwdb from supplying names the file does not have.
 * Skipped where lspci is not installed (apt-get install pciutils).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { DeviceReport } from '../../common/index.js';
import { createScanner } from '../../probe/index.js';
import { buildFakeHost, FAKE_PCI_IDS, type FakeDevice, type FakeHost } from '../helpers/fake-host.js';

function lspciVersion(): string | null {
  try {
    return execFileSync('lspci', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

interface LspciRow {
  slot: string;
  className: string;
  vendorName: string;
  deviceName: string;
  revision: string | null;
  progIf: string | null;
  subsystemVendorName: string;
  subsystemName: string;
}

/** Splits `lspci -mm` lines: quoted fields plus the -rXX/-pXX options. */
function parseMachine(text: string): LspciRow[] {
  return text.trim().split('\n').map((line) => {
    const tokens = [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)];
    const quoted = tokens.filter((m) => m[1] !== undefined).map((m) => m[1]!);
    const opt = (flag: string) => tokens.find((m) => m[2]?.startsWith(flag))?.[2]!.slice(2) ?? null;
    return {
      slot: tokens[0]![2]!, className: quoted[0]!, vendorName: quoted[1]!, deviceName: quoted[2]!,
      revision: opt('-r'), progIf: opt('-p'), subsystemVendorName: quoted[3] ?? '', subsystemName: quoted[4] ?? '',
    };
  });
}

function lspci(host: FakeHost, args: string[], idsPath: string): LspciRow[] {
  const out = execFileSync('lspci', [...args, '-O', `sysfs.path=${join(host.root, 'sys/bus/pci')}`, '-O', 'hwdb.disable=1', '-i', idsPath], { encoding: 'utf8' });
  return parseMachine(out);
}

/** The scenario devices plus every naming corner: unknown vendor/device/subclass, subsystem = device, bridges. */
const DEVICES: FakeDevice[] = [
  { address: '0000:00:01.0', vendor: '8086', device: '1901', class: '060400', revision: '0d', iommuGroup: 1 },
  { address: '0000:01:00.0', vendor: '10de', device: '1b80', class: '030000', subsystemVendor: '1458', subsystemDevice: '3702', revision: 'a1', parent: '0000:00:01.0', iommuGroup: 1 },
  { address: '0000:01:00.1', vendor: '10de', device: '10f0', class: '040300', subsystemVendor: '1458', subsystemDevice: '3702', revision: 'a1', parent: '0000:00:01.0', iommuGroup: 1 },
  { address: '0000:00:02.0', vendor: '10de', device: '1b81', class: '038000', subsystemVendor: '10de', subsystemDevice: '1b81', iommuGroup: 2 },
  { address: '0000:00:03.0', vendor: 'abcd', device: '0001', class: '123400', subsystemVendor: 'abcd', subsystemDevice: '0002', iommuGroup: 3 },
  { address: '0000:00:04.0', vendor: '10de', device: 'ffff', class: '0c0330', subsystemVendor: '8086', subsystemDevice: '1234', iommuGroup: 4 },
  { address: '0000:40:01.1', vendor: '1022', device: '1483', class: '060400', subsystemVendor: '1022', subsystemDevice: '1453', iommuGroup: 5 },
  { address: '0000:41:00.0', vendor: '15b3', device: '1017', class: '020000', subsystemVendor: '15b3', subsystemDevice: '0020', parent: '0000:40:01.1', sriovTotalVfs: 4, iommuGroup: 6 },
  { address: '0000:41:00.2', vendor: '15b3', device: '1018', class: '020000', physfn: '0000:41:00.0', iommuGroup: 7 },
  { address: '0001:00:02.0', vendor: '1022', device: '1483', class: '060400', iommuGroup: 8 },
  { address: '0001:01:00.0', vendor: '144d', device: 'a808', class: '010802', subsystemVendor: '144d', subsystemDevice: 'a801', parent: '0001:00:02.0', iommuGroup: 9 },
];

async function compare(t: TestContext, withIds: boolean): Promise<void> {
  if (lspciVersion() === null) {
    t.skip('lspci is not installed');
    return;
  }
  const host = await buildFakeHost({ devices: DEVICES, pciIds: withIds ? FAKE_PCI_IDS : false });
  t.after(() => host.cleanup());
  const scanner = createScanner({ hostRoot: host.root });
  t.after(() => scanner.close());
  const ours = scanner.scan().devices;
  const idsPath = withIds ? join(host.root, 'usr/share/misc/pci.ids') : join(host.root, 'no-such-pci.ids');
  const theirs = lspci(host, ['-mm'], idsPath);
  assert.deepEqual(ours.map((d) => d.shortAddress), theirs.map((r) => r.slot), 'same devices, same order, same slot format');
  ours.forEach((d: DeviceReport, i) => {
    const r = theirs[i]!;
    assert.deepEqual(
      [d.className, d.vendorName, d.deviceName, d.subsystemName, d.revision, d.progIf],
      [r.className, r.vendorName, r.deviceName, r.subsystemName, r.revision ?? '00', r.progIf ?? d.progIf],
      d.address,
    );
  });
  // -nn: the numeric ids OpenNebula's probe parses out of `Name [id]`.
  const numeric = lspci(host, ['-mmnn'], idsPath);
  ours.forEach((d, i) => {
    const id = (s: string) => /\[([0-9a-f]{4})\]$/.exec(s)?.[1];
    assert.deepEqual([id(numeric[i]!.className), id(numeric[i]!.vendorName), id(numeric[i]!.deviceName)], [d.class, d.vendor, d.device], d.address);
  });
}

test('names, slots, revision and prog-if match lspci -mm with a pci.ids', async (t) => {
  await compare(t, true);
});

test('numeric fallbacks match lspci -mm without a usable pci.ids', async (t) => {
  await compare(t, false);
});

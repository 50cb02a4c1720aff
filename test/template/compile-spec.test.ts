/**
 * compileSpec: id/address matching, CEL selectors over `device` (numeric and
 * null semantics, strings, lists), runtime errors, and requestLabel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError, type DeviceReport } from '../../common/index.js';
import { compileSpec, parseTemplate, requestLabel } from '../../scheduler/template/index.js';
import type { VmSpec } from '../../scheduler/spec.js';

function makeDevice(over: Partial<DeviceReport> = {}): DeviceReport {
  return {
    address: '0000:01:00.0',
    shortAddress: '01:00.0',
    vendor: '10de',
    device: '11bf',
    class: '0300',
    progIf: '00',
    subsystemVendor: '10de',
    subsystemDevice: '100a',
    revision: 'a1',
    vendorName: 'NVIDIA Corporation',
    deviceName: 'GK104GL [GRID K2]',
    className: 'VGA compatible controller',
    subsystemName: 'GRID K2',
    numaNode: 1,
    iommuGroup: 12,
    groupMembers: [{ address: '0000:01:00.1', class: '0403' }],
    driver: 'vfio-pci',
    sriov: 'no',
    physfn: null,
    numVfs: null,
    totalVfs: null,
    virtfns: [],
    netInterfaces: [],
    pcieRoot: '0000:00:01.0',
    resetMethods: ['flr', 'bus'],
    groupReservedRegions: ['msi'],
    ...over,
  };
}

/** The matcher of a template's only PCI request. */
function matcher(pci: string): (d: DeviceReport) => boolean {
  return compileSpec(parseTemplate(`PCI = [ ${pci} ]`)).pci[0]!.matchesDevice;
}

function selector(cel: string): (d: DeviceReport) => boolean {
  return matcher(`SELECTOR = "${cel}"`);
}

test('compileSpec keeps the spec and adds matchesDevice to every request', () => {
  const spec = parseTemplate('NAME = vm\nPCI = [ CLASS = "0300" ]\nPCI = [ CLASS = "0200" ]\nPCI_MATCH = NUMA_NODE');
  const compiled = compileSpec(spec);
  assert.equal(compiled.name, 'vm');
  assert.deepEqual(compiled.pciMatch, ['NUMA_NODE']);
  assert.deepEqual(compiled.pci.map((r) => [r.index, r.class, typeof r.matchesDevice]), [
    [0, '0300', 'function'],
    [1, '0200', 'function'],
  ]);
  assert.equal(compiled.pci[0]!.matchesDevice(makeDevice()), true);
  assert.equal(compiled.pci[1]!.matchesDevice(makeDevice()), false);
});

test('ids: every given id must be equal; missing ids are wildcards', () => {
  const m = matcher('VENDOR = "10de", CLASS = "0300"');
  assert.equal(m(makeDevice()), true);
  assert.equal(m(makeDevice({ device: 'ffff' })), true);
  assert.equal(m(makeDevice({ vendor: '8086' })), false);
  assert.equal(m(makeDevice({ class: '0302' })), false);
  assert.equal(matcher('DEVICE = "11bf"')(makeDevice({ vendor: '1002' })), true);
  assert.equal(matcher('DEVICE = "11bf"')(makeDevice({ device: '11be' })), false);
});

test('ids compare case-insensitively in both directions', () => {
  assert.equal(matcher('VENDOR = "10DE"')(makeDevice({ vendor: '10de' })), true);
  assert.equal(matcher('VENDOR = "10de"')(makeDevice({ vendor: '10DE' })), true);
  assert.equal(matcher('VENDOR = "10de"')(makeDevice({ vendor: '10DF' })), false);
});

test('short address matches shortAddress or the full address, nothing else', () => {
  const m = matcher('SHORT_ADDRESS = "41:00.1"');
  assert.equal(m(makeDevice({ shortAddress: '41:00.1', address: '0000:41:00.1' })), true);
  assert.equal(m(makeDevice({ shortAddress: '41:00.0', address: '0000:41:00.0' })), false);
  const full = matcher('SHORT_ADDRESS = "0000:41:00.1"');
  assert.equal(full(makeDevice({ shortAddress: '41:00.1', address: '0000:41:00.1' })), true);
  assert.equal(full(makeDevice({ shortAddress: '0001:41:00.1', address: '0001:41:00.1' })), false);
  const upper = matcher('SHORT_ADDRESS = "0A:00.0"');
  assert.equal(upper(makeDevice({ shortAddress: '0a:00.0', address: '0000:0a:00.0' })), true);
});

test('selector: numaNode compares as a CEL int (== 1, > 0, in list, arithmetic)', () => {
  assert.equal(selector('device.numaNode == 1')(makeDevice({ numaNode: 1 })), true);
  assert.equal(selector('device.numaNode == 1')(makeDevice({ numaNode: 0 })), false);
  assert.equal(selector('device.numaNode > 0')(makeDevice({ numaNode: 3 })), true);
  assert.equal(selector('device.numaNode in [0, 2]')(makeDevice({ numaNode: 2 })), true);
  assert.equal(selector('device.numaNode in [0, 2]')(makeDevice({ numaNode: 1 })), false);
  assert.equal(selector('device.numaNode + 1 == 2')(makeDevice({ numaNode: 1 })), true);
  assert.equal(selector('device.iommuGroup >= 1000')(makeDevice({ iommuGroup: 4097 })), true);
});

test('selector: null fields are null, comparisons with them do not match', () => {
  assert.equal(selector('device.numaNode == null')(makeDevice({ numaNode: null })), true);
  assert.equal(selector('device.numaNode == 0')(makeDevice({ numaNode: null })), false);
  assert.equal(selector('device.numaNode != 0')(makeDevice({ numaNode: null })), true);
  assert.equal(selector('device.driver == null')(makeDevice({ driver: null })), true);
  assert.equal(selector('device.driver == null')(makeDevice()), false);
});

test('selector: runtime errors (ordering or methods on null) mean no match, never a throw', () => {
  const m = selector('device.numaNode > 0');
  assert.doesNotThrow(() => m(makeDevice({ numaNode: null })));
  assert.equal(m(makeDevice({ numaNode: null })), false);
  const s = selector("device.driver.startsWith('vfio')");
  assert.equal(s(makeDevice({ driver: null })), false);
  assert.equal(s(makeDevice({ driver: 'vfio-pci' })), true);
  // A bad device object (a field missing) is also just no match.
  const broken = { ...makeDevice() } as Partial<DeviceReport>;
  delete broken.vendorName;
  assert.equal(selector("device.vendorName == 'x'")(broken as DeviceReport), false);
  // Same compiled selector keeps working for the next device.
  assert.equal(m(makeDevice({ numaNode: 2 })), true);
});

test('selector: string comparisons on driver and names', () => {
  assert.equal(selector("device.driver == 'vfio-pci'")(makeDevice()), true);
  assert.equal(selector("device.driver == 'vfio-pci'")(makeDevice({ driver: 'nouveau' })), false);
  assert.equal(selector("device.driver != 'nouveau'")(makeDevice()), true);
  assert.equal(selector("device.deviceName.contains('GRID')")(makeDevice()), true);
  assert.equal(selector("device.deviceName.matches('^GK1[0-9]+')")(makeDevice({ deviceName: 'TU102' })), false);
});

test('selector: escaped double quotes in the template work as CEL strings', () => {
  const m = matcher('SELECTOR = "device.sriov == \\"vf\\""');
  assert.equal(m(makeDevice({ sriov: 'vf' })), true);
  assert.equal(m(makeDevice({ sriov: 'pf' })), false);
});

test('selector: lists of strings and group members', () => {
  assert.equal(selector("'flr' in device.resetMethods")(makeDevice()), true);
  assert.equal(selector("'flr' in device.resetMethods")(makeDevice({ resetMethods: ['bus'] })), false);
  assert.equal(selector("device.groupMembers.all(m, m.class == '0403')")(makeDevice()), true);
  assert.equal(selector("device.groupMembers.all(m, m.class == '0403')")(makeDevice({ groupMembers: [{ address: 'x', class: '0604' }] })), false);
  assert.equal(selector('size(device.virtfns) == 0')(makeDevice()), true);
});

test('ids and selector combine: both must hold', () => {
  const m = matcher('VENDOR = "10de", SELECTOR = "device.numaNode == 0"');
  assert.equal(m(makeDevice({ numaNode: 0 })), true);
  assert.equal(m(makeDevice({ numaNode: 1 })), false);
  assert.equal(m(makeDevice({ numaNode: 0, vendor: '8086' })), false);
});

test('each compiled request evaluates independently', () => {
  const spec = compileSpec(
    parseTemplate('PCI = [ SELECTOR = "device.numaNode == 0" ]\nPCI = [ SELECTOR = "device.numaNode == 1" ]'),
  );
  const [a, b] = spec.pci;
  const d0 = makeDevice({ numaNode: 0 });
  const d1 = makeDevice({ numaNode: 1 });
  assert.deepEqual([a!.matchesDevice(d0), a!.matchesDevice(d1), b!.matchesDevice(d0), b!.matchesDevice(d1)], [true, false, false, true]);
});

test('compileSpec rejects an invalid selector in a spec that skipped validation', () => {
  const spec: VmSpec = { name: 'x', pci: [{ index: 2, selector: 'device.', attributes: {} }], pciMatch: [], attributes: {} };
  assert.throws(
    () => compileSpec(spec),
    (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.deepEqual(e.location, { field: 'PCI[2].SELECTOR' });
      assert.match(e.message, /^PCI\[2\]\.SELECTOR: invalid CEL: /);
      return true;
    },
  );
});

test('requestLabel', () => {
  assert.equal(requestLabel({ vendor: '10de', class: '0300' }), '10de::0300');
  assert.equal(requestLabel({ vendor: '10de', device: '11bf', class: '0300' }), '10de:11bf:0300');
  assert.equal(requestLabel({ class: '0200' }), '::0200');
  assert.equal(requestLabel({ shortAddress: '01:00.0' }), 'short 01:00.0');
  assert.equal(requestLabel({ selector: 'device.numaNode == 0' }), 'selector');
  assert.equal(requestLabel({ vendor: '10de', selector: 'device.numaNode == 0' }), '10de:: + selector');
  assert.equal(requestLabel(parseTemplate('PCI = [ SHORT_ADDRESS = "41:00.1" ]').pci[0]!), 'short 41:00.1');
});

// Speed is the benchmark's to show (`npm run bench -- --scenario match`), not a timed test's.
test('an ids-only matcher called 300,000 times over three devices matches exactly the one that fits', () => {
  const m = matcher('VENDOR = "10de", CLASS = "0300"');
  const devices = [makeDevice(), makeDevice({ vendor: '8086' }), makeDevice({ class: '0200' })];
  let hits = 0;
  for (let i = 0; i < 300_000; i++) if (m(devices[i % 3]!)) hits++;
  assert.equal(hits, 100_000);
});

test('VMs of one template share their compiled requests; another request list, or a failed one, gets its own', () => {
  const text = 'PCI = [ VENDOR = "10de", SELECTOR = "device.numaNode == 1" ]\nPCI = [ CLASS = "0200" ]';
  const a = compileSpec({ ...parseTemplate(text), name: 'a' });
  const b = compileSpec({ ...parseTemplate(text), name: 'b' });
  // Shared, so the matcher's plan for the list is built once (matcher/plan.ts).
  assert.equal(a.pci, b.pci);
  assert.deepEqual([a.name, b.name], ['a', 'b']);
  assert.equal(a.pci[0]!.matchesDevice(makeDevice({ numaNode: 1 })), true);
  assert.equal(b.pci[0]!.matchesDevice(makeDevice({ numaNode: 0 })), false);
  const other = compileSpec({ ...parseTemplate(text.replace('numaNode == 1', 'numaNode == 0')), name: 'c' });
  assert.notEqual(other.pci, a.pci);
  assert.equal(other.pci[0]!.matchesDevice(makeDevice({ numaNode: 0 })), true);
  // A list that does not compile is not remembered: it fails again, every time.
  const bad: VmSpec = { name: 'x', pci: [{ index: 0, selector: 'device.', attributes: {} }], pciMatch: [], attributes: {} };
  for (let i = 0; i < 2; i++) assert.throws(() => compileSpec(bad), ValidationError);
});

test('a request list longer than 8 KiB of JSON is compiled for each VM, not kept', () => {
  const pci = Array.from({ length: 100 }, (_, index) => ({ index, vendor: '10de', selector: 'device.numaNode == 1 && device.class == "0300"', attributes: {} }));
  assert.ok(JSON.stringify(pci).length > 8192);
  const a = compileSpec({ name: 'a', pci, pciMatch: [], attributes: {} } as VmSpec);
  const b = compileSpec({ name: 'b', pci, pciMatch: [], attributes: {} } as VmSpec);
  assert.notEqual(a.pci, b.pci);
  assert.equal(a.pci.length, 100);
  assert.equal(b.pci[99]!.matchesDevice(makeDevice({ numaNode: 1 })), true);
  assert.equal(b.pci[99]!.matchesDevice(makeDevice({ numaNode: 0 })), false);
});

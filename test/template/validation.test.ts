/**
 * The validation shared by templates and JSON bodies: each rule, with the
 * exact message and location in both syntaxes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError, type InputLocation } from '../../common/index.js';
import { parseJsonSpec, parseTemplate } from '../../scheduler/template/index.js';

function assertInvalid(parse: () => unknown, message: string, location?: InputLocation): ValidationError {
  let caught: ValidationError | undefined;
  assert.throws(parse, (e: unknown) => {
    assert.ok(e instanceof ValidationError, `expected ValidationError, got ${String(e)}`);
    assert.equal(e.message, message);
    if (location) assert.deepEqual(e.location, location);
    caught = e;
    return true;
  });
  return caught!;
}

test('VENDOR and DEVICE must be exactly 4 hex digits', () => {
  assertInvalid(() => parseTemplate('PCI = [ VENDOR = "10de0" ]'), 'line 1, column 18: PCI[0].VENDOR: must be 4 hex digits (e.g. "10de"), got "10de0"', {
    line: 1,
    column: 18,
    field: 'PCI[0].VENDOR',
  });
  assertInvalid(
    () => parseTemplate('PCI = [ CLASS = "0300" ]\nPCI = [\n  DEVICE = 11bg ]'),
    'line 3, column 12: PCI[1].DEVICE: must be 4 hex digits (e.g. "11bf"), got "11bg"',
  );
  assertInvalid(() => parseJsonSpec({ pci: [{ class: '0300' }, { vendor: '0x10' }] }), 'pci[1].vendor: must be 4 hex digits (e.g. "10de"), got "0x10"', {
    field: 'pci[1].vendor',
  });
});

test('CLASS is class and subclass: 4 hex digits, not 6', () => {
  assertInvalid(
    () => parseTemplate('PCI = [ CLASS = "030000" ]'),
    'line 1, column 17: PCI[0].CLASS: must be 4 hex digits (e.g. "0300", class and subclass), got "030000"',
  );
});

test('ids are normalised to lower case', () => {
  const [req] = parseTemplate('PCI = [ VENDOR = "10DE", DEVICE = "1DB4", CLASS = "030A" ]').pci;
  assert.deepEqual([req!.vendor, req!.device, req!.class], ['10de', '1db4', '030a']);
});

test('SHORT_ADDRESS formats: BB:DD.F and DDDD:BB:DD.F, lower-cased', () => {
  assert.equal(parseTemplate('PCI = [ SHORT_ADDRESS = "0A:1F.7" ]').pci[0]!.shortAddress, '0a:1f.7');
  assert.equal(parseTemplate('PCI = [ SHORT_ADDRESS = "0001:41:00.1" ]').pci[0]!.shortAddress, '0001:41:00.1');
  // VMD domains print with 5 digits.
  assert.equal(parseTemplate('PCI = [ SHORT_ADDRESS = "10000:e1:00.0" ]').pci[0]!.shortAddress, '10000:e1:00.0');
});

test('SHORT_ADDRESS: malformed, device out of range, function out of range', () => {
  assertInvalid(
    () => parseTemplate('PCI = [ SHORT_ADDRESS = "1:0.0" ]'),
    'line 1, column 25: PCI[0].SHORT_ADDRESS: must be a PCI address "BB:DD.F" or "DDDD:BB:DD.F" in hex (e.g. "01:00.0"), got "1:0.0"',
  );
  assertInvalid(
    () => parseTemplate('PCI = [ SHORT_ADDRESS = "01:20.0" ]'),
    'line 1, column 25: PCI[0].SHORT_ADDRESS: device number 20 is out of range (00-1f) in "01:20.0"',
  );
  assertInvalid(
    () => parseJsonSpec({ pci: [{ shortAddress: '01:00.8' }] }),
    'pci[0].shortAddress: function 8 is out of range (0-7) in "01:00.8"',
    { field: 'pci[0].shortAddress' },
  );
});

test('SHORT_ADDRESS cannot be combined with VENDOR, DEVICE or CLASS', () => {
  assertInvalid(
    () => parseTemplate('PCI = [ VENDOR = "10de", CLASS = "0300",\n  SHORT_ADDRESS = "01:00.0" ]'),
    'line 2, column 19: PCI[0].SHORT_ADDRESS: SHORT_ADDRESS cannot be combined with VENDOR, CLASS: give the address alone, or the ids',
  );
  assertInvalid(
    () => parseJsonSpec({ pci: [{ shortAddress: '01:00.0', device: '11bf' }] }),
    'pci[0].shortAddress: shortAddress cannot be combined with device: give the address alone, or the ids',
  );
});

test('a request needs an address, an id or a selector', () => {
  assertInvalid(
    () => parseTemplate('NAME = vm\nPCI = [ TYPE = "NIC", NETWORK = "lan" ]'),
    'line 2, column 7: PCI[0]: needs SHORT_ADDRESS, or at least one of VENDOR, DEVICE and CLASS, or a SELECTOR',
    { line: 2, column: 7, field: 'PCI[0]' },
  );
  assertInvalid(
    () => parseJsonSpec({ pci: [{ vendor: '10de' }, {}] }),
    'pci[1]: needs shortAddress, or at least one of vendor, device and class, or a selector',
    { field: 'pci[1]' },
  );
});

test('empty values count as not given (OpenNebula forms emit them)', () => {
  const [req] = parseTemplate('PCI = [ VENDOR = "", CLASS = "0300", SHORT_ADDRESS = "" ]').pci;
  assert.equal(req!.vendor, undefined);
  assert.equal(req!.shortAddress, undefined);
  assert.equal(req!.class, '0300');
  assert.deepEqual(req!.attributes, { VENDOR: '', CLASS: '0300', SHORT_ADDRESS: '' });
  assertInvalid(() => parseTemplate('PCI = [ VENDOR = "" ]'), 'line 1, column 7: PCI[0]: needs SHORT_ADDRESS, or at least one of VENDOR, DEVICE and CLASS, or a SELECTOR');
});

test('a selector alone is a valid request, and may narrow ids or an address', () => {
  const spec = parseTemplate(
    [
      `PCI = [ SELECTOR = "device.vendor == '10de' && device.numaNode == 0" ]`,
      `PCI = [ CLASS = "0200", SELECTOR = "device.sriov == 'vf'" ]`,
      `PCI = [ SHORT_ADDRESS = "01:00.0", SELECTOR = "device.driver == 'vfio-pci'" ]`,
    ].join('\n'),
  );
  assert.equal(spec.pci[0]!.selector, "device.vendor == '10de' && device.numaNode == 0");
  assert.equal(spec.pci[1]!.class, '0200');
  assert.equal(spec.pci[2]!.shortAddress, '01:00.0');
});

test('invalid CEL: syntax error, with the column inside the template', () => {
  const err = assertInvalid(
    () => parseTemplate('PCI = [ SELECTOR = "device.vendor == " ]'),
    'line 1, column 38: PCI[0].SELECTOR: invalid CEL: Unexpected token: EOF',
    { line: 1, column: 38, field: 'PCI[0].SELECTOR' },
  );
  assert.equal((err.cause as Error).name, 'ParseError');
});

test('invalid CEL: only `device` may be referenced, and only its fields', () => {
  assertInvalid(
    () => parseTemplate('PCI = [ SELECTOR = "host.name == \'a\'" ]'),
    'line 1, column 21: PCI[0].SELECTOR: invalid CEL: Unknown variable: host',
  );
  assertInvalid(
    () => parseTemplate('PCI = [ SELECTOR = "device.numa_node == 1" ]'),
    'line 1, column 28: PCI[0].SELECTOR: invalid CEL: No such key: numa_node',
  );
});

test('invalid CEL: type errors and non-boolean results', () => {
  assertInvalid(
    () => parseJsonSpec({ pci: [{ selector: 'device.vendor == 1' }] }),
    "pci[0].selector: invalid CEL: no such overload: string == int",
    { field: 'pci[0].selector' },
  );
  assertInvalid(
    () => parseTemplate('PCI = [ SELECTOR = "device.vendor" ]'),
    'line 1, column 21: PCI[0].SELECTOR: invalid CEL: selector must be a boolean expression, got string',
  );
});

test('a selector with escapes reports the value position, not a guessed column', () => {
  assertInvalid(
    () => parseTemplate('PCI = [ SELECTOR = "device.driver == \\"x\\" &&" ]'),
    'line 1, column 20: PCI[0].SELECTOR: invalid CEL: Unexpected token: EOF',
  );
});

test('TYPE must be NIC when given, case-insensitive; NIC attributes are kept', () => {
  const [req] = parseTemplate(
    'PCI = [ TYPE = "nic", CLASS = "0200", NETWORK = "passthrough", NETWORK_UNAME = "oneadmin", MAC = "02:00:00:00:00:01", IP = "10.0.0.5" ]',
  ).pci;
  assert.equal(req!.type, 'NIC');
  assert.deepEqual(req!.attributes, {
    TYPE: 'nic',
    CLASS: '0200',
    NETWORK: 'passthrough',
    NETWORK_UNAME: 'oneadmin',
    MAC: '02:00:00:00:00:01',
    IP: '10.0.0.5',
  });
  assertInvalid(() => parseTemplate('PCI = [ TYPE = "GPU", CLASS = "0300" ]'), 'line 1, column 16: PCI[0].TYPE: must be "NIC" when given, got "GPU"');
});

test('unknown PCI attributes are kept', () => {
  const [req] = parseTemplate('PCI = [ CLASS = "0300", PROFILE = "nvidia-63", FOO = bar ]').pci;
  assert.deepEqual(req!.attributes, { CLASS: '0300', PROFILE: 'nvidia-63', FOO: 'bar' });
});

test('PCI_MATCH: one value, a comma list, case-insensitive, deduplicated', () => {
  assert.deepEqual(parseTemplate('PCI_MATCH = "NUMA_NODE"').pciMatch, ['NUMA_NODE']);
  assert.deepEqual(parseTemplate('PCI_MATCH = "pcie_root, NUMA_NODE,PCIE_ROOT"').pciMatch, ['PCIE_ROOT', 'NUMA_NODE']);
  assert.deepEqual(parseTemplate('PCI_MATCH = ""').pciMatch, []);
  assert.equal(parseTemplate('PCI_MATCH = "pcie_root, NUMA_NODE"').attributes.PCI_MATCH, 'pcie_root, NUMA_NODE');
});

test('PCI_MATCH: only NUMA_NODE and PCIE_ROOT', () => {
  assertInvalid(
    () => parseTemplate('NAME = x\nPCI_MATCH = "NUMA_NODE,SOCKET"'),
    'line 2, column 13: PCI_MATCH: unknown value "SOCKET": use NUMA_NODE and/or PCIE_ROOT',
    { line: 2, column: 13, field: 'PCI_MATCH' },
  );
  assertInvalid(() => parseJsonSpec({ pciMatch: ['NUMA'] }), 'pciMatch: unknown value "NUMA": use NUMA_NODE and/or PCIE_ROOT', {
    field: 'pciMatch',
  });
});

test('SCHED_POLICY: pack or spread, case-insensitive', () => {
  assert.equal(parseTemplate('SCHED_POLICY = "PACK"').policy, 'pack');
  assert.equal(parseTemplate('sched_policy = spread').policy, 'spread');
  assertInvalid(() => parseTemplate('SCHED_POLICY = "striping"'), 'line 1, column 16: SCHED_POLICY: must be "pack" or "spread", got "striping"');
  assertInvalid(() => parseJsonSpec({ schedPolicy: 'fill' }), 'schedPolicy: must be "pack" or "spread", got "fill"', { field: 'schedPolicy' });
});

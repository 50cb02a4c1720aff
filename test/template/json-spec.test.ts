/**
 * JSON bodies: equivalence with the template form, key spellings, shape
 * errors with JSON paths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError, type InputLocation } from '../../common/index.js';
import { parseJsonSpec, parseTemplate } from '../../scheduler/template/index.js';

function assertInvalid(body: unknown, message: string, location?: InputLocation): void {
  assert.throws(
    () => parseJsonSpec(body),
    (e: unknown) => {
      assert.ok(e instanceof ValidationError, `expected ValidationError, got ${String(e)}`);
      assert.equal(e.message, message);
      if (location) assert.deepEqual(e.location, location);
      return true;
    },
  );
}

test('a JSON body and the equivalent template give the same VmSpec', () => {
  const template = [
    'NAME = "gpu-vm"',
    'MEMORY = 4096',
    'PCI = [ VENDOR = "10DE", CLASS = "0300", SELECTOR = "device.numaNode == 1" ]',
    'PCI = [ SHORT_ADDRESS = "41:00.1" ]',
    'PCI = [ TYPE = "NIC", CLASS = "0200", NETWORK = "passthrough", NETWORK_UNAME = "oneadmin" ]',
    'NIC = [ NETWORK = "lan", MODEL = "virtio" ]',
    'NIC = [ NETWORK = "wan" ]',
    'CONTEXT = [ SSH_PUBLIC_KEY = "ssh-ed25519 AAAA", NETWORK = "YES" ]',
    'PCI_MATCH = "NUMA_NODE,PCIE_ROOT"',
    'SCHED_POLICY = "spread"',
  ].join('\n');
  const body = {
    name: 'gpu-vm',
    memory: 4096,
    pci: [
      { vendor: '10DE', class: '0300', selector: 'device.numaNode == 1' },
      { shortAddress: '41:00.1' },
      { type: 'NIC', class: '0200', network: 'passthrough', networkUname: 'oneadmin' },
    ],
    nic: [{ network: 'lan', model: 'virtio' }, { network: 'wan' }],
    context: { sshPublicKey: 'ssh-ed25519 AAAA', network: 'YES' },
    pciMatch: ['NUMA_NODE', 'PCIE_ROOT'],
    schedPolicy: 'spread',
  };
  const fromTemplate = parseTemplate(template);
  const fromJson = parseJsonSpec(body);
  assert.deepEqual(fromJson, fromTemplate);
  // And the shared result is what both should be, not merely equal to each other.
  assert.equal(fromJson.pci.length, 3);
  assert.deepEqual(fromJson.pciMatch, ['NUMA_NODE', 'PCIE_ROOT']);
  assert.equal(fromJson.policy, 'spread');
  assert.equal(fromJson.pci[2]!.type, 'NIC');
  assert.deepEqual(fromJson.attributes.CONTEXT, { SSH_PUBLIC_KEY: 'ssh-ed25519 AAAA', NETWORK: 'YES' });
  assert.equal(fromJson.attributes.MEMORY, '4096');
});

test('pciMatch may be a string, as in the template', () => {
  assert.deepEqual(parseJsonSpec({ pciMatch: 'PCIE_ROOT' }).pciMatch, ['PCIE_ROOT']);
  assert.deepEqual(parseJsonSpec({ pciMatch: 'NUMA_NODE, PCIE_ROOT' }), parseTemplate('PCI_MATCH = "NUMA_NODE, PCIE_ROOT"'));
});

test('an empty body is a VM without PCI devices and without a name', () => {
  assert.deepEqual(parseJsonSpec({}), { name: '', pci: [], pciMatch: [], attributes: {} });
});

test('every spelling of a key means the same attribute', () => {
  const a = parseJsonSpec({ pci: [{ shortAddress: '01:00.0' }] });
  const b = parseJsonSpec({ PCI: [{ SHORT_ADDRESS: '01:00.0' }] });
  const c = parseJsonSpec({ pci: [{ short_address: '01:00.0' }] });
  assert.equal(a.pci[0]!.shortAddress, '01:00.0');
  assert.deepEqual(b, a);
  assert.deepEqual(c, a);
});

test('two spellings of one key are refused', () => {
  assertInvalid({ pci: [{ shortAddress: '01:00.0', SHORT_ADDRESS: '02:00.0' }] }, 'pci[0].SHORT_ADDRESS: "shortAddress" and "SHORT_ADDRESS" name the same attribute', {
    field: 'pci[0].SHORT_ADDRESS',
  });
});

test('null means not given', () => {
  const spec = parseJsonSpec({ name: null, schedPolicy: null, pci: [{ vendor: '10de', device: null }], extra: null });
  assert.deepEqual(spec, { name: '', pci: [{ index: 0, vendor: '10de', attributes: { VENDOR: '10de' } }], pciMatch: [], attributes: { PCI: { VENDOR: '10de' } } });
});

test('numbers and booleans of unknown attributes become strings', () => {
  const spec = parseJsonSpec({ vcpu: 4, pci: [{ class: '0300', primary: true }] });
  assert.equal(spec.attributes.VCPU, '4');
  assert.deepEqual(spec.pci[0]!.attributes, { CLASS: '0300', PRIMARY: 'true' });
});

test('the body must be an object', () => {
  assertInvalid([], 'Invalid input: expected object, received array');
  assertInvalid('NAME = x', 'Invalid input: expected object, received string');
});

test('shape errors name the JSON path as written', () => {
  assertInvalid({ pci: [{ class: '0300' }, { Vendor: 0x10de }] }, 'pci[1].Vendor: Invalid input: expected string, received number', {
    field: 'pci[1].Vendor',
  });
  assertInvalid({ pci: { vendor: '10de' } }, 'pci: Invalid input: expected array, received object', { field: 'pci' });
  assertInvalid({ name: 7 }, 'name: Invalid input: expected string, received number');
  assertInvalid({ pciMatch: [1] }, 'pciMatch: expected a string or a list of strings');
  assertInvalid({ pci: [{ class: '0300', nested: { a: 1 } }] }, 'pci[0].nested: expected a string, number or boolean');
  assertInvalid({ context: { deep: { er: 1 } } }, 'context: expected a string, number, boolean, object of those, or a list of them');
});

test('keys must be usable as template attribute names', () => {
  assertInvalid({ 'my key': 1 }, 'my key: invalid attribute name "my key": use letters, digits and "_", not starting with a digit', {
    field: 'my key',
  });
  assertInvalid({ pci: [{ '2nd': 'x' }] }, 'pci[0].2nd: invalid attribute name "2nd": use letters, digits and "_", not starting with a digit');
});

test('keys are spelled the same past the table of keys already converted', () => {
  // The table keeps 4,096 spellings: these 5,000 keys fill it and go on past it.
  for (let i = 0; i < 5000; i++) {
    const spec = parseJsonSpec({ [`key${i}Name`]: 'x', pci: [{ class: '0300', [`opt${i}-flag`]: i }] });
    assert.equal(spec.attributes[`KEY${i}_NAME`], 'x');
    assert.deepEqual(spec.pci[0]!.attributes, { CLASS: '0300', [`OPT${i}_FLAG`]: String(i) });
  }
});

test('a long value is echoed cut short, with its length', () => {
  const device = 'a'.repeat(100_000);
  assertInvalid({ pci: [{ vendor: '10de', device }] }, `pci[0].device: must be 4 hex digits (e.g. "11bf"), got "${'a'.repeat(40)}…" (100000 characters)`, {
    field: 'pci[0].device',
  });
  // Up to 40 characters a value is echoed whole.
  assertInvalid({ schedPolicy: 'b'.repeat(40) }, `schedPolicy: must be "pack" or "spread", got "${'b'.repeat(40)}"`);
});

test('lists and objects nested deeper than any body are refused by path, however deep', () => {
  const depth = 200_000;
  const deep = JSON.parse(`{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`) as unknown;
  assertInvalid(deep, 'a: expected a string, number, boolean, object of those, or a list of them', { field: 'a' });
  const objects = JSON.parse(`{"pci":[{"class":"0300","opts":${'{"b":'.repeat(depth)}1${'}'.repeat(depth)}}]}`) as unknown;
  assertInvalid(objects, 'pci[0].opts: expected a string, number or boolean', { field: 'pci[0].opts' });
});

test('at most 256 PCI requests in a body too', () => {
  assertInvalid({ pci: Array.from({ length: 300 }, () => ({ class: '0300' })) }, 'pci[256]: a VM may ask for at most 256 PCI devices', { field: 'pci[256]' });
});

test('name: no control characters, at most 128 characters, named as written', () => {
  assertInvalid({ name: 'x\ty' }, 'name: must not contain control characters (line breaks, tabs, escapes)', { field: 'name' });
  assertInvalid({ Name: 'n'.repeat(200) }, 'Name: must be at most 128 characters, got 200', { field: 'Name' });
});

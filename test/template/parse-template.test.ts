/**
 * Template syntax: every feature of the OpenNebula format and every syntax
 * error, with the exact message and position.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError, type InputLocation } from '../../common/index.js';
import { parseTemplate } from '../../scheduler/template/index.js';

function assertInvalid(text: string, message: string, location?: InputLocation): void {
  assert.throws(
    () => parseTemplate(text),
    (e: unknown) => {
      assert.ok(e instanceof ValidationError, `expected ValidationError, got ${String(e)}`);
      assert.equal(e.message, message);
      if (location) assert.deepEqual(e.location, location);
      return true;
    },
  );
}

test('NAME, quoted and unquoted values, keys normalised to upper case', () => {
  const spec = parseTemplate('NAME = "gpu-vm"\nmemory = 1024\nCpu=0.5\n');
  assert.equal(spec.name, 'gpu-vm');
  assert.deepEqual(spec.attributes, { NAME: 'gpu-vm', MEMORY: '1024', CPU: '0.5' });
  assert.deepEqual(spec.pci, []);
  assert.deepEqual(spec.pciMatch, []);
  assert.equal(spec.policy, undefined);
});

test('a missing NAME gives an empty name for the caller to fill in', () => {
  assert.equal(parseTemplate('MEMORY = 512').name, '');
  assert.equal(parseTemplate('').name, '');
});

test('escapes in quoted values: \\" and \\\\; other backslashes are kept', () => {
  const spec = parseTemplate(String.raw`A = "say \"hi\"" ` + '\n' + String.raw`B = "C:\path\\x"`);
  assert.equal(spec.attributes.A, 'say "hi"');
  assert.equal(spec.attributes.B, String.raw`C:\path\x`);
});

test('comments run to end of line but not inside quotes; blank lines and CRLF are fine', () => {
  const text = '# header comment\r\n\r\nNAME = "vm # not a comment" # a comment\r\n   \r\nX = y#z\r\n';
  const spec = parseTemplate(text);
  assert.equal(spec.name, 'vm # not a comment');
  assert.equal(spec.attributes.X, 'y');
});

test('quoted values may span lines, and positions after them stay right', () => {
  const text = 'CONTEXT = [ START_SCRIPT = "echo a\necho b" ]\nPCI = [ VENDOR = "zz" ]';
  assert.deepEqual(parseTemplate(text.replace('"zz"', '"10de"')).attributes.CONTEXT, { START_SCRIPT: 'echo a\necho b' });
  assertInvalid(text, 'line 3, column 18: PCI[0].VENDOR: must be 4 hex digits (e.g. "10de"), got "zz"');
});

test('a PCI vector on one line, ids normalised to lower case, attributes kept as written', () => {
  const spec = parseTemplate('PCI = [ VENDOR = "10DE", DEVICE = "11bf", CLASS = "0300" ]');
  assert.deepEqual(spec.pci, [
    {
      index: 0,
      vendor: '10de',
      device: '11bf',
      class: '0300',
      attributes: { VENDOR: '10DE', DEVICE: '11bf', CLASS: '0300' },
    },
  ]);
  assert.deepEqual(spec.attributes.PCI, { VENDOR: '10DE', DEVICE: '11bf', CLASS: '0300' });
});

test('multi-line vectors, trailing comma, comments and lower-case keys inside', () => {
  const text = [
    'pci = [',
    '  vendor = "8086",   # Intel',
    '  DEVICE = "0a0c",',
    '',
    '  CLASS  = "0403",',
    ']',
  ].join('\n');
  const [req] = parseTemplate(text).pci;
  assert.deepEqual(req, {
    index: 0,
    vendor: '8086',
    device: '0a0c',
    class: '0403',
    attributes: { VENDOR: '8086', DEVICE: '0a0c', CLASS: '0403' },
  });
});

test('the documentation example with the closing bracket after the last value', () => {
  const spec = parseTemplate('PCI = [\n  VENDOR = "8086",\n  DEVICE = "0a0c",\n  CLASS  = "0403" ]\n');
  assert.equal(spec.pci[0]!.device, '0a0c');
});

test('several PCI requests keep template order and get indexes 0, 1, 2', () => {
  const text = [
    'PCI = [ CLASS = "0300" ]',
    'NIC = [ NETWORK = "lan" ]',
    'PCI = [ SHORT_ADDRESS = "41:00.1" ]',
    'PCI = [ VENDOR = "15b3" ]',
  ].join('\n');
  const spec = parseTemplate(text);
  assert.deepEqual(
    spec.pci.map((r) => [r.index, r.class ?? r.shortAddress ?? r.vendor]),
    [[0, '0300'], [1, '41:00.1'], [2, '15b3']],
  );
  assert.deepEqual(spec.attributes.PCI, [{ CLASS: '0300' }, { SHORT_ADDRESS: '41:00.1' }, { VENDOR: '15b3' }]);
});

test('other vectors are kept; repeated keys become arrays in order', () => {
  const text = [
    'NIC = [ NETWORK = "a", MODEL = virtio ]',
    'CONTEXT = [ NETWORK = "YES", SSH_PUBLIC_KEY = "$USER[SSH_PUBLIC_KEY]" ]',
    'NIC = [ NETWORK = "b" ]',
    'TAG = one',
    'TAG = two',
    'EMPTY = [ ]',
  ].join('\n');
  const spec = parseTemplate(text);
  assert.deepEqual(spec.attributes, {
    NIC: [{ NETWORK: 'a', MODEL: 'virtio' }, { NETWORK: 'b' }],
    CONTEXT: { NETWORK: 'YES', SSH_PUBLIC_KEY: '$USER[SSH_PUBLIC_KEY]' },
    TAG: ['one', 'two'],
    EMPTY: {},
  });
});

test('unquoted values with punctuation, and an empty quoted value', () => {
  const spec = parseTemplate('DISK = [ IMAGE = ubuntu-22.04, SIZE = 10G ]\nDESCRIPTION = ""');
  assert.deepEqual(spec.attributes.DISK, { IMAGE: 'ubuntu-22.04', SIZE: '10G' });
  assert.equal(spec.attributes.DESCRIPTION, '');
});

test('file name appears in error locations when given', () => {
  assert.throws(
    () => parseTemplate('NAME = "x"\nPCI = [ CLASS = "03" ]', { file: 'vm.tmpl' }),
    (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.deepEqual(e.location, { file: 'vm.tmpl', line: 2, column: 17, field: 'PCI[0].CLASS' });
      assert.equal(e.message, 'vm.tmpl: line 2, column 17: PCI[0].CLASS: must be 4 hex digits (e.g. "0300", class and subclass), got "03"');
      return true;
    },
  );
});

test('syntax error: vector not closed before the next attribute', () => {
  assertInvalid(
    'NAME = "vm"\nPCI = [ VENDOR = "10de",\n  CLASS = "0300"\nMEMORY = 1024\n',
    'line 4, column 1: expected "," or "]" to close PCI (opened at line 2, column 7), got "MEMORY"',
    { line: 4, column: 1 },
  );
});

test('syntax error: vector not closed at end of input', () => {
  assertInvalid('PCI = [ VENDOR = "10de",\n  CLASS = "0300"', 'line 2, column 17: expected "]" to close PCI (opened at line 1, column 7)');
  assertInvalid('PCI = [', 'line 1, column 8: expected "]" to close PCI (opened at line 1, column 7)');
});

test('syntax error: unterminated string points at its opening quote', () => {
  assertInvalid('NAME = "vm\nMEMORY = 1', 'line 1, column 8: unterminated string: missing closing \'"\'');
});

test('syntax error: missing "="', () => {
  assertInvalid('NAME "vm"', 'line 1, column 6: expected "=" after NAME, got "vm"');
  assertInvalid('PCI = [ VENDOR "10de" ]', 'line 1, column 16: expected "=" after VENDOR in PCI, got "10de"');
});

test('syntax error: missing value', () => {
  assertInvalid('NAME =\nX = 1', 'line 1, column 7: expected a value or "[" after "NAME =", got end of line');
  assertInvalid('PCI = [ VENDOR = , CLASS = "0300" ]', 'line 1, column 18: expected a value after "VENDOR =" in PCI, got ","');
});

test('syntax error: two values on one line (unquoted value with a space)', () => {
  assertInvalid('NAME = my vm', 'line 1, column 11: unexpected "vm" after the value of NAME; quote values that contain spaces');
  assertInvalid('PCI = [ CLASS = "0300" ] X = 1', 'line 1, column 26: unexpected "X" after the closing "]" of PCI; quote values that contain spaces');
});

test('syntax error: attribute names', () => {
  assertInvalid('= "x"', 'line 1, column 1: expected an attribute name, got "="');
  assertInvalid('1ABC = 2', 'line 1, column 1: invalid attribute name "1ABC": use letters, digits and "_", not starting with a digit');
  assertInvalid('PCI = [ , CLASS = "0300" ]', 'line 1, column 9: expected an attribute name or "]" in PCI, got ","');
  assertInvalid(']', 'line 1, column 1: expected an attribute name, got "]"');
});

test('syntax error: nested vectors and duplicate keys inside a vector', () => {
  assertInvalid('PCI = [ A = [ B = 1 ] ]', 'line 1, column 13: expected a value after "A =" in PCI, got "["');
  assertInvalid('PCI = [ [ ]', 'line 1, column 9: unexpected "[" in PCI: vectors cannot be nested');
  assertInvalid(
    'PCI = [ VENDOR = "10de",\n VENDOR = "8086" ]',
    'line 2, column 2: VENDOR given twice in PCI (first at line 1, column 9)',
  );
});

test('NAME, PCI_MATCH and SCHED_POLICY may appear once', () => {
  assertInvalid('NAME = a\nname = b', 'line 2, column 1: NAME: NAME given twice (first at line 1, column 1)', {
    line: 2,
    column: 1,
    field: 'NAME',
  });
  assertInvalid('SCHED_POLICY = pack\nSCHED_POLICY = spread', 'line 2, column 1: SCHED_POLICY: SCHED_POLICY given twice (first at line 1, column 1)');
});

test('scalar-only and vector-only attributes', () => {
  assertInvalid('NAME = [ A = 1 ]', 'line 1, column 8: NAME: must be a single value, not a vector');
  assertInvalid('PCI = "10de"', 'line 1, column 7: PCI[0]: PCI must be a vector: PCI = [ VENDOR = "…", CLASS = "…" ]');
});

test('long values and names are echoed cut short, with their length', () => {
  const address = '0'.repeat(5000);
  assertInvalid(`PCI = [ SHORT_ADDRESS = "${address}" ]`,
    `line 1, column 25: PCI[0].SHORT_ADDRESS: must be a PCI address "BB:DD.F" or "DDDD:BB:DD.F" in hex (e.g. "01:00.0"), got "${'0'.repeat(40)}…" (5000 characters)`);
  const name = `1${'x'.repeat(59)}`;
  assertInvalid(`${name} = 1`, `line 1, column 1: invalid attribute name "${name.slice(0, 40)}…" (60 characters): use letters, digits and "_", not starting with a digit`);
  assertInvalid(`NAME = x ${'w'.repeat(50)}`, `line 1, column 10: unexpected "${'w'.repeat(40)}…" (50 characters) after the value of NAME; quote values that contain spaces`);
});

test('at most 256 PCI requests: the 257th is refused where it stands', () => {
  const lines = Array.from({ length: 257 }, () => 'PCI = [ CLASS = "0300" ]');
  assert.equal(parseTemplate(lines.slice(0, 256).join('\n')).pci.length, 256);
  assertInvalid(lines.join('\n'), 'line 257, column 1: PCI[256]: a VM may ask for at most 256 PCI devices', { line: 257, column: 1, field: 'PCI[256]' });
});

test('NAME: no control characters, at most 128 characters', () => {
  assertInvalid('NAME = "x\ny"', 'line 1, column 8: NAME: must not contain control characters (line breaks, tabs, escapes)');
  assertInvalid('NAME = "a\u001b[31mb"', 'line 1, column 8: NAME: must not contain control characters (line breaks, tabs, escapes)');
  assertInvalid(`NAME = "${'n'.repeat(129)}"`, 'line 1, column 8: NAME: must be at most 128 characters, got 129');
  assert.equal(parseTemplate(`NAME = "${'n'.repeat(128)}"`).name, 'n'.repeat(128));
  assert.equal(parseTemplate('NAME = "gpu vm <1> & ünïcode"').name, 'gpu vm <1> & ünïcode');
});

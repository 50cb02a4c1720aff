/**
 * validateNetworkInput (every rule, with the field named), the stored form,
 * and overlap detection between networks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConflictError } from '../../common/index.js';
import {
  assertNoOverlap,
  findOverlap,
  rangesOverlap,
  validateNetworkInput,
  type NetworkInput,
} from '../../network/index.js';
import { throwsField } from './expect.js';

const v = (over: Partial<NetworkInput>) => validateNetworkInput({ name: 'net1', ...over });

test('validateNetworkInput: a full definition is stored normalized', () => {
  const net = validateNetworkInput({
    name: 'pt-net.1_A',
    vlanId: 100,
    ipRange: { first: '10.0.0.0', size: 256 },
    ip6Prefix: '2001:0DB8:0000:0001::/64',
    macPrefix: '0A:Bc',
  });
  assert.deepEqual(net, {
    name: 'pt-net.1_A',
    vlanId: 100,
    ipRange: { first: '10.0.0.0', firstInt: 0x0a000000, size: 256 },
    ip6Prefix: '2001:db8:0:1::/64',
    macPrefix: '0a:bc',
  });
});

test('validateNetworkInput: omitted or null optional fields; MAC prefix defaults to 02:00', () => {
  const want = { name: 'n', vlanId: null, ipRange: null, ip6Prefix: null, macPrefix: '02:00' };
  assert.deepEqual(validateNetworkInput({ name: 'n' }), want);
  assert.deepEqual(validateNetworkInput({ name: 'n', vlanId: null, ipRange: null, ip6Prefix: null, macPrefix: null }), want);
});

test('name: 1-64 characters of A-Z a-z 0-9 . _ -', () => {
  assert.equal(v({ name: 'a' }).name, 'a');
  assert.equal(v({ name: 'x'.repeat(64) }).name, 'x'.repeat(64));
  throwsField(() => v({ name: '' }), 'name', /required/);
  throwsField(() => v({ name: 'x'.repeat(65) }), 'name', /65 characters/);
  for (const bad of ['has space', 'slash/', 'ümlaut', 'semi;colon', 'tab\t']) throwsField(() => v({ name: bad }), 'name', /may only hold/);
  throwsField(() => v({ name: 42 as unknown as string }), 'name');
});

test('a field a network does not have is refused, by name: a misspelling would drop what was meant', () => {
  throwsField(() => v({ cidr: '10.0.0.0/24' } as Partial<NetworkInput>), 'cidr', /^unknown field "cidr": a network has name, vlanId, ipRange, ip6Prefix and macPrefix$/);
  throwsField(() => v({ ipRange: { first: '10.0.0.1', size: 4, last: '10.0.0.4' } as NetworkInput['ipRange'] }), 'ipRange.last', /^unknown field "last": an IPv4 range has first and size$/);
  throwsField(() => v({ ipRange: ['10.0.0.1', 4] as unknown as NetworkInput['ipRange'] }), 'ipRange', /expected \{ first, size \}/);
  assert.throws(() => validateNetworkInput([] as unknown as NetworkInput), /expected a network object/);
});

test('vlanId: integer 1-4094', () => {
  assert.equal(v({ vlanId: 1 }).vlanId, 1);
  assert.equal(v({ vlanId: 4094 }).vlanId, 4094);
  for (const bad of [0, 4095, -1, 1.5, Number.NaN, '100' as unknown as number]) {
    throwsField(() => v({ vlanId: bad }), 'vlanId', /1 to 4094/);
  }
});

test('ipRange.first: strict dotted quad', () => {
  assert.equal(v({ ipRange: { first: '192.168.1.0', size: 1 } }).ipRange?.firstInt, 0xc0a80100);
  assert.equal(v({ ipRange: { first: '0.0.0.0', size: 1 } }).ipRange?.firstInt, 0);
  for (const bad of ['10.0.0.01', '010.0.0.1', '10.0.0', '10.0.0.0.0', '256.0.0.1', '10.0.0.-1', ' 10.0.0.1', '10.0.0.1/24', '1e1.0.0.1', '']) {
    throwsField(() => v({ ipRange: { first: bad, size: 1 } }), 'ipRange.first', /not an IPv4 address/);
  }
});

test('ipRange.size: 1..2^24 and not past 255.255.255.255', () => {
  assert.equal(v({ ipRange: { first: '10.0.0.0', size: 2 ** 24 } }).ipRange?.size, 2 ** 24);
  assert.equal(v({ ipRange: { first: '255.255.255.0', size: 256 } }).ipRange?.size, 256);
  assert.equal(v({ ipRange: { first: '255.255.255.255', size: 1 } }).ipRange?.size, 1);
  for (const bad of [0, -1, 2 ** 24 + 1, 1.5]) {
    throwsField(() => v({ ipRange: { first: '10.0.0.0', size: bad } }), 'ipRange.size', /integer from 1 to 16777216/);
  }
  throwsField(() => v({ ipRange: { first: '255.255.255.0', size: 257 } }), 'ipRange.size', /run past 255\.255\.255\.255 \(at most 256 fit\)/);
  throwsField(() => v({ ipRange: { first: '255.255.255.255', size: 2 } }), 'ipRange.size', /at most 1 fit/);
});

test('ip6Prefix: PREFIX/64, valid IPv6, host bits zero, canonical form stored', () => {
  assert.equal(v({ ip6Prefix: '2001:db8::/64' }).ip6Prefix, '2001:db8::/64');
  assert.equal(v({ ip6Prefix: '2001:db8:0:0:0:0:0:0/64' }).ip6Prefix, '2001:db8::/64');
  assert.equal(v({ ip6Prefix: 'FD00:1:2:3::/64' }).ip6Prefix, 'fd00:1:2:3::/64');
  assert.equal(v({ ip6Prefix: '2001:db8:a:b:0::/64' }).ip6Prefix, '2001:db8:a:b::/64');
  throwsField(() => v({ ip6Prefix: '2001:db8::' }), 'ip6Prefix', /expected PREFIX\/64/);
  throwsField(() => v({ ip6Prefix: '2001:db8::/64/64' }), 'ip6Prefix', /expected PREFIX\/64/);
  for (const len of ['48', '128', '064', '', ' 64']) {
    throwsField(() => v({ ip6Prefix: `2001:db8::/${len}` }), 'ip6Prefix', /must be a \/64/);
  }
  for (const bad of ['2001:db8:::/64', '2001::db8::/64', '2001:db8:0:0:0:0:0:0:0/64', 'g001:db8::/64', '2001:db8::%eth0/64', '12345::/64', '10.0.0.0/64', ':1::/64']) {
    throwsField(() => v({ ip6Prefix: bad }), 'ip6Prefix', /not an IPv6 address/);
  }
  throwsField(() => v({ ip6Prefix: '2001:db8::1/64' }), 'ip6Prefix', /host bits set: the \/64 prefix is 2001:db8::\/64/);
  throwsField(() => v({ ip6Prefix: '2001:db8:0:1:8000::/64' }), 'ip6Prefix', /host bits/);
  throwsField(() => v({ ip6Prefix: 'ff02::/64' }), 'ip6Prefix', /multicast/);
});

test('macPrefix: XX:XX, first octet unicast', () => {
  assert.equal(v({ macPrefix: '02:00' }).macPrefix, '02:00');
  assert.equal(v({ macPrefix: 'FE:ff' }).macPrefix, 'fe:ff');
  for (const bad of ['02:00:00', '0200', '2:00', '02-00', 'zz:00', '']) {
    throwsField(() => v({ macPrefix: bad }), 'macPrefix', /expected two hex octets/);
  }
  for (const multicast of ['01:00', '03:00', 'ff:ff']) throwsField(() => v({ macPrefix: multicast }), 'macPrefix', /multicast/);
});

const net = (name: string, first: string | null, size = 256, ip6Prefix?: string) =>
  validateNetworkInput({ name, ipRange: first === null ? null : { first, size }, ...(ip6Prefix ? { ip6Prefix } : {}) });

test('rangesOverlap: partial, contained, adjacent, disjoint, identical /64 (both argument orders)', () => {
  const a = net('a', '10.0.0.0', 256); // 10.0.0.0-10.0.0.255
  const cases: Array<[ReturnType<typeof net>, ReturnType<typeof net>, boolean, string]> = [
    [a, net('b', '10.0.0.128', 256), true, 'partial overlap at the top'],
    [a, net('b1', '10.0.0.255', 1), true, 'one address at the top'],
    [a, net('b2', '9.255.255.0', 257), true, 'one address at the bottom'],
    [a, net('c', '10.0.0.10', 5), true, 'contained'],
    [a, net('d', '10.0.1.0', 256), false, 'adjacent above'],
    [a, net('e', '9.255.255.0', 256), false, 'adjacent below'],
    [a, net('f', '192.168.0.0', 256), false, 'disjoint'],
    [a, net('g', null), false, 'no range'],
    [net('p', null, 1, '2001:db8::/64'), net('q', null, 1, '2001:DB8:0:0::/64'), true, 'same /64'],
    [net('p', null, 1, '2001:db8::/64'), net('r', null, 1, '2001:db8:0:1::/64'), false, 'next /64'],
    [net('p', null, 1, '2001:db8::/64'), net('s', null), false, 'no prefix'],
  ];
  for (const [x, y, want, what] of cases) {
    assert.equal(rangesOverlap(x, y), want, what);
    assert.equal(rangesOverlap(y, x), want, `${what} (reversed)`);
  }
});

test('findOverlap / assertNoOverlap name the other network', () => {
  const existing = [net('lan', '192.168.0.0', 256), net('pt', '10.0.0.0', 256), net('v6', null, 1, '2001:db8::/64')];
  assert.equal(findOverlap(net('new', '10.0.1.0', 256), existing), null);
  assert.doesNotThrow(() => assertNoOverlap(net('new', '10.0.1.0', 256), existing));
  assert.equal(findOverlap(net('new', '10.0.0.200', 100), existing)?.name, 'pt');
  assert.throws(
    () => assertNoOverlap(net('new', '10.0.0.200', 100), existing),
    (e: unknown) => e instanceof ConflictError &&
      e.message === 'network "new": IPv4 range 10.0.0.200-10.0.1.43 overlaps network "pt" (10.0.0.0-10.0.0.255)',
  );
  assert.equal(findOverlap(net('new6', null, 1, '2001:db8::/64'), existing)?.name, 'v6');
  assert.throws(
    () => assertNoOverlap(net('new6', null, 1, '2001:db8::/64'), existing),
    (e: unknown) => e instanceof ConflictError && e.message === 'network "new6": IPv6 prefix 2001:db8::/64 is already used by network "v6"',
  );
});

/**
 * Leases: ipAt/ipIndex round trips, next free index with holes and wrap,
 * exhaustion, MAC from IP, MAC counters, EUI-64 IPv6.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ip6For,
  ipAt,
  ipIndex,
  leaseAt,
  macFor,
  macForSequence,
  nextFreeIpIndex,
  nextFreeMacSequence,
  validateNetworkInput,
} from '../../network/index.js';
import { throwsField } from './expect.js';

const net = validateNetworkInput({ name: 'pt', ipRange: { first: '10.0.0.250', size: 10 }, ip6Prefix: '2001:db8::/64' });
const noRange = validateNetworkInput({ name: 'ether', macPrefix: '0a:bc' });

test('ipAt / ipIndex: round trip across an octet boundary', () => {
  const want = ['10.0.0.250', '10.0.0.251', '10.0.0.252', '10.0.0.253', '10.0.0.254', '10.0.0.255', '10.0.1.0', '10.0.1.1', '10.0.1.2', '10.0.1.3'];
  assert.deepEqual(want.map((_, i) => ipAt(net, i)), want);
  assert.deepEqual(want.map((ip) => ipIndex(net, ip)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('ipAt: the top of the IPv4 space', () => {
  const top = validateNetworkInput({ name: 'top', ipRange: { first: '255.255.255.254', size: 2 } });
  assert.equal(ipAt(top, 1), '255.255.255.255');
  assert.equal(ipIndex(top, '255.255.255.255'), 1);
});

test('ipIndex: null outside the range or without one; ValidationError for a malformed IP', () => {
  assert.equal(ipIndex(net, '10.0.0.249'), null);
  assert.equal(ipIndex(net, '10.0.1.4'), null);
  assert.equal(ipIndex(noRange, '10.0.0.250'), null);
  throwsField(() => ipIndex(net, '10.0.0.0250'), 'ip', /not an IPv4 address/);
  throwsField(() => ipIndex(net, 'fe80::1'), 'ip');
});

test('ipAt: indexes outside the range, or no range, are programming errors', () => {
  assert.throws(() => ipAt(net, 10), RangeError);
  assert.throws(() => ipAt(net, -1), RangeError);
  assert.throws(() => ipAt(net, 1.5), RangeError);
  assert.throws(() => ipAt(noRange, 0), /has no IPv4 range/);
});

test('nextFreeIpIndex: first hole from start, wrapping to 0', () => {
  const used = new Set([0, 1, 3, 4, 7]);
  assert.equal(nextFreeIpIndex(net, used), 2);
  assert.equal(nextFreeIpIndex(net, used, 3), 5);
  assert.equal(nextFreeIpIndex(net, used, 7), 8);
  assert.equal(nextFreeIpIndex(net, new Set([8, 9, 0, 1]), 8), 2, 'wraps past the end');
  assert.equal(nextFreeIpIndex(net, new Set<number>(), 10), 0, 'start at the end wraps to 0');
  assert.equal(nextFreeIpIndex(net, new Set<number>(), 23), 3, 'start past the end wraps modulo size');
});

test('nextFreeIpIndex: exhaustion and no range → null', () => {
  const all = new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(nextFreeIpIndex(net, all), null);
  assert.equal(nextFreeIpIndex(net, all, 5), null);
  all.delete(4);
  assert.equal(nextFreeIpIndex(net, all, 5), 4, 'the last hole is found after wrapping');
  assert.equal(nextFreeIpIndex(noRange, new Set<number>()), null);
  assert.throws(() => nextFreeIpIndex(net, all, -1), RangeError);
});

test('nextFreeIpIndex: a full /8-sized range is scanned quickly', () => {
  const big = validateNetworkInput({ name: 'big', ipRange: { first: '10.0.0.0', size: 2 ** 24 } });
  assert.equal(nextFreeIpIndex(big, new Set([0, 1, 2]), 0), 3);
  assert.equal(nextFreeIpIndex(big, new Set([2 ** 24 - 1]), 2 ** 24 - 1), 0);
});

test('macFor: MAC_PREFIX followed by the IPv4 octets', () => {
  const n = validateNetworkInput({ name: 'n', ipRange: { first: '10.0.0.5', size: 2 } });
  assert.equal(macFor(n, 0), '02:00:0a:00:00:05');
  assert.equal(macFor(net, 6), '02:00:0a:00:01:00');
  const custom = validateNetworkInput({ name: 'c', macPrefix: 'AA:0F', ipRange: { first: '192.168.255.254', size: 2 } });
  assert.equal(macFor(custom, 1), 'aa:0f:c0:a8:ff:ff');
  assert.throws(() => macFor(n, 2), RangeError);
  assert.throws(() => macFor(noRange, 0), RangeError);
});

test('macForSequence: prefix + 32-bit counter', () => {
  assert.equal(macForSequence('02:00', 0), '02:00:00:00:00:00');
  assert.equal(macForSequence('02:00', 1), '02:00:00:00:00:01');
  assert.equal(macForSequence(noRange.macPrefix, 0x12345678), '0a:bc:12:34:56:78');
  assert.equal(macForSequence('02:00', 0xffffffff), '02:00:ff:ff:ff:ff');
  assert.throws(() => macForSequence('02:00', 2 ** 32), RangeError);
  assert.throws(() => macForSequence('02:00', -1), RangeError);
  throwsField(() => macForSequence('03:00', 1), 'macPrefix', /multicast/);
});

test('nextFreeMacSequence: skips leased MACs, including IP-derived ones', () => {
  const used = new Set(['02:00:0a:00:00:05', '02:00:0a:00:00:06']);
  assert.deepEqual(nextFreeMacSequence('02:00', used, 0x0a000005), { n: 0x0a000007, mac: '02:00:0a:00:00:07' });
  assert.deepEqual(nextFreeMacSequence('02:00', used, 3), { n: 3, mac: '02:00:00:00:00:03' });
  assert.deepEqual(
    nextFreeMacSequence('02:00', new Set(['02:00:ff:ff:ff:ff']), 0xffffffff),
    { n: 0, mac: '02:00:00:00:00:00' },
    'wraps past 2^32-1',
  );
});

test('ip6For: modified EUI-64 in the /64 prefix, RFC 5952 text', () => {
  const p = validateNetworkInput({ name: 'v6', ip6Prefix: '2001:db8::/64' });
  assert.equal(ip6For(p, '52:54:00:12:34:56'), '2001:db8::5054:ff:fe12:3456');
  assert.equal(ip6For(p, '52-54-00-12-34-56'), '2001:db8::5054:ff:fe12:3456', 'any MAC notation');
  // U/L bit flipped the other way (02 → 00): the interface id's first group is 0 and joins the `::`.
  assert.equal(ip6For(p, '02:00:0a:00:00:05'), '2001:db8::aff:fe00:5');
  const q = validateNetworkInput({ name: 'v6b', ip6Prefix: 'fd12:3456:789a:1::/64' });
  assert.equal(ip6For(q, '00:1b:21:aa:bb:cc'), 'fd12:3456:789a:1:21b:21ff:feaa:bbcc');
  assert.equal(ip6For(noRange, '52:54:00:12:34:56'), null);
  throwsField(() => ip6For(p, '52:54:00:12:34'), 'mac');
});

test('leaseAt: IP, MAC derived from it, IPv6 derived from the MAC', () => {
  assert.deepEqual(leaseAt(net, 6), {
    index: 6,
    ip: '10.0.1.0',
    mac: '02:00:0a:00:01:00',
    ip6: '2001:db8::aff:fe00:100',
  });
});

/** normalizeIp (IPv4 strict, IPv6 canonical per RFC 5952) and normalizeMac. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeIp, normalizeIpv4, normalizeIpv6, normalizeMac, isUnicastMac } from '../../network/index.js';
import { throwsField } from './expect.js';

test('normalizeIp: IPv4 as is, IPv6 in RFC 5952 form', () => {
  const cases: Array<[string, string]> = [
    ['10.0.0.5', '10.0.0.5'],
    [' 192.168.1.1\n', '192.168.1.1'],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'], // longest run, not the first
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['::FFFF:c000:0201', '::ffff:192.0.2.1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
  ];
  for (const [input, want] of cases) assert.equal(normalizeIp(input), want, input);
});

test('normalizeIp: malformed addresses name the field', () => {
  for (const bad of ['', '10.0.0.256', '10.00.0.1', '1.2.3', '1:2:3:4:5:6:7:8:9', '1::2::3', ':::', '1:2:3:4:5:6:7:8::', '::1.2.3', 'fe80::1%eth0', 'abcde::', '::1.2.3.4:5']) {
    throwsField(() => normalizeIp(bad), 'ip', /not an IP address/);
  }
  throwsField(() => normalizeIp('nope', 'nics[0].ip'), 'nics[0].ip');
  throwsField(() => normalizeIpv4('::1'), 'ip', /not an IPv4/);
  throwsField(() => normalizeIpv6('10.0.0.1'), 'ip6', /not an IPv6/);
});

test('normalizeMac: lowercase, colons, two digits per octet', () => {
  assert.equal(normalizeMac('52:54:00:AB:cd:EF'), '52:54:00:ab:cd:ef');
  assert.equal(normalizeMac('52-54-00-ab-cd-ef'), '52:54:00:ab:cd:ef');
  assert.equal(normalizeMac('2:0:a:0:0:5'), '02:00:0a:00:00:05');
  assert.equal(normalizeMac(' 02:00:0a:00:00:05 '), '02:00:0a:00:00:05');
  for (const bad of ['52:54:00:ab:cd', '52:54:00:ab:cd:ef:01', '52:54-00:ab:cd:ef', '525400abcdef', '52:54:00:ab:cd:eg', '152:54:00:ab:cd:ef', '']) {
    throwsField(() => normalizeMac(bad), 'mac', /not a MAC address/);
  }
  throwsField(() => normalizeMac('x', 'devices[1].nic.mac'), 'devices[1].nic.mac');
});

test('isUnicastMac: the I/G bit of the first octet', () => {
  assert.equal(isUnicastMac('02:00:00:00:00:01'), true);
  assert.equal(isUnicastMac('01:00:5e:00:00:01'), false);
  assert.equal(isUnicastMac('ff:ff:ff:ff:ff:ff'), false);
});

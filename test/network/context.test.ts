/** contextVariables (names, order, skipping empty values, errors) and formatContext quoting. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { contextVariables, formatContext, type ContextNic } from '../../network/index.js';
import { throwsField } from './expect.js';

const nic = (over: Partial<ContextNic>): ContextNic => ({
  index: 0, mac: '02:00:0a:00:00:05', ip: null, ip6: null, vlanId: null, network: '', ...over,
});

test('contextVariables: OpenNebula names, per NIC in index order, empty ones skipped', () => {
  const vars = contextVariables([
    nic({ index: 1, mac: '02:00:C0:A8:00:0A' }),
    nic({ index: 0, ip: '10.0.0.5', ip6: '2001:DB8:0:0:0:aff:fe00:5', vlanId: 100, network: '10.0.0.0' }),
    nic({ index: 2, mac: '02:00:00:00:00:07', ip: '', ip6: '', network: '  ', vlanId: 7 }),
  ]);
  assert.deepEqual(vars, [
    ['ETH0_MAC', '02:00:0a:00:00:05'],
    ['ETH0_IP', '10.0.0.5'],
    ['ETH0_IP6', '2001:db8::aff:fe00:5'],
    ['ETH0_VLAN_ID', '100'],
    ['ETH0_NETWORK', '10.0.0.0'],
    ['ETH1_MAC', '02:00:c0:a8:00:0a'],
    ['ETH2_MAC', '02:00:00:00:00:07'],
    ['ETH2_VLAN_ID', '7'],
  ]);
  assert.deepEqual(contextVariables([]), []);
});

test('contextVariables: errors name nics[k].field', () => {
  throwsField(() => contextVariables([nic({ mac: 'x' })]), 'nics[0].mac');
  throwsField(() => contextVariables([nic({}), nic({ index: 1, ip: '10.0.0.256' })]), 'nics[1].ip', /not an IPv4/);
  throwsField(() => contextVariables([nic({ ip: '2001:db8::1' })]), 'nics[0].ip', /not an IPv4/);
  throwsField(() => contextVariables([nic({ ip6: '10.0.0.1' })]), 'nics[0].ip6', /not an IPv6/);
  throwsField(() => contextVariables([nic({ vlanId: 4095 })]), 'nics[0].vlanId');
  throwsField(() => contextVariables([nic({ network: 'passthrough' })]), 'nics[0].network', /address .* not its name/);
  throwsField(() => contextVariables([nic({ index: -1 })]), 'nics[0].index');
  throwsField(() => contextVariables([nic({ index: 3 }), nic({ index: 3 })]), 'nics[1].index', /also nics\[0\]/);
});

test('formatContext: one NAME=\'value\' line per variable, in order', () => {
  assert.equal(
    formatContext([['ETH0_MAC', '02:00:0a:00:00:05'], ['ETH0_IP', '10.0.0.5']]),
    `ETH0_MAC='02:00:0a:00:00:05'\nETH0_IP='10.0.0.5'\n`,
  );
  assert.equal(formatContext([]), '');
  assert.equal(formatContext([['X', `it's`]]), `X='it'\\''s'\n`);
  throwsField(() => formatContext([['ETH0_MAC', 'a'], ['1BAD', 'b']]), 'vars[1]', /not a shell variable name/);
  throwsField(() => formatContext([['A-B', 'b']]), 'vars[0]');
  throwsField(() => formatContext([['A', 'nul\0']]), 'vars[0]', /NUL/);
});

test('formatContext: /bin/sh reads every value back unchanged', () => {
  const values = [`it's`, `"double" $HOME \`id\` \\ back`, 'two\nlines', `''`, 'ends with \\', '$(touch /tmp/pwned)'];
  const vars = values.map((v, i) => [`V${i}`, v] as const);
  const script = `${formatContext(vars)}printf '%s\\0' ${vars.map(([n]) => `"$${n}"`).join(' ')}`;
  const out = execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
  assert.deepEqual(out.split('\0').slice(0, -1), values);
});

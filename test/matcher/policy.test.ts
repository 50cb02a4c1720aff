/**
 * Host choice (pack/spread, tie-break, spec override), offline hosts, reason
 * layout, caches across placements, and broken inputs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  invalidateHostIndex, PlacementCache, placeVm, PlacementInputError, requestLabel,
  type DeviceState, type HostState, type PlacementOptions, type PlacementResult,
} from '../../scheduler/matcher/index.js';
import { device, group, host, placed, unplaceable, vm } from '../helpers/matcher-builders.js';
import type { CompiledVmSpec } from '../../scheduler/spec.js';

interface Case {
  name: string;
  hosts: () => HostState[];
  spec: CompiledVmSpec;
  options: PlacementOptions;
  want: PlacementResult;
}

type Over = Partial<DeviceState>;
const gpu = (address: string, over: Over = {}) => device(address, { vendor: '10de', device: '1b80', class: '0300', ...over });
const nic = (address: string, over: Over = {}) => device(address, { vendor: '8086', device: '1572', class: '0200', ...over });
const gpus = (n: number) => Array.from({ length: n }, (_, i) => gpu(`0000:0${i + 1}:00.0`));
const nics = (n: number) => Array.from({ length: n }, (_, i) => nic(`0000:8${i + 1}:00.0`));

const GPU = { vendor: '10de', device: '1b80' };
const NIC = { vendor: '8086' };
const pack: PlacementOptions = { policy: 'pack' };
const spread: PlacementOptions = { policy: 'spread' };

// a: 1 GPU + 5 NICs (4 left after GPU+NIC); b: 3 GPUs + 1 NIC (2 left).
const mixedHosts = () => [host('a', [...gpus(1), ...nics(5)]), host('b', [...gpus(3), ...nics(1)])];
// a: a two-port NIC in one group plus one more (taking port 0 also takes
// port 1: 1 left); b: three separate NICs (2 left).
const companionHosts = () => [
  host('a', [...group(1, [nic('0000:81:00.0'), nic('0000:81:00.1')]), nic('0000:82:00.0')]),
  host('b', nics(3)),
];

test('one compiled request list under two PCI_MATCH settings and two policies: a plan each, not the first one built', () => {
  // Two GPUs on NUMA node 0 and one on node 1 on host a; host b has two on node 1.
  const hosts = [
    host('a', [gpu('0000:01:00.0', { numaNode: 0 }), gpu('0000:02:00.0', { numaNode: 1 }), gpu('0000:03:00.0', { numaNode: 0 })]),
    host('b', [gpu('0000:41:00.0', { numaNode: 1 }), gpu('0000:42:00.0', { numaNode: 1 })]),
  ];
  const loose = vm([GPU, GPU]);
  // The same list, as VMs of one template share it (template/compile-spec.ts).
  const numa = { ...loose, pciMatch: ['NUMA_NODE' as const] };
  const spreadNuma = { ...numa, policy: 'spread' as const };
  assert.equal(numa.pci, loose.pci);
  const on = (r: PlacementResult) => (r.kind === 'placed' ? r.host + ' ' + r.devices.map((d) => d.address).join(',') : r.kind);
  // Pack: b is left with 0 GPUs, a with 1; with NUMA_NODE a pairs the two on node 0.
  assert.equal(on(placeVm(loose, hosts, pack)), 'b 0000:41:00.0,0000:42:00.0');
  assert.equal(on(placeVm(numa, hosts, pack)), 'b 0000:41:00.0,0000:42:00.0');
  // Spread: a (1 left) over b (0 left), and a's pair must share a NUMA node.
  assert.equal(on(placeVm(spreadNuma, hosts, pack)), 'a 0000:01:00.0,0000:03:00.0');
  assert.equal(on(placeVm({ ...loose, policy: 'spread' }, hosts, pack)), 'a 0000:01:00.0,0000:02:00.0');
});

const cases: Case[] = [
  {
    name: 'offline host: only the reason offline, even with free devices',
    hosts: () => [host('h1', gpus(2), { online: false })],
    spec: vm([GPU]), options: pack,
    want: unplaceable(['h1', 'offline']),
  },
  {
    name: 'offline host is skipped for an online one',
    hosts: () => [host('a', gpus(1), { online: false }), host('b', gpus(4))],
    spec: vm([GPU]), options: pack,
    want: placed('b', [['0000:01:00.0', 0]]),
  },
  {
    name: 'pack: the host left with the fewest free matching devices',
    hosts: () => [host('a', gpus(4)), host('b', gpus(2)), host('c', gpus(3))],
    spec: vm([GPU]), options: pack,
    want: placed('b', [['0000:01:00.0', 0]]),
  },
  {
    name: 'spread: the host left with the most free matching devices',
    hosts: () => [host('a', gpus(3)), host('b', gpus(2)), host('c', gpus(4))],
    spec: vm([GPU]), options: spread,
    want: placed('c', [['0000:01:00.0', 0]]),
  },
  {
    name: 'pack tie: lowest host name, whatever the input order',
    hosts: () => [host('c', gpus(2)), host('a', gpus(2)), host('b', gpus(2))],
    spec: vm([GPU]), options: pack,
    want: placed('a', [['0000:01:00.0', 0]]),
  },
  {
    name: 'spread tie: lowest host name, whatever the input order',
    hosts: () => [host('c', gpus(2)), host('b', gpus(2)), host('a', gpus(1))],
    spec: vm([GPU]), options: spread,
    want: placed('b', [['0000:01:00.0', 0]]),
  },
  {
    name: 'spec policy overrides the option',
    hosts: () => [host('a', gpus(3)), host('b', gpus(2))],
    spec: vm([GPU], { policy: 'spread' }), options: pack,
    want: placed('a', [['0000:01:00.0', 0]]),
  },
  {
    name: 'pack counts devices matching any request (GPU or NIC)',
    hosts: mixedHosts,
    spec: vm([GPU, NIC]), options: pack,
    want: placed('b', [['0000:01:00.0', 0], ['0000:81:00.0', 1]]),
  },
  {
    name: 'spread counts devices matching any request (GPU or NIC)',
    hosts: mixedHosts,
    spec: vm([GPU, NIC]), options: spread,
    want: placed('a', [['0000:01:00.0', 0], ['0000:81:00.0', 1]]),
  },
  {
    name: 'pack counts a matching companion as taken',
    hosts: companionHosts,
    spec: vm([NIC]), options: pack,
    want: placed('a', [['0000:81:00.0', 0]], ['0000:81:00.1']),
  },
  {
    name: 'spread counts a matching companion as taken',
    hosts: companionHosts,
    spec: vm([NIC]), options: spread,
    want: placed('b', [['0000:81:00.0', 0]]),
  },
  {
    // a: 4 free, 2 left (the port takes its sibling); b: 3 free, 2 left: a
    // tie that a must win by name, though its pool looks bigger before placement.
    name: 'pack compares the count after placement, companions included',
    hosts: () => [
      host('b', nics(3)),
      host('a', [...group(1, [nic('0000:81:00.0'), nic('0000:81:00.1')]), nic('0000:82:00.0'), nic('0000:83:00.0')]),
    ],
    spec: vm([NIC]), options: pack,
    want: placed('a', [['0000:81:00.0', 0]], ['0000:81:00.1']),
  },
  {
    // a: 4 separate NICs, 3 left. b: 3 separate NICs plus a two-port group
    // at higher addresses: the lowest (single) NIC is taken, 4 left, though
    // taking a port of the group would have left 3.
    name: 'spread compares the count after placement, not its worst case',
    hosts: () => [
      host('a', nics(4)),
      host('b', [...nics(3), ...group(1, [nic('0000:91:00.0'), nic('0000:91:00.1')])]),
    ],
    spec: vm([NIC]), options: spread,
    want: placed('b', [['0000:81:00.0', 0]]),
  },
  {
    name: 'a VM without PCI requests goes to the lowest-named online host',
    hosts: () => [host('b', []), host('a', [], { online: false }), host('c', gpus(1))],
    spec: vm([]), options: pack,
    want: placed('b', []),
  },
  {
    name: 'no hosts at all',
    hosts: () => [],
    spec: vm([GPU]), options: pack,
    want: unplaceable([null, 'no hosts']),
  },
  {
    name: 'reasons for every host, by host name',
    hosts: () => [host('c', [gpu('0000:01:00.0', { heldBy: 1 })]), host('a', [], { online: false }), host('b', nics(1))],
    spec: vm([GPU]), options: pack,
    want: unplaceable(
      ['a', 'offline'],
      ['b', 'no free device matches PCI[0] (10de:1b80:)'],
      ['c', 'IOMMU group 356 is held by VM 1'],
    ),
  },
  {
    name: 'at most three reasons per host, duplicates dropped',
    hosts: () => [host('h1', [
      ...[1, 2, 3, 4].map((i) => gpu(`0000:0${i}:00.0`, { iommuGroup: null })),
      ...[5, 6].map((i) => gpu(`0000:0${i}:00.0`, { assignable: false, unassignableReasons: ['same'] })),
    ])],
    spec: vm([GPU]), options: pack,
    want: unplaceable(
      ['h1', '0000:01:00.0 has no IOMMU group (IOMMU off)'],
      ['h1', '0000:02:00.0 has no IOMMU group (IOMMU off)'],
      ['h1', '0000:03:00.0 has no IOMMU group (IOMMU off)'],
    ),
  },
];

for (const c of cases) {
  test(c.name, () => {
    assert.deepEqual(placeVm(c.spec, c.hosts(), c.options), c.want);
  });
}

const labels: Array<[Parameters<typeof requestLabel>[0], string]> = [
  [{ vendor: '10de', class: '0300' }, '10de::0300'],
  [{ vendor: '10de', device: '1b80', class: '0300' }, '10de:1b80:0300'],
  [{ class: '0300' }, '::0300'],
  [{ shortAddress: '01:00.0' }, 'short 01:00.0'],
  [{ vendor: '10de', selector: 'device.numaNode == 1' }, '10de:: selector'],
  [{ shortAddress: '01:00.0', selector: 'true' }, 'short 01:00.0 selector'],
];
for (const [req, want] of labels) {
  test(`requestLabel ${want}`, () => assert.equal(requestLabel(req), want));
}

test('cache: a kept PlacementCache reuses verdicts until the host is invalidated', () => {
  const cache = new PlacementCache();
  const h = host('h1', gpus(1));
  const opts: PlacementOptions = { policy: 'pack', cache };
  assert.deepEqual(placeVm(vm([GPU]), [h], opts), placed('h1', [['0000:01:00.0', 0]]));
  h.devices[0]!.heldBy = 5;
  // Not reported: the cache vouches for the host and does not read it again.
  assert.deepEqual(placeVm(vm([GPU]), [h], opts), placed('h1', [['0000:01:00.0', 0]]));
  cache.invalidate(h);
  assert.deepEqual(placeVm(vm([GPU]), [h], opts), unplaceable(['h1', 'IOMMU group 356 is held by VM 5']));
});

test('cache: invalidate picks up online changes and renames (tie-break ranks)', () => {
  const cache = new PlacementCache();
  const a = host('a', gpus(1)), b = host('b', gpus(1));
  const opts: PlacementOptions = { policy: 'pack', cache };
  assert.deepEqual(placeVm(vm([GPU]), [b, a], opts), placed('a', [['0000:01:00.0', 0]]));
  a.name = 'z';
  cache.invalidate(a);
  assert.deepEqual(placeVm(vm([GPU]), [b, a], opts), placed('b', [['0000:01:00.0', 0]]));
  b.online = false;
  cache.invalidate(b);
  assert.deepEqual(placeVm(vm([GPU]), [b, a], opts), placed('z', [['0000:01:00.0', 0]]));
});

test('cache: new hosts and a new order are picked up without invalidation', () => {
  const cache = new PlacementCache();
  const opts: PlacementOptions = { policy: 'pack', cache };
  const b = host('b', gpus(2)), c = host('c', gpus(3));
  assert.deepEqual(placeVm(vm([GPU]), [c, b], opts), placed('b', [['0000:01:00.0', 0]]));
  const a = host('a', gpus(1));
  assert.deepEqual(placeVm(vm([GPU]), [a, b, c], opts), placed('a', [['0000:01:00.0', 0]]));
  assert.deepEqual(placeVm(vm([GPU]), [c, b], { policy: 'spread', cache }), placed('c', [['0000:01:00.0', 0]]));
});

test('cache: the same hosts array is trusted; invalidate, push and clear keep it correct', () => {
  const cache = new PlacementCache();
  const opts: PlacementOptions = { policy: 'pack', cache };
  const b = host('b', gpus(1)), c = host('c', gpus(2));
  const hosts = [c, b];
  assert.deepEqual(placeVm(vm([GPU]), hosts, opts), placed('b', [['0000:01:00.0', 0]]));
  assert.deepEqual(placeVm(vm([GPU]), hosts, opts), placed('b', [['0000:01:00.0', 0]])); // trusted now
  b.devices[0]!.heldBy = 1;
  cache.invalidate(b);
  assert.deepEqual(placeVm(vm([GPU]), hosts, opts), placed('c', [['0000:01:00.0', 0]]));
  hosts.push(host('a', gpus(1))); // a new length: checked element by element again
  assert.deepEqual(placeVm(vm([GPU]), hosts, opts), placed('a', [['0000:01:00.0', 0]]));
  hosts[2] = host('a', gpus(1), { online: false }); // same array, same length: report the new object
  cache.invalidate(hosts[2]);
  assert.deepEqual(placeVm(vm([GPU]), hosts, opts), placed('c', [['0000:01:00.0', 0]]));
  hosts[1] = host('z', gpus(1));
  cache.clear(); // or forget everything
  assert.deepEqual(placeVm(vm([GPU]), hosts, opts), placed('z', [['0000:01:00.0', 0]]));
});

test('cache: more hosts than its initial capacity, the best one early', () => {
  const cache = new PlacementCache();
  const hosts = Array.from({ length: 300 }, (_, i) => host(`h${String(i).padStart(3, '0')}`, gpus(i === 10 ? 1 : 3)));
  for (let round = 0; round < 2; round++) {
    assert.deepEqual(placeVm(vm([GPU]), hosts, { policy: 'pack', cache }), placed('h010', [['0000:01:00.0', 0]]));
  }
});

test('cache: name ranks follow a cluster that shrinks and grows back', () => {
  const cache = new PlacementCache();
  const opts: PlacementOptions = { policy: 'pack', cache };
  const z = host('z', gpus(1)), m = host('m', gpus(1));
  assert.deepEqual(placeVm(vm([GPU]), [z, host('a', gpus(1)), m], opts), placed('a', [['0000:01:00.0', 0]]));
  // Two hosts: ranks recomputed for two positions only (m's is left over).
  assert.deepEqual(placeVm(vm([GPU]), [z, host('b', gpus(1))], opts), placed('b', [['0000:01:00.0', 0]]));
  // m back at its old position: z and m must be told apart by name again.
  assert.deepEqual(placeVm(vm([GPU]), [z, host('b', [], { online: false }), m], opts), placed('m', [['0000:01:00.0', 0]]));
});

test('no cache: live fields are read on every placement', () => {
  const h = host('h1', gpus(2));
  assert.deepEqual(placeVm(vm([GPU]), [h], pack), placed('h1', [['0000:01:00.0', 0]]));
  h.devices[0]!.heldBy = 5;
  assert.deepEqual(placeVm(vm([GPU]), [h], pack), placed('h1', [['0000:02:00.0', 0]]));
});

test('cache: requests with a selector are never served from another request\'s list', () => {
  const cache = new PlacementCache();
  const h = host('h1', [gpu('0000:01:00.0', { numaNode: 0 }), gpu('0000:02:00.0', { numaNode: 1 })]);
  const on = (node: number) => vm([{ ...GPU, where: (d) => d.numaNode === node }]);
  assert.deepEqual(placeVm(on(1), [h], { policy: 'pack', cache }), placed('h1', [['0000:02:00.0', 0]]));
  assert.deepEqual(placeVm(on(0), [h], { policy: 'pack', cache }), placed('h1', [['0000:01:00.0', 0]]));
});

test('index: a replaced device array is re-indexed; invalidateHostIndex forces it', () => {
  const h = host('h1', [gpu('0000:02:00.0')]);
  assert.deepEqual(placeVm(vm([GPU]), [h], pack), placed('h1', [['0000:02:00.0', 0]]));
  h.devices = [gpu('0000:01:00.0'), ...h.devices];
  assert.deepEqual(placeVm(vm([GPU]), [h], pack), placed('h1', [['0000:01:00.0', 0]]));
  h.devices[0] = gpu('0000:00:05.0'); // same array, same length: needs an explicit invalidation
  invalidateHostIndex(h);
  assert.deepEqual(placeVm(vm([GPU]), [h], pack), placed('h1', [['0000:00:05.0', 0]]));
});

const broken: Array<[string, () => unknown, RegExp]> = [
  ['unknown policy', () => placeVm(vm([GPU]), [], { policy: 'random' as 'pack' }), /policy must be pack or spread/],
  ['zero step budget', () => placeVm(vm([GPU]), [], { policy: 'pack', stepBudget: 0 }), /stepBudget must be a positive integer/],
  ['unknown PCI_MATCH attribute', () => placeVm(vm([GPU], { pciMatch: ['BUS' as 'NUMA_NODE'] }), [], pack), /unknown PCI_MATCH attribute BUS/],
  ['a host reporting one address twice', () => placeVm(vm([GPU]), [host('h1', [gpu('0000:01:00.0'), gpu('0000:01:00.0')])], pack), /h1 reports 0000:01:00.0 twice/],
  ['a throwing matchesDevice', () => placeVm(
    { ...vm([]), pci: [{ ...vm([GPU]).pci[0]!, matchesDevice: () => { throw new Error('boom'); } }] },
    [host('h1', gpus(1))], pack,
  ), /PCI\[0\] matcher failed on host h1 device 0000:01:00.0/],
];
for (const [name, run, message] of broken) {
  test(`broken input throws PlacementInputError: ${name}`, () => {
    assert.throws(run, (e: unknown) => e instanceof PlacementInputError && message.test(e.message));
  });
}

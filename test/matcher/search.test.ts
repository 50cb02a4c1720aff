/**
 * The search: completeness (the greedy trap), distinct devices, SHORT_ADDRESS,
 * PCI_MATCH, step budget. Each case is plain data and its full expected result.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { placeVm, type HostState, type PlacementOptions, type PlacementResult } from '../../scheduler/matcher/index.js';
import { device, host, placed, unplaceable, vm } from '../helpers/matcher-builders.js';
import type { CompiledVmSpec } from '../../scheduler/spec.js';

interface Case {
  name: string;
  hosts: () => HostState[];
  spec: CompiledVmSpec;
  options?: Partial<PlacementOptions>;
  want: PlacementResult;
}

const gpu = (address: string, over = {}) => device(address, { vendor: '10de', device: '1b80', class: '0300', ...over });
const amdGpu = (address: string, over = {}) => device(address, { vendor: '1002', device: '67df', class: '0300', ...over });
const nic = (address: string, over = {}) => device(address, { vendor: '15b3', device: '1017', class: '0200', ...over });

// Two requests with two candidates each, so most-constrained-first does not
// settle the order: PCI[0] first tries 01:00.0 (NUMA 0 / root A), which no
// NIC shares, and the search must come back to 81:00.0.
const backtrackHost = (attr: 'numaNode' | 'pcieRoot') => {
  const [a, b] = attr === 'numaNode' ? [0, 1] : ['rootA', 'rootB'];
  return [host('h1', [
    gpu('0000:01:00.0', { [attr]: a }),
    gpu('0000:81:00.0', { [attr]: b }),
    nic('0000:82:00.0', { [attr]: b }),
    nic('0000:83:00.0', { [attr]: b }),
  ])];
};

// NUMA_NODE can never match: GPUs on nodes 0-3, NICs on 4-7. Proving it
// takes 4 + 4×4 = 20 steps.
const disjointNumaHost = () => [host('h1', [
  ...[0, 1, 2, 3].map((n) => gpu(`0000:0${n}:00.0`, { numaNode: n })),
  ...[4, 5, 6, 7].map((n) => nic(`0000:8${n}:00.0`, { numaNode: n })),
])];

const cases: Case[] = [
  {
    name: 'greedy trap: the general request listed first must not take the only device the specific one needs',
    hosts: () => [host('h1', [gpu('0000:01:00.0'), amdGpu('0000:02:00.0')])],
    spec: vm([{ class: '0300' }, { vendor: '10de', device: '1b80' }]),
    want: placed('h1', [['0000:02:00.0', 0], ['0000:01:00.0', 1]]),
  },
  {
    name: 'greedy trap with a short address: PCI[1] names the device PCI[0] would take first',
    hosts: () => [host('h1', [gpu('0000:01:00.0'), gpu('0000:02:00.0')])],
    spec: vm([{ class: '0300' }, { shortAddress: '01:00.0' }]),
    want: placed('h1', [['0000:02:00.0', 0], ['0000:01:00.0', 1]]),
  },
  {
    name: 'SHORT_ADDRESS takes exactly that device, not the lowest one',
    hosts: () => [host('h1', [gpu('0000:01:00.0'), gpu('0000:02:00.0'), gpu('0000:03:00.0')])],
    spec: vm([{ shortAddress: '02:00.0' }]),
    want: placed('h1', [['0000:02:00.0', 0]]),
  },
  {
    name: 'SHORT_ADDRESS also accepts the full address form',
    hosts: () => [host('h1', [gpu('0000:01:00.0'), gpu('0000:02:00.0')])],
    spec: vm([{ shortAddress: '0000:02:00.0' }]),
    want: placed('h1', [['0000:02:00.0', 0]]),
  },
  {
    name: 'SHORT_ADDRESS of a held device: no fallback to another device',
    hosts: () => [host('h1', [gpu('0000:01:00.0', { heldBy: 4 }), gpu('0000:02:00.0')])],
    spec: vm([{ shortAddress: '01:00.0' }]),
    want: unplaceable(['h1', 'IOMMU group 356 is held by VM 4']),
  },
  {
    name: 'multiple requests of the same id get distinct devices, lowest addresses in request order',
    hosts: () => [host('h1', [gpu('0000:03:00.0'), gpu('0000:01:00.0'), gpu('0000:02:00.0')])],
    spec: vm([{ vendor: '10de', device: '1b80' }, { vendor: '10de', device: '1b80' }]),
    want: placed('h1', [['0000:01:00.0', 0], ['0000:02:00.0', 1]]),
  },
  {
    name: 'multiple requests of the same id, one device short',
    hosts: () => [host('h1', [gpu('0000:01:00.0'), gpu('0000:02:00.0'), gpu('0000:03:00.0', { heldBy: 9 })])],
    spec: vm([{ vendor: '10de', device: '1b80' }, { vendor: '10de', device: '1b80' }, { vendor: '10de', device: '1b80' }]),
    want: unplaceable(['h1', 'not enough free devices for PCI[0], PCI[1], PCI[2] (10de:1b80:): 3 needed, 2 free']),
  },
  {
    name: 'different requests that can only use one device: no distinct assignment',
    hosts: () => [host('h1', [gpu('0000:01:00.0'), nic('0000:02:00.0'), nic('0000:03:00.0')])],
    spec: vm([{ shortAddress: '01:00.0' }, { vendor: '10de' }, { class: '0200' }]),
    want: unplaceable(['h1', 'no assignment of distinct devices satisfies PCI[0] (short 01:00.0), PCI[1] (10de::), PCI[2] (::0200)']),
  },
  {
    name: 'PCI_MATCH NUMA_NODE satisfiable only by backtracking',
    hosts: () => backtrackHost('numaNode'),
    spec: vm([{ class: '0300' }, { class: '0200' }], { pciMatch: ['NUMA_NODE'] }),
    want: placed('h1', [['0000:81:00.0', 0], ['0000:82:00.0', 1]]),
  },
  {
    name: 'PCI_MATCH PCIE_ROOT satisfiable only by backtracking',
    hosts: () => backtrackHost('pcieRoot'),
    spec: vm([{ class: '0300' }, { class: '0200' }], { pciMatch: ['PCIE_ROOT'] }),
    want: placed('h1', [['0000:81:00.0', 0], ['0000:82:00.0', 1]]),
  },
  {
    name: 'without PCI_MATCH the same host gives the lowest addresses',
    hosts: () => backtrackHost('numaNode'),
    spec: vm([{ class: '0300' }, { class: '0200' }]),
    want: placed('h1', [['0000:01:00.0', 0], ['0000:82:00.0', 1]]),
  },
  {
    name: 'PCI_MATCH NUMA_NODE unsatisfiable',
    hosts: disjointNumaHost,
    spec: vm([{ class: '0300' }, { class: '0200' }], { pciMatch: ['NUMA_NODE'] }),
    want: unplaceable(['h1', 'no assignment with equal NUMA_NODE']),
  },
  {
    name: 'PCI_MATCH PCIE_ROOT unsatisfiable',
    hosts: () => [host('h1', [gpu('0000:01:00.0', { pcieRoot: 'a' }), nic('0000:02:00.0', { pcieRoot: 'b' })])],
    spec: vm([{ class: '0300' }, { class: '0200' }], { pciMatch: ['PCIE_ROOT'] }),
    want: unplaceable(['h1', 'no assignment with equal PCIE_ROOT']),
  },
  {
    name: 'PCI_MATCH both: each alone satisfiable, together not: both named',
    hosts: () => [host('h1', [
      gpu('0000:01:00.0', { numaNode: 0, pcieRoot: 'a' }),
      gpu('0000:02:00.0', { numaNode: 1, pcieRoot: 'b' }),
      nic('0000:03:00.0', { numaNode: 0, pcieRoot: 'b' }),
    ])],
    spec: vm([{ class: '0300' }, { class: '0200' }], { pciMatch: ['NUMA_NODE', 'PCIE_ROOT'] }),
    want: unplaceable(['h1', 'no assignment with equal NUMA_NODE and PCIE_ROOT']),
  },
  {
    name: 'PCI_MATCH both: only the attribute that fails on its own is named',
    hosts: () => [host('h1', [gpu('0000:01:00.0', { numaNode: 0, pcieRoot: 'a' }), nic('0000:02:00.0', { numaNode: 1, pcieRoot: 'a' })])],
    spec: vm([{ class: '0300' }, { class: '0200' }], { pciMatch: ['NUMA_NODE', 'PCIE_ROOT'] }),
    want: unplaceable(['h1', 'no assignment with equal NUMA_NODE']),
  },
  {
    name: 'PCI_MATCH: a null NUMA_NODE never equals anything, even for one device',
    hosts: () => [host('h1', [gpu('0000:01:00.0', { numaNode: null })])],
    spec: vm([{ class: '0300' }], { pciMatch: ['NUMA_NODE'] }),
    want: unplaceable(['h1', 'no assignment with equal NUMA_NODE']),
  },
  {
    name: 'PCI_MATCH: null NUMA_NODE devices are skipped for one that has it',
    hosts: () => [host('h1', [gpu('0000:01:00.0', { numaNode: null }), gpu('0000:02:00.0', { numaNode: 1 })])],
    spec: vm([{ class: '0300' }], { pciMatch: ['NUMA_NODE'] }),
    want: placed('h1', [['0000:02:00.0', 0]]),
  },
  {
    name: 'step budget: a hard instance with a tiny budget is exhausted',
    hosts: disjointNumaHost,
    spec: vm([{ class: '0300' }, { class: '0200' }], { pciMatch: ['NUMA_NODE'] }),
    options: { stepBudget: 10 },
    want: unplaceable(['h1', 'search budget exhausted']),
  },
  {
    name: 'step budget: exactly enough steps (20) still proves unsatisfiable',
    hosts: disjointNumaHost,
    spec: vm([{ class: '0300' }, { class: '0200' }], { pciMatch: ['NUMA_NODE'] }),
    options: { stepBudget: 20 },
    want: unplaceable(['h1', 'no assignment with equal NUMA_NODE']),
  },
  {
    name: 'step budget: a satisfiable host needing 2 steps is refused with 1',
    hosts: () => [host('h1', [gpu('0000:01:00.0'), amdGpu('0000:02:00.0')])],
    spec: vm([{ class: '0300' }, { vendor: '10de', device: '1b80' }]),
    options: { stepBudget: 1 },
    want: unplaceable(['h1', 'search budget exhausted']),
  },
  {
    name: 'most constrained request first: the greedy trap is solved in 2 steps, no backtracking',
    hosts: () => [host('h1', [gpu('0000:01:00.0'), amdGpu('0000:02:00.0')])],
    spec: vm([{ class: '0300' }, { vendor: '10de', device: '1b80' }]),
    options: { stepBudget: 2 },
    want: placed('h1', [['0000:02:00.0', 0], ['0000:01:00.0', 1]]),
  },
  {
    name: 'step budget: exhausting one host does not stop another from taking the VM',
    hosts: () => [...disjointNumaHost(), host('h2', [gpu('0000:01:00.0', { numaNode: 0 }), nic('0000:02:00.0', { numaNode: 0 })])],
    spec: vm([{ class: '0300' }, { class: '0200' }], { pciMatch: ['NUMA_NODE'] }),
    options: { stepBudget: 10 },
    want: placed('h2', [['0000:01:00.0', 0], ['0000:02:00.0', 1]]),
  },
  {
    name: 'selector narrows the ids; the label says so',
    hosts: () => [host('h1', [gpu('0000:01:00.0'), gpu('0000:02:00.0', { numaNode: 1 })])],
    spec: { ...vm([]), pci: [requestWithSelector()] },
    want: placed('h1', [['0000:02:00.0', 0]]),
  },
  {
    name: 'selector label in a reason',
    hosts: () => [host('h1', [gpu('0000:01:00.0')])],
    spec: { ...vm([]), pci: [requestWithSelector()] },
    want: unplaceable(['h1', 'no free device matches PCI[0] (10de:: selector)']),
  },
];

function requestWithSelector() {
  return vm([{ vendor: '10de', where: (d) => d.numaNode === 1 }]).pci[0]!;
}

for (const c of cases) {
  test(c.name, () => {
    assert.deepEqual(placeVm(c.spec, c.hosts(), { policy: 'pack', ...c.options }), c.want);
  });
}

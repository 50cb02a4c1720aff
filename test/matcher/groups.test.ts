/**
 * Device feasibility: IOMMU groups (companions, held, unreported, missing,
 * bridges), no IOMMU, assignability, missing devices, SR-IOV PF/VF rules.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { placeVm, type DeviceState, type HostState, type PlacementResult } from '../../scheduler/matcher/index.js';
import { device, group, host, placed, sriov, unplaceable, vm } from '../helpers/matcher-builders.js';
import type { CompiledVmSpec } from '../../scheduler/spec.js';

interface Case {
  name: string;
  hosts: () => HostState[];
  spec: CompiledVmSpec;
  want: PlacementResult;
}

type Over = Partial<DeviceState>;
const gpu = (address: string, over: Over = {}) => device(address, { vendor: '10de', device: '1b80', class: '0300', ...over });
const audio = (address: string, over: Over = {}) => device(address, { vendor: '10de', device: '10f0', class: '0403', ...over });
const bridge = (address: string, over: Over = {}) => device(address, { vendor: '8086', device: '1901', class: '0604', ...over });
const pf = (address: string, over: Over = {}) => device(address, { vendor: '8086', device: '1572', class: '0200', ...over });
const vf = (address: string, over: Over = {}) => device(address, { vendor: '8086', device: '154c', class: '0200', ...over });

/** GPU 01:00.0 with its audio function 01:00.1 in IOMMU group 1. */
const gpuWithAudio = (gpuOver: Over = {}, audioOver: Over = {}) =>
  group(1, [gpu('0000:01:00.0', gpuOver), audio('0000:01:00.1', audioOver)]);

/** PF 86:00.0 with VFs 86:02.0 and 86:02.1, each in its own group. */
const nicWithVfs = (pfOver: Over = {}, vf0Over: Over = {}) =>
  sriov(pf('0000:86:00.0', pfOver), [vf('0000:86:02.0', vf0Over), vf('0000:86:02.1')]);

const GPU = { vendor: '10de', device: '1b80' };

const cases: Case[] = [
  {
    name: 'group-atomic: the other endpoint of the group comes along as a companion',
    hosts: () => [host('h1', gpuWithAudio())],
    spec: vm([GPU]),
    want: placed('h1', [['0000:01:00.0', 0]], ['0000:01:00.1']),
  },
  {
    name: 'companions listed by address after the requested devices',
    hosts: () => [host('h1', group(1, [audio('0000:01:00.3'), gpu('0000:01:00.0'), audio('0000:01:00.1')]))],
    spec: vm([GPU]),
    want: placed('h1', [['0000:01:00.0', 0]], ['0000:01:00.1', '0000:01:00.3']),
  },
  {
    name: 'a companion that answers another request is requested, not a companion',
    hosts: () => [host('h1', [audio('0000:00:1f.3'), ...gpuWithAudio()])],
    spec: vm([GPU, { vendor: '10de', class: '0403' }]),
    // 00:1f.3 has the lower address but 01:00.1 is already taken with the GPU.
    want: placed('h1', [['0000:01:00.0', 0], ['0000:01:00.1', 1]]),
  },
  {
    name: 'group held by another VM: the device is infeasible, with the group reason only',
    hosts: () => [host('h1', gpuWithAudio({}, { heldBy: 7 }))],
    spec: vm([GPU]),
    want: unplaceable(['h1', 'IOMMU group 1 is held by VM 7']),
  },
  {
    name: 'group held on one GPU: the next free GPU is used',
    hosts: () => [host('h1', [...gpuWithAudio({}, { heldBy: 7 }), gpu('0000:02:00.0')])],
    spec: vm([GPU]),
    want: placed('h1', [['0000:02:00.0', 0]]),
  },
  {
    name: 'unreported endpoint in the group blocks the device',
    hosts: () => [host('h1', group(1, [gpu('0000:01:00.0')], [{ address: '0000:01:00.1', class: '0403' }]))],
    spec: vm([GPU]),
    want: unplaceable(['h1', 'IOMMU group 1 has unreported endpoint 0000:01:00.1']),
  },
  {
    name: 'bridge members are ignored, reported or not',
    hosts: () => [host('h1', group(1, [gpu('0000:01:00.0'), bridge('0000:00:01.0')], [{ address: '0000:00:02.0', class: '0604' }]))],
    spec: vm([GPU]),
    want: placed('h1', [['0000:01:00.0', 0]]),
  },
  {
    name: 'missing companion blocks the group',
    hosts: () => [host('h1', gpuWithAudio({}, { missing: true }))],
    spec: vm([GPU]),
    want: unplaceable(['h1', 'IOMMU group 1 has missing endpoint 0000:01:00.1']),
  },
  {
    name: 'companion not assignable blocks the group',
    hosts: () => [host('h1', gpuWithAudio({}, { assignable: false, unassignableReasons: ['bound to snd_hda_intel'] }))],
    spec: vm([GPU]),
    want: unplaceable(['h1', 'IOMMU group 1 endpoint 0000:01:00.1 is not assignable: bound to snd_hda_intel']),
  },
  {
    name: 'no IOMMU group',
    hosts: () => [host('h1', [gpu('0000:01:00.0', { iommuGroup: null })])],
    spec: vm([GPU]),
    want: unplaceable(['h1', '0000:01:00.0 has no IOMMU group (IOMMU off)']),
  },
  {
    name: 'not assignable, reasons joined',
    hosts: () => [host('h1', [gpu('0000:01:00.0', { assignable: false, unassignableReasons: ['driver nvidia in use', 'no reset method'] })])],
    spec: vm([GPU]),
    want: unplaceable(['h1', '0000:01:00.0 is not assignable: driver nvidia in use; no reset method']),
  },
  {
    name: 'missing device is not a candidate',
    hosts: () => [host('h1', [gpu('0000:01:00.0', { missing: true })])],
    spec: vm([GPU]),
    want: unplaceable(['h1', 'no free device matches PCI[0] (10de:1b80:)']),
  },
  {
    name: 'missing device skipped for a present one',
    hosts: () => [host('h1', [gpu('0000:01:00.0', { missing: true }), gpu('0000:02:00.0')])],
    spec: vm([GPU]),
    want: placed('h1', [['0000:02:00.0', 0]]),
  },
  {
    name: 'held devices name the VM holding their IOMMU group',
    hosts: () => [host('h1', [...gpuWithAudio({}, { heldBy: 7 }), gpu('0000:02:00.0', { heldBy: 8 })])],
    spec: vm([GPU]),
    want: unplaceable(['h1', 'IOMMU group 1 is held by VM 7'], ['h1', 'IOMMU group 612 is held by VM 8']),
  },
  {
    name: 'PF with a VF in use is infeasible',
    hosts: () => [host('h1', nicWithVfs({}, { heldBy: 3 }))],
    spec: vm([{ vendor: '8086', device: '1572' }]),
    want: unplaceable(['h1', 'PF 0000:86:00.0 has VFs in use']),
  },
  {
    name: 'PF with VFs enabled but none in use is feasible',
    hosts: () => [host('h1', nicWithVfs())],
    spec: vm([{ vendor: '8086', device: '1572' }]),
    want: placed('h1', [['0000:86:00.0', 0]]),
  },
  {
    name: 'VFs of a held PF are infeasible',
    hosts: () => [host('h1', nicWithVfs({ heldBy: 3 }))],
    spec: vm([{ vendor: '8086', device: '154c' }]),
    want: unplaceable(
      ['h1', 'VF 0000:86:02.0: PF 0000:86:00.0 is in use'],
      ['h1', 'VF 0000:86:02.1: PF 0000:86:00.0 is in use'],
    ),
  },
  {
    name: 'VF found through physfn alone (PF lists no virtfns)',
    hosts: () => [host('h1', [pf('0000:86:00.0', { sriov: 'pf', numVfs: 1, heldBy: 3 }), vf('0000:86:02.0', { sriov: 'vf', physfn: '0000:86:00.0' })])],
    spec: vm([{ vendor: '8086', device: '154c' }]),
    want: unplaceable(['h1', 'VF 0000:86:02.0: PF 0000:86:00.0 is in use']),
  },
  {
    name: 'one VM cannot take a PF and its own VF',
    hosts: () => [host('h1', nicWithVfs())],
    spec: vm([{ vendor: '8086', device: '1572' }, { vendor: '8086', device: '154c' }]),
    want: unplaceable(['h1', 'PF 0000:86:00.0 and its VF 0000:86:02.0 cannot go to one VM']),
  },
  {
    name: 'one VM takes a PF and a VF of another PF',
    hosts: () => [host('h1', [...nicWithVfs(), ...sriov(pf('0000:87:00.0'), [vf('0000:87:02.0')])])],
    spec: vm([{ vendor: '8086', device: '1572' }, { vendor: '8086', device: '154c' }]),
    want: placed('h1', [['0000:86:00.0', 0], ['0000:87:02.0', 1]]),
  },
];

for (const c of cases) {
  test(c.name, () => {
    assert.deepEqual(placeVm(c.spec, c.hosts(), { policy: 'pack' }), c.want);
  });
}

/**
 * The PlacementCache over long sequences, as the scheduler uses it: one
 * cache and one hosts array for every placement, holders changed in place
 * and reported with `invalidate`, and hosts of one model sharing a
 * `layout` number while they hold nothing. Every placement must equal what
 * the matcher answers with no cache at all on the same state.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlacementCache, placeVm, warmBounds, type DeviceState, type HostState, type PlacementCacheOptions } from '../../scheduler/matcher/index.js';
import type { CompiledVmSpec } from '../../scheduler/spec.js';
import { device, group, host, sriov, vm } from '../helpers/matcher-builders.js';

function rng(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
}

/** A model: GPUs (some sharing a group, as before ACS override), NVMe drives, a PF with VFs. */
function model(sharedGroups: boolean): DeviceState[] {
  const gpus = [0, 1, 2, 3].map((i) => device(`0000:0${i + 1}:00.0`, { vendor: '10de', class: '0300', numaNode: i < 2 ? 0 : 1 }));
  if (sharedGroups) {
    group(70, [gpus[0]!, gpus[1]!]);
    group(71, [gpus[2]!, gpus[3]!]);
  }
  const nvme = [0, 1].map((i) => device(`0000:1${i}:00.0`, { vendor: '144d', class: '0108', numaNode: i }));
  const nic = sriov(device('0000:20:00.0', { vendor: '15b3', class: '0200', numaNode: 0 }), [0, 1, 2].map((i) => device(`0000:20:00.${i + 1}`, { vendor: '15b3', class: '0200', numaNode: 0 })));
  return [...gpus, ...nvme, ...nic];
}

const TEMPLATES: CompiledVmSpec[] = [
  vm([{ vendor: '10de' }]),
  vm([{ vendor: '10de' }, { vendor: '10de' }], { pciMatch: ['NUMA_NODE'] }),
  vm([{ vendor: '10de' }, { class: '0108' }]),
  vm([{ class: '0200' }, { class: '0200' }]),
  vm([{ vendor: '10de', where: (d) => d.numaNode === 1 }]),
  vm([{ vendor: '10de' }], { policy: 'spread' }),
];

function isPristine(h: HostState): boolean {
  return h.devices.every((d) => d.heldBy === null && !d.missing);
}

// A change log of 16 ticks on 12 hosts: readers are sometimes within it and
// sometimes past it, so both the log walk and the epoch scan run; a warm lag
// of 2 makes warmBounds walk the log between placements.
const SMALL_LOG: PlacementCacheOptions = { changeLog: 16, warmLag: 2 };
const CASES: Array<[number, boolean, PlacementCacheOptions]> = [
  [1, false, {}], [2, false, {}], [3, false, {}], [4, false, {}], [5, false, {}], [6, true, {}], [7, true, {}], [8, true, {}],
  [9, false, SMALL_LOG], [10, false, SMALL_LOG], [11, true, SMALL_LOG], [12, true, SMALL_LOG], [13, true, SMALL_LOG],
];

for (const [seed, warm, cacheOptions] of CASES) {
  const warming = warm ? ', each prefiltered ahead host by host while the cluster changes' : '';
  const small = cacheOptions.changeLog !== undefined ? ', with a 16-tick change log' : '';
  test(`cached placements equal uncached ones over a sequence with shared layouts${warming}${small} (seed ${seed})`, () => {
    const r = rng(seed);
    const layouts = new Map<HostState, number>();
    const hosts: HostState[] = [];
    for (let i = 0; i < 12; i++) {
      const shared = i % 3 === 0;
      const h = host(`h${String(i).padStart(2, '0')}`, model(shared));
      layouts.set(h, shared ? 1 : 0);
      h.layout = layouts.get(h)!;
      hosts.push(h);
    }
    const cache = new PlacementCache(cacheOptions);
    const live: Array<{ vmId: number; host: HostState; addresses: string[] }> = [];
    const setHolder = (h: HostState, addresses: string[], id: number | null) => {
      for (const d of h.devices) if (addresses.includes(d.address)) d.heldBy = id;
      h.layout = isPristine(h) ? layouts.get(h)! : null;
      cache.invalidate(h);
    };
    let placedCount = 0;
    for (let step = 0; step < 150; step++) {
      if (live.length > 0 && r() < 0.35) {
        const [gone] = live.splice(Math.floor(r() * live.length), 1);
        setHolder(gone!.host, gone!.addresses, null);
        continue;
      }
      if (r() < 0.05) {
        // A host goes offline or comes back: reported like any change.
        const h = hosts[Math.floor(r() * hosts.length)]!;
        h.online = !h.online;
        cache.invalidate(h);
      }
      const spec = TEMPLATES[Math.floor(r() * TEMPLATES.length)]!;
      if (warm) {
        // As ClusterState.warm does, one host per slice; between slices the
        // cluster moves on (a release, a host going offline or coming back).
        for (let next = 0; next < hosts.length; ) {
          next = warmBounds(spec, hosts, { policy: 'pack', cache }, next, () => true, 1);
          const roll = r();
          if (roll < 0.2 && live.length > 0) {
            const [gone] = live.splice(Math.floor(r() * live.length), 1);
            setHolder(gone!.host, gone!.addresses, null);
          } else if (roll < 0.25) {
            const h = hosts[Math.floor(r() * hosts.length)]!;
            h.online = !h.online;
            cache.invalidate(h);
          }
        }
        // What a finished warm promises: every host online and unchanged
        // since the clock it records has its verdict for this shape.
        const shape = [...cache.shapes.values()].at(-1)!;
        for (let i = 0; i < hosts.length; i++) {
          if (cache.online[i] === 1 && cache.epoch[i]! <= shape.warmed) assert.equal(shape.at[i], cache.epoch[i], `seed ${seed} step ${step}: host ${i} not prefiltered`);
        }
      }
      const cached = placeVm(spec, hosts, { policy: 'pack', cache });
      const fresh = placeVm(spec, hosts, { policy: 'pack' });
      assert.deepEqual(cached, fresh, `seed ${seed} step ${step}`);
      if (cached.kind === 'placed') {
        placedCount++;
        const h = hosts.find((x) => x.name === cached.host)!;
        const addresses = cached.devices.map((d) => d.address);
        setHolder(h, addresses, 1000 + step);
        live.push({ vmId: 1000 + step, host: h, addresses });
      }
    }
    assert.ok(placedCount > 50, `only ${placedCount} placements: the sequence tests too little`);
  });
}

test('a layout number stands for its hosts only while they hold nothing', () => {
  const cache = new PlacementCache();
  const a = host('a', model(false), { layout: 3 });
  const b = host('b', model(false), { layout: 3 });
  const two = vm([{ vendor: '10de' }, { vendor: '10de' }]);
  assert.equal(placeVm(two, [a, b], { policy: 'pack', cache }).kind, 'placed');
  // a now holds all its GPUs: its layout number must go, or b's answer would be reused for it.
  for (const d of a.devices) if (d.vendor === '10de') d.heldBy = 9;
  a.layout = null;
  cache.invalidate(a);
  const result = placeVm(two, [a, b], { policy: 'pack', cache });
  assert.equal(result.kind === 'placed' && result.host, 'b');
});

/**
 * Randomised cross-check against a brute-force oracle on small clusters:
 * placeVm places iff some online host admits an assignment (the search is
 * complete), what it returns satisfies every rule, and the host it picks is
 * the best by (score, name) among what each host gives when placed alone
 * (the bound-based pruning loses nothing). Seeded, so failures reproduce.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PCI_BRIDGE_CLASS } from '../../common/index.js';
import { PlacementCache, placeVm, type DeviceState, type HostState } from '../../scheduler/matcher/index.js';
import { device, group, host, sriov, vm, type RequestFields } from '../helpers/matcher-builders.js';
import type { CompiledVmSpec, MatchAttribute } from '../../scheduler/spec.js';

function rng(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
}

function randomHost(name: string, r: () => number): HostState {
  const n = 2 + Math.floor(r() * 5);
  const devs: DeviceState[] = [];
  for (let i = 0; i < n; i++) {
    devs.push(device(`0000:0${i}:00.0`, {
      vendor: r() < 0.5 ? 'aaaa' : 'bbbb',
      class: r() < 0.5 ? '0300' : '0200',
      numaNode: r() < 0.15 ? null : Math.floor(r() * 2),
      pcieRoot: r() < 0.1 ? null : `root${Math.floor(r() * 2)}`,
      heldBy: r() < 0.15 ? 7 : null,
      missing: r() < 0.05,
      assignable: r() < 0.05 ? false : undefined,
      iommuGroup: r() < 0.05 ? null : 100 + i,
    }));
  }
  // Some shared groups (pairs of neighbours), sometimes with an unreported member or a bridge.
  for (let i = 0; i + 1 < n; i += 2) {
    if (r() < 0.35) {
      const extra = r() < 0.2 ? [{ address: `0000:1${i}:00.0`, class: r() < 0.5 ? PCI_BRIDGE_CLASS : '0403' }] : [];
      group(50 + i, [devs[i]!, devs[i + 1]!], extra);
    }
  }
  if (n >= 3 && r() < 0.4) sriov(devs[n - 1]!, [devs[n - 2]!]);
  return host(name, devs, { online: r() > 0.1 });
}

function randomSpec(r: () => number): CompiledVmSpec {
  const k = 1 + Math.floor(r() * 3);
  const reqs: RequestFields[] = [];
  for (let i = 0; i < k; i++) {
    const x = r();
    reqs.push(x < 0.4 ? { vendor: r() < 0.5 ? 'aaaa' : 'bbbb' } : x < 0.8 ? { class: r() < 0.5 ? '0300' : '0200' } : { shortAddress: `0${Math.floor(r() * 4)}:00.0` });
  }
  const pciMatch: MatchAttribute[] = [];
  if (r() < 0.3) pciMatch.push('NUMA_NODE');
  if (r() < 0.2) pciMatch.push('PCIE_ROOT');
  return vm(reqs, { pciMatch, policy: r() < 0.5 ? 'pack' : 'spread' });
}

/** The rules, written independently and naively. */
class Oracle {
  private readonly by = new Map<string, DeviceState>();
  constructor(readonly h: HostState, readonly spec: CompiledVmSpec) {
    for (const d of h.devices) this.by.set(d.address, d);
  }

  endpoints(d: DeviceState): string[] {
    return d.groupMembers.filter((m) => m.class !== PCI_BRIDGE_CLASS && m.address !== d.address).map((m) => m.address);
  }

  relatives(d: DeviceState): DeviceState[] {
    const out = this.h.devices.filter((x) => x.physfn === d.address || d.virtfns.includes(x.address));
    const pf = d.physfn ? this.by.get(d.physfn) : undefined;
    return pf ? [...out, pf] : out;
  }

  feasible(d: DeviceState): boolean {
    if (d.missing || d.heldBy !== null || d.assignable === false || d.iommuGroup === null) return false;
    const group = [d];
    for (const a of this.endpoints(d)) {
      const c = this.by.get(a);
      if (!c || c.missing || c.heldBy !== null || c.assignable === false) return false;
      group.push(c);
    }
    return group.every((g) => this.relatives(g).every((x) => x.heldBy === null));
  }

  candidates(i: number): DeviceState[] {
    return this.h.devices.filter((d) => this.spec.pci[i]!.matchesDevice(d) && this.feasible(d));
  }

  /** Every valid assignment's set is checked by `valid`; returns whether one exists. */
  anyAssignment(): boolean {
    const lists = this.spec.pci.map((_, i) => this.candidates(i));
    const pick = (i: number, chosen: DeviceState[]): boolean =>
      i === lists.length ? this.valid(chosen) : lists[i]!.some((d) => !chosen.includes(d) && pick(i + 1, [...chosen, d]));
    return pick(0, []);
  }

  taken(picks: DeviceState[]): Set<DeviceState> {
    const set = new Set<DeviceState>();
    for (const p of picks) {
      set.add(p);
      for (const a of this.endpoints(p)) set.add(this.by.get(a)!);
    }
    return set;
  }

  valid(picks: DeviceState[]): boolean {
    const set = this.taken(picks);
    for (const d of set) if (this.relatives(d).some((x) => set.has(x))) return false;
    for (const [attr, key] of [['NUMA_NODE', 'numaNode'], ['PCIE_ROOT', 'pcieRoot']] as const) {
      if (!this.spec.pciMatch.includes(attr)) continue;
      if (picks.some((p) => p[key] === null || p[key] !== picks[0]![key])) return false;
    }
    return true;
  }

  freeAfter(picks: DeviceState[]): number {
    const pool = new Set(this.spec.pci.flatMap((_, i) => this.candidates(i)));
    const gone = new Set<DeviceState>();
    for (const d of this.taken(picks)) {
      gone.add(d);
      for (const x of this.relatives(d)) gone.add(x);
    }
    return [...pool].filter((d) => !gone.has(d)).length;
  }
}

function check(seed: number, withCache: boolean): void {
  const r = rng(seed);
  const hosts = Array.from({ length: 1 + Math.floor(r() * 4) }, (_, i) => randomHost(`h${Math.floor(r() * 9)}${i}`, r));
  const spec = randomSpec(r);
  const opts = withCache ? { policy: 'pack' as const, cache: new PlacementCache() } : { policy: 'pack' as const };
  const result = placeVm(spec, hosts, opts);
  const oracles = hosts.map((h) => new Oracle(h, spec));
  const feasible = hosts.filter((h, i) => h.online && oracles[i]!.anyAssignment());
  const where = `seed ${seed}`;
  if (result.kind === 'unplaceable') {
    assert.deepEqual(feasible.map((h) => h.name), [], `${where}: unplaceable but feasible hosts exist`);
    assert.ok(result.reasons.length > 0, `${where}: no reasons`);
    return;
  }
  const chosen = hosts.findIndex((h) => h.name === result.host);
  const o = oracles[chosen]!;
  const picks = result.devices.filter((d) => !d.companion).map((d) => hosts[chosen]!.devices.find((x) => x.address === d.address)!);
  assert.ok(picks.every((p, i) => spec.pci[result.devices[i]!.request!]!.matchesDevice(p) && o.feasible(p)), `${where}: a pick is not a feasible match`);
  assert.ok(o.valid(picks), `${where}: the assignment breaks a rule`);
  const companions = result.devices.filter((d) => d.companion).map((d) => d.address);
  const expected = [...o.taken(picks)].filter((d) => !picks.includes(d)).map((d) => d.address).sort();
  assert.deepEqual(companions, expected, `${where}: companions`);
  // The host: best (score, name) among each feasible host's own placement.
  const policy = spec.policy ?? 'pack';
  let best: { name: string; key: number } | null = null;
  for (const h of feasible) {
    const alone = placeVm(spec, [h], { policy });
    assert.equal(alone.kind, 'placed', `${where}: ${h.name} feasible for the oracle only`);
    if (alone.kind !== 'placed') continue;
    const ho = oracles[hosts.indexOf(h)]!;
    const hp = alone.devices.filter((d) => !d.companion).map((d) => h.devices.find((x) => x.address === d.address)!);
    const score = ho.freeAfter(hp);
    const key = policy === 'pack' ? score : -score;
    if (best === null || key < best.key || (key === best.key && h.name < best.name)) best = { name: h.name, key };
  }
  assert.equal(result.host, best?.name, `${where}: host choice`);
}

test('random clusters: complete, sound, best host (no cache)', () => {
  for (let seed = 1; seed <= 400; seed++) check(seed, false);
});

test('random clusters: same with a PlacementCache', () => {
  for (let seed = 1; seed <= 400; seed++) check(seed, true);
});

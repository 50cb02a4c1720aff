/** The open-loop phase's arrivals and its latency accounting, against a placer whose speed the test sets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { releasesDue } from '../../bench/cluster-gen.js';
import { openLoopPhase, type Placer } from '../../bench/open-loop.js';
import type { VmRecord, VmSpec } from '../../scheduler/index.js';

const spec = (name: string): VmSpec => ({ name, pci: [] }) as unknown as VmSpec;

/** Resolves once performance.now() reaches `at` (a timer alone may fire up to a millisecond early). */
async function until(at: number): Promise<void> {
  while (at - performance.now() >= 1) await new Promise((resolve) => setTimeout(resolve, at - performance.now() - 1));
  while (performance.now() < at) await new Promise((resolve) => setImmediate(resolve));
}

/** Answers one submission at a time, each `serviceMs` after the one before (a scheduler with no batching). */
function serialPlacer(serviceMs: number): Placer & { released: number[]; answered: number[]; submitted: number } {
  let free = 0;
  let nextId = 1;
  const placer = {
    released: [] as number[],
    /** Ids in the order their answers came (under load, not always the order sent). */
    answered: [] as number[],
    submitted: 0,
    submit(s: VmSpec): Promise<VmRecord> {
      placer.submitted++;
      const at = Math.max(free, performance.now()) + serviceMs;
      free = at;
      const vm = { id: nextId++, name: s.name, state: 'allocated' } as VmRecord;
      return until(at).then(() => {
        placer.answered.push(vm.id);
        return vm;
      });
    },
    async release(id: number): Promise<unknown> {
      placer.released.push(id);
      return undefined;
    },
  };
  return placer;
}

test('below capacity, latency is the service time: every arrival is sent on time', async () => {
  const placer = serialPlacer(2);
  const live: number[] = [];
  const r = await openLoopPhase(placer, [spec('a'), spec('b')], live, { ratePerS: 50, ops: 40, releaseEvery: 0, liveLimit: 1000 });
  assert.equal(r.ops, 40);
  assert.equal(placer.submitted, 40);
  assert.equal(r.placed, 40);
  // A 20 ms average gap leaves the 2 ms service time mostly alone: no queue
  // (above capacity the p99 passes 200 ms). How late the sender's timers
  // fire is the machine's: other tests share it, so no bound on that here.
  assert.ok(r.p50_ms >= 2 && r.p50_ms < 20, `p50 ${r.p50_ms}`);
  // 40 arrivals at 50/s take about 0.8 s: what was achieved is near what was offered.
  assert.ok(r.achieved_per_s > 25 && r.achieved_per_s < 100, `achieved ${r.achieved_per_s}`);
});

test('above capacity, the queue shows in the latency', async () => {
  // 400/s offered to a placer that does 100/s: the 60th arrival is due at ~150 ms and answered at ~600 ms.
  const r = await openLoopPhase(serialPlacer(10), [spec('a')], [], { ratePerS: 400, ops: 60, releaseEvery: 0, liveLimit: 1000 });
  assert.ok(r.p99_ms > 200, `p99 ${r.p99_ms}`);
  assert.ok(r.max_ms >= r.p99_ms && r.p50_ms < r.p99_ms, JSON.stringify(r));
  assert.ok(r.achieved_per_s < 130, `achieved ${r.achieved_per_s}`);
});

test('a blocked event loop counts: latency runs from when an arrival was due, not from when it could be sent', async () => {
  // A fast placer, and something else holding the event loop for 30 ms out of every 50 (a long GC pause, say).
  const blocker = setInterval(() => {
    const end = performance.now() + 30;
    while (performance.now() < end);
  }, 50);
  try {
    const r = await openLoopPhase(serialPlacer(0.2), [spec('a')], [], { ratePerS: 200, ops: 100, releaseEvery: 0, liveLimit: 1000 });
    // Counted from the send, each would take about 0.2 ms; arrivals due during a hold wait up to 30 ms.
    assert.ok(r.send_late_max_ms > 15, `late ${r.send_late_max_ms}`);
    assert.ok(r.p99_ms > 15, `p99 ${r.p99_ms}`);
    assert.equal(r.ops, 100);
  } finally {
    clearInterval(blocker);
  }
});

test('the release rule: one every releaseEvery submissions, more while over the live limit, never more than are live', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => releasesDue(i, 3, 10, 1000)), [0, 0, 1, 0, 0, 1]);
  assert.equal(releasesDue(2, 0, 10, 1000), 0);
  assert.equal(releasesDue(0, 0, 8, 5), 3);
  assert.equal(releasesDue(2, 3, 6, 5), 1);
  assert.equal(releasesDue(2, 3, 0, 5), 0);
});

test('releases in the open loop: the VM answered first goes first, and every VM either live or released', async () => {
  const placer = serialPlacer(1);
  const live: number[] = [];
  const r = await openLoopPhase(placer, [spec('a')], live, { ratePerS: 200, ops: 30, releaseEvery: 3, liveLimit: 1000 });
  // Ten arrivals are due a release; one finds nothing answered yet only if the machine stalls.
  assert.ok(r.releases >= 1 && r.releases <= 10, `releases ${r.releases}`);
  // The oldest is the first answered: the releases are a prefix of the answers.
  assert.deepEqual(placer.released, placer.answered.slice(0, placer.released.length));
  assert.equal(live.length + r.releases, 30);

  const capped = serialPlacer(1);
  const liveCapped: number[] = [];
  await openLoopPhase(capped, [spec('a')], liveCapped, { ratePerS: 100, ops: 30, releaseEvery: 0, liveLimit: 5 });
  // Answers still in flight at the last arrival's check join afterwards.
  assert.equal(liveCapped.length + capped.released.length, 30);
  assert.ok(capped.released.length >= 20, `released ${capped.released.length}`);
});

test('a rate of 0 or no templates is refused by name', async () => {
  await assert.rejects(openLoopPhase(serialPlacer(1), [spec('a')], [], { ratePerS: 0, ops: 1, releaseEvery: 0, liveLimit: 1 }), /rate above 0/);
  await assert.rejects(openLoopPhase(serialPlacer(1), [], [], { ratePerS: 10, ops: 1, releaseEvery: 0, liveLimit: 1 }), /templates/);
});

test('a submission that fails ends the phase with its error, once the others have settled', async () => {
  const placer = serialPlacer(1);
  const submit = placer.submit.bind(placer);
  placer.submit = (s: VmSpec) => (placer.submitted === 2 ? Promise.reject(new Error('database gone')) : submit(s));
  await assert.rejects(openLoopPhase(placer, [spec('a')], [], { ratePerS: 200, ops: 50, releaseEvery: 0, liveLimit: 1000 }), /database gone/);
  // It stopped sending soon after: not all 50 went out.
  assert.ok(placer.submitted < 50, `${placer.submitted} submitted`);
});

test('GC pauses in the phase are counted, with the submissions they overlapped', async () => {
  // A placer that makes 1 MB of garbage per submission: 80 MB outgrows any young generation.
  let id = 0;
  let sink = 0;
  const littering: Placer = {
    submit(s: VmSpec): Promise<VmRecord> {
      for (let i = 0; i < 1024; i++) sink += new Array<number>(128).fill(i).length;
      return Promise.resolve({ id: ++id, name: s.name, state: 'allocated' } as VmRecord);
    },
    release: async () => undefined,
  };
  const r = await openLoopPhase(littering, [spec('a')], [], { ratePerS: 400, ops: 80, releaseEvery: 0, liveLimit: 1000 });
  assert.ok(sink > 0);
  assert.ok(r.gc_pauses >= 1, `gc_pauses ${r.gc_pauses}`);
  assert.ok(r.gc_pause_max_ms > 0 && r.ops_during_gc <= r.ops, JSON.stringify(r));
  assert.ok(r.p99_outside_gc_ms <= r.max_ms, JSON.stringify(r));
});

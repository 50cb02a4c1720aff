/**
 * An open-loop phase for `place`: submissions arrive at a set average rate
 * whatever the scheduler's progress, as requests from many users do, and each
 * one's latency counts from when it was due, not from when it was sent. If
 * the loop is blocked and the sender falls behind, the wait is in the figure
 * (no coordinated omission).
 *
 * Why beside the closed loop: with a fixed number of submitters, each waiting
 * for its own commit, the scheduler runs flat out, and what that measures is
 * its most placements per second. A latency target is met or missed at a load,
 * and this phase offers a load: "2,000 placements/s with p99 ≤ 5 ms" is its
 * `offered_per_s` and `p99_ms`.
 */
import { releasesDue, rng } from './cluster-gen.js';
import { Latencies, now, round, sleep, yieldToLoop } from './stats.js';
import { GcWatch } from './tail.js';
import type { VmRecord, VmSpec } from '../scheduler/index.js';

/** What the phase drives: Scheduler.submit and Scheduler.release (or the commit floor's). */
export interface Placer {
  submit(spec: VmSpec): Promise<Pick<VmRecord, 'id' | 'state'>>;
  release(id: number): Promise<unknown>;
}

export interface OpenLoopOptions {
  /** Average arrivals per second; the gaps between them are exponential (Poisson arrivals). */
  ratePerS: number;
  ops: number;
  /** Also release the oldest live VM with every this many arrivals (0: never). */
  releaseEvery: number;
  /** ...and whenever more than this many VMs are live. */
  liveLimit: number;
  seed?: number;
}

export interface OpenLoopResult {
  offered_per_s: number;
  /** Submissions answered per second, from the first one due to the last answer. */
  achieved_per_s: number;
  ops: number;
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
  max_ms: number;
  /** The latest a submission went out after it was due (the sender's timer, or a blocked event loop). */
  send_late_max_ms: number;
  placed: number;
  pending: number;
  releases: number;
  /** GC pauses in the phase, and the p99 of the submissions no pause overlapped (tail.ts GcWatch). */
  gc_pauses: number;
  gc_pause_max_ms: number;
  ops_during_gc: number;
  p99_outside_gc_ms: number;
}

/**
 * Submits `specs` (cycled) at `ratePerS` on average. `live` holds the ids of
 * live VMs, oldest first, and is kept as the closed-loop phase keeps it.
 */
export async function openLoopPhase(placer: Placer, specs: VmSpec[], live: number[], opts: OpenLoopOptions): Promise<OpenLoopResult> {
  if (!(opts.ratePerS > 0) || specs.length === 0) throw new Error(`open loop needs a rate above 0 and templates (rate ${opts.ratePerS}, ${specs.length} templates)`);
  const rand = rng(opts.seed ?? 11);
  const inFlight = new Set<Promise<void>>();
  const r = { placed: 0, pending: 0, releases: 0, lateMax: 0 };
  const meanGapMs = 1000 / opts.ratePerS;
  // [due, answered] of each submission: its latency, and the GC overlap.
  const spans: Array<[number, number]> = [];
  const gc = new GcWatch();
  gc.start();
  const start = now();
  let due = start;

  const submitOne = async (spec: VmSpec, dueAt: number) => {
    const vm = await placer.submit(spec);
    spans.push([dueAt, now()]);
    if (vm.state === 'pending') r.pending++;
    else {
      r.placed++;
      live.push(vm.id);
    }
  };
  const releaseOldest = async () => {
    const id = live.shift();
    if (id === undefined) return;
    r.releases++;
    await placer.release(id);
  };
  // The first submission or release that fails ends the phase with its error.
  let failure: { err: unknown } | null = null;
  const track = (p: Promise<void>) => {
    inFlight.add(p);
    void p.catch((err: unknown) => void (failure ??= { err })).finally(() => inFlight.delete(p));
  };

  for (let i = 0; i < opts.ops && failure === null; i++) {
    due += -Math.log(1 - rand()) * meanGapMs;
    // A timer fires a millisecond late or more, so the last stretch is a turn of the event loop at a time.
    while (due - now() >= 1.5) await sleep(due - now() - 1);
    while (now() < due) await yieldToLoop();
    r.lateMax = Math.max(r.lateMax, now() - due);
    track(submitOne(specs[i % specs.length]!, due));
    for (let n = releasesDue(i, opts.releaseEvery, live.length, opts.liveLimit); n > 0; n--) track(releaseOldest());
  }
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  await gc.stop();
  if (failure !== null) throw (failure as { err: unknown }).err;
  const latencies = new Latencies();
  let lastAnswer = start;
  for (const [dueAt, answered] of spans) {
    latencies.add(answered - dueAt);
    lastAnswer = Math.max(lastAnswer, answered);
  }
  const s = latencies.summary();
  const { gc_pauses, gc_pause_max_ms, ops_during_gc, p99_outside_gc_ms } = gc.fields(spans);
  return {
    offered_per_s: opts.ratePerS,
    achieved_per_s: round((s.count * 1000) / Math.max(1e-3, lastAnswer - start), 1),
    ops: s.count,
    p50_ms: s.p50,
    p99_ms: s.p99,
    mean_ms: s.mean,
    max_ms: s.max,
    send_late_max_ms: round(r.lateMax),
    placed: r.placed,
    pending: r.pending,
    releases: r.releases,
    gc_pauses,
    gc_pause_max_ms,
    ops_during_gc,
    p99_outside_gc_ms,
  };
}

/**
 * The commit floor's process (commit-floor.ts), forked by `place` before
 * each size: it takes the open loop's options in one message, runs the
 * open loop's arrivals against a commit floor in a temp dir, and sends back
 * what it measured.
 *
 * Why a process of its own: run inside the scheduler's process, the floor
 * shares its heap and its helper thread. Before a size that heap is nearly
 * empty, but what the floor leaves there (its garbage, optimized code)
 * stays for the scheduler's own phases; here nothing of either reaches the
 * other, and the floor runs with the same V8 flags in a fresh process.
 */
import { silentLogger } from '../common/index.js';
import { templateSpecs } from './cluster-gen.js';
import { openCommitFloor } from './commit-floor.js';
import { openLoopPhase, type OpenLoopOptions, type OpenLoopResult } from './open-loop.js';
import { tempDir } from './stats.js';

export interface FloorJob {
  /** The open loop's templates: templateSpecs(vms), cycled. */
  vms: number;
  openLoop: OpenLoopOptions;
}

export type FloorMessage = { type: 'done'; result: OpenLoopResult } | { type: 'failed'; error: string };

async function run(job: FloorJob): Promise<OpenLoopResult> {
  const tmp = tempDir('floor');
  try {
    const floor = await openCommitFloor({ dataDir: tmp.dir, logger: silentLogger() });
    try {
      return await openLoopPhase(floor, templateSpecs(job.vms), [], job.openLoop);
    } finally {
      await floor.close();
    }
  } finally {
    tmp.dispose();
  }
}

process.once('message', (job: FloorJob) => {
  run(job)
    .then((result): FloorMessage => ({ type: 'done', result }))
    .catch((err: unknown): FloorMessage => ({ type: 'failed', error: (err as Error).stack ?? String(err) }))
    .then((message) => process.send?.(message, undefined, undefined, () => process.exit(0)));
});

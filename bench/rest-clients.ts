/**
 * The client side of the `rest` scenario, run as a child process (forked by
 * rest-scenario.ts) so the server under test has the event loop to itself,
 * as it would with remote clients. C concurrent fetch clients POST
 * templates; every `releaseEvery`-th submission a client also DELETEs the
 * oldest live VM (and whenever more than `liveVmsPerHost` × hosts VMs are
 * live). Latencies go back to the parent in one message.
 */
import { templateBody } from './cluster-gen.js';

export interface ClientsJob {
  base: string;
  ops: number;
  clients: number;
  hosts: number;
  releaseEvery: number;
  liveVmsPerHost: number;
}

export type ClientsResult =
  | { type: 'done'; submitMs: number[]; releaseMs: number[]; placed: number; pending: number; wallMs: number }
  | { type: 'failed'; error: string };

async function call(method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    // undici hides the socket error in `cause`.
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${method} ${url}: ${(err as Error).message}${cause ? ` (${cause.code ?? ''} ${cause.message ?? ''})` : ''}`, { cause: err });
  }
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : null };
}

async function run(job: ClientsJob): Promise<ClientsResult> {
  const submitMs: number[] = [];
  const releaseMs: number[] = [];
  const live: number[] = [];
  let next = 0;
  let placed = 0;
  let pending = 0;
  const client = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= job.ops) return;
      const t0 = performance.now();
      const res = await call('POST', `${job.base}/vms`, templateBody(i));
      submitMs.push(performance.now() - t0);
      if (res.status !== 201) throw new Error(`POST /vms → ${res.status}: ${JSON.stringify(res.json)}`);
      const vm = res.json as { id: number; state: string };
      if (vm.state === 'pending') pending++;
      else {
        placed++;
        live.push(vm.id);
      }
      let toRelease = job.releaseEvery > 0 && (i + 1) % job.releaseEvery === 0 ? 1 : 0;
      toRelease = Math.max(toRelease, live.length - job.liveVmsPerHost * job.hosts);
      for (; toRelease > 0 && live.length > 0; toRelease--) {
        const id = live.shift()!;
        const t1 = performance.now();
        const del = await call('DELETE', `${job.base}/vms/${id}`);
        releaseMs.push(performance.now() - t1);
        if (del.status !== 200) throw new Error(`DELETE /vms/${id} → ${del.status}: ${JSON.stringify(del.json)}`);
      }
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.max(1, job.clients) }, client));
  return { type: 'done', submitMs, releaseMs, placed, pending, wallMs: performance.now() - start };
}

process.once('message', (job: ClientsJob) => {
  run(job)
    .catch((err: unknown): ClientsResult => ({ type: 'failed', error: (err as Error).stack ?? String(err) }))
    .then((result) => process.send?.(result, undefined, undefined, () => process.exit(0)));
});

/**
 * The client side of the `rest` scenario, run as a child process (forked by
 * rest-scenario.ts) so the server under test has the event loop to itself,
 * as it would with remote clients. C concurrent fetch clients POST
 * templates; every `releaseEvery`-th submission a client also DELETEs the
 * oldest live VM (and whenever more than `liveVmsPerHost` × hosts VMs are
 * live). Latencies go back to the parent in one message.
 */
import http from 'node:http';
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

/**
 * node:http with a keep-alive agent, one socket per client: fetch (undici)
 * spends a few ms of CPU per request here, which capped the clients near
 * 300 requests/s, below what the server answers.
 */
let agent = new http.Agent({ keepAlive: true });

function call(method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, json: text ? (JSON.parse(text) as unknown) : null });
        } catch (err) {
          reject(new Error(`${method} ${url}: response is not JSON: ${text.slice(0, 200)}`, { cause: err }));
        }
      });
      res.on('error', reject);
    });
    req.on('error', (err) => reject(new Error(`${method} ${url}: ${err.message}`, { cause: err })));
    req.end(payload);
  });
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
  agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(1, job.clients) });
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.max(1, job.clients) }, client));
  return { type: 'done', submitMs, releaseMs, placed, pending, wallMs: performance.now() - start };
}

process.once('message', (job: ClientsJob) => {
  run(job)
    .catch((err: unknown): ClientsResult => ({ type: 'failed', error: (err as Error).stack ?? String(err) }))
    .then((result) => process.send?.(result, undefined, undefined, () => process.exit(0)));
});

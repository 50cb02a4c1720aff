/**
 * The client side of the `rest` scenario, run as a child process (forked by
 * rest-scenario.ts) so the server under test has the event loop to itself,
 * as it would with remote clients. C concurrent clients, each on its own
 * keep-alive connection, POST
 * templates; every `releaseEvery`-th submission a client also DELETEs the
 * oldest live VM (and whenever more than `liveVmsPerHost` × hosts VMs are
 * live). One VM per template goes first, untimed (warm-up, as in `place`),
 * then `warmupOps` submissions, each followed by the release of the oldest
 * VM, also untimed: the server's JIT-compiled code is then what a server
 * that has run for a while would run. The parent hears 'warm' when the timed
 * part starts; latencies go back to it in one message.
 */
import { KeepAliveClient } from './keepalive-client.js';
import { TEMPLATES, releasesDue, templateBody } from './cluster-gen.js';

export interface ClientsJob {
  base: string;
  ops: number;
  clients: number;
  hosts: number;
  releaseEvery: number;
  liveVmsPerHost: number;
  warmupOps: number;
}

export type ClientsResult =
  | { type: 'done'; submitMs: number[]; releaseMs: number[]; placed: number; pending: number; wallMs: number; coldMaxMs: number; clientCpuMs: number }
  | { type: 'failed'; error: string }
  | { type: 'warm' };

/** One keep-alive connection per client (see keepalive-client.ts for why not node:http). */
async function call(client: KeepAliveClient, method: string, url: URL, body?: unknown): Promise<{ status: number; json: unknown }> {
  const reply = await client.request(method, url.pathname, body === undefined ? undefined : JSON.stringify(body));
  try {
    return { status: reply.status, json: reply.body ? (JSON.parse(reply.body) as unknown) : null };
  } catch (err) {
    throw new Error(`${method} ${url.pathname}: response is not JSON: ${reply.body.slice(0, 200)}`, { cause: err });
  }
}

interface Tally {
  submitMs: number[];
  releaseMs: number[];
  placed: number;
  pending: number;
}

/** `ops` submissions from `clients` connections at once; a release after every `releaseEvery`-th. */
async function phase(job: ClientsJob, ops: number, releaseEvery: number, live: number[]): Promise<Tally> {
  const tally: Tally = { submitMs: [], releaseMs: [], placed: 0, pending: 0 };
  let next = 0;
  const vmsUrl = new URL(`${job.base}/vms`);
  const vmUrl = (id: number) => new URL(`${job.base}/vms/${id}`);
  const loop = async (conn: KeepAliveClient): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= ops) return;
      const t0 = performance.now();
      const res = await call(conn, 'POST', vmsUrl, templateBody(i));
      tally.submitMs.push(performance.now() - t0);
      if (res.status !== 201) throw new Error(`POST /vms → ${res.status}: ${JSON.stringify(res.json)}`);
      const vm = res.json as { id: number; state: string };
      if (vm.state === 'pending') tally.pending++;
      else {
        tally.placed++;
        live.push(vm.id);
      }
      for (let n = releasesDue(i, releaseEvery, live.length, job.liveVmsPerHost * job.hosts); n > 0 && live.length > 0; n--) {
        const id = live.shift()!;
        const t1 = performance.now();
        const del = await call(conn, 'DELETE', vmUrl(id));
        tally.releaseMs.push(performance.now() - t1);
        if (del.status !== 200) throw new Error(`DELETE /vms/${id} → ${del.status}: ${JSON.stringify(del.json)}`);
      }
    }
  };
  const client = async (): Promise<void> => {
    const conn = new KeepAliveClient(vmsUrl.hostname, Number(vmsUrl.port));
    try {
      await loop(conn);
    } finally {
      conn.close();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, job.clients) }, client));
  return tally;
}

async function run(job: ClientsJob): Promise<ClientsResult> {
  const vmsUrl = new URL(`${job.base}/vms`);
  const vmUrl = (id: number) => new URL(`${job.base}/vms/${id}`);
  // As in `place`: the first VM of each template shape works out every host
  // for that shape, once per server process (coldMaxMs); not timed below.
  let coldMaxMs = 0;
  const warm = new KeepAliveClient(vmsUrl.hostname, Number(vmsUrl.port));
  for (const t of TEMPLATES) {
    const t0 = performance.now();
    const res = await call(warm, 'POST', vmsUrl, { ...t, name: `warmup-${String(t.name)}` });
    coldMaxMs = Math.max(coldMaxMs, performance.now() - t0);
    if (res.status !== 201) throw new Error(`warm-up POST /vms → ${res.status}: ${JSON.stringify(res.json)}`);
    await call(warm, 'DELETE', vmUrl((res.json as { id: number }).id));
  }
  warm.close();
  const live: number[] = [];
  if (job.warmupOps > 0) {
    await phase(job, job.warmupOps, 1, live);
    // Back to an empty cluster, so the timed part starts as it would without warm-up.
    const drain = new KeepAliveClient(vmsUrl.hostname, Number(vmsUrl.port));
    for (const id of live.splice(0)) await call(drain, 'DELETE', vmUrl(id));
    drain.close();
  }
  process.send?.({ type: 'warm' } satisfies ClientsResult);
  const start = performance.now();
  const cpuAtStart = process.cpuUsage();
  const tally = await phase(job, job.ops, job.releaseEvery, live);
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuAtStart);
  return { type: 'done', ...tally, wallMs, coldMaxMs, clientCpuMs: (cpu.user + cpu.system) / 1000 };
}

process.once('message', (job: ClientsJob) => {
  run(job)
    .catch((err: unknown): ClientsResult => ({ type: 'failed', error: (err as Error).stack ?? String(err) }))
    .then((result) => process.send?.(result, undefined, undefined, () => process.exit(0)));
});

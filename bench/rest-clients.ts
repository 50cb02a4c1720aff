/**
 * The client side of the `rest` scenario, run as a child process (forked by
 * rest-scenario.ts) so the server under test has the event loop to itself,
 * as it would with remote clients. C concurrent clients, each on its own
 * keep-alive connection, POST
 * templates; every `releaseEvery`-th submission a client also DELETEs the
 * oldest live VM (and whenever more than `liveVmsPerHost` × hosts VMs are
 * live). One VM per template goes first, untimed (warm-up, as in `place`).
 * Latencies go back to the parent in one message.
 */
import { KeepAliveClient } from './keepalive-client.js';
import { TEMPLATES, templateBody } from './cluster-gen.js';

export interface ClientsJob {
  base: string;
  ops: number;
  clients: number;
  hosts: number;
  releaseEvery: number;
  liveVmsPerHost: number;
}

export type ClientsResult =
  | { type: 'done'; submitMs: number[]; releaseMs: number[]; placed: number; pending: number; wallMs: number; coldMaxMs: number; clientCpuMs: number }
  | { type: 'failed'; error: string };

/** One keep-alive connection per client (see keepalive-client.ts for why not node:http). */
async function call(client: KeepAliveClient, method: string, url: URL, body?: unknown): Promise<{ status: number; json: unknown }> {
  const reply = await client.request(method, url.pathname, body === undefined ? undefined : JSON.stringify(body));
  try {
    return { status: reply.status, json: reply.body ? (JSON.parse(reply.body) as unknown) : null };
  } catch (err) {
    throw new Error(`${method} ${url.pathname}: response is not JSON: ${reply.body.slice(0, 200)}`, { cause: err });
  }
}

async function run(job: ClientsJob): Promise<ClientsResult> {
  const submitMs: number[] = [];
  const releaseMs: number[] = [];
  const live: number[] = [];
  let next = 0;
  let placed = 0;
  let pending = 0;
  const vmsUrl = new URL(`${job.base}/vms`);
  const vmUrl = (id: number) => new URL(`${job.base}/vms/${id}`);
  const connect = () => new KeepAliveClient(vmsUrl.hostname, Number(vmsUrl.port));
  const client = async (): Promise<void> => {
    const conn = connect();
    try {
      await loop(conn);
    } finally {
      conn.close();
    }
  };
  const loop = async (conn: KeepAliveClient): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= job.ops) return;
      const t0 = performance.now();
      const res = await call(conn, 'POST', vmsUrl, templateBody(i));
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
        const del = await call(conn, 'DELETE', vmUrl(id));
        releaseMs.push(performance.now() - t1);
        if (del.status !== 200) throw new Error(`DELETE /vms/${id} → ${del.status}: ${JSON.stringify(del.json)}`);
      }
    }
  };
  // As in `place`: the first VM of each template shape works out every host
  // for that shape, once per server process (coldMaxMs); not timed below.
  let coldMaxMs = 0;
  const warm = connect();
  for (const t of TEMPLATES) {
    const t0 = performance.now();
    const res = await call(warm, 'POST', vmsUrl, { ...t, name: `warmup-${String(t.name)}` });
    coldMaxMs = Math.max(coldMaxMs, performance.now() - t0);
    if (res.status !== 201) throw new Error(`warm-up POST /vms → ${res.status}: ${JSON.stringify(res.json)}`);
    await call(warm, 'DELETE', vmUrl((res.json as { id: number }).id));
  }
  warm.close();
  const start = performance.now();
  const cpuAtStart = process.cpuUsage();
  await Promise.all(Array.from({ length: Math.max(1, job.clients) }, client));
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuAtStart);
  return { type: 'done', submitMs, releaseMs, placed, pending, wallMs, coldMaxMs, clientCpuMs: (cpu.user + cpu.system) / 1000 };
}

process.once('message', (job: ClientsJob) => {
  run(job)
    .catch((err: unknown): ClientsResult => ({ type: 'failed', error: (err as Error).stack ?? String(err) }))
    .then((result) => process.send?.(result, undefined, undefined, () => process.exit(0)));
});

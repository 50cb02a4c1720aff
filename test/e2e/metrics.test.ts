/**
 * GET /metrics on a real server with a real probe: Prometheus text with the
 * batches, VM results, host liveness and pending VMs the REST calls caused,
 * and the process metrics of prom-client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from '../helpers/cluster.js';
import { gpuHostSplitGroups } from '../helpers/fake-host.js';

/** Sample lines (`name{labels} value`) of an exposition, comments left out. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

test('GET /metrics counts batches, placed and pending VMs, and hosts by liveness', async () => {
  const host = await gpuHostSplitGroups();
  const cluster = await startCluster();
  try {
    await cluster.addProbe('node1', host);
    const gpu = { pci: [{ vendor: '10de', class: '0300' }] };
    // One at a time, so each is a batch of its own.
    const states: string[] = [];
    for (const name of ['g1', 'g2', 'g3']) states.push((await cluster.api<{ state: string }>('POST', '/api/v1/vms', { name, ...gpu })).body.state);
    assert.deepEqual(states, ['allocated', 'allocated', 'pending']);

    const res = await fetch(`${cluster.server.httpUrl}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const m = samples(await res.text());
    const expected: Array<[string, number]> = [
      ['pcisched_batches_total{outcome="committed"}', 3],
      ['pcisched_vm_submissions_total{result="placed"}', 2],
      ['pcisched_vm_submissions_total{result="pending"}', 1],
      ['pcisched_batch_commit_seconds_count{outcome="committed"}', 3],
      ['pcisched_batch_decide_seconds_count', 3],
      ['pcisched_batch_items_sum', 3],
      ['pcisched_hosts{state="online"}', 1],
      ['pcisched_hosts{state="elsewhere"}', 0],
      ['pcisched_hosts{state="offline"}', 0],
      ['pcisched_pending_vms', 1],
      ['pcisched_live_vms', 2],
    ];
    assert.deepEqual(expected.map(([k]) => [k, m.get(k)]), expected);
    // Every commit took time, and no more than the whole test did.
    const commitSum = m.get('pcisched_batch_commit_seconds_sum{outcome="committed"}')!;
    assert.ok(commitSum > 0 && commitSum < 30, String(commitSum));
    // prom-client's process metrics, under the same prefix.
    for (const name of ['pcisched_process_cpu_user_seconds_total', 'pcisched_nodejs_eventloop_lag_seconds', 'pcisched_nodejs_heap_size_used_bytes']) {
      assert.ok(m.has(name), `${name} missing`);
    }

    // The probe goes away: the host counts as offline at the next scrape.
    await cluster.agents.get('node1')!.stop();
    await cluster.server.scheduler.sweepLiveness();
    let offline = -1;
    for (let i = 0; i < 50 && offline !== 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      offline = samples(await (await fetch(`${cluster.server.httpUrl}/metrics`)).text()).get('pcisched_hosts{state="offline"}') ?? -1;
    }
    assert.equal(offline, 1);
  } finally {
    await cluster.stop();
    await host.cleanup();
  }
});

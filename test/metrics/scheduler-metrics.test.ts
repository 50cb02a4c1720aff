/**
 * The scheduler's Prometheus metrics from its observer and stats, on a
 * registry of their own: counts by outcome, histograms in seconds, gauges
 * read at each scrape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSchedulerMetrics } from '../../metrics/index.js';

const lines = (text: string, prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix));

test('batches count by outcome; VMs only from committed ones; timings in seconds', async () => {
  const metrics = createSchedulerMetrics({ processMetrics: false });
  metrics.observer.batch({ submits: 8, releases: 2, placed: 6, pending: 2, decideMs: 1.5, commitMs: 0.5, outcome: 'committed' });
  metrics.observer.batch({ submits: 3, releases: 0, placed: 0, pending: 0, decideMs: 0.2, commitMs: 4, outcome: 'refused' });
  metrics.observer.batch({ submits: 1, releases: 1, placed: 0, pending: 0, decideMs: 0.1, commitMs: 30, outcome: 'failed' });
  const { contentType, body } = await metrics.render();
  assert.match(contentType, /^text\/plain/);
  assert.deepEqual(lines(body, 'pcisched_batches_total'), [
    'pcisched_batches_total{outcome="committed"} 1',
    'pcisched_batches_total{outcome="refused"} 1',
    'pcisched_batches_total{outcome="failed"} 1',
  ]);
  assert.deepEqual(lines(body, 'pcisched_vm_submissions_total'), ['pcisched_vm_submissions_total{result="placed"} 6', 'pcisched_vm_submissions_total{result="pending"} 2']);
  assert.deepEqual(lines(body, 'pcisched_vm_releases_batched_total'), ['pcisched_vm_releases_batched_total 2']);
  // 0.5 ms falls in the 0.5 ms bucket, 4 ms in 5 ms, 30 ms in 50 ms.
  assert.ok(lines(body, 'pcisched_batch_commit_seconds_bucket{le="0.0005",outcome="committed"} 1').length === 1, body);
  assert.ok(lines(body, 'pcisched_batch_commit_seconds_bucket{le="0.002",outcome="refused"} 0').length === 1, body);
  assert.ok(lines(body, 'pcisched_batch_commit_seconds_bucket{le="0.005",outcome="refused"} 1').length === 1, body);
  assert.ok(lines(body, 'pcisched_batch_commit_seconds_bucket{le="0.05",outcome="failed"} 1').length === 1, body);
  assert.deepEqual(lines(body, 'pcisched_batch_items_sum'), ['pcisched_batch_items_sum 15']);
  const decideSum = Number(lines(body, 'pcisched_batch_decide_seconds_sum ')[0]?.split(' ')[1]);
  assert.ok(Math.abs(decideSum - 0.0018) < 1e-12, String(decideSum));
});

test('replica sync passes: their time in seconds, the host rows they read and the hosts they reloaded', async () => {
  const metrics = createSchedulerMetrics({ processMetrics: false });
  metrics.observer.replicaSync({ ms: 80, hostsRead: 10_000, hostsReloaded: 10_000 });
  metrics.observer.replicaSync({ ms: 3, hostsRead: 4, hostsReloaded: 1 });
  const { body } = await metrics.render();
  assert.deepEqual(lines(body, 'pcisched_replica_sync_seconds_count'), ['pcisched_replica_sync_seconds_count 2']);
  assert.ok(lines(body, 'pcisched_replica_sync_seconds_bucket{le="0.005"} 1').length === 1, body);
  assert.ok(lines(body, 'pcisched_replica_sync_seconds_bucket{le="0.1"} 2').length === 1, body);
  assert.deepEqual(lines(body, 'pcisched_replica_sync_hosts_read_total'), ['pcisched_replica_sync_hosts_read_total 10004']);
  assert.deepEqual(lines(body, 'pcisched_replica_sync_hosts_reloaded_total'), ['pcisched_replica_sync_hosts_reloaded_total 10001']);
});

test('host and VM gauges are read from the scheduler at each scrape', async () => {
  const metrics = createSchedulerMetrics({ processMetrics: false });
  let pending = 3;
  metrics.watch(() => ({ hostsOnline: 5, hostsElsewhere: 2, hostsOffline: 1, pendingVms: pending, liveVms: 40 }));
  const first = (await metrics.render()).body;
  assert.deepEqual(lines(first, 'pcisched_hosts'), ['pcisched_hosts{state="online"} 5', 'pcisched_hosts{state="elsewhere"} 2', 'pcisched_hosts{state="offline"} 1']);
  assert.deepEqual(lines(first, 'pcisched_pending_vms'), ['pcisched_pending_vms 3']);
  assert.deepEqual(lines(first, 'pcisched_live_vms'), ['pcisched_live_vms 40']);
  pending = 0;
  assert.deepEqual(lines((await metrics.render()).body, 'pcisched_pending_vms'), ['pcisched_pending_vms 0']);
  // Two registries in one process stay apart (no global default registry).
  assert.deepEqual(lines((await createSchedulerMetrics({ processMetrics: false }).render()).body, 'pcisched_batches_total'), []);
});

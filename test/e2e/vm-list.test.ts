/**
 * `GET /api/v1/vms` filters and pages through a real server: `state`,
 * `after`, `limit`, the `Link: rel="next"` header, and 400s naming the
 * parameter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gpuHostSharedGroup } from '../helpers/fake-host.js';
import { startCluster } from '../helpers/cluster.js';
import { eventually } from '../helpers/processes.js';

interface Page {
  status: number;
  ids: number[];
  states: string[];
  next: string | null;
  body: { detail?: string; field?: string; title?: string };
}

test('VM lists filter by state and page by id, with a next link only while a page is full', async () => {
  const c = await startCluster();
  const host = await gpuHostSharedGroup();
  try {
    await c.addProbe('node1', host);
    // Both GPUs share one IOMMU group: the first VM takes it, the other six wait.
    for (let i = 1; i <= 7; i++) assert.equal((await c.api('POST', '/api/v1/vms', { name: `vm${i}`, pci: [{ vendor: '10de', class: '0300' }] })).status, 201);
    await c.server.scheduler.settled();

    const get = async (query: string): Promise<Page> => {
      const res = await fetch(`${c.server.httpUrl}/api/v1/vms${query}`);
      const body = await res.json();
      const link = res.headers.get('link');
      const next = link ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] ?? `unparsed: ${link}` : null;
      const list = Array.isArray(body) ? (body as Array<{ id: number; state: string }>) : [];
      return { status: res.status, ids: list.map((v) => v.id), states: list.map((v) => v.state), next, body };
    };

    const all = await get('');
    assert.deepEqual([all.ids, all.next], [[1, 2, 3, 4, 5, 6, 7], null]);
    assert.deepEqual(all.states, ['allocated', ...Array(6).fill('pending')]);

    // Pages of three, following the links to the end.
    const p1 = await get('?limit=3');
    assert.deepEqual([p1.ids, p1.next], [[1, 2, 3], '/api/v1/vms?after=3&limit=3']);
    const p2 = await get(p1.next!.slice('/api/v1/vms'.length));
    assert.deepEqual([p2.ids, p2.next], [[4, 5, 6], '/api/v1/vms?after=6&limit=3']);
    const p3 = await get(p2.next!.slice('/api/v1/vms'.length));
    assert.deepEqual([p3.ids, p3.next], [[7], null]);

    const pending = await get('?state=pending&limit=4');
    assert.deepEqual([pending.ids, pending.next], [[2, 3, 4, 5], '/api/v1/vms?state=pending&after=5&limit=4']);
    assert.deepEqual((await get('?state=pending&after=5&limit=4')).ids, [6, 7]);
    assert.deepEqual((await get('?state=allocated')).ids, [1]);
    assert.deepEqual((await get('?state=pending,%20allocated&after=4')).ids, [5, 6, 7]);
    assert.deepEqual((await get('?state=ready')).ids, []);

    // Released VMs stay listed under their state (once the probe has given the devices back);
    // the freed group goes to the next pending VM.
    assert.equal((await c.api('DELETE', '/api/v1/vms/1')).status, 200);
    await eventually(async () => (await get('?state=released')).ids.join() === '1', 10_000, 'VM 1 released');
    await c.server.scheduler.settled();
    assert.deepEqual((await get('?state=allocated,ready')).ids, [2]);

    const bad: Array<[string, string, string]> = [
      ['?state=bogus', 'state', 'state: unknown VM state "bogus"; states are pending, allocated, ready, prepare_failed, releasing, released'],
      ['?state=pending,', 'state', 'state: unknown VM state ""; states are pending, allocated, ready, prepare_failed, releasing, released'],
      ['?limit=0', 'limit', 'limit: must be a whole number from 1 to 1000, got "0"'],
      ['?limit=1001', 'limit', 'limit: must be a whole number from 1 to 1000, got "1001"'],
      ['?limit=ten', 'limit', 'limit: must be a whole number from 1 to 1000, got "ten"'],
      ['?after=-1', 'after', 'after: must be a whole number from 0 to 2147483647, got "-1"'],
      ['?after=2147483648', 'after', 'after: must be a whole number from 0 to 2147483647, got "2147483648"'],
      ['?limit=1&limit=2', 'limit', 'limit: give limit once, as text'],
      ['?stat=pending', 'stat', 'stat: unknown query parameter "stat"; use state, after, limit'],
    ];
    for (const [query, field, detail] of bad) {
      const res = await get(query);
      assert.equal(res.status, 400, query);
      assert.equal(res.body.field, field, query);
      assert.equal(res.body.detail, detail, query);
    }
  } finally {
    await c.stop();
    await host.cleanup();
  }
});

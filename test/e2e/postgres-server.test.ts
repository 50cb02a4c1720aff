/**
 * `pcisched server --database-url postgresql://…` as a real process with a
 * real probe: a VM placed through REST is in PostgreSQL, and a second server
 * process on the same database (a replica, or a restart) serves it, shows
 * the host online through the first, and has a VM submitted to it placed by
 * the first, whose probe holds the host.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gpuHostSharedGroup, gpuHostSplitGroups, type FakeHost } from '../helpers/fake-host.js';
import { startServerProcess, startChild, eventually, type Child, type ServerChild } from '../helpers/processes.js';
import { freshDatabase, pgUnavailable, type TestDatabase } from '../helpers/postgres.js';

const skip = pgUnavailable();
const children: Child[] = [];
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  for (const c of cleanups) await c();
});

async function api<T>(server: ServerChild, method: string, url: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`${server.http}/api/v1${url}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as T };
}

/** A fresh database and an (unused) data directory, and the fake hosts given, all removed after the tests. */
async function workspace(prefix: string, ...hosts: FakeHost[]): Promise<{ db: TestDatabase; dataDir: string }> {
  const db = await freshDatabase();
  const dataDir = mkdtempSync(path.join(tmpdir(), `pcisched-pg-${prefix}-`));
  cleanups.push(...hosts.map((h) => () => h.cleanup()), () => db.drop(), async () => rmSync(dataDir, { recursive: true, force: true }));
  return { db, dataDir };
}

/** Two server processes on the workspace's database. */
async function twoReplicas(prefix: string, ...hosts: FakeHost[]): Promise<[ServerChild, ServerChild]> {
  const { db, dataDir } = await workspace(prefix, ...hosts);
  const first = await startServerProcess(dataDir, ['--database-url', db.url]);
  const second = await startServerProcess(dataDir, ['--database-url', db.url]);
  children.push(first, second);
  return [first, second];
}

type NodeJson = { state: string; replica: string | null; devices: Array<{ address: string; iommuGroup: number | null }> };
const node1 = async (s: ServerChild) => (await api<NodeJson>(s, 'GET', '/hosts/node1')).json;

test('a server on PostgreSQL places a VM, and a second server process on the database serves it and has the first place what it cannot', { skip }, async () => {
  const host = await gpuHostSplitGroups();
  const { db, dataDir } = await workspace('e2e', host);

  const first = await startServerProcess(dataDir, ['--database-url', db.url]);
  children.push(first);
  children.push(startChild(['probe', 'run', '--server', first.grpc, '--host-name', 'node1', '--host-root', host.root, '--interval', '0.2']));
  await eventually(async () => (await api<{ state: string }>(first, 'GET', '/hosts/node1')).json.state === 'online', 20_000, 'node1 online');
  const placed = await api<{ id: number; state: string; host: string; devices: Array<{ address: string }> }>(first, 'POST', '/vms', { name: 'g1', pci: [{ vendor: '10de', class: '0300' }] });
  assert.equal(placed.status, 201);
  assert.equal(placed.json.state, 'allocated');
  // Nothing went to the SQLite file in --data-dir.
  assert.deepEqual(readdirSync(dataDir), []);

  const second = await startServerProcess(dataDir, ['--database-url', db.url]);
  children.push(second);
  const seen = await api<{ id: number; state: string; host: string; devices: Array<{ address: string }> }>(second, 'GET', `/vms/${placed.json.id}`);
  assert.deepEqual([seen.json.state, seen.json.host, seen.json.devices.map((d) => d.address)], ['allocated', 'node1', placed.json.devices.map((d) => d.address)]);

  // The second replica shows node1 online through the first, whose probe stream it is.
  const views = await Promise.all([first, second].map(async (s) => (await api<{ state: string; replica: string | null }>(s, 'GET', '/hosts/node1')).json));
  assert.equal(views[0]!.state, 'online');
  assert.ok(views[0]!.replica);
  assert.deepEqual(views[1], { ...views[1], state: 'online', replica: views[0]!.replica });
  // A VM submitted to the second waits there, and the first, on its next sync pass, places it on node1's other GPU.
  const waiting = await api<{ id: number; state: string }>(second, 'POST', '/vms', { name: 'g2', pci: [{ vendor: '10de', class: '0300' }] });
  assert.deepEqual([waiting.status, waiting.json.state], [201, 'pending']);
  // Allocated, or already ready if the probe's preparation answer came first.
  await eventually(async () => ['allocated', 'ready'].includes((await api<{ state: string }>(second, 'GET', `/vms/${waiting.json.id}`)).json.state), 20_000, 'g2 placed by the first replica');
  const g2 = await api<{ host: string; devices: Array<{ address: string }> }>(first, 'GET', `/vms/${waiting.json.id}`);
  assert.equal(g2.json.host, 'node1');
  assert.notDeepEqual(g2.json.devices.map((d) => d.address), placed.json.devices.map((d) => d.address));
});

test('a second probe under the host name that the other replica\'s probe holds is refused with ALREADY_EXISTS, and the host keeps the first probe\'s devices', { skip }, async () => {
  // Same addresses, different IOMMU groups: a snapshot from the clone would show.
  const real = await gpuHostSplitGroups();
  const clone = await gpuHostSharedGroup();
  const [first, second] = await twoReplicas('twins', real, clone);
  children.push(startChild(['probe', 'run', '--server', first.grpc, '--host-name', 'node1', '--host-root', real.root, '--interval', '0.2']));
  await eventually(async () => (await node1(first)).state === 'online', 20_000, 'node1 online');
  const before = await node1(first);
  const groups = (h: NodeJson) => h.devices.map((d) => `${d.address}@${d.iommuGroup}`);
  // The second replica has seen the host (one sync pass), so the clone's hello is refused, not only its snapshot.
  await eventually(async () => (await node1(second)).replica === before.replica, 10_000, 'second replica sees node1 held by the first');

  const twin = startChild(['probe', 'run', '--server', second.grpc, '--host-name', 'node1', '--host-root', clone.root, '--interval', '0.2']);
  children.push(twin);
  await twin.waitFor(/already connected through scheduler replica \S+ from another probe \(session [^)]+\): give each hypervisor its own host name/, 20_000, 'stderr');
  // A few heartbeats of the first probe later, nothing the clone sent was stored.
  await new Promise((r) => setTimeout(r, 1000));
  for (const s of [first, second]) {
    const now = await node1(s);
    assert.deepEqual([now.state, now.replica, groups(now)], ['online', before.replica, groups(before)]);
  }
  // The clone has both GPUs in group 1; the stored host still has them apart.
  const groupOf = (address: string) => before.devices.find((d) => d.address === address)?.iommuGroup;
  assert.deepEqual([groupOf('0000:01:00.0'), groupOf('0000:02:00.0')], [6, 7]);
});

test('a probe killed while streaming to one replica and started again against another holds its host there at once, not after the first replica\'s sweep', { skip }, async () => {
  const machine = await gpuHostSplitGroups();
  const [first, second] = await twoReplicas('restart', machine);
  // Heartbeats every 30 s: the first replica's sweep would let the host go only after 90 s.
  const probe = (server: ServerChild) => startChild(['probe', 'run', '--server', server.grpc, '--host-name', 'node1', '--host-root', machine.root, '--interval', '30']);
  const killed = probe(first);
  children.push(killed);
  await eventually(async () => (await node1(first)).state === 'online', 20_000, 'node1 online');
  const firstReplica = (await node1(first)).replica;
  await eventually(async () => (await node1(second)).replica === firstReplica, 10_000, 'second replica sees node1 held by the first');

  await killed.stop('SIGKILL');
  children.push(probe(second));
  const taken = await eventually(async () => {
    const now = await node1(second);
    return now.state === 'online' && now.replica !== firstReplica ? now : null;
  }, 20_000, 'node1 held through the second replica');
  assert.ok(taken.replica);
  // The first replica's next sync pass shows the host online through the second.
  await eventually(async () => (await node1(first)).replica === taken.replica, 10_000, 'first replica sees node1 held by the second');
});

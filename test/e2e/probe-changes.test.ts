/**
 * What a probe agent sends when the host changes, through a real server over
 * gRPC: the agent tells an unchanged scan from the scanner's shared frozen
 * device reports, so these check that a change still gets through, from the
 * real scanner and from a source that changes its objects in place.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { DeviceReport, HostReport } from '../../common/index.js';
import { createScanner, parseFilterConfig } from '../../probe/index.js';
import { silentLogger } from '../../common/index.js';
import { sriovNicHost } from '../helpers/fake-host.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { eventually } from '../helpers/processes.js';

type HostBody = { devices: Array<{ address: string; driver: string | null }> };

const driverOf = (body: HostBody, address: string) => body.devices.find((d) => d.address === address)?.driver;

/** A test cluster and an SR-IOV NIC host, both gone after the test. */
async function setup(t: TestContext) {
  const cluster = await startCluster();
  const host = await sriovNicHost();
  t.after(async () => {
    await cluster.stop();
    await host.cleanup();
  });
  return { cluster, host };
}

/** Waits until the server shows `driver` on the host's device. */
const driverSeen = (cluster: TestCluster, name: string, address: string, driver: string) =>
  eventually(async () => driverOf((await cluster.api<HostBody>('GET', `/api/v1/hosts/${name}`)).body, address) === driver, 10_000, `${name} ${address} ${driver}`);

test('a driver rebind on the host reaches the server', async (t) => {
  const { cluster, host } = await setup(t);
  await cluster.addProbe('h1', host);
  const before = await cluster.api<HostBody>('GET', '/api/v1/hosts/h1');
  assert.equal(driverOf(before.body, '0000:41:00.5'), null);
  host.bindDriver('0000:41:00.5', 'vfio-pci');
  await driverSeen(cluster, 'h1', '0000:41:00.5', 'vfio-pci');
});

test('a source that changes its report objects in place is still compared by value', async (t) => {
  const { cluster, host } = await setup(t);
  // One scan of the fake host, then the same (unfrozen) objects handed back every time.
  const scanned = createScanner({ hostRoot: host.root, filter: parseFilterConfig('', 'h2.pci.conf'), logger: silentLogger(), hostName: 'h2' }).scan();
  const report: HostReport = { host: { ...scanned.host }, devices: scanned.devices.map((d) => ({ ...d }) as DeviceReport) };
  await cluster.addProbe('h2', host, undefined, { source: { scan: () => report } });
  const vf = report.devices.find((d) => d.address === '0000:41:00.5')!;
  assert.equal(Object.isFrozen(vf), false);
  vf.driver = 'vfio-pci';
  await driverSeen(cluster, 'h2', '0000:41:00.5', 'vfio-pci');
});

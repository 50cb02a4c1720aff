/**
 * Networks and NIC passthrough through the REST API of a real server, with
 * real probes reporting fake SR-IOV hosts over gRPC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { sriovNicHost, buildFakeHost, type FakeDevice, type FakeHost } from '../helpers/fake-host.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { eventually } from '../helpers/processes.js';

interface Nic { index: number; network: string; mac: string; ip: string | null; ip6: string | null; vlanId: number | null; address: string }
interface VmJson { id: number; state: string; devices: Array<{ address: string; request: number | null }>; nics: Nic[]; pendingReasons: Array<{ host: string | null; reason: string }> }

async function withCluster(make: () => Promise<FakeHost>, fn: (c: TestCluster) => Promise<void>) {
  const cluster = await startCluster();
  const host = await make();
  try {
    await cluster.addProbe('nic1', host);
    await fn(cluster);
  } finally {
    await cluster.stop();
    await host.cleanup();
  }
}

const MIXED = `NAME = "mixed"
PCI = [ TYPE = "NIC", NETWORK = "pt", VENDOR = "15b3", DEVICE = "1018" ]
PCI = [ VENDOR = "1022", DEVICE = "1480" ]
PCI = [ TYPE = "NIC", NETWORK = "pt", NETWORK_UNAME = "oneadmin", VENDOR = "15b3", DEVICE = "1018", IP = "10.0.0.12" ]
`;

test('networks are validated; NIC requests get MAC, IP, IPv6 and VLAN in template order; libvirt XML and context follow', async () => {
  await withCluster(sriovNicHost, async (c) => {
    const created = await c.api<{ name: string; vlanId: number; free: number }>('POST', '/api/v1/networks', { name: 'pt', vlanId: 100, ipRange: { first: '10.0.0.10', size: 3 }, ip6Prefix: '2001:db8::/64' });
    assert.equal(created.status, 201);
    assert.deepEqual([created.body.name, created.body.vlanId, created.body.free], ['pt', 100, 3]);
    const overlap = await c.api<{ detail: string }>('POST', '/api/v1/networks', { name: 'other', ipRange: { first: '10.0.0.12', size: 10 } });
    assert.equal(overlap.status, 409);
    assert.match(overlap.body.detail, /overlaps network "pt"/);
    const badVlan = await c.api<{ field: string }>('POST', '/api/v1/networks', { name: 'v', vlanId: 4095 });
    assert.equal(badVlan.status, 400);
    assert.equal(badVlan.body.field, 'vlanId');
    const badCidr = await c.api<{ field: string }>('POST', '/api/v1/networks', { name: 'v6', ip6Prefix: '2001:db8::/48' });
    assert.equal(badCidr.status, 400);
    assert.equal(badCidr.body.field, 'ip6Prefix');

    const unknown = await c.api<{ field: string; detail: string }>('POST', '/api/v1/vms', 'PCI = [ TYPE = "NIC", NETWORK = "nope", VENDOR = "15b3" ]\n');
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.field, 'PCI[0].NETWORK');

    const vm = (await c.api<VmJson>('POST', '/api/v1/vms', MIXED)).body;
    assert.equal(vm.state, 'allocated');
    const addressOf = (req: number) => vm.devices.find((d) => d.request === req)!.address;
    assert.deepEqual(vm.nics, [
      { index: 0, network: 'pt', mac: '02:00:0a:00:00:0a', ip: '10.0.0.10', ip6: '2001:db8::aff:fe00:a', vlanId: 100, address: addressOf(0) },
      { index: 1, network: 'pt', mac: '02:00:0a:00:00:0c', ip: '10.0.0.12', ip6: '2001:db8::aff:fe00:c', vlanId: 100, address: addressOf(2) },
    ]);
    assert.equal(addressOf(1), '0000:40:00.0');

    const xmlRes = await fetch(`${c.server.httpUrl}/api/v1/vms/${vm.id}/libvirt`);
    assert.match(xmlRes.headers.get('content-type') ?? '', /xml/);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(await xmlRes.text());
    const hostdevs = [doc.devices.hostdev].flat();
    assert.deepEqual(hostdevs, [{ mode: 'subsystem', type: 'pci', managed: 'yes', source: { address: { domain: '0x0000', bus: '0x40', slot: '0x00', function: '0x0' } } }]);
    const ifaces = [doc.devices.interface].flat();
    assert.equal(ifaces.length, 2);
    for (const [i, iface] of ifaces.entries()) {
      const nic: Nic = vm.nics[i]!;
      const [, bus, slot, fn] = /^0000:(..):(..)\.(.)$/.exec(nic.address)!;
      assert.equal(iface.type, 'hostdev');
      assert.equal(iface.managed, 'yes');
      assert.equal(iface.mac.address, nic.mac);
      assert.deepEqual(iface.source.address, { type: 'pci', domain: '0x0000', bus: `0x${bus}`, slot: `0x${slot}`, function: `0x${fn}` });
      assert.equal(iface.vlan.tag.id, '100');
    }

    const ctx = (await c.api<Record<string, string>>('GET', `/api/v1/vms/${vm.id}/context`)).body;
    assert.equal(ctx.ETH0_MAC, '02:00:0a:00:00:0a');
    assert.equal(ctx.ETH0_IP, '10.0.0.10');
    assert.equal(ctx.ETH0_IP6, '2001:db8::aff:fe00:a');
    assert.equal(ctx.ETH0_VLAN_ID, '100');
    assert.equal(ctx.ETH1_IP, '10.0.0.12');

    // The range has 3 addresses; 2 are leased. A VM needing 2 stays pending.
    const second = (await c.api<VmJson>('POST', '/api/v1/vms', 'PCI = [ TYPE = "NIC", NETWORK = "pt", VENDOR = "15b3", DEVICE = "1018" ]\nPCI = [ TYPE = "NIC", NETWORK = "pt", VENDOR = "15b3", DEVICE = "1018" ]\n')).body;
    assert.equal(second.state, 'pending');
    assert.deepEqual(second.pendingReasons, [{ host: null, reason: 'network pt has no free address' }]);
    assert.equal((await c.api('DELETE', '/api/v1/networks/pt')).status, 409);

    await c.api('DELETE', `/api/v1/vms/${vm.id}`);
    const placed = await eventually(async () => {
      const v = (await c.api<VmJson>('GET', `/api/v1/vms/${second.id}`)).body;
      return v.state === 'allocated' ? v : null;
    }, 10_000, 'second VM placed after release');
    assert.deepEqual(placed.nics.map((n) => n.ip), ['10.0.0.10', '10.0.0.11']);
    await c.api('DELETE', `/api/v1/vms/${second.id}`);
    await eventually(async () => (await c.api<VmJson>('GET', `/api/v1/vms/${second.id}`)).body.state === 'released', 10_000, 'released');
    assert.equal((await c.api('DELETE', '/api/v1/networks/pt')).status, 204);
  });
});

test('16 clients on a 20-address range: no duplicate IP or MAC, exactly 20 placed', async () => {
  const vfs: FakeDevice[] = Array.from({ length: 30 }, (_, i) => ({
    address: `0000:41:${String(Math.floor(i / 8) + 1).padStart(2, '0')}.${i % 8}`,
    vendor: '15b3', device: '1018', class: '020000', physfn: '0000:41:00.0', iommuGroup: 20 + i, driver: 'vfio-pci', numaNode: 0,
  }));
  const make = () =>
    buildFakeHost({
      iommu: true,
      modules: ['vfio_pci', 'vfio_iommu_type1'],
      devices: [{ address: '0000:41:00.0', vendor: '15b3', device: '1017', class: '020000', iommuGroup: 19, driver: 'mlx5_core', sriovTotalVfs: 32 }, ...vfs],
    });
  await withCluster(make, async (c) => {
    assert.equal((await c.api('POST', '/api/v1/networks', { name: 'small', ipRange: { first: '192.168.10.1', size: 20 } })).status, 201);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < 48) {
          next++;
          const res = await c.api('POST', '/api/v1/vms', { pci: [{ type: 'NIC', network: 'small', vendor: '15b3', device: '1018' }] });
          assert.equal(res.status, 201);
        }
      }),
    );
    await c.server.scheduler.settled();
    const vms = (await c.api<VmJson[]>('GET', '/api/v1/vms')).body;
    assert.equal(vms.length, 48);
    const live = vms.filter((v) => v.state === 'allocated');
    assert.equal(live.length, 20);
    const nics = live.flatMap((v) => v.nics);
    assert.equal(new Set(nics.map((n) => n.ip)).size, 20);
    assert.equal(new Set(nics.map((n) => n.mac)).size, 20);
    assert.equal(new Set(nics.map((n) => n.address)).size, 20);
    for (const v of vms.filter((x) => x.state === 'pending')) assert.deepEqual(v.pendingReasons, [{ host: null, reason: 'network small has no free address' }]);
  });
});

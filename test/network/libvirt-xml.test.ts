/**
 * libvirtDomainFragment: the exact text for a simple case, then the XML
 * parsed back with fast-xml-parser and checked attribute by attribute
 * (non-zero domain, SR-IOV VF NIC with and without VLAN), and the errors.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { libvirtDomainFragment, parsePciAddress, escapeXmlAttr } from '../../network/index.js';
import { throwsField } from './expect.js';

interface Addr { '@_type'?: string; '@_domain': string; '@_bus': string; '@_slot': string; '@_function': string }
interface Hostdev { '@_mode': string; '@_type': string; '@_managed': string; source: { address: Addr } }
interface Iface {
  '@_type': string;
  '@_managed': string;
  mac: { '@_address': string };
  source: { address: Addr };
  vlan?: { tag: { '@_id': string } };
}
interface Parsed { '#comment'?: string; devices: { hostdev?: Hostdev[]; interface?: Iface[] } }

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  commentPropName: '#comment',
  isArray: (name) => name === 'hostdev' || name === 'interface',
});
const parse = (xml: string) => parser.parse(xml) as Parsed;

test('libvirtDomainFragment: exact text, one element per line, 2-space indent', () => {
  const xml = libvirtDomainFragment({
    vmName: 'vm-1',
    devices: [
      { address: '0000:01:00.0' },
      { address: '0000:01:00.2', nic: { mac: '02:00:0A:00:00:05', vlanId: 100 } },
    ],
  });
  assert.equal(xml, [
    `<!-- pcisched: PCI devices of VM "vm-1" -->`,
    `<devices>`,
    `  <hostdev mode='subsystem' type='pci' managed='yes'>`,
    `    <source>`,
    `      <address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>`,
    `    </source>`,
    `  </hostdev>`,
    `  <interface type='hostdev' managed='yes'>`,
    `    <mac address='02:00:0a:00:00:05'/>`,
    `    <source>`,
    `      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x2'/>`,
    `    </source>`,
    `    <vlan>`,
    `      <tag id='100'/>`,
    `    </vlan>`,
    `  </interface>`,
    `</devices>`,
    ``,
  ].join('\n'));
});

test('libvirtDomainFragment: parsed back, field by field (GPU + audio companion, VF NICs, non-zero domain)', () => {
  const xml = libvirtDomainFragment({
    vmName: 'gpu-vm',
    devices: [
      { address: '0000:0A:00.0' }, // GPU (uppercase hex in, lowercase out)
      { address: '0000:0a:00.1' }, // its HDMI audio companion
      { address: '0001:41:10.3', nic: { mac: '02:00:c0:a8:00:0a', vlanId: 4094 } }, // VF in PCI domain 1
      { address: '10000:e1:1f.7', nic: { mac: '02:00:c0:a8:00:0b', vlanId: null } }, // VMD-style domain, no VLAN
    ],
  });
  const doc = parse(xml);
  assert.equal(doc['#comment']?.trim(), 'pcisched: PCI devices of VM "gpu-vm"');
  const hostdevs = doc.devices.hostdev ?? [];
  assert.equal(hostdevs.length, 2);
  for (const [h, fn] of [[hostdevs[0]!, '0x0'], [hostdevs[1]!, '0x1']] as const) {
    assert.equal(h['@_mode'], 'subsystem');
    assert.equal(h['@_type'], 'pci');
    assert.equal(h['@_managed'], 'yes');
    assert.deepEqual(h.source.address, { '@_domain': '0x0000', '@_bus': '0x0a', '@_slot': '0x00', '@_function': fn });
  }
  const ifaces = doc.devices.interface ?? [];
  assert.equal(ifaces.length, 2);
  const [vf, vmd] = ifaces as [Iface, Iface];
  assert.equal(vf['@_type'], 'hostdev');
  assert.equal(vf['@_managed'], 'yes');
  assert.equal(vf.mac['@_address'], '02:00:c0:a8:00:0a');
  assert.deepEqual(vf.source.address, { '@_type': 'pci', '@_domain': '0x0001', '@_bus': '0x41', '@_slot': '0x10', '@_function': '0x3' });
  assert.equal(vf.vlan?.tag['@_id'], '4094');
  assert.equal(vmd.mac['@_address'], '02:00:c0:a8:00:0b');
  assert.deepEqual(vmd.source.address, { '@_type': 'pci', '@_domain': '0x10000', '@_bus': '0xe1', '@_slot': '0x1f', '@_function': '0x7' });
  assert.equal(vmd.vlan, undefined, 'no <vlan> without a VLAN id');
});

test('libvirtDomainFragment: no devices still gives a <devices> element', () => {
  assert.equal(libvirtDomainFragment({ vmName: 'empty', devices: [] }), `<!-- pcisched: PCI devices of VM "empty" -->\n<devices>\n</devices>\n`);
});

test('libvirtDomainFragment: VM names cannot break the comment or the lines', () => {
  const name = `a--b-->\n<evil/>'"&-`;
  const xml = libvirtDomainFragment({ vmName: name, devices: [{ address: '0000:01:00.0' }] });
  const first = xml.split('\n')[0]!;
  assert.ok(first.startsWith('<!-- ') && first.endsWith(' -->'));
  const inner = first.slice(4, -3);
  assert.ok(!inner.includes('--'), inner);
  assert.equal(xml.split('\n').length, 9, 'comment, 7 element lines, final newline: no extra lines');
  const doc = parse(xml);
  assert.equal(doc.devices.hostdev?.length, 1);
  // The comment holds the name as a JSON string that decodes back to it.
  const json = doc['#comment']!.trim().replace(/^pcisched: PCI devices of VM /, '');
  assert.equal(JSON.parse(json), name);
});

test('escapeXmlAttr: quotes, markup and whitespace that attribute normalization would change', () => {
  assert.equal(escapeXmlAttr(`a&b<c>d"e'f\tg\nh`), 'a&#38;b&#60;c&#62;d&#34;e&#39;f&#9;g&#10;h');
  assert.equal(escapeXmlAttr('0x0000'), '0x0000');
});

test('parsePciAddress: parts, and the errors', () => {
  assert.deepEqual(parsePciAddress('0000:01:1f.7'), { domain: 0, bus: 1, slot: 0x1f, function: 7 });
  throwsField(() => parsePciAddress('0000:01:20.0'), 'address', /above 0x1f/);
  for (const bad of ['01:00.0', '0000:01:00.8', '0000:1:00.0', '0000:01:00:0', '000:01:00.0', ' 0000:01:00.0']) {
    throwsField(() => parsePciAddress(bad), 'address', /not a PCI address/);
  }
});

test('libvirtDomainFragment: errors name the input field', () => {
  const ok = { address: '0000:01:00.0' };
  throwsField(() => libvirtDomainFragment({ vmName: '', devices: [ok] }), 'vmName');
  throwsField(() => libvirtDomainFragment({ vmName: 'v', devices: [ok, { address: '0000:01:00' }] }), 'devices[1].address');
  throwsField(() => libvirtDomainFragment({ vmName: 'v', devices: [ok, { address: '0000:01:00.0' }] }), 'devices[1].address', /already devices\[0\]/);
  throwsField(() => libvirtDomainFragment({ vmName: 'v', devices: [ok, { address: '0000:01:00.1', nic: { mac: 'nope', vlanId: null } }] }), 'devices[1].nic.mac');
  throwsField(
    () => libvirtDomainFragment({ vmName: 'v', devices: [{ address: '0000:01:00.1', nic: { mac: '01:00:5e:00:00:01', vlanId: null } }] }),
    'devices[0].nic.mac',
    /multicast/,
  );
  for (const vlanId of [0, 4095, 1.5]) {
    throwsField(
      () => libvirtDomainFragment({ vmName: 'v', devices: [{ address: '0000:01:00.1', nic: { mac: '02:00:00:00:00:01', vlanId } }] }),
      'devices[0].nic.vlanId',
    );
  }
});

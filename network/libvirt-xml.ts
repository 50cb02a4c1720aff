/**
 * The `<devices>` fragment of a libvirt domain for a VM's PCI devices, as
 * OpenNebula's KVM driver writes them (src/vmm/LibVirtDriverKVM.cc) and as
 * libvirt documents them (formatdomain: "hostdev", "interface type='hostdev'"):
 *
 *   <hostdev mode='subsystem' type='pci' managed='yes'>      plain device or companion
 *   <interface type='hostdev' managed='yes'>                 PCI NIC, with <mac> and <vlan>
 *
 * Address attributes as libvirt formats them: domain `0x%04x`, bus `0x%02x`,
 * slot `0x%02x`, function `0x%x`, lowercase.
 *
 * libvirt accepts `<interface type='hostdev'>` only for SR-IOV virtual
 * functions (it sets the MAC and VLAN through the PF); a whole NIC that is not
 * a VF has to be passed as a plain device (no `nic`), and the guest keeps the
 * card's own MAC. This module cannot tell VFs from other NICs: the caller does.
 */
import { ValidationError } from '../common/index.js';
import { isUnicastMac, normalizeMac } from './mac.js';

export interface LibvirtNic {
  mac: string;
  /** 802.1Q tag, 1–4094, or null for an untagged network. */
  vlanId: number | null;
}

export interface LibvirtDevice {
  /** Host PCI address `DDDD:BB:SS.F` (4–8 hex digit domain, as sysfs names it). */
  address: string;
  /** Present for a PCI device used as a NIC (OpenNebula's TYPE = "NIC"). */
  nic?: LibvirtNic;
}

export interface LibvirtFragmentInput {
  vmName: string;
  devices: LibvirtDevice[];
}

/** PCI address fields as numbers. */
export interface PciAddressParts {
  domain: number;
  bus: number;
  slot: number;
  function: number;
}

const ADDRESS_RE = /^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i;

/** `0000:01:00.0` → numbers; slot must be ≤ 0x1f. Throws ValidationError naming `field`. */
export function parsePciAddress(address: string, field = 'address'): PciAddressParts {
  const m = typeof address === 'string' ? ADDRESS_RE.exec(address) : null;
  if (!m) {
    throw new ValidationError(`${JSON.stringify(address)} is not a PCI address DDDD:BB:SS.F, e.g. 0000:01:00.0`, { field });
  }
  const [domain, bus, slot, fn] = m.slice(1, 5).map((h) => parseInt(h, 16)) as [number, number, number, number];
  if (slot > 0x1f) throw new ValidationError(`slot 0x${m[3]} of ${address} is above 0x1f`, { field });
  return { domain, bus, slot, function: fn };
}

/** Attribute value escaping for single- or double-quoted attributes. */
export function escapeXmlAttr(s: string): string {
  return s.replace(/[&<>"'\t\n\r]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Text for inside `<!-- -->`: the name as a JSON string, whose escapes keep
 * control characters out, with `--` broken up as `-\u002d` (still the same
 * JSON string) since XML comments may not contain `--`.
 */
function commentText(s: string): string {
  return JSON.stringify(s)
    .replace(/--/g, '-\\u002d')
    .replace(/[\ufffe\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

const hex = (n: number, digits: number) => `0x${n.toString(16).padStart(digits, '0')}`;

function addressAttrs(a: PciAddressParts): string {
  return [
    `domain='${escapeXmlAttr(hex(a.domain, 4))}'`,
    `bus='${escapeXmlAttr(hex(a.bus, 2))}'`,
    `slot='${escapeXmlAttr(hex(a.slot, 2))}'`,
    `function='${escapeXmlAttr(hex(a.function, 1))}'`,
  ].join(' ');
}

function hostdevLines(a: PciAddressParts): string[] {
  return [
    `<hostdev mode='subsystem' type='pci' managed='yes'>`,
    `  <source>`,
    `    <address ${addressAttrs(a)}/>`,
    `  </source>`,
    `</hostdev>`,
  ];
}

function interfaceLines(a: PciAddressParts, mac: string, vlanId: number | null): string[] {
  const lines = [
    `<interface type='hostdev' managed='yes'>`,
    `  <mac address='${escapeXmlAttr(mac)}'/>`,
    `  <source>`,
    `    <address type='pci' ${addressAttrs(a)}/>`,
    `  </source>`,
  ];
  if (vlanId !== null) lines.push(`  <vlan>`, `    <tag id='${escapeXmlAttr(String(vlanId))}'/>`, `  </vlan>`);
  lines.push(`</interface>`);
  return lines;
}

/**
 * One element per line, 2-space indent, a leading comment naming the VM,
 * devices in input order, ending with a newline. Throws ValidationError naming
 * `vmName`, `devices[i].address` (malformed or repeated), `devices[i].nic.mac`
 * (malformed or multicast) or `devices[i].nic.vlanId` (not 1–4094 or null).
 */
export function libvirtDomainFragment(input: LibvirtFragmentInput): string {
  const { vmName, devices } = input;
  if (typeof vmName !== 'string' || vmName.length === 0) throw new ValidationError('a VM name is required', { field: 'vmName' });
  if (!Array.isArray(devices)) throw new ValidationError('expected an array of devices', { field: 'devices' });
  const body: string[] = [];
  const seen = new Map<string, number>();
  devices.forEach((d, i) => {
    const field = `devices[${i}]`;
    const a = parsePciAddress(d?.address, `${field}.address`);
    const key = `${a.domain}:${a.bus}:${a.slot}.${a.function}`;
    const prev = seen.get(key);
    if (prev !== undefined) {
      throw new ValidationError(`${d.address} is already devices[${prev}]`, { field: `${field}.address` });
    }
    seen.set(key, i);
    if (d.nic === undefined || d.nic === null) {
      body.push(...hostdevLines(a));
      return;
    }
    const mac = normalizeMac(d.nic.mac, `${field}.nic.mac`);
    if (!isUnicastMac(mac)) {
      throw new ValidationError(`${mac} is a multicast MAC; libvirt needs a unicast one`, { field: `${field}.nic.mac` });
    }
    const v = d.nic.vlanId ?? null;
    if (v !== null && (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 4094)) {
      throw new ValidationError(`${JSON.stringify(v)} is not a VLAN id: an integer from 1 to 4094, or null`, {
        field: `${field}.nic.vlanId`,
      });
    }
    body.push(...interfaceLines(a, mac, v));
  });
  return [
    `<!-- pcisched: PCI devices of VM ${commentText(vmName)} -->`,
    '<devices>',
    ...body.map((l) => `  ${l}`),
    '</devices>',
    '',
  ].join('\n');
}

/**
 * Human-readable output for hosts and VMs. The JSON shapes are the REST API's;
 * these functions only lay them out.
 */
import type { HostView, HostDeviceView, VmDevice, PendingReason } from '../scheduler/index.js';
import { renderFields, renderTable, type Column } from './table.js';

/** What `GET /api/v1/vms/:id` returns (fields the CLI reads). */
export interface VmJson {
  id: number;
  name: string;
  state: string;
  host: string | null;
  devices: VmDevice[];
  pendingReasons: PendingReason[];
  createdAt: string;
}

export interface Style {
  header: (line: string) => string;
}

export const plainStyle: Style = { header: (l) => l };
/** Bold and underlined, as onehost does on a terminal. */
export const terminalStyle: Style = { header: (l) => `\x1b[1;4m${l}\x1b[0m` };

const NVIDIA = '10de';

/** OpenNebula's DEVICE_NAME: NVIDIA devices are prefixed with the vendor name. */
export function deviceDisplayName(d: Pick<HostDeviceView, 'vendor' | 'vendorName' | 'deviceName'>): string {
  return d.vendor === NVIDIA ? `${d.vendorName} ${d.deviceName}` : d.deviceName;
}

const pciColumns: Column<HostDeviceView>[] = [
  { header: 'VM', width: 5, align: 'right', value: (d) => (d.vm === null ? '' : String(d.vm)) },
  { header: 'ADDR', width: 7, value: (d) => d.shortAddress },
  { header: 'TYPE', width: 14, value: (d) => `${d.vendor}:${d.device}:${d.class}` },
  { header: 'NAME', width: 50, value: deviceDisplayName },
];

/** The PCI DEVICES table in exactly `onehost show`'s layout. */
export function pciDevicesTable(devices: HostDeviceView[], style: Style = plainStyle): string[] {
  return renderTable(pciColumns, devices, { separator: ' ', styleHeader: style.header });
}

const list = (xs: readonly string[] | null | undefined): string => (xs && xs.length > 0 ? xs.join(',') : '-');

/** The READINESS section: what passthrough needs from the host, as the probe read it. */
export function readinessLines(host: HostView): string[] {
  const r = host.readiness;
  const k = r.kernel;
  const lines = [
    'READINESS',
    ...renderFields([
      ['CPU VENDOR', r.cpuVendor],
      ['IOMMU', r.iommuEnabled ? 'on' : 'off'],
      ['INTEL_IOMMU', list(k.intelIommu)],
      ['AMD_IOMMU', list(k.amdIommu)],
      ['IOMMU=PT', k.iommuPt ? 'yes' : 'no'],
      ['RELAX_RMRR', k.relaxRmrr ? 'yes' : 'no'],
      ['ACS OVERRIDE', r.acsOverride ? `yes (${list(k.pcieAcsOverride)})` : 'no'],
      ['VFIO-PCI.IDS', list(k.vfioPciIds)],
      ['RD.DRIVER.PRE', list(k.rdDriverPre)],
      ['VIDEO OFF', list(k.videoOff)],
      ['BLACKLIST', list(k.blacklist)],
      ['VFIO_PCI', r.vfioLoaded.vfio_pci ? 'loaded' : 'not loaded'],
      ['VFIO_IOMMU_TYPE1', r.vfioLoaded.vfio_iommu_type1 ? 'loaded' : 'not loaded'],
      ['VENDOR_RESET', r.vfioLoaded.vendor_reset ? 'loaded' : 'not loaded'],
    ]),
  ];
  for (const p of r.problems) lines.push(`PROBLEM: ${p}`);
  for (const w of r.warnings) lines.push(`WARNING: ${w}`);
  const notAssignable = host.devices.filter((d) => !d.assignable && !d.class.startsWith('06'));
  for (const d of notAssignable) lines.push(`NOT ASSIGNABLE ${d.shortAddress}: ${d.reasons.join('; ')}`);
  for (const d of host.devices.filter((x) => x.assignable && x.warnings.length > 0)) lines.push(`WARNING ${d.shortAddress}: ${d.warnings.join('; ')}`);
  return lines;
}

export function formatHostShow(host: HostView, style: Style = plainStyle): string {
  const lines = [
    `HOST ${host.id} INFORMATION`,
    ...renderFields([
      ['ID', String(host.id)],
      ['NAME', host.name],
      ['STATE', host.state],
      ['LAST SEEN', host.lastSeenAt ?? '-'],
      ['REGISTERED', host.registeredAt],
      ['DEVICES', `${host.devicesUsed}/${host.devicesTotal} used`],
    ]),
    '',
    ...readinessLines(host),
    '',
    'PCI DEVICES',
    '',
    ...pciDevicesTable(host.devices, style),
  ];
  return lines.join('\n') + '\n';
}

export function formatHostList(hosts: HostView[], style: Style = plainStyle): string {
  const columns: Column<HostView>[] = [
    { header: 'ID', align: 'right', value: (h) => String(h.id) },
    { header: 'NAME', value: (h) => h.name },
    { header: 'STATE', value: (h) => h.state },
    { header: 'TOTAL', align: 'right', value: (h) => String(h.devicesTotal) },
    { header: 'USED', align: 'right', value: (h) => String(h.devicesUsed) },
  ];
  return renderTable(columns, hosts, { styleHeader: style.header }).join('\n') + '\n';
}

export function formatVmList(vms: VmJson[], style: Style = plainStyle): string {
  const columns: Column<VmJson>[] = [
    { header: 'ID', align: 'right', value: (v) => String(v.id) },
    { header: 'NAME', value: (v) => v.name },
    { header: 'STATE', value: (v) => v.state },
    { header: 'HOST', value: (v) => v.host ?? '-' },
    { header: 'DEVICES', align: 'right', value: (v) => String(v.devices.length) },
  ];
  return renderTable(columns, vms, { styleHeader: style.header }).join('\n') + '\n';
}

export function formatVmShow(vm: VmJson, style: Style = plainStyle): string {
  const lines = [
    `VM ${vm.id} INFORMATION`,
    ...renderFields([
      ['ID', String(vm.id)],
      ['NAME', vm.name],
      ['STATE', vm.state],
      ['HOST', vm.host ?? '-'],
      ['CREATED', vm.createdAt],
    ]),
  ];
  if (vm.devices.length > 0) {
    const columns: Column<VmDevice>[] = [
      { header: 'REQ', width: 5, align: 'right', value: (d) => (d.request === null ? '' : String(d.request)) },
      { header: 'ADDR', width: 7, value: (d) => d.shortAddress },
      { header: 'TYPE', width: 14, value: (d) => `${d.vendor}:${d.device}:${d.class}` },
      { header: 'NOTE', value: (d) => (d.companion ? 'IOMMU group companion' : '') },
    ];
    lines.push('', 'PCI DEVICES', '', ...renderTable(columns, vm.devices, { separator: ' ', styleHeader: style.header }));
  }
  if (vm.pendingReasons.length > 0) {
    const columns: Column<PendingReason>[] = [
      { header: 'HOST', value: (r) => r.host ?? '*' },
      { header: 'REASON', value: (r) => r.reason },
    ];
    lines.push('', 'PENDING REASONS', '', ...renderTable(columns, vm.pendingReasons, { styleHeader: style.header }));
  }
  return lines.join('\n') + '\n';
}

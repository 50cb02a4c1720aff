/** Output of `pcisched probe scan`: a plain-text table, or JSON with `--json`. */
import { deviceType, type DeviceReport, type HostReport } from '../common/index.js';

function sriovCell(d: DeviceReport): string {
  if (d.sriov === 'pf') return `pf ${d.numVfs ?? '?'}/${d.totalVfs ?? '?'}`;
  return d.sriov;
}

/**
 * A header block then one row per device. Columns are as wide as their widest cell and
 * separated by two spaces; trailing spaces are stripped (as OpenNebula's onehost does).
 * Missing values print as `-`. No colours: the output is meant to be grepped too.
 */
export function formatScanTable(report: HostReport): string {
  const h = report.host;
  const lines = [
    `HOST:     ${h.name}`,
    `IOMMU:    ${h.iommuEnabled ? `on (${h.iommuGroupCount} groups)` : 'off'}`,
    `CPU:      ${h.cpuVendor || '-'}`,
    `CMDLINE:  ${h.kernelCmdline || '-'}`,
    '',
  ];
  const header = ['ADDR', 'TYPE', 'IOMMU', 'NUMA', 'DRIVER', 'SRIOV', 'NAME'];
  const rows = report.devices.map((d) => [
    d.shortAddress,
    deviceType(d),
    d.iommuGroup === null ? '-' : String(d.iommuGroup),
    d.numaNode === null ? '-' : String(d.numaNode),
    d.driver ?? '-',
    sriovCell(d),
    d.deviceName || '-',
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((r) => r[i]!.length)));
  const render = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  lines.push(render(header));
  for (const r of rows) lines.push(render(r));
  if (rows.length === 0) lines.push('(no PCI devices match the filter)');
  return lines.join('\n') + '\n';
}

/**
 * The `--json` document `{"host": {...}, "devices": [...]}` as a fresh plain object for
 * JSON.stringify (the CLI's printJson), host keys in a fixed order.
 */
export function scanToJson(report: HostReport): HostReport {
  const h = report.host;
  return {
    host: {
      name: h.name,
      kernelCmdline: h.kernelCmdline,
      cpuVendor: h.cpuVendor,
      iommuEnabled: h.iommuEnabled,
      loadedModules: [...h.loadedModules],
      iommuGroupCount: h.iommuGroupCount,
    },
    devices: report.devices.map((d) => ({ ...d })),
  };
}

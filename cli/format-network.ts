/** Human-readable output for networks. */
import type { NetworkView } from '../scheduler/index.js';
import { renderFields, renderTable, type Column } from './table.js';
import { plainStyle, type Style } from './format.js';

function range(n: NetworkView): string {
  return n.ipRange ? `${n.ipRange.first} +${n.ipRange.size}` : '-';
}

export function formatNetworkList(nets: NetworkView[], style: Style = plainStyle): string {
  const columns: Column<NetworkView>[] = [
    { header: 'ID', align: 'right', value: (n) => String(n.id) },
    { header: 'NAME', value: (n) => n.name },
    { header: 'VLAN', align: 'right', value: (n) => (n.vlanId === null ? '-' : String(n.vlanId)) },
    { header: 'IP RANGE', value: range },
    { header: 'LEASES', align: 'right', value: (n) => String(n.leases) },
    { header: 'FREE', align: 'right', value: (n) => (n.free === null ? '-' : String(n.free)) },
  ];
  return renderTable(columns, nets, { styleHeader: style.header }).join('\n') + '\n';
}

export function formatNetworkShow(n: NetworkView): string {
  return (
    [
      `NETWORK ${n.id} INFORMATION`,
      ...renderFields([
        ['ID', String(n.id)],
        ['NAME', n.name],
        ['VLAN ID', n.vlanId === null ? '-' : String(n.vlanId)],
        ['IP RANGE', range(n)],
        ['IP6 PREFIX', n.ip6Prefix ?? '-'],
        ['MAC PREFIX', n.macPrefix],
        ['LEASES', String(n.leases)],
        ['FREE', n.free === null ? '-' : String(n.free)],
      ]),
    ].join('\n') + '\n'
  );
}

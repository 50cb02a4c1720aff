/**
 * Networks and leases. Leases are taken inside the placement transaction,
 * so a VM gets its devices and its addresses together or not at all; the
 * unique MAC/IP columns refuse a second live holder.
 */
import type { Clock } from '../common/index.js';
import { ConflictError, NotFoundError, ValidationError } from '../common/index.js';
import {
  validateNetworkInput,
  assertNoOverlap,
  ipIndex,
  nextFreeIpIndex,
  leaseAt,
  nextFreeMacSequence,
  normalizeMac,
  normalizeIpv4,
  ip6For,
  type NetworkDefinition,
  type NetworkInput,
} from '../network/index.js';
import type { Db } from './db/index.js';

type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

export interface NetworkView extends NetworkDefinition {
  id: number;
  leases: number;
  /** Addresses still free in the IPv4 range; null without a range. */
  free: number | null;
  createdAt: string;
}

export interface NicLease {
  /** Position among the VM's NICs, in template order. */
  index: number;
  network: string;
  mac: string;
  ip: string | null;
  ip6: string | null;
  vlanId: number | null;
  /** The PCI device that is this NIC. */
  address: string;
  request: number;
}

export interface NicPlan {
  index: number;
  request: number;
  network: string;
  address: string;
  mac?: string;
  ip?: string;
}

/** The network cannot give this VM an address now: the VM stays pending. */
export class NoFreeAddressError extends ConflictError {}

type NetworkRow = { id: number; name: string; vlanId: number | null; ipFirst: string | null; ipSize: number | null; ip6Prefix: string | null; macPrefix: string; createdAt: Date };

function definition(row: NetworkRow): NetworkDefinition {
  return validateNetworkInput({
    name: row.name,
    vlanId: row.vlanId ?? undefined,
    ipRange: row.ipFirst !== null && row.ipSize !== null ? { first: row.ipFirst, size: row.ipSize } : undefined,
    ip6Prefix: row.ip6Prefix ?? undefined,
    macPrefix: row.macPrefix,
  });
}

export class NetworkStore {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async create(input: NetworkInput): Promise<NetworkView> {
    const net = validateNetworkInput(input);
    return this.db.$transaction(async (tx) => {
      const existing = await tx.network.findMany();
      if (existing.some((n) => n.name === net.name)) throw new ConflictError(`network ${net.name} already exists`);
      assertNoOverlap(net, existing.map(definition));
      const row = await tx.network.create({
        data: {
          name: net.name,
          vlanId: net.vlanId,
          ipFirst: net.ipRange?.first ?? null,
          ipSize: net.ipRange?.size ?? null,
          ip6Prefix: net.ip6Prefix,
          macPrefix: net.macPrefix,
          createdAt: this.clock.now(),
        },
      });
      return view(row, 0);
    });
  }

  async list(): Promise<NetworkView[]> {
    const rows = await this.db.network.findMany({ orderBy: { id: 'asc' }, include: { _count: { select: { leases: true } } } });
    return rows.map((r) => view(r, r._count.leases));
  }

  async get(name: string): Promise<NetworkView> {
    const row = await this.db.network.findUnique({ where: { name }, include: { _count: { select: { leases: true } } } });
    if (!row) throw new NotFoundError('network', name);
    return view(row, row._count.leases);
  }

  async delete(name: string): Promise<void> {
    await this.db.$transaction(async (tx) => {
      const row = await tx.network.findUnique({ where: { name }, include: { _count: { select: { leases: true } } } });
      if (!row) throw new NotFoundError('network', name);
      if (row._count.leases > 0) throw new ConflictError(`network ${name} has ${row._count.leases} lease(s): release those VMs first`);
      await tx.network.delete({ where: { id: row.id } });
    });
  }

  /** Names that do not exist, for validation at submission. */
  async missing(names: string[]): Promise<string[]> {
    const found = new Set((await this.db.network.findMany({ where: { name: { in: names } }, select: { name: true } })).map((n) => n.name));
    return names.filter((n) => !found.has(n));
  }

  /** Networks among `names` with no free IPv4 address left (a cheap pre-check before searching). */
  async exhausted(demand: Map<string, number>): Promise<string[]> {
    const out: string[] = [];
    for (const [name, count] of demand) {
      const v = await this.get(name).catch(() => null);
      if (v && v.free !== null && v.free < count) out.push(name);
    }
    return out;
  }
}

function view(row: NetworkRow, leases: number): NetworkView {
  const def = definition(row);
  return { id: row.id, ...def, leases, free: def.ipRange ? def.ipRange.size - leases : null, createdAt: row.createdAt.toISOString() };
}

/** Takes the planned NICs' leases inside a placement transaction. */
export async function allocateLeases(tx: Tx, vmId: number, plans: NicPlan[]): Promise<NicLease[]> {
  const out: NicLease[] = [];
  for (const plan of plans) {
    const row = await tx.network.findUnique({ where: { name: plan.network } });
    if (!row) throw new ValidationError(`network ${plan.network} does not exist`, { field: `PCI[${plan.request}].NETWORK` });
    const net = definition(row);
    const taken = await tx.lease.findMany({ where: { networkId: row.id }, select: { ip: true, mac: true } });
    const usedMacs = new Set((await tx.lease.findMany({ select: { mac: true } })).map((l) => l.mac));
    let ip: string | null = null;
    let mac: string;
    if (net.ipRange) {
      const used = new Set(taken.flatMap((l) => (l.ip === null ? [] : [ipIndex(net, l.ip) ?? -1])));
      let index: number | null;
      if (plan.ip) {
        index = ipIndex(net, normalizeIpv4(plan.ip, `PCI[${plan.request}].IP`));
        if (index === null) throw new ValidationError(`${plan.ip} is not in network ${net.name}`, { field: `PCI[${plan.request}].IP` });
        if (used.has(index)) throw new NoFreeAddressError(`IP ${plan.ip} of network ${net.name} is leased`);
      } else {
        index = nextFreeIpIndex(net, used);
        if (index === null) throw new NoFreeAddressError(`network ${net.name} has no free address`);
      }
      const lease = leaseAt(net, index);
      ip = lease.ip;
      mac = lease.mac;
    } else {
      const next = nextFreeMacSequence(net.macPrefix, usedMacs);
      if (!next) throw new NoFreeAddressError(`network ${net.name} has no free MAC address`);
      mac = next.mac;
    }
    if (plan.mac) mac = normalizeMac(plan.mac, `PCI[${plan.request}].MAC`);
    if (usedMacs.has(mac)) throw new NoFreeAddressError(`MAC ${mac} is leased`);
    const ip6 = ip6For(net, mac);
    await tx.lease.create({ data: { networkId: row.id, vmId, nicIndex: plan.index, request: plan.request, mac, ip, ip6, deviceAddress: plan.address } });
    out.push({ index: plan.index, network: net.name, mac, ip, ip6, vlanId: net.vlanId, address: plan.address, request: plan.request });
  }
  return out;
}

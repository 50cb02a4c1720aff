/**
 * Networks for PCI NICs (OpenNebula's TYPE = "NIC"): pure functions, no I/O.
 *
 * Definitions (./definition.ts)
 *   validateNetworkInput(input)          → NetworkDefinition; ValidationError naming name, vlanId,
 *                                          ipRange.first, ipRange.size, ip6Prefix or macPrefix
 *   rangesOverlap(a, b)                  IPv4 ranges share an address, or same IPv6 /64
 *   findOverlap(candidate, existing)     → the first overlapping network, or null
 *   assertNoOverlap(candidate, existing) throws ConflictError naming the other network
 *
 * Leases (./leases.ts, ./mac.ts); a lease is an index into the IPv4 range
 *   ipAt(net, index) / ipIndex(net, ip)  index ↔ dotted quad (ipIndex: null outside the range)
 *   nextFreeIpIndex(net, used, start=0)  first free index from start, wrapping; null when full
 *   macFor(net, index)                   MAC_PREFIX + the IPv4 octets (02:00 + 10.0.0.5 → 02:00:0a:00:00:05)
 *   macForSequence(prefix, n)            MAC_PREFIX + 32-bit counter, for networks without a range
 *   nextFreeMacSequence(prefix, usedMacs, start=0)  first counter whose MAC is not leased
 *   ip6For(net, mac)                     /64 prefix + modified EUI-64 of the MAC, RFC 5952 text
 *   leaseAt(net, index)                  → { index, ip, mac, ip6 }
 *   normalizeMac(s) / normalizeIp(s)     canonical text or ValidationError
 *
 * libvirt (./libvirt-xml.ts)
 *   libvirtDomainFragment({ vmName, devices })  <devices> with <hostdev> per plain device and
 *                                          <interface type='hostdev'> per NIC (SR-IOV VFs only)
 *
 * Context (./context.ts)
 *   contextVariables(nics)               → [['ETH0_MAC', …], ['ETH0_IP', …], …]
 *   formatContext(vars)                  → context.sh lines, ETH0_MAC='02:00:0a:00:00:05'
 *
 * Typical use, creating a network and leasing an address for a PCI NIC:
 *
 *   const net = validateNetworkInput(body);
 *   assertNoOverlap(net, otherNetworks);
 *   const i = nextFreeIpIndex(net, leasedIndexes, lastIndex + 1);
 *   if (i === null) throw new ConflictError(`network ${net.name} is full`);
 *   const lease = leaseAt(net, i);            // also check lease.mac against leased MACs
 *   const xml = libvirtDomainFragment({ vmName, devices: [{ address, nic: { mac: lease.mac, vlanId: net.vlanId } }] });
 */
export {
  validateNetworkInput,
  normalizeIp6Prefix,
  rangesOverlap,
  findOverlap,
  assertNoOverlap,
  rangeLastInt,
  MAX_RANGE_SIZE,
  type NetworkInput,
  type NetworkDefinition,
  type Ipv4Range,
} from './definition.js';
export { ipAt, ipIndex, nextFreeIpIndex, macFor, ip6For, leaseAt, type Lease } from './leases.js';
export {
  normalizeMac,
  normalizeMacPrefix,
  isUnicastMac,
  macForSequence,
  nextFreeMacSequence,
  DEFAULT_MAC_PREFIX,
} from './mac.js';
export { normalizeIp, normalizeIpv4, normalizeIpv6 } from './normalize-ip.js';
export {
  libvirtDomainFragment,
  parsePciAddress,
  escapeXmlAttr,
  type LibvirtFragmentInput,
  type LibvirtDevice,
  type LibvirtNic,
  type PciAddressParts,
} from './libvirt-xml.js';
export { contextVariables, formatContext, type ContextNic } from './context.js';

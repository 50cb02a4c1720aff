/**
 * The PCI placement engine: pure, synchronous, on plain data.
 *
 *   placeVm(spec, hosts, { policy, stepBudget?, cache? }) → PlacementResult
 *
 * Result:
 * - `{ kind: 'placed', host, devices }`: requested devices in request order
 *   (`request` = `PciRequest.index`, `companion: false`), then IOMMU-group
 *   companions by address (`request: null, companion: true`).
 * - `{ kind: 'unplaceable', reasons }`: the VM does not fit. Up to 3
 *   de-duplicated reasons per host, hosts by name: `offline`,
 *   `no free device matches PCI[0] (10de::0300)`, `IOMMU group 1 is held by
 *   VM 7`, `IOMMU group 1 has unreported endpoint …`, `… has no IOMMU group
 *   (IOMMU off)`, `… is not assignable: …`, `PF … has VFs in use`,
 *   `VF …: PF … is in use`, `PF … and its VF … cannot go to one VM`,
 *   `not enough free devices for …`, `no assignment with equal NUMA_NODE`,
 *   `search budget exhausted`, …; `{ host: null, reason: 'no hosts' }` when
 *   there are none.
 * - Throws `PlacementInputError` when inputs are broken (bad options, a host
 *   reporting an address twice, a throwing `matchesDevice`).
 *
 * Rules: missing, held and `assignable === false` devices are not
 * candidates; a device brings its whole IOMMU group (bridges excluded), and
 * a group member held by another VM, unreported, missing or unassignable
 * blocks it; a PF with VFs and its VFs exclude each other, across VMs and
 * within one; PCI_MATCH applies to requested devices only (companions
 * excluded) and a null attribute never equals anything, even for a single
 * device. The search is complete (backtracking, most constrained request
 * first) within `stepBudget` tried assignments per host (default 10000).
 *
 * Policy score: free matching devices (free devices that match any of the
 * VM's requests) left on the host after placement, counting the placed
 * devices, their companions and their direct SR-IOV relatives as gone.
 * `pack` takes the fewest, `spread` the most; ties go to the lowest host
 * name; `spec.policy` overrides `options.policy`.
 *
 * Caching, for large clusters:
 * - Static per-host structure (groups, SR-IOV links, id buckets) is built
 *   once per HostState and kept while `host.devices` is the same array with
 *   the same length; replace the array, or call `invalidateHostIndex`,
 *   after changing the device list in place.
 * - Without `options.cache`, live fields are read on every placement: always
 *   correct, but O(matching devices) per host (~5 placements/s at 10k hosts
 *   × 32 devices).
 * - With a caller-kept `PlacementCache`, per-host verdicts and candidate
 *   lists are reused until the caller reports a change with
 *   `cache.invalidate(host)` (see placement-cache.ts for the contract);
 *   passing the same hosts array every time lets the loop skip reading
 *   unchanged hosts altogether (~2000 placements/s at 10k × 32).
 *
 * `warmBounds(spec, hosts, options, from, stop)` does a new shape's
 * per-host prefilter ahead of `placeVm`, and `warmSearch(spec, hosts,
 * options, stop)` then the exact scores its search will need, a slice at a
 * time, so a caller can let other work run between slices.
 *
 * Assumption: `matchesDevice` accepts no device whose vendor, device, class
 * or short address differs (case-insensitively) from one the request gives,
 * and depends on nothing but those ids, the selector's source text and the
 * device's report (not on its live state).
 */
export { placeVm, warmBounds, warmSearch } from './place-vm.js';
export { PlacementCache, type PlacementCacheOptions } from './placement-cache.js';
export { invalidateHostIndex } from './host-index.js';
export { requestLabel, OFFLINE } from './reasons.js';
export {
  DEFAULT_STEP_BUDGET,
  PlacementInputError,
  type DeviceState,
  type HostState,
  type PlacedDevice,
  type PlacementOptions,
  type PlacementReason,
  type PlacementResult,
} from './types.js';

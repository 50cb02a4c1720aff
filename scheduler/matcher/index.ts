/**
 * The PCI placement engine: pure, synchronous, on plain data.
 *
 *   placeVm(spec, hosts, { policy, stepBudget? }) → PlacementResult
 *
 * - `{ kind: 'placed', host, devices }`: requested devices in request order
 *   (`request` = `PciRequest.index`), then IOMMU-group companions by address
 *   (`request: null, companion: true`).
 * - `{ kind: 'unplaceable', reasons }`: the VM does not fit; a few reasons
 *   per host (`offline`, `no free device matches PCI[0] (10de::0300)`,
 *   `IOMMU group 1 is held by VM 7`, `PF … has VFs in use`,
 *   `no assignment with equal NUMA_NODE`, `search budget exhausted`, …),
 *   hosts by name; `{ host: null, reason: 'no hosts' }` for an empty cluster.
 * - Throws `PlacementInputError` when inputs are broken (bad options, a host
 *   reporting an address twice, a throwing `matchesDevice`).
 *
 * Rules: devices that are missing, held or `assignable === false` are not
 * candidates; a device brings its whole IOMMU group (bridges excluded); a
 * PF with VFs and its VFs exclude each other; PCI_MATCH applies to
 * requested devices only (companions excluded), and a null attribute never
 * equals anything, not even for a single device. The search is complete
 * (backtracking, most constrained request first) within `stepBudget` tried
 * assignments per host (default 10000).
 *
 * Policy score: free matching devices (free devices that match any of the
 * VM's requests) left on the host after placement, counting the placed
 * devices, their companions and their SR-IOV relatives as gone. `pack`
 * takes the fewest, `spread` the most; ties go to the lowest host name.
 *
 * Caching: static per-host structure (groups, SR-IOV links, id buckets) is
 * built once per HostState and kept while `host.devices` is the same array
 * with the same length; replace the array or call `invalidateHostIndex`
 * after changing it. Set `host.generation` and bump it on every change of a
 * device's live fields (missing, heldBy, assignable, unassignableReasons)
 * to let candidate lists be cached across placements; without it they are
 * recomputed each time.
 *
 * Assumption: `matchesDevice` accepts no device whose vendor, device, class
 * or short address differs (case-insensitively) from one the request gives,
 * and, for requests without a selector, depends on nothing else.
 */
export { placeVm } from './place-vm.js';
export { invalidateHostIndex } from './host-index.js';
export { PlacementCache } from './placement-cache.js';
export { requestLabel } from './reasons.js';
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

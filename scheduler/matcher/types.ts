/**
 * The matcher's inputs and outputs: plain data in, plain data out. The
 * caller (the scheduler) owns these objects and keeps them in memory; the
 * matcher never mutates them.
 */
import { PcischedError, type DeviceReport } from '../../common/index.js';
import type { PlacementPolicy } from '../spec.js';
import type { PlacementCache } from './placement-cache.js';

/** A reported device plus what the scheduler knows about it right now. */
export interface DeviceState extends DeviceReport {
  /** Absent from the latest probe report but still remembered (e.g. held). */
  missing: boolean;
  /** The VM id holding it, companions included; null when free. */
  heldBy: number | null;
  /** false when host-level checks refuse passthrough; absent means assignable. */
  assignable?: boolean;
  /** Why `assignable` is false, shown joined by '; '. */
  unassignableReasons?: string[];
}

export interface HostState {
  name: string;
  online: boolean;
  /** Any order. */
  devices: DeviceState[];
  /**
   * Optional: a number naming the host's device layout, set only while no
   * device is held or missing. Hosts with the same layout number must have
   * the same devices (reports, assignability) in every respect but their
   * host name; a PlacementCache then works a layout out once for all of
   * them. Thousands of hypervisors of one model are the common case.
   */
  layout?: number | null;
}

export interface PlacementOptions {
  /** Server default; `spec.policy` overrides it. */
  policy: PlacementPolicy;
  /** Search steps (tried device assignments) allowed per host; default 10000. */
  stepBudget?: number;
  /**
   * Kept by the caller between placements to skip unchanged hosts without
   * reading them; see PlacementCache for the invalidation contract.
   */
  cache?: PlacementCache;
}

export interface PlacedDevice {
  address: string;
  /** `PciRequest.index` this device answers; null for a companion. */
  request: number | null;
  /** Taken only because it shares an IOMMU group with a requested device. */
  companion: boolean;
}

export interface PlacementReason {
  /** null for reasons that concern no single host (e.g. no hosts at all). */
  host: string | null;
  reason: string;
}

export type PlacementResult =
  | {
      kind: 'placed';
      host: string;
      /** Requested devices in request order, then companions by address. */
      devices: PlacedDevice[];
    }
  | { kind: 'unplaceable'; reasons: PlacementReason[] };

/**
 * The inputs are broken (a bug upstream), as opposed to "does not fit",
 * which is a normal `unplaceable` result: bad options, a host reporting the
 * same address twice, a `matchesDevice` that throws.
 */
export class PlacementInputError extends PcischedError {}

export const DEFAULT_STEP_BUDGET = 10_000;

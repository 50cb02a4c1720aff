/**
 * CEL selectors over `device` (a DeviceReport), compiled with
 * @marcbachmann/cel-js. The environment declares `device` as a typed message,
 * so a typo such as `device.numa_node` is rejected when the template is
 * validated rather than silently matching nothing at scheduling time.
 */
import { Environment } from '@marcbachmann/cel-js';
import type { DeviceReport } from '../../common/index.js';

/** A compiled selector: true when the device satisfies it. Never throws. */
export type DevicePredicate = (device: DeviceReport) => boolean;

/** An invalid selector: the library's one-line message and where in the source it points. */
export class SelectorError extends Error {
  constructor(
    message: string,
    /** 0-based offset into the selector source, when the library knows it. */
    readonly offset: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SelectorError';
  }
}

// CEL integers are BigInt in this library. Small ids (NUMA nodes, IOMMU
// groups, VF counts) are converted through a table so the hot path does not
// allocate a fresh BigInt on every field read.
const SMALL_INTS: bigint[] = Array.from({ length: 1024 }, (_, i) => BigInt(i));
function celInt(n: number | null): bigint | null {
  if (n === null || n === undefined) return null;
  return n >= 0 && n < SMALL_INTS.length && Number.isInteger(n) ? SMALL_INTS[n]! : BigInt(Math.trunc(n));
}

/**
 * What CEL sees as `device`: a view that reads the wrapped report on access.
 * It holds no copied state, so one instance per compiled selector can be
 * re-pointed at each device (evaluation is synchronous) without allocating
 * or ever going stale. Numbers are exposed as CEL ints (BigInt).
 */
class CelDevice {
  raw: DeviceReport = undefined as unknown as DeviceReport;
  get address() { return this.raw.address; }
  get shortAddress() { return this.raw.shortAddress; }
  get vendor() { return this.raw.vendor; }
  get device() { return this.raw.device; }
  get class() { return this.raw.class; }
  get progIf() { return this.raw.progIf; }
  get subsystemVendor() { return this.raw.subsystemVendor; }
  get subsystemDevice() { return this.raw.subsystemDevice; }
  get revision() { return this.raw.revision; }
  get vendorName() { return this.raw.vendorName; }
  get deviceName() { return this.raw.deviceName; }
  get className() { return this.raw.className; }
  get subsystemName() { return this.raw.subsystemName; }
  get numaNode() { return celInt(this.raw.numaNode); }
  get iommuGroup() { return celInt(this.raw.iommuGroup); }
  get groupMembers() { return this.raw.groupMembers; }
  get driver() { return this.raw.driver; }
  get sriov() { return this.raw.sriov; }
  get physfn() { return this.raw.physfn; }
  get numVfs() { return celInt(this.raw.numVfs); }
  get totalVfs() { return celInt(this.raw.totalVfs); }
  get virtfns() { return this.raw.virtfns; }
  get netInterfaces() { return this.raw.netInterfaces; }
  get pcieRoot() { return this.raw.pcieRoot; }
  get resetMethods() { return this.raw.resetMethods; }
  get groupReservedRegions() { return this.raw.groupReservedRegions; }
}

// Nullable fields are `dyn` so both `device.numaNode == 1` and
// `device.driver == null` type-check; CEL has no nullable int or string.
const DEVICE_FIELDS: Record<keyof DeviceReport, string> = {
  address: 'string',
  shortAddress: 'string',
  vendor: 'string',
  device: 'string',
  class: 'string',
  progIf: 'string',
  subsystemVendor: 'string',
  subsystemDevice: 'string',
  revision: 'string',
  vendorName: 'string',
  deviceName: 'string',
  className: 'string',
  subsystemName: 'string',
  numaNode: 'dyn',
  iommuGroup: 'dyn',
  groupMembers: 'list<map<string, string>>',
  driver: 'dyn',
  sriov: 'string',
  physfn: 'dyn',
  numVfs: 'dyn',
  totalVfs: 'dyn',
  virtfns: 'list<string>',
  netInterfaces: 'list<string>',
  pcieRoot: 'dyn',
  resetMethods: 'list<string>',
  groupReservedRegions: 'list<string>',
};

// Building an Environment is expensive; one is shared by every selector. Only
// `device` is declared, so any other identifier fails the type check.
const env = new Environment()
  .registerType('Device', { ctor: CelDevice, fields: DEVICE_FIELDS })
  .registerVariable('device', 'Device');

interface CelErrorLike {
  summary?: string;
  message?: string;
  range?: { start: number };
}

function selectorError(prefix: string, e: unknown): SelectorError {
  const err = (e ?? {}) as CelErrorLike;
  // `summary` is the message without the library's multi-line source excerpt;
  // the caller reports the position itself.
  const msg = err.summary ?? err.message ?? String(e);
  return new SelectorError(`${prefix}${msg}`, err.range?.start, { cause: e });
}

/**
 * Parses and type-checks a selector once and returns its predicate.
 * Throws SelectorError for a syntax error, an unknown variable or field, or
 * a result that cannot be a boolean.
 */
export function compileSelector(source: string): DevicePredicate {
  const hit = compiled.get(source);
  if (hit !== undefined) {
    // Most recently used last, so the eviction below drops the coldest source.
    compiled.delete(source);
    compiled.set(source, hit);
    return hit;
  }
  const predicate = compileUncached(source);
  if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
  compiled.set(source, predicate);
  return predicate;
}

/**
 * Compiled predicates by source: a burst of VMs from one template would
 * otherwise parse and type-check the same selector on every submission
 * (twice: validation, then compilation). A predicate is synchronous and
 * keeps no state between calls, so one serves every request.
 */
const compiled = new Map<string, DevicePredicate>();
const MAX_COMPILED = 512;

function compileUncached(source: string): DevicePredicate {
  let fn: ReturnType<typeof env.parse>;
  try {
    fn = env.parse(source);
  } catch (e) {
    throw selectorError('', e);
  }
  // check() also caches the checked types on the AST, so evaluation skips
  // type inference on every call.
  const checked = fn.check();
  if (!checked.valid) throw selectorError('', checked.error);
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    throw new SelectorError(`selector must be a boolean expression, got ${checked.type}`, 0);
  }
  const view = new CelDevice();
  const context = { device: view };
  return (device: DeviceReport): boolean => {
    view.raw = device;
    try {
      // Only a real `true` matches: a dyn result of another type is no match.
      return fn(context) === true;
    } catch {
      // A runtime error on one device (null field, wrong type) means this
      // device does not match; it must never abort the scheduling pass.
      return false;
    }
  };
}

/**
 * Turns a validated VmSpec into the matcher's form: each request gets a
 * `matchesDevice` closure, built once per spec and called for every
 * candidate device on every host, so it compares cheap ids first, the CEL
 * selector last, and allocates nothing on the id-only path.
 */
import { ValidationError, type DeviceReport } from '../../common/index.js';
import type { CompiledPciRequest, CompiledVmSpec, PciRequest, VmSpec } from '../spec.js';
import { compileSelector, SelectorError, type DevicePredicate } from './selector.js';

/**
 * Compiled request lists by their JSON, the most recently used last. VMs of
 * one template then share one list, and through it one placement plan
 * (matcher/plan.ts). Compiling a list and building its plan made 12.5% of
 * what a placement allocated, and the garbage collector's pauses are what
 * placements wait on at a steady load (README, "Where the time goes").
 */
const compiledLists = new Map<string, CompiledPciRequest[]>();
const MAX_COMPILED_LISTS = 1024;
/** Longer lists (a template may have 256 requests) are compiled each time: 1,024 of them could keep tens of MB. */
const MAX_KEPT_KEY = 8192;

export function compileSpec(spec: VmSpec): CompiledVmSpec {
  const key = JSON.stringify(spec.pci);
  if (key.length > MAX_KEPT_KEY) return { ...spec, pci: spec.pci.map(compileRequest) };
  let pci = compiledLists.get(key);
  if (pci === undefined) {
    pci = spec.pci.map(compileRequest);
    if (compiledLists.size >= MAX_COMPILED_LISTS) compiledLists.delete(compiledLists.keys().next().value!);
  } else {
    compiledLists.delete(key);
  }
  compiledLists.set(key, pci);
  return { ...spec, pci };
}

function compileRequest(req: PciRequest): CompiledPciRequest {
  let selector: DevicePredicate | undefined;
  if (req.selector !== undefined && req.selector !== '') {
    try {
      selector = compileSelector(req.selector);
    } catch (e) {
      // Specs normally arrive validated; one restored from storage or built
      // by hand may not, and must fail as bad input, not as a crash.
      if (!(e instanceof SelectorError)) throw e;
      throw new ValidationError(`invalid CEL: ${e.message}`, { field: `PCI[${req.index}].SELECTOR` }, { cause: e.cause });
    }
  }
  return { ...req, matchesDevice: buildMatcher(req, selector) };
}

function buildMatcher(req: PciRequest, selector: DevicePredicate | undefined): (d: DeviceReport) => boolean {
  // Locals, not property reads on `req`, so the closure's checks are plain
  // string compares; undefined means "any".
  const vendor = req.vendor?.toLowerCase();
  const device = req.device?.toLowerCase();
  const cls = req.class?.toLowerCase();
  const short = req.shortAddress?.toLowerCase();
  return (d: DeviceReport): boolean => {
    if (vendor !== undefined && !sameHex(d.vendor, vendor)) return false;
    if (device !== undefined && !sameHex(d.device, device)) return false;
    if (cls !== undefined && !sameHex(d.class, cls)) return false;
    if (short !== undefined && !sameHex(d.shortAddress, short) && !sameHex(d.address, short)) return false;
    return selector === undefined || selector(d);
  };
}

/**
 * Case-insensitive equality of `actual` with an already lower-case `want`,
 * without allocating (toLowerCase would copy the device's string per call).
 */
function sameHex(actual: string, want: string): boolean {
  if (actual === want) return true;
  if (typeof actual !== 'string' || actual.length !== want.length) return false;
  for (let i = 0; i < want.length; i++) {
    let c = actual.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32; // A-Z → a-z
    if (c !== want.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * A short human label for a request, for pending reasons such as
 * `no free device matches PCI[0] (10de::0300)`:
 * `vendor:device:class` with empty parts for missing ids, `short 01:00.0`
 * for an address, `selector` for a selector alone, and ` + selector`
 * appended when a selector narrows ids or an address.
 */
export function requestLabel(
  req: Pick<PciRequest, 'vendor' | 'device' | 'class' | 'shortAddress' | 'selector'>,
): string {
  const hasSelector = req.selector !== undefined && req.selector !== '';
  let base: string | undefined;
  if (req.shortAddress) base = `short ${req.shortAddress}`;
  else if (req.vendor || req.device || req.class) base = `${req.vendor ?? ''}:${req.device ?? ''}:${req.class ?? ''}`;
  if (base === undefined) return hasSelector ? 'selector' : 'any';
  return hasSelector ? `${base} + selector` : base;
}

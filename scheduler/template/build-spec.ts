/**
 * The one validation shared by templates and JSON bodies: turns a
 * RawTemplate into a VmSpec, or throws a ValidationError naming the attribute
 * (`PCI[1].VENDOR` with line/column for templates, the JSON path for bodies).
 */
import { ValidationError, quoted, type InputLocation } from '../../common/index.js';
import type { MatchAttribute, PciRequest, PlacementPolicy, VmSpec } from '../spec.js';
import { camelCase, type RawAttribute, type RawScalar, type RawTemplate, type RawVector, type SourcePos } from './raw-template.js';
import { compileSelector, SelectorError } from './selector.js';

const HEX4 = /^[0-9a-fA-F]{4}$/;
// lspci's slot: [domain:]bus:device.function. Domains are usually 4 digits,
// but VMD domains have 5 (`10000:00:00.0`), so allow up to 8.
const SHORT_ADDRESS = /^(?:([0-9a-fA-F]{4,8}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-9a-fA-F])$/;
const MATCH_ATTRIBUTES: readonly MatchAttribute[] = ['NUMA_NODE', 'PCIE_ROOT'];
const ID_KEYS = ['VENDOR', 'DEVICE', 'CLASS'] as const;
/**
 * PCI requests one VM may make. Why: on the q35 machine type libvirt puts
 * each passed-through PCIe device behind a root port of its own, on a bus of
 * its own, and a VM's PCI domain has 256 bus numbers. Unbounded, a 1 MB
 * template of 20,000 requests held the event loop 0.65 s and stayed pending
 * for ever.
 */
export const MAX_PCI_REQUESTS = 256;
/**
 * A VM's name is printed in tables, logs and the libvirt fragment's comment:
 * a line break or an escape sequence in it broke `vm list` rows, and a very
 * long one every table it is in.
 */
const MAX_NAME = 128;
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
/** VM-level attributes that may appear once. */
const SINGLETONS = new Set(['NAME', 'PCI_MATCH', 'SCHED_POLICY']);

export function buildVmSpec(raw: RawTemplate): VmSpec {
  return new SpecBuilder(raw).build();
}

class SpecBuilder {
  constructor(private readonly raw: RawTemplate) {}

  build(): VmSpec {
    const spec: VmSpec = { name: '', pci: [], pciMatch: [], attributes: {} };
    const seen = new Map<string, SourcePos>();
    for (const attr of this.raw.attributes) {
      const first = seen.get(attr.key);
      if (first && SINGLETONS.has(attr.key)) {
        throw this.fail(attr.keyPos, attr.key, `${this.name(attr.key)} given twice (first at ${this.where(first)})`);
      }
      seen.set(attr.key, attr.keyPos);
      addAttribute(spec.attributes, attr.key, plain(attr.value));
      switch (attr.key) {
        case 'NAME':
          spec.name = this.vmName(this.scalar(attr));
          break;
        case 'PCI':
          if (spec.pci.length === MAX_PCI_REQUESTS) {
            throw this.fail(attr.keyPos, `PCI[${MAX_PCI_REQUESTS}]`, `a VM may ask for at most ${MAX_PCI_REQUESTS} PCI devices`);
          }
          spec.pci.push(this.pciRequest(attr, spec.pci.length));
          break;
        case 'PCI_MATCH':
          spec.pciMatch = this.pciMatch(this.scalar(attr));
          break;
        case 'SCHED_POLICY':
          spec.policy = this.policy(this.scalar(attr));
          break;
      }
    }
    return spec;
  }

  private pciRequest(attr: RawAttribute, index: number): PciRequest {
    const vec = attr.value;
    const at = `PCI[${index}]`;
    if (vec.kind !== 'vector') {
      throw this.fail(vec.pos, at, `${this.name('PCI')} must be a vector: PCI = [ VENDOR = "…", CLASS = "…" ]`);
    }
    const req: PciRequest = { index, attributes: {} };
    const given = new Map<string, RawScalar>();
    for (const e of vec.entries) {
      req.attributes[e.key] = e.value.value;
      // An empty value counts as not given, as in OpenNebula (forms emit them).
      if (e.value.value !== '') given.set(e.key, e.value);
    }

    for (const key of ID_KEYS) {
      const v = given.get(key);
      if (!v) continue;
      if (!HEX4.test(v.value)) {
        const example = key === 'CLASS' ? '"0300", class and subclass' : key === 'VENDOR' ? '"10de"' : '"11bf"';
        throw this.fail(v.pos, `${at}.${key}`, `must be 4 hex digits (e.g. ${example}), got ${quoted(v.value)}`);
      }
      req[key === 'VENDOR' ? 'vendor' : key === 'DEVICE' ? 'device' : 'class'] = v.value.toLowerCase();
    }

    const short = given.get('SHORT_ADDRESS');
    if (short) req.shortAddress = this.shortAddress(short, `${at}.SHORT_ADDRESS`);

    const type = given.get('TYPE');
    if (type) {
      if (type.value.toUpperCase() !== 'NIC') {
        throw this.fail(type.pos, `${at}.TYPE`, `must be "NIC" when given, got ${quoted(type.value)}`);
      }
      req.type = 'NIC';
    }

    const selector = given.get('SELECTOR');
    if (selector) {
      this.checkSelector(selector, `${at}.SELECTOR`);
      req.selector = selector.value;
    }

    // OpenNebula's rule: SHORT_ADDRESS alone, or ids; never both. A selector
    // may accompany either, or stand alone.
    const ids = ID_KEYS.filter((k) => given.has(k));
    if (short && ids.length > 0) {
      const names = ids.map((k) => this.name(k)).join(', ');
      throw this.fail(short.pos, `${at}.SHORT_ADDRESS`,
        `${this.name('SHORT_ADDRESS')} cannot be combined with ${names}: give the address alone, or the ids`);
    }
    if (!short && ids.length === 0 && !selector) {
      const [v, d, c, s, sel] = ['VENDOR', 'DEVICE', 'CLASS', 'SHORT_ADDRESS', 'SELECTOR'].map((k) => this.name(k));
      throw this.fail(vec.pos, at, `needs ${s}, or at least one of ${v}, ${d} and ${c}, or a ${sel}`);
    }
    return req;
  }

  private shortAddress(v: RawScalar, field: string): string {
    const m = SHORT_ADDRESS.exec(v.value);
    if (!m) {
      throw this.fail(v.pos, field,
        `must be a PCI address "BB:DD.F" or "DDDD:BB:DD.F" in hex (e.g. "01:00.0"), got ${quoted(v.value)}`);
    }
    // The device number has 5 bits and the function 3: catch typos such as
    // `01:20.0` here rather than as a request nothing can ever satisfy.
    if (parseInt(m[3]!, 16) > 0x1f) throw this.fail(v.pos, field, `device number ${m[3]} is out of range (00-1f) in ${quoted(v.value)}`);
    if (parseInt(m[4]!, 16) > 7) throw this.fail(v.pos, field, `function ${m[4]} is out of range (0-7) in ${quoted(v.value)}`);
    return v.value.toLowerCase();
  }

  private checkSelector(v: RawScalar, field: string): void {
    try {
      compileSelector(v.value);
    } catch (e) {
      if (!(e instanceof SelectorError)) throw e;
      // Point at the offending character when the value is on one line as written.
      const pos: SourcePos = { ...v.pos };
      if (v.verbatimColumn !== undefined && e.offset !== undefined) pos.column = v.verbatimColumn + e.offset;
      throw this.fail(pos, field, `invalid CEL: ${e.message}`, e.cause);
    }
  }

  private pciMatch(v: RawScalar): MatchAttribute[] {
    const out: MatchAttribute[] = [];
    for (const part of v.value.split(',')) {
      const p = part.trim().toUpperCase();
      if (p === '') continue;
      const m = MATCH_ATTRIBUTES.find((a) => a === p);
      if (!m) throw this.fail(v.pos, 'PCI_MATCH', `unknown value ${quoted(part.trim())}: use NUMA_NODE and/or PCIE_ROOT`);
      if (!out.includes(m)) out.push(m);
    }
    return out;
  }

  private policy(v: RawScalar): PlacementPolicy {
    const p = v.value.toLowerCase();
    if (p !== 'pack' && p !== 'spread') throw this.fail(v.pos, 'SCHED_POLICY', `must be "pack" or "spread", got ${quoted(v.value)}`);
    return p;
  }

  private vmName(v: RawScalar): string {
    if (CONTROL_CHARACTER.test(v.value)) throw this.fail(v.pos, 'NAME', 'must not contain control characters (line breaks, tabs, escapes)');
    if (v.value.length > MAX_NAME) throw this.fail(v.pos, 'NAME', `must be at most ${MAX_NAME} characters, got ${v.value.length}`);
    return v.value;
  }

  private scalar(attr: RawAttribute): RawScalar {
    if (attr.value.kind === 'scalar') return attr.value;
    throw this.fail(attr.value.pos, attr.key, `must be a single value, not a vector`);
  }

  /** The attribute's name as the user's syntax spells it. */
  private name(key: string): string {
    return this.raw.source === 'json' ? camelCase(key) : key;
  }

  private where(pos: SourcePos): string {
    return pos.line !== undefined ? `line ${pos.line}, column ${pos.column}` : (pos.field ?? '?');
  }

  private fail(pos: SourcePos, templateField: string, reason: string, cause?: unknown): ValidationError {
    const loc: InputLocation = { field: pos.field ?? templateField };
    // Only set what is known, so locations compare cleanly and print tidily.
    if (this.raw.file !== undefined) loc.file = this.raw.file;
    if (pos.line !== undefined) loc.line = pos.line;
    if (pos.column !== undefined) loc.column = pos.column;
    return new ValidationError(reason, loc, cause === undefined ? undefined : { cause });
  }
}

function plain(v: RawScalar | RawVector): string | Record<string, string> {
  if (v.kind === 'scalar') return v.value;
  const o: Record<string, string> = {};
  for (const e of v.entries) o[e.key] = e.value.value;
  return o;
}

/** Repeated keys become arrays, in order (several NIC or PCI vectors). */
function addAttribute(into: Record<string, unknown>, key: string, value: unknown): void {
  const existing = into[key];
  if (existing === undefined) into[key] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else into[key] = [existing, value];
}

/**
 * JSON request bodies: the template's attributes in camelCase. Keys are
 * reduced to the template's UPPER_SNAKE spelling first (so `shortAddress`,
 * `short_address` and `SHORT_ADDRESS` are one attribute and unknown keys land
 * in `attributes` exactly as the template form would put them), the shape is
 * checked with zod, and the result goes through the same validation as
 * templates. Error fields are JSON paths with the keys as the user wrote them.
 */
import { z } from 'zod';
import { ValidationError, quoted } from '../../common/index.js';
import type { VmSpec } from '../spec.js';
import { buildVmSpec } from './build-spec.js';
import { isValidKey, upperSnake, type RawAttribute, type RawPair, type RawScalar, type RawTemplate } from './raw-template.js';

const SHAPE_ERROR = 'expected a string, number, boolean, object of those, or a list of them';
const scalar = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean' });
const vector = z.record(z.string(), scalar.nullable());
const pciItem = z
  .object({
    VENDOR: z.string().nullish(),
    DEVICE: z.string().nullish(),
    CLASS: z.string().nullish(),
    SHORT_ADDRESS: z.string().nullish(),
    SELECTOR: z.string().nullish(),
    TYPE: z.string().nullish(),
  })
  .catchall(scalar.nullable());
const body = z
  .object({
    NAME: z.string().nullish(),
    PCI: z.array(pciItem).nullish(),
    PCI_MATCH: z.union([z.string(), z.array(z.string())], { error: 'expected a string or a list of strings' }).nullish(),
    SCHED_POLICY: z.string().nullish(),
  })
  .catchall(z.union([scalar, vector, z.array(z.union([scalar, vector]))], { error: SHAPE_ERROR }).nullable());

type Json = string | number | boolean | null | Json[] | JsonObject;
interface JsonObject {
  [key: string]: Json;
}

/** For each canonicalised object: UPPER_SNAKE key → key as written. */
type Origins = WeakMap<object, Map<string, string>>;

export function parseJsonSpec(input: unknown): VmSpec {
  const origins: Origins = new WeakMap();
  const canon = canonicalize(input, [], origins);
  const parsed = body.safeParse(canon);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ValidationError(issue.message, { field: jsonPath(canon, issue.path, origins) });
  }
  return buildVmSpec(toRaw(canon as JsonObject, origins));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A JSON path's segments as written: keys, and list positions. */
type PathSegments = Array<string | number>;

/** `pci[1].vendor` from its segments. */
function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of segments) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${String(seg)}` : String(seg);
  return out;
}

/**
 * How deep a body's lists and objects can nest: the body, a list of PCI
 * requests (or of another attribute's values), an object of scalars.
 */
const MAX_NESTING = 3;

/**
 * Keys in UPPER_SNAKE, recursively. `path` is the position in the body as
 * segments, turned into text only for an error: every request passes here.
 * A list or object nested deeper than any valid body is left as it is, for
 * the shape check to refuse by its path: walking it could exhaust the stack
 * (a 1 MB body can nest 500,000 lists).
 */
function canonicalize(v: unknown, path: PathSegments, origins: Origins): unknown {
  if (path.length >= MAX_NESTING) return v;
  if (Array.isArray(v)) {
    return v.map((x, i) => {
      path.push(i);
      const out = canonicalize(x, path, origins);
      path.pop();
      return out;
    });
  }
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  const written = new Map<string, string>();
  for (const key of Object.keys(v)) {
    const canonKey = upperSnake(key);
    if (!isValidKey(canonKey)) {
      throw new ValidationError(`invalid attribute name ${quoted(key)}: use letters, digits and "_", not starting with a digit`, {
        field: formatPath([...path, key]),
      });
    }
    const other = written.get(canonKey);
    if (other !== undefined) {
      throw new ValidationError(`${quoted(other)} and ${quoted(key)} name the same attribute`, { field: formatPath([...path, key]) });
    }
    written.set(canonKey, key);
    path.push(key);
    out[canonKey] = canonicalize(v[key], path, origins);
    path.pop();
  }
  origins.set(out, written);
  return out;
}

/** A zod issue path, translated back to the keys as written: `pci[1].vendor`. */
function jsonPath(root: unknown, path: readonly PropertyKey[], origins: Origins): string {
  const segments: PropertyKey[] = [];
  let node: unknown = root;
  for (const seg of path) {
    if (typeof seg === 'number') segments.push(seg);
    else segments.push((isPlainObject(node) && origins.get(node)?.get(String(seg))) || String(seg));
    node = isPlainObject(node) || Array.isArray(node) ? (node as Record<PropertyKey, unknown>)[seg as string] : undefined;
  }
  return formatPath(segments);
}

function scalarOf(v: string | number | boolean, field: string): RawScalar {
  return { kind: 'scalar', value: String(v), pos: { field } };
}

function pairsOf(obj: JsonObject, field: string, origins: Origins): RawPair[] {
  const written = origins.get(obj)!;
  const pairs: RawPair[] = [];
  for (const [key, value] of Object.entries(obj)) {
    // null means "not given", as JSON clients commonly send it.
    if (value === null) continue;
    const at = `${field}.${written.get(key) ?? key}`;
    pairs.push({ key, keyPos: { field: at }, value: scalarOf(value as string | number | boolean, at) });
  }
  return pairs;
}

/** Converts the shape-checked body to attributes in body order; lists become repeated attributes. */
function toRaw(obj: JsonObject, origins: Origins): RawTemplate {
  const written = origins.get(obj)!;
  const attributes: RawAttribute[] = [];
  for (const [key, value] of Object.entries(obj)) {
    if (value === null) continue;
    const field = written.get(key) ?? key;
    if (key === 'PCI_MATCH' && Array.isArray(value)) {
      // The list form is the template's comma list.
      attributes.push({ key, keyPos: { field }, value: scalarOf(value.join(','), field) });
      continue;
    }
    const items = Array.isArray(value) ? value : [value];
    items.forEach((item, i) => {
      const at = Array.isArray(value) ? `${field}[${i}]` : field;
      if (item === null) return;
      const attrValue = isPlainObject(item)
        ? { kind: 'vector' as const, entries: pairsOf(item as JsonObject, at, origins), pos: { field: at } }
        : scalarOf(item as string | number | boolean, at);
      attributes.push({ key, keyPos: { field: at }, value: attrValue });
    });
  }
  return { source: 'json', attributes };
}

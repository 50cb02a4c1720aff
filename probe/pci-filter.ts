/**
 * pci.conf: which devices the probe reports, with OpenNebula's semantics
 * (src/im_mad/remotes/node-probes.d/pci.rb and its pci.conf):
 *
 *   :filter:        string or list; each entry also split on commas; each entry is
 *                   lspci's `-d [vendor]:[device][:class]`, empty or `*` = any, ids hex
 *                   and compared numerically. Entries are OR'd. `'0:0'` reports nothing,
 *                   and so does an empty list (OpenNebula then runs lspci zero times).
 *   :short_address: exact lspci slot strings (`07:00.0`; domain only when not 0000).
 *                   Empty = no restriction. AND'ed after the filter.
 *   :device_name:   case-insensitive regexes searched in the device name; any match
 *                   keeps the device. Empty = no restriction. AND'ed last.
 *   :nvidia_vendors: accepted and ignored (OpenNebula's vGPU naming knob).
 *
 * Keys may be written with the leading colon (Ruby symbols, as OpenNebula ships them) or
 * plain. Deliberate differences, all in the direction of refusing bad input early:
 * - regexes run on re2js (linear time: a pattern cannot hang the agent); a pattern RE2
 *   rejects (backreferences, lookaround) is a ConfigError rather than a silent mismatch;
 * - a malformed entry, a wrong type or bad YAML is a ConfigError naming file, key,
 *   index and reason, where OpenNebula prints "Invalid configuration" or lets lspci fail;
 * - a file without `:filter:` means `*:*` (OpenNebula's built-in default is `0:0`), and so
 *   does no file at all;
 * - a device matched by two entries is reported once (OpenNebula runs lspci per entry
 *   and lists it twice).
 */
import { readFileSync } from 'node:fs';
import { RE2JS, RE2JSSyntaxException } from 're2js';
import { isMap, isNode, parseDocument } from 'yaml';
import { ConfigError, type DeviceReport, type Logger } from '../common/index.js';

/** One `[vendor]:[device][:class]` entry; null = any. */
export interface IdPattern {
  vendor: number | null;
  device: number | null;
  class: number | null;
  /** The entry as written. */
  text: string;
}

export interface NamePattern {
  pattern: string;
  regex: RE2JS;
}

export interface PciFilter {
  /** The file it came from; null for the built-in `*:*`. */
  source: string | null;
  ids: IdPattern[];
  shortAddresses: string[];
  deviceNames: NamePattern[];
  /** Non-fatal remarks (unknown keys, short addresses that can never match). */
  warnings: string[];
}

const ANY: IdPattern = { vendor: null, device: null, class: null, text: '*:*' };

/** Reports every device. */
export function defaultFilter(): PciFilter {
  return { source: null, ids: [ANY], shortAddresses: [], deviceNames: [], warnings: [] };
}

const KNOWN = new Set(['filter', 'short_address', 'device_name', 'nvidia_vendors']);
const SHORT_ADDRESS_RE = /^(?:[0-9a-f]{4,5}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;

function idField(raw: string, what: string, fail: (reason: string) => never): number | null {
  if (raw === '' || raw === '*') return null;
  if (!/^[0-9a-fA-F]{1,4}$/.test(raw)) fail(`invalid ${what} '${raw}': expected up to 4 hex digits or '*'`);
  return parseInt(raw, 16);
}

/** Parses one lspci `-d` entry; `fail` throws with the caller's location. */
export function parseIdPattern(text: string, fail: (reason: string) => never): IdPattern {
  const entry = text.trim();
  if (entry === '') fail('empty filter entry');
  const parts = entry.split(':');
  if (parts.length < 2) fail(`'${entry}' is not [vendor]:[device][:class] (':' expected)`);
  if (parts.length > 3) fail(`'${entry}' is not [vendor]:[device][:class] (too many ':')`);
  return {
    vendor: idField(parts[0]!, 'vendor id', fail),
    device: idField(parts[1]!, 'device id', fail),
    class: idField(parts[2] ?? '', 'class', fail),
    text: entry,
  };
}

/** Parses pci.conf text; `fileName` is used in error messages only. */
export function parseFilterConfig(text: string, fileName: string, logger?: Logger): PciFilter {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const [line, column] = e.linePos?.[0] ? [e.linePos[0].line, e.linePos[0].col] : [undefined, undefined];
    const reason = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(`invalid YAML: ${reason}`, { file: fileName, line, column }, { cause: e });
  }
  const filter: PciFilter = { ...defaultFilter(), source: fileName };
  if (doc.contents === null) return filter;
  if (!isMap(doc.contents)) throw new ConfigError('expected a mapping of :filter:, :short_address:, :device_name:', { file: fileName });

  const seen = new Map<string, string>();
  for (const pair of doc.contents.items) {
    const written = String(isNode(pair.key) ? pair.key.toJS(doc) : pair.key);
    const key = written.replace(/^:/, '');
    const fail = (reason: string, index?: number): never => {
      throw new ConfigError(reason, { file: fileName, field: index === undefined ? written : `${written}[${index}]` });
    };
    if (seen.has(key)) fail(`given twice (also as ${seen.get(key)})`);
    seen.set(key, written);
    if (!KNOWN.has(key)) {
      filter.warnings.push(`${fileName}: unknown key ${written} ignored`);
      continue;
    }
    const value: unknown = isNode(pair.value) ? pair.value.toJS(doc) : pair.value;
    if (value === null || value === undefined) continue; // `:filter:` with no value: no restriction
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list)) fail(`expected a string or a list of strings, got ${typeName(value)}`);
    const items = list as unknown[];
    const isList = Array.isArray(value);
    items.forEach((item, i) => {
      if (typeof item !== 'string') fail(`expected a string, got ${typeName(item)}`, isList ? i : undefined);
    });
    const strings = items as string[];
    const at = (i: number) => (isList ? i : undefined);
    if (key === 'filter') {
      filter.ids = strings.flatMap((s, i) => s.split(',').map((piece) => parseIdPattern(piece, (r) => fail(r, at(i)))));
    } else if (key === 'short_address') {
      filter.shortAddresses = strings;
      strings.forEach((s, i) => {
        if (!SHORT_ADDRESS_RE.test(s) || s.startsWith('0000:')) {
          filter.warnings.push(`${fileName}: ${written}[${i}] '${s}' never matches: lspci prints lower-case 'bb:dd.f', with a domain only when it is not 0000`);
        }
      });
    } else if (key === 'device_name') {
      filter.deviceNames = strings.map((pattern, i) => {
        try {
          return { pattern, regex: RE2JS.compile(pattern, RE2JS.CASE_INSENSITIVE) };
        } catch (err) {
          const reason = err instanceof RE2JSSyntaxException ? err.getDescription() : (err as Error).message;
          return fail(`invalid regular expression '${pattern}': ${reason}`, at(i));
        }
      });
    } else {
      strings.forEach((s, i) => {
        if (!/^[0-9a-fA-F]{4}$/.test(s)) fail(`'${s}' is not a 4-hex-digit vendor id`, at(i));
      });
    }
  }
  for (const w of filter.warnings) logger?.warn({ file: fileName }, w);
  return filter;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Reads pci.conf; no path means the built-in `*:*`. Throws ConfigError. */
export function loadFilterConfig(path?: string, logger?: Logger): PciFilter {
  if (path === undefined) return defaultFilter();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read: ${(err as Error).message}`, { file: path }, { cause: err });
  }
  return parseFilterConfig(text, path, logger);
}

type Filterable = Pick<DeviceReport, 'vendor' | 'device' | 'class' | 'shortAddress' | 'deviceName'>;

function idMatches(p: IdPattern, d: Filterable): boolean {
  return (
    (p.vendor === null || p.vendor === parseInt(d.vendor, 16)) &&
    (p.device === null || p.device === parseInt(d.device, 16)) &&
    (p.class === null || p.class === parseInt(d.class, 16))
  );
}

/** True when the device passes filter AND short_address AND device_name. */
export function matchesFilter(filter: PciFilter, d: Filterable): boolean {
  if (!filter.ids.some((p) => idMatches(p, d))) return false;
  if (filter.shortAddresses.length > 0 && !filter.shortAddresses.includes(d.shortAddress)) return false;
  if (filter.deviceNames.length > 0 && !filter.deviceNames.some((n) => n.regex.test(d.deviceName))) return false;
  return true;
}

/**
 * The neutral form both input syntaxes are reduced to before validation: an
 * ordered list of upper-case attributes, each remembering where it came from.
 * Keeping the template and the JSON path on one model is what makes their
 * validation (and their error messages) identical.
 */

/**
 * Where a value came from. Templates fill `line`/`column` (1-based); JSON
 * bodies fill `field` with the JSON path as the user wrote it (`pci[1].vendor`).
 */
export interface SourcePos {
  line?: number;
  column?: number;
  field?: string;
}

export interface RawScalar {
  kind: 'scalar';
  value: string;
  pos: SourcePos;
  /**
   * Column of the value's first character when every character of the value
   * sits on that one line as written (no escapes, no line breaks); lets a CEL
   * error offset be mapped to an exact template column.
   */
  verbatimColumn?: number;
}

export interface RawVector {
  kind: 'vector';
  entries: RawPair[];
  pos: SourcePos;
}

export interface RawPair {
  /** Upper-case key. */
  key: string;
  value: RawScalar;
  keyPos: SourcePos;
}

export interface RawAttribute {
  key: string;
  value: RawScalar | RawVector;
  keyPos: SourcePos;
}

export interface RawTemplate {
  /** Which syntax it came from: error messages name attributes in that syntax's spelling. */
  source: 'template' | 'json';
  /** File name for error locations, when the template came from a file. */
  file?: string;
  attributes: RawAttribute[];
}

/** Attribute names: a letter or `_`, then letters, digits and `_`. */
export function isValidKey(key: string): boolean {
  if (key.length === 0) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
    const digit = c >= 48 && c <= 57;
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

/** `SHORT_ADDRESS` → `shortAddress`: how the JSON body spells an attribute. */
export function camelCase(upperSnake: string): string {
  return upperSnake.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * `shortAddress`, `short_address`, `short-address` and `SHORT_ADDRESS` all
 * become `SHORT_ADDRESS`, the template spelling. Acronyms stay together:
 * `PCIMatch` → `PCI_MATCH`.
 */
export function upperSnake(key: string): string {
  let out = spellings.get(key);
  if (out !== undefined) return out;
  out = spell(key);
  // Keys come from clients: a bounded table, so odd keys cannot grow it without end.
  if (spellings.size < MAX_SPELLINGS) spellings.set(key, out);
  return out;
}

/**
 * Keys already converted. Why: every JSON submission converts every key it
 * has, and the same few dozen keys come again and again; building each one
 * character by character was about a sixth of a body's parse in the
 * server's profile (8 of 49 µs). Once full, the table stops growing and
 * new keys are converted each time, as before.
 */
const spellings = new Map<string, string>();
const MAX_SPELLINGS = 4096;

function spell(key: string): string {
  let out = '';
  for (let i = 0; i < key.length; i++) {
    const ch = key[i]!;
    const prev = key[i - 1];
    const next = key[i + 1];
    const isUpper = ch >= 'A' && ch <= 'Z';
    if (isUpper && prev !== undefined && prev !== '_' && prev !== '-') {
      const prevLowerOrDigit = (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9');
      const acronymEnd = prev >= 'A' && prev <= 'Z' && next !== undefined && next >= 'a' && next <= 'z';
      if (prevLowerOrDigit || acronymEnd) out += '_';
    }
    out += ch === '-' ? '_' : ch.toUpperCase();
  }
  return out;
}

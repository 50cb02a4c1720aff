/**
 * Typed errors. Each boundary (REST, gRPC, CLI) translates them to its own
 * status in one place; everything else throws these with fields and `cause`.
 */

export type ErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'conflict'
  | 'config'
  | 'unavailable'
  | 'internal';

export class PcischedError extends Error {
  readonly code: ErrorCode = 'internal';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Where in an input a problem lies; every field optional. */
export interface InputLocation {
  file?: string;
  line?: number;
  column?: number;
  /** Attribute or key path, e.g. `PCI[1].VENDOR` or `filter`. */
  field?: string;
}

export function formatLocation(loc: InputLocation): string {
  const parts: string[] = [];
  if (loc.file) parts.push(loc.file);
  if (loc.line !== undefined) parts.push(`line ${loc.line}${loc.column !== undefined ? `, column ${loc.column}` : ''}`);
  if (loc.field) parts.push(loc.field);
  return parts.join(': ');
}

/** Bad input from a user: a template, a request body, a flag. */
export class ValidationError extends PcischedError {
  override readonly code = 'invalid_argument';
  constructor(
    readonly reason: string,
    readonly location: InputLocation = {},
    options?: { cause?: unknown },
  ) {
    const where = formatLocation(location);
    super(where ? `${where}: ${reason}` : reason, options);
  }
}

/** A configuration file or setting that cannot be used (startup error). */
export class ConfigError extends ValidationError {
  override readonly code = 'invalid_argument' as const;
}

export class NotFoundError extends PcischedError {
  override readonly code = 'not_found';
  constructor(
    readonly kind: string,
    readonly id: string,
    options?: { cause?: unknown },
  ) {
    super(`${kind} ${id} not found`, options);
  }
}

export class ConflictError extends PcischedError {
  override readonly code = 'conflict';
}

export class UnavailableError extends PcischedError {
  override readonly code = 'unavailable';
}

/** Quoted text up to this many characters is echoed whole in error messages. */
const ECHO_MAX = 40;

/**
 * `"text"` for an error message, cut to its first characters when long:
 * `"aaaa…" (100000 characters)`. Why: a message echoes what the user sent,
 * and a 100 KB value made a 200 KB answer (the problem's detail and reason)
 * and as much in the log.
 */
export function quoted(text: string): string {
  return text.length <= ECHO_MAX ? `"${text}"` : `"${text.slice(0, ECHO_MAX)}…" (${text.length} characters)`;
}

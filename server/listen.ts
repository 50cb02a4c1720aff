import { ValidationError } from '../common/index.js';

/** Parses HOST:PORT (IPv6 in brackets). Port 0 asks the OS for a free port. */
export function parseListen(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ValidationError(`expected HOST:PORT, got "${value}"`, { field: flag });
  return { host: (m[1] ?? m[2])!, port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

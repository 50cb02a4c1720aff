/**
 * The device preparer's state file, `STATE_DIR/prepared.json`: which devices the probe
 * moved to vfio-pci, for which VM, and which driver each had before, so that a release
 * (or the rollback of a crash) after a probe restart rebinds the right driver.
 *
 * Format (version 1):
 *   { "version": 1, "devices": { "0000:01:00.0": { "vmId": 7, "previousDriver": "nvidia" } } }
 * `previousDriver` is null for a device that had no driver.
 *
 * - Loaded once, at construction; a file that is not valid JSON of this shape is a
 *   ConfigError naming the file (a startup error, never a crash later). A missing file is
 *   an empty state.
 * - Every change is written atomically (temp file, fsync, rename, fsync of the dir), and
 *   the in-memory copy changes only once the file has been written, so memory and disk
 *   never disagree. A failed write throws (the preparer turns it into an outcome error).
 * - One process owns a state dir (the probe agent); there is no locking between processes.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../common/index.js';
import { isPciAddress } from './pci-address.js';

export interface PreparedRecord {
  vmId: number;
  /** The driver the device had before it was moved to vfio-pci; null = none. */
  previousDriver: string | null;
}

export const STATE_FILE_NAME = 'prepared.json';
const VERSION = 1;

/** Kernel driver names (`nvidia`, `snd_hda_intel`, `vfio-pci`, `ehci-pci`): never a path. */
const DRIVER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;

export function isDriverName(s: string): boolean {
  return DRIVER_NAME_RE.test(s) && s.length <= 64;
}

export function isVmId(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ? `${e.code}: ${e.message}` : String((e as Error)?.message ?? err);
}

export class PreparedStateFile {
  readonly path: string;
  private records: Map<string, PreparedRecord>;

  /**
   * @param create create `stateDir` when missing (false in dry run, which changes nothing).
   * @throws ConfigError for an unusable dir or a corrupt file, naming it.
   */
  constructor(readonly stateDir: string, create: boolean) {
    this.path = join(stateDir, STATE_FILE_NAME);
    if (create) {
      try {
        mkdirSync(stateDir, { recursive: true });
      } catch (err) {
        throw new ConfigError(`cannot create state dir: ${errText(err)}`, { file: stateDir, field: 'stateDir' }, { cause: err });
      }
    }
    this.records = this.load();
  }

  private load(): Map<string, PreparedRecord> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw new ConfigError(`cannot read state file: ${errText(err)}`, { file: this.path }, { cause: err });
    }
    const bad = (reason: string, cause?: unknown): ConfigError =>
      new ConfigError(`corrupt state file (${reason}); fix or remove it after checking the devices' drivers by hand`, { file: this.path }, cause === undefined ? undefined : { cause });
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw bad(`not JSON: ${(err as Error).message}`, err);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('not a JSON object');
    const { version, devices } = doc as { version?: unknown; devices?: unknown };
    if (version !== VERSION) throw bad(`version must be ${VERSION}, got ${JSON.stringify(version)}`);
    if (typeof devices !== 'object' || devices === null || Array.isArray(devices)) throw bad('"devices" must be an object');
    const out = new Map<string, PreparedRecord>();
    for (const [address, rec] of Object.entries(devices)) {
      if (!isPciAddress(address)) throw bad(`"${address}" is not a PCI address`);
      if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) throw bad(`devices["${address}"] must be an object`);
      const { vmId, previousDriver } = rec as { vmId?: unknown; previousDriver?: unknown };
      if (!isVmId(vmId)) throw bad(`devices["${address}"].vmId must be a non-negative integer, got ${JSON.stringify(vmId)}`);
      if (previousDriver !== null && !(typeof previousDriver === 'string' && isDriverName(previousDriver))) {
        throw bad(`devices["${address}"].previousDriver must be a driver name or null, got ${JSON.stringify(previousDriver)}`);
      }
      out.set(address, { vmId, previousDriver: previousDriver as string | null });
    }
    return out;
  }

  get(address: string): PreparedRecord | undefined {
    const r = this.records.get(address);
    return r ? { ...r } : undefined;
  }

  /** A copy of every record. */
  snapshot(): Map<string, PreparedRecord> {
    return new Map([...this.records].map(([a, r]) => [a, { ...r }]));
  }

  /** Records `address`; throws when the file cannot be written (memory is then unchanged). */
  set(address: string, record: PreparedRecord): void {
    const next = this.snapshot();
    next.set(address, { vmId: record.vmId, previousDriver: record.previousDriver });
    this.save(next);
  }

  /** Drops `address`; throws when the file cannot be written (memory is then unchanged). */
  delete(address: string): void {
    if (!this.records.has(address)) return;
    const next = this.snapshot();
    next.delete(address);
    this.save(next);
  }

  private save(next: Map<string, PreparedRecord>): void {
    const devices: Record<string, PreparedRecord> = {};
    for (const [a, r] of [...next].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) devices[a] = r;
    const text = `${JSON.stringify({ version: VERSION, devices }, null, 2)}\n`;
    const tmp = `${this.path}.tmp`;
    try {
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, text);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
    } catch (err) {
      throw new Error(`cannot write state file ${this.path}: ${errText(err)}`, { cause: err });
    }
    // Make the rename itself durable; not every filesystem lets a dir be fsynced.
    try {
      const dfd = openSync(this.stateDir, 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch {
      /* best effort */
    }
    this.records = next;
  }
}

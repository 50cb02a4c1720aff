/**
 * Low-level, never-throwing reads of sysfs/procfs files and links.
 *
 * Two rules shape this file:
 * - Bad input never crashes a scan: a file that should be there but is missing or
 *   unreadable yields null and one pino warning naming the file. The warning is logged
 *   once per path until the path reads fine again, so an agent rescanning every few
 *   seconds does not flood its log with the same complaint.
 * - The agent rescans often, so the hot paths avoid exceptions (costly in V8: a stack
 *   trace per failure) by checking optional entries with non-throwing calls first, and
 *   read small files with open/read/close into one reused buffer instead of readFileSync
 *   (which adds an fstat per file).
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, statSync } from 'node:fs';
import type { Logger } from '../common/index.js';

/** sysfs attributes are at most one page. */
const PAGE = 4096;

export class SysfsReader {
  private readonly buf = Buffer.alloc(PAGE);
  private readonly warned = new Set<string>();

  constructor(private readonly logger: Logger) {}

  /** Logs a warning for `path`, once until the path recovers. */
  warn(path: string, reason: string, err?: unknown): void {
    if (this.warned.has(path)) return;
    this.warned.add(path);
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    this.logger.warn({ file: path, ...(code ? { code } : {}) }, `probe: ${reason}: ${path}`);
  }

  private ok(path: string): void {
    if (this.warned.size > 0) this.warned.delete(path);
  }

  /**
   * A small text file (a sysfs attribute), or null. `optional` files are legitimately
   * absent on some devices (reset_method, sriov_*): their absence is not worth a warning.
   */
  readText(path: string, optional = false): string | null {
    if (optional && !existsSync(path)) return null;
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      this.warn(path, 'cannot open', err);
      return null;
    }
    try {
      const n = readSync(fd, this.buf, 0, PAGE, 0);
      if (n < PAGE) {
        this.ok(path);
        return this.buf.toString('utf8', 0, n);
      }
    } catch (err) {
      this.warn(path, 'cannot read', err);
      return null;
    } finally {
      closeSync(fd);
    }
    return this.readLarge(path);
  }

  /**
   * Reads a sysfs attribute through a descriptor kept open between scans: one pread
   * instead of open/read/close (each a path walk through kernfs). If the node went away
   * (sysfs answers ENODEV once its device is removed) it reopens the path once.
   */
  readAttr(f: AttrFile): string | null {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (f.fd < 0) {
        try {
          f.fd = openSync(f.path, 'r');
        } catch (err) {
          this.warn(f.path, 'cannot open', err);
          return null;
        }
      }
      try {
        const n = readSync(f.fd, this.buf, 0, PAGE, 0);
        if (n === PAGE) return this.readLarge(f.path); // more than a page (long reserved_regions)
        this.ok(f.path);
        return this.buf.toString('utf8', 0, n);
      } catch (err) {
        closeAttr(f);
        if (attempt === 1) this.warn(f.path, 'cannot read', err);
      }
    }
    return null;
  }

  /** A file of any size (cpuinfo, reserved_regions on big hosts), or null. */
  readLarge(path: string): string | null {
    try {
      const text = readFileSync(path, 'utf8');
      this.ok(path);
      return text;
    } catch (err) {
      this.warn(path, 'cannot read', err);
      return null;
    }
  }

  /** Target of a symlink, or null when there is none (absence is meaningful: no driver, no group). */
  readLink(path: string): string | null {
    if (!existsSync(path)) return null;
    try {
      return readlinkSync(path);
    } catch (err) {
      this.warn(path, 'cannot read link', err);
      return null;
    }
  }

  /**
   * Target of a symlink that is normally there (iommu_group with an IOMMU, virtfnN below
   * sriov_numvfs): one syscall instead of two; null, without a warning, when absent.
   */
  readLinkExpected(path: string): string | null {
    try {
      return readlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.warn(path, 'cannot read link', err);
      return null;
    }
  }

  /** Link count of a directory (2 + its subdirectories), or null when it is gone. */
  linkCount(path: string): number | null {
    try {
      return statSync(path, { throwIfNoEntry: false })?.nlink ?? null;
    } catch {
      return null;
    }
  }

  /**
   * Entry names of a directory that is normally there, in one call; null, without a
   * warning, when it is absent (the caller has a fallback for that).
   */
  listDirIfPresent(path: string): string[] | null {
    try {
      const names = readdirSync(path);
      this.ok(path);
      return names;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.warn(path, 'cannot list directory', err);
      return null;
    }
  }

  /** Entry names of a directory; [] when absent. Absence is warned about unless optional. */
  listDir(path: string, optional = false): string[] {
    if (optional && !existsSync(path)) return [];
    try {
      const names = readdirSync(path);
      this.ok(path);
      return names;
    } catch (err) {
      this.warn(path, 'cannot list directory', err);
      return [];
    }
  }
}

/** A sysfs attribute read through a descriptor kept open; fd -1 = not open. */
export interface AttrFile {
  readonly path: string;
  fd: number;
}

export function attrFile(path: string): AttrFile {
  return { path, fd: -1 };
}

export function closeAttr(f: AttrFile): void {
  if (f.fd >= 0) {
    try {
      closeSync(f.fd);
    } catch {
      // Already gone; nothing to release.
    }
    f.fd = -1;
  }
}

/** `0x10de\n` → `10de`, zero-padded to `digits`; null when not a hex number. */
export function parseHexAttr(text: string | null, digits: number): string | null {
  if (text === null) return null;
  const m = /^\s*(?:0x)?([0-9a-fA-F]+)\s*$/.exec(text);
  if (!m) return null;
  const hex = m[1]!.toLowerCase().replace(/^0+(?=.)/, '');
  return hex.length > digits ? null : hex.padStart(digits, '0');
}

/** A decimal integer attribute (`-1\n`, `8\n`), or null. */
export function parseIntAttr(text: string | null): number | null {
  if (text === null) return null;
  const t = text.trim();
  return /^-?\d+$/.test(t) ? Number(t) : null;
}

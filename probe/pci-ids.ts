/**
 * The PCI ID database (pci.ids) and name lookups that print exactly what `lspci -mm`
 * prints, including its fallbacks when an id is not in the database:
 *   vendor `Vendor 10de`, device `Device 1b80`, class `Class 0380` (or, when only the
 *   base class is known, `Display controller [0380]`), subsystem `Device 3702`.
 * Checked against pciutils 3.9 (`lspci -mm -i <file>`), see test/probe/lspci-compare.test.ts.
 *
 * The system file is ~1.5 MB, so it is parsed once per process and path (re-parsed only
 * if its size or mtime changes) and shared by every scanner.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

interface DeviceEntry {
  name: string;
  /** Keyed by `(subvendor << 16) | subdevice`. */
  subsystems: Map<number, string>;
}

interface VendorEntry {
  name: string;
  devices: Map<number, DeviceEntry>;
}

interface ClassEntry {
  name: string;
  subclasses: Map<number, string>;
}

export interface PciIds {
  readonly path: string | null;
  readonly vendors: Map<number, VendorEntry>;
  readonly classes: Map<number, ClassEntry>;
}

export interface DeviceNames {
  vendorName: string;
  deviceName: string;
  className: string;
  subsystemName: string;
}

/** Where lspci looks (Debian/Ubuntu first, then Fedora/RHEL's hwdata), below the host root. */
export const PCI_IDS_CANDIDATES = [
  'usr/share/misc/pci.ids',
  'usr/share/misc/pci.ids.gz',
  'usr/share/hwdata/pci.ids',
  'usr/share/hwdata/pci.ids.gz',
];

const ID_LINE = /^([0-9a-fA-F]{4})\s+(.*?)\s*$/;
const SUBSYS_LINE = /^([0-9a-fA-F]{4})\s+([0-9a-fA-F]{4})\s+(.*?)\s*$/;
const CLASS_LINE = /^C\s+([0-9a-fA-F]{2})\s+(.*?)\s*$/;
const SUBCLASS_LINE = /^([0-9a-fA-F]{2})\s+(.*?)\s*$/;

/**
 * Parses pci.ids text with pciutils' rules: nesting is the number of leading tabs;
 * `C xx` starts the class section; any other `X ` section (not in pci.ids today) and
 * malformed lines are skipped rather than failing the whole database.
 */
export function parsePciIds(text: string, path: string | null = null): PciIds {
  const vendors = new Map<number, VendorEntry>();
  const classes = new Map<number, ClassEntry>();
  let vendor: VendorEntry | null = null;
  let device: DeviceEntry | null = null;
  let cls: ClassEntry | null = null;
  let section: 'vendor' | 'class' | 'other' = 'vendor';
  for (const raw of text.split('\n')) {
    if (raw === '' || raw.startsWith('#')) continue;
    let depth = 0;
    while (raw.charCodeAt(depth) === 9) depth++;
    const line = raw.slice(depth);
    if (line.trim() === '' || line.startsWith('#')) continue;
    if (depth === 0) {
      vendor = null;
      device = null;
      cls = null;
      if (/^[A-Z]\s/.test(line)) {
        const m = CLASS_LINE.exec(line);
        section = m ? 'class' : 'other';
        if (m) {
          cls = { name: m[2]!, subclasses: new Map() };
          classes.set(parseInt(m[1]!, 16), cls);
        }
        continue;
      }
      const m = ID_LINE.exec(line);
      section = 'vendor';
      if (m) {
        vendor = { name: m[2]!, devices: new Map() };
        vendors.set(parseInt(m[1]!, 16), vendor);
      }
    } else if (section === 'vendor' && depth === 1 && vendor) {
      const m = ID_LINE.exec(line);
      device = m ? { name: m[2]!, subsystems: new Map() } : null;
      if (m) vendor.devices.set(parseInt(m[1]!, 16), device!);
    } else if (section === 'vendor' && depth === 2 && device) {
      const m = SUBSYS_LINE.exec(line);
      if (m) device.subsystems.set(((parseInt(m[1]!, 16) << 16) | parseInt(m[2]!, 16)) >>> 0, m[3]!);
    } else if (section === 'class' && depth === 1 && cls) {
      const m = SUBCLASS_LINE.exec(line);
      if (m) cls.subclasses.set(parseInt(m[1]!, 16), m[2]!);
    }
    // depth 2 in the class section is the prog-if name, which the report does not carry.
  }
  return { path, vendors, classes };
}

const cache = new Map<string, { size: number; mtimeMs: number; db: PciIds }>();

/** Loads (and caches) a pci.ids or pci.ids.gz file. Throws the fs error when unreadable. */
export function loadPciIds(path: string): PciIds {
  const st = statSync(path);
  const hit = cache.get(path);
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.db;
  const bytes = readFileSync(path);
  const text = (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
  const db = parsePciIds(text, path);
  cache.set(path, { size: st.size, mtimeMs: st.mtimeMs, db });
  return db;
}

/** The first pci.ids below `hostRoot`, in lspci's order, or null. */
export function findPciIds(hostRoot: string): string | null {
  for (const rel of PCI_IDS_CANDIDATES) {
    const p = join(hostRoot, rel);
    if (existsSync(p)) return p;
  }
  return null;
}

export interface IdsForNames {
  vendor: string;
  device: string;
  /** 4 hex digits, class and subclass. */
  class: string;
  subsystemVendor: string;
  subsystemDevice: string;
}

const hex = (s: string): number => parseInt(s, 16);

/**
 * Names as `lspci -mm` prints them. An id that could not be read ('') gives ''.
 * subsystemName is lspci's subsystem (device) name; '' when the subsystem vendor is
 * 0000 or ffff, where lspci prints `""` too.
 */
export function lookupNames(db: PciIds | null, ids: IdsForNames): DeviceNames {
  const v = ids.vendor ? db?.vendors.get(hex(ids.vendor)) : undefined;
  const d = ids.device ? v?.devices.get(hex(ids.device)) : undefined;
  const vendorName = !ids.vendor ? '' : (v?.name ?? `Vendor ${ids.vendor}`);
  const deviceName = !ids.device ? '' : (d?.name ?? `Device ${ids.device}`);

  let className = '';
  if (ids.class.length === 4) {
    const c = db?.classes.get(hex(ids.class.slice(0, 2)));
    const sub = c?.subclasses.get(hex(ids.class.slice(2)));
    // pciutils falls back to the base class name and then shows the full number.
    className = sub ?? (c ? `${c.name} [${ids.class}]` : `Class ${ids.class}`);
  }

  let subsystemName = '';
  const sv = ids.subsystemVendor;
  const sd = ids.subsystemDevice;
  if (sv && sd && sv !== '0000' && sv !== 'ffff') {
    const key = ((hex(sv) << 16) | hex(sd)) >>> 0;
    // Subsystem equal to the device itself: pciutils names it after the device.
    const same = sv === ids.vendor && sd === ids.device ? d?.name : undefined;
    subsystemName = d?.subsystems.get(key) ?? same ?? `Device ${sd}`;
  }
  return { vendorName, deviceName, className, subsystemName };
}

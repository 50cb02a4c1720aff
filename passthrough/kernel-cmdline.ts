/**
 * `/proc/cmdline` → the passthrough-relevant flags.
 *
 * Tokenizing follows the kernel's own `next_arg()` (lib/cmdline.c):
 * whitespace separates parameters, double quotes protect spaces
 * (`dyndbg="file x +p"` and `"key=value with spaces"` both work), the
 * quotes are not part of the value, and a bare `--` ends the kernel's
 * parameters (the rest goes to init).
 *
 * Names are compared with `-` read as `_` (`vfio-pci.ids` = `vfio_pci.ids`),
 * as the kernel does for module and early parameters and kmod does for
 * module names; module names inside values (blacklists, `rd.driver.pre`)
 * are normalized the same way, to the form `/sys/module` shows.
 *
 * Repeated keys follow what reads them:
 * - `intel_iommu=`, `amd_iommu=`, `iommu=`, `pcie_acs_override=`: each
 *   occurrence is parsed in turn, so options accumulate (the last on/off wins);
 * - `rd.driver.pre=`, `rd.driver.blacklist=` (dracut), `modprobe.blacklist=`
 *   (kmod), `module_blacklist=` (kernel): lists accumulate;
 * - other module parameters (`vfio-pci.ids=`): the last one wins, and the
 *   name is listed in `shadowed` when earlier values differ;
 * - `video=NAME:opts`: one framebuffer per entry, the last entry for a name wins.
 */

export interface KernelParam {
  /** The token as written, quotes included. */
  raw: string;
  /** The key as written (before the first `=`). */
  key: string;
  /** The key with every `-` read as `_`. */
  name: string;
  /** The value without its quotes; null for a bare flag such as `quiet`. */
  value: string | null;
}

export interface KernelFlags {
  /** Every kernel parameter, in order. */
  params: KernelParam[];
  /** What follows a bare `--`: arguments for init, not the kernel. */
  initArgs: string[];
  /** Options of every `intel_iommu=`, in order (`on,relax_rmrr` → ['on', 'relax_rmrr']); null when absent. */
  intelIommu: string[] | null;
  /** Options of every `amd_iommu=`, in order; null when absent. */
  amdIommu: string[] | null;
  /** Passthrough mode: `iommu=pt` (last of pt/nopt) or `iommu.passthrough=1`. */
  iommuPt: boolean;
  /** Values of every `pcie_acs_override=` (['downstream', 'multifunction']); null when absent. */
  pcieAcsOverride: string[] | null;
  /** `vfio-pci.ids=` / `vfio_pci.ids=` of the last occurrence, lowercased (`10de:1b80`). */
  vfioPciIds: string[];
  /** Module names of every `rd.driver.pre=`, normalized (`vfio_pci`). */
  rdDriverPre: string[];
  /** Framebuffers turned off by their own `video=NAME:off` entry (`efifb`, `vesafb`). */
  videoOff: string[];
  /** Union of `modprobe.blacklist=`, `rd.driver.blacklist=` and `module_blacklist=`, normalized, first-seen order. */
  blacklist: string[];
  /** `intel_iommu` has `relax_rmrr` (needs the relaxed-RMRR kernel patch). */
  relaxRmrr: boolean;
  /** Module parameters given more than once with different values; only the last counts. */
  shadowed: string[];
}

/** `-` read as `_`, as the kernel compares parameter names and kmod module names. */
export function normalizeName(name: string): string {
  return name.replace(/-/g, '_');
}

/** The last `on`/`off` among IOMMU options: true, false, or null when neither is given. */
export function iommuOptionState(options: readonly string[] | null): boolean | null {
  if (options === null) return null;
  for (let i = options.length - 1; i >= 0; i--) {
    if (options[i] === 'on') return true;
    if (options[i] === 'off') return false;
  }
  return null;
}

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';

/** Splits like the kernel's `next_arg()`; stops at a bare `--`. */
function tokenize(cmdline: string): { params: KernelParam[]; initArgs: string[] } {
  const params: KernelParam[] = [];
  const s = cmdline;
  let i = 0;
  while (i < s.length) {
    while (i < s.length && isSpace(s[i]!)) i++;
    if (i >= s.length) break;
    const start = i;
    const quoted = s[i] === '"';
    let inQuote = quoted;
    if (quoted) i++;
    const body = i;
    let eq = -1;
    for (; i < s.length; i++) {
      const c = s[i]!;
      if (isSpace(c) && !inQuote) break;
      if (eq < 0 && c === '=') eq = i;
      if (c === '"') inQuote = !inQuote;
    }
    const raw = s.slice(start, i);
    const endsInQuote = i - 1 >= body && s[i - 1] === '"';
    let key: string;
    let value: string | null = null;
    if (eq < 0) {
      key = s.slice(body, quoted && endsInQuote ? i - 1 : i);
    } else {
      key = s.slice(body, eq);
      let v = s.slice(eq + 1, i);
      if (v.startsWith('"')) {
        v = v.slice(1);
        if (endsInQuote && v.length > 0) v = v.slice(0, -1);
      } else if (quoted && endsInQuote) {
        v = v.slice(0, -1);
      }
      value = v;
    }
    if (value === null && key === '--' && !quoted) {
      return { params, initArgs: splitRest(s.slice(i)) };
    }
    if (key === '') continue;
    params.push({ raw, key, name: normalizeName(key), value });
  }
  return { params, initArgs: [] };
}

function splitRest(rest: string): string[] {
  return rest.split(/\s+/).filter((t) => t !== '');
}

/** Comma list → trimmed, non-empty items. */
export function splitList(value: string | null): string[] {
  if (value === null) return [];
  return value.split(',').map((v) => v.trim()).filter((v) => v !== '');
}

const moduleList = (value: string | null) => splitList(value).map(normalizeName);

const pushUnique = (list: string[], items: readonly string[]) => {
  for (const it of items) if (!list.includes(it)) list.push(it);
};

/** Parameters dracut and kmod read themselves and that accumulate; not "last wins". */
const ACCUMULATING = new Set(['rd.driver.pre', 'rd.driver.blacklist', 'rd.driver.post', 'modprobe.blacklist']);

export function parseKernelCmdline(cmdline: string): KernelFlags {
  const { params, initArgs } = tokenize(cmdline);
  let intelIommu: string[] | null = null;
  let amdIommu: string[] | null = null;
  let pcieAcsOverride: string[] | null = null;
  let iommuPt = false;
  let vfioPciIds: string[] = [];
  const rdDriverPre: string[] = [];
  const blacklist: string[] = [];
  const video = new Map<string, string>();
  const moduleValues = new Map<string, Set<string | null>>();

  for (const p of params) {
    const v = p.value;
    switch (p.name) {
      case 'intel_iommu':
        (intelIommu ??= []).push(...splitList(v));
        break;
      case 'amd_iommu':
        (amdIommu ??= []).push(...splitList(v));
        break;
      case 'iommu':
        for (const o of splitList(v)) {
          if (o === 'pt') iommuPt = true;
          else if (o === 'nopt') iommuPt = false;
        }
        break;
      case 'iommu.passthrough':
        if (v !== null && /^(1|y|yes|on)$/i.test(v)) iommuPt = true;
        else if (v !== null && /^(0|n|no|off)$/i.test(v)) iommuPt = false;
        break;
      case 'pcie_acs_override':
        pushUnique((pcieAcsOverride ??= []), splitList(v));
        break;
      case 'vfio_pci.ids':
        vfioPciIds = [];
        pushUnique(vfioPciIds, splitList(v).map((id) => id.toLowerCase()));
        break;
      case 'rd.driver.pre':
        pushUnique(rdDriverPre, moduleList(v));
        break;
      case 'modprobe.blacklist':
      case 'rd.driver.blacklist':
      case 'module_blacklist':
        pushUnique(blacklist, moduleList(v));
        break;
      case 'video': {
        const colon = v?.indexOf(':') ?? -1;
        if (v !== null && colon > 0) {
          const fb = v.slice(0, colon);
          video.delete(fb); // keep the order of the last entry
          video.set(fb, v.slice(colon + 1));
        }
        break;
      }
    }
    if (p.name.includes('.') && !ACCUMULATING.has(p.name) && !p.name.startsWith('rd.') && p.name !== 'iommu.passthrough') {
      let set = moduleValues.get(p.name);
      if (set === undefined) moduleValues.set(p.name, (set = new Set()));
      set.add(p.name === 'vfio_pci.ids' ? (v ?? '').toLowerCase() : v);
    }
  }

  return {
    params,
    initArgs,
    intelIommu,
    amdIommu,
    iommuPt,
    pcieAcsOverride,
    vfioPciIds,
    rdDriverPre,
    videoOff: [...video].filter(([, opts]) => opts.startsWith('off')).map(([fb]) => fb),
    blacklist,
    relaxRmrr: intelIommu !== null && intelIommu.includes('relax_rmrr'),
    shadowed: [...moduleValues].filter(([, values]) => values.size > 1).map(([name]) => name),
  };
}

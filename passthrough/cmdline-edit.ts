/**
 * Edits to a kernel command line, and their two renderings: a merged GRUB
 * line and an `rpm-ostree kargs` command. Nothing here touches a host.
 */
import type { KernelFlags, KernelParam } from './kernel-cmdline.js';

export interface ParamEdit {
  /** The parameter to add, as it will be written. */
  token: string;
  /** Existing parameters it replaces (merged values); empty for a plain addition. */
  replaces: KernelParam[];
  /**
   * The key is already on the command line with other values and this adds
   * to them (`modprobe.blacklist=`): rpm-ostree's --append-if-missing looks
   * at the key only and would skip it.
   */
  keyPresent: boolean;
}

/** Parameters GRUB writes itself (grub-mkconfig, BLS): left out of GRUB_CMDLINE_LINUX_DEFAULT. */
const BOOTLOADER_KEYS = new Set(['BOOT_IMAGE', 'root', 'rootflags', 'ro', 'rw', 'initrd']);

/**
 * The command line with the edits applied: a replacing edit takes the place
 * of the first parameter it replaces and drops the others; additions go last.
 * Boot-loader parameters are left out; init arguments stay after `--`.
 */
export function applyEdits(kernel: KernelFlags, edits: readonly ParamEdit[]): string[] {
  const replacing = new Map<KernelParam, ParamEdit>();
  for (const e of edits) for (const p of e.replaces) replacing.set(p, e);
  const placed = new Set<ParamEdit>();
  const out: string[] = [];
  for (const p of kernel.params) {
    if (BOOTLOADER_KEYS.has(p.key)) continue;
    const e = replacing.get(p);
    if (e === undefined) out.push(p.raw);
    else if (!placed.has(e)) {
      placed.add(e);
      out.push(e.token);
    }
  }
  for (const e of edits) if (!placed.has(e)) out.push(e.token);
  if (kernel.initArgs.length > 0) out.push('--', ...kernel.initArgs);
  return out;
}

/** Escapes text for the inside of a shell double-quoted string, as /etc/default/grub is sourced by sh. */
export function escapeDoubleQuoted(text: string): string {
  return text.replace(/[\\"$`]/g, (c) => `\\${c}`);
}

export function grubLine(kernel: KernelFlags, edits: readonly ParamEdit[]): string {
  return `GRUB_CMDLINE_LINUX_DEFAULT="${escapeDoubleQuoted(applyEdits(kernel, edits).join(' '))}"`;
}

/** A word for sh: as is when plain, else single-quoted. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_.,:=/+@%-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * `rpm-ostree kargs`: --append-if-missing for a new key (idempotent), and
 * --delete-if-present of the old values then --append for a merged or
 * added-to key. '' when there is nothing to do.
 */
export function rpmOstreeCommand(edits: readonly ParamEdit[]): string {
  const flags: string[] = [];
  for (const e of edits) {
    for (const p of e.replaces) flags.push(`--delete-if-present=${p.raw}`);
    flags.push(e.replaces.length > 0 || e.keyPresent ? `--append=${e.token}` : `--append-if-missing=${e.token}`);
  }
  return flags.length === 0 ? '' : `rpm-ostree kargs ${flags.map(shellWord).join(' ')}`;
}

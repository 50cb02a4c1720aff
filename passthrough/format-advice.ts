/** Human-readable text of an Advice, for `pcisched host advise NAME`. */
import type { Advice } from './advice.js';

const bullets = (items: readonly string[]) => items.map((i) => `  - ${i}`);

export function formatAdvice(advice: Advice): string {
  const out: string[] = [`Kernel parameters for passthrough on host ${advice.hostName} (advice only: nothing is applied)`, ''];
  if (advice.params.length === 0) {
    out.push('Nothing to add: the kernel command line already has every parameter needed.');
  } else {
    out.push('Add:', ...advice.params.map((p) => `  ${p}`), '');
    out.push(`GRUB (${advice.grub.file}):`, `  ${advice.grub.line}`, '  then:', ...advice.grub.commands.map((c) => `    ${c}`), '');
    out.push('rpm-ostree systems (Fedora CoreOS, Silverblue):', `  ${advice.rpmOstree}`);
  }
  if (advice.devices.length > 0) out.push('', 'Devices for vfio-pci:', ...advice.devices.map((d) => `  ${d}`));
  if (advice.warnings.length > 0) out.push('', 'Warnings:', ...bullets(advice.warnings));
  if (advice.notes.length > 0) out.push('', 'Notes:', ...bullets(advice.notes));
  return `${out.join('\n')}\n`;
}

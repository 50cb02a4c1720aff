/**
 * Top self-time functions of a V8 .cpuprofile (from `node --cpu-prof`):
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/main.ts --scenario place --hosts 1000
 *   node --import tsx bench/profile-top.ts /tmp/prof/CPU.*.cpuprofile [--top 10] [--by function|file] [--window FROM_US:TO_US]
 *
 * --window keeps samples in a monotonic-clock range (µs), e.g. the place
 * scenario's `marks_us.submit`:`marks_us.end` for the placement loop alone,
 * rest's `timed`:`end`, or ingest's `changed`:`shapes` for its phase of
 * changed reports.
 *
 * Self time per sample comes from the profile's timeDeltas; functions are
 * keyed by name and file:line (repo-relative), so two anonymous functions
 * in different places stay apart. Several files are summed.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Where a frame's code lives: a repo file, a node_modules package, node internals, or V8. */
function fileGroup(where: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where);
  if (m) return `npm:${m[1]}`;
  if (where.startsWith('node:')) return 'node:internal';
  if (where.startsWith('wasm://')) return 'wasm';
  return where || '(vm)';
}

export function selfTimes(profile: CpuProfile, into = new Map<string, number>(), by: 'function' | 'file' = 'function', window?: [number, number]): Map<string, number> {
  const label = new Map<number, string>();
  const root = process.cwd();
  for (const n of profile.nodes) {
    const f = n.callFrame;
    let where = f.url.replace(/^file:\/\//, '');
    if (where.startsWith(root)) where = path.relative(root, where);
    const name = f.functionName || '(anonymous)';
    const col = (f as CallFrame & { columnNumber?: number }).columnNumber ?? -1;
    label.set(n.id, by === 'file' ? fileGroup(where) : where ? `${name} ${where}:${f.lineNumber + 1}:${col + 1}` : name);
  }
  // timeDeltas[i] is the time before sample i; attribute the gap after it to the sample's node.
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (window && (t < window[0] || t >= window[1])) continue;
    const key = label.get(profile.samples[i]!) ?? '?';
    const dt = profile.timeDeltas[i + 1] ?? 0;
    into.set(key, (into.get(key) ?? 0) + dt);
  }
  return into;
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '10' }, by: { type: 'string', default: 'function' }, window: { type: 'string' } } });
  // --window FROM_US:TO_US, e.g. the place scenario's marks_us.submit and marks_us.end.
  const window = values.window ? (values.window.split(':').map(Number) as [number, number]) : undefined;
  const by = values.by === 'file' ? 'file' : 'function';
  if (positionals.length === 0) throw new Error('usage: profile-top FILE.cpuprofile… [--top N]');
  const totals = new Map<string, number>();
  let wall = 0;
  for (const file of positionals) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    selfTimes(p, totals, by, window);
    wall += p.endTime - p.startTime;
  }
  const sum = [...totals.values()].reduce((a, b) => a + b, 0);
  const rows = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
  process.stdout.write(`profiled ${(wall / 1e6).toFixed(1)} s, ${window ? 'in window' : 'sampled'} ${(sum / 1e6).toFixed(1)} s\n`);
  for (const [key, us] of rows) process.stdout.write(`${(us / 1000).toFixed(0).padStart(8)} ms ${((100 * us) / sum).toFixed(1).padStart(5)}%  ${key}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) main();

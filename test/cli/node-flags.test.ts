/**
 * bin/node-flags: the V8 flags bin/pcisched and `npm run bench` start node
 * with. One helper thread per core but one (at least 1, at most node's
 * default 4), a 64 MiB young generation, and PCISCHED_NODE_FLAGS to replace them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../bin/node-flags', import.meta.url));

function flags(env: Record<string, string | undefined>, path?: string): string {
  const base = { ...process.env };
  delete base.PCISCHED_NODE_FLAGS;
  return execFileSync(SCRIPT, { env: { ...base, ...env, ...(path ? { PATH: path } : {}) }, encoding: 'utf8' });
}

test('one V8 helper thread per core but one, and a 64 MiB young generation', () => {
  const cores = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  const pool = Math.min(4, Math.max(1, cores - 1));
  assert.equal(flags({}), `--v8-pool-size=${pool} --max-semi-space-size=64\n`);
});

test('PCISCHED_NODE_FLAGS replaces the flags, also with nothing', () => {
  assert.equal(flags({ PCISCHED_NODE_FLAGS: '--max-old-space-size=2048' }), '--max-old-space-size=2048\n');
  assert.equal(flags({ PCISCHED_NODE_FLAGS: '' }), '\n');
});

test('node starts with the flags, and parses them (a bad value stops it)', () => {
  const out = execFileSync(process.execPath, [...flags({}).trim().split(' '), '-e', 'process.stdout.write(process.execArgv.filter((a) => a.startsWith("--")).join(" "))'], { encoding: 'utf8' });
  assert.equal(out, flags({}).trim());
  assert.throws(() => execFileSync(process.execPath, ['--max-semi-space-size=bogus', '-e', '0'], { stdio: 'ignore' }));
});

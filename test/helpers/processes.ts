/**
 * Real processes for end-to-end tests: the `pcisched` executable started as
 * a child, its bound addresses read from stdout, stopped with SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after } from 'node:test';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FakeHost } from './fake-host.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(REPO_ROOT, 'bin', 'pcisched');

export interface Child {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout/stderr match of `re` (rejects on exit or timeout). */
  waitFor(re: RegExp, timeoutMs?: number, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startChild(args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(BIN, args, { env: { ...process.env, PCISCHED_LOG_LEVEL: 'debug', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    notify();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    notify();
  });
  proc.on('exit', notify);
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    waitFor(re, timeoutMs = 15_000, stream = 'stdout') {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = (stream === 'stdout' ? out : err).match(re);
          if (m) {
            done();
            resolve(m);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            done();
            reject(new Error(`process exited (${proc.exitCode}) before ${re}:\nstdout: ${out}\nstderr: ${err.slice(-4000)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${re}:\nstdout: ${out}\nstderr: ${err.slice(-4000)}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const [code] = (await once(proc, 'exit')) as [number | null];
      return code;
    },
  };
}

export interface ServerChild extends Child {
  grpc: string;
  http: string;
}

export async function startServerProcess(dataDir: string, extra: string[] = [], ports = { grpc: 0, http: 0 }): Promise<ServerChild> {
  const child = startChild(['server', '--data-dir', dataDir, '--grpc-listen', `127.0.0.1:${ports.grpc}`, '--http-listen', `127.0.0.1:${ports.http}`, ...extra]);
  const grpc = (await child.waitFor(/grpc listening on (\S+)/, 30_000))[1]!;
  const http = (await child.waitFor(/http listening on (\S+)/, 30_000))[1]!;
  return Object.assign(child, { grpc, http });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export async function runCliProcess(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const proc = spawn(BIN, args, { env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  proc.stdin!.end(options.input ?? '');
  const [code] = (await once(proc, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** Polls `check` until it returns a truthy value. */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 15_000, label = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * An end-to-end test file's workspace: a data directory and a fake host,
 * and a list of children; all stopped (SIGKILL) and removed after the file's tests.
 */
export async function e2eWorkspace(prefix: string, makeHost: () => Promise<FakeHost>): Promise<{ dataDir: string; host: FakeHost; children: Child[] }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), prefix));
  const host = await makeHost();
  const children: Child[] = [];
  after(async () => {
    await Promise.all(children.map((c) => c.stop('SIGKILL')));
    await host.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { dataDir, host, children };
}

/** Output streams and terminal detection, injected so tests can capture them. */
import { plainStyle, terminalStyle, type Style } from './format.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** True when stdout is a terminal and colour is not disabled. */
  isTerminal: boolean;
  env: Record<string, string | undefined>;
  readStdin: () => Promise<string>;
}

export function processIo(): CliIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    isTerminal: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
    env: process.env,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

export function styleFor(io: CliIo): Style {
  return io.isTerminal ? terminalStyle : plainStyle;
}

export function printJson(io: CliIo, value: unknown): void {
  io.stdout(JSON.stringify(value, null, 2) + '\n');
}

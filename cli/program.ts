/** Builds the `pcisched` command tree and runs it, mapping errors to exit codes. */
import { Command, CommanderError } from 'commander';
import { PcischedError, ValidationError, NotFoundError } from '../common/index.js';
import { CliExit, ExitCode, type ExitCodeValue } from './exit-codes.js';
import { registerHostCommands, registerVmCommands, registerNetworkCommands } from './commands-api.js';
import { registerDaemonCommands } from './commands-daemon.js';
import type { CliIo } from './io.js';

export function buildProgram(io: CliIo): Command {
  const program = new Command('pcisched')
    .description('PCI passthrough scheduler')
    .option('--api <url>', 'REST API base URL (env PCISCHED_API)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError(false);
  registerHostCommands(program, io);
  registerVmCommands(program, io);
  registerNetworkCommands(program, io);
  registerDaemonCommands(program, io);
  // Subcommands inherit exitOverride and output settings.
  const inherit = (cmd: Command) => {
    for (const sub of cmd.commands) {
      sub.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
      inherit(sub);
    }
  };
  inherit(program);
  return program;
}

/** Runs the CLI; returns the exit code instead of exiting, so tests can call it. */
export async function runCli(argv: string[], io: CliIo): Promise<ExitCodeValue> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version are not errors; commander already printed its message.
      if (err.exitCode === 0) return ExitCode.ok;
      return ExitCode.usage;
    }
    if (err instanceof CliExit) {
      io.stderr(`error: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof NotFoundError) {
      io.stderr(`error: ${err.message}\n`);
      return ExitCode.notFound;
    }
    if (err instanceof ValidationError || err instanceof PcischedError) {
      io.stderr(`error: ${err.message}\n`);
      return ExitCode.error;
    }
    io.stderr(`error: ${(err as Error)?.stack ?? String(err)}\n`);
    return ExitCode.error;
  }
}

/** Entry point of the `pcisched` executable. */
import { runCli } from './program.js';
import { processIo } from './io.js';

// A reader that stops early (`| head`) closes the pipe: end quietly, as other command lines do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
});

const code = await runCli(process.argv.slice(2), processIo());
process.exitCode = code;

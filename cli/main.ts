/** Entry point of the `pcisched` executable. */
import { runCli } from './program.js';
import { processIo } from './io.js';

const code = await runCli(process.argv.slice(2), processIo());
process.exitCode = code;

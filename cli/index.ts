/** The `pcisched` command line: a thin entry point over commander. */
export { runCli, buildProgram } from './program.js';
export { ExitCode, CliExit } from './exit-codes.js';
export { processIo, type CliIo } from './io.js';
export { formatHostShow, formatHostList, formatVmList, formatVmShow, pciDevicesTable } from './format.js';

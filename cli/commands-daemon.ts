/** Long-running commands (`server`, `all-in-one`, `probe run`) and `probe scan`. */
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { createLogger, type Logger } from '../common/index.js';
import { createScanner, loadFilterConfig, formatScanTable, scanToJson, ProbeAgent, DevicePreparer } from '../probe/index.js';
import { startServer, type RunningServer } from '../server/index.js';
import { CliExit, ExitCode } from './exit-codes.js';
import { printJson, type CliIo } from './io.js';

function positiveNumber(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new CliExit(ExitCode.usage, `${flag} must be a positive number, got "${v}"`);
    return n;
  };
}

const policyOption = () => new Option('--policy <policy>', 'default placement policy').choices(['pack', 'spread']).default('pack');

interface ServerFlags {
  dataDir: string;
  databaseUrl?: string;
  grpcListen: string;
  httpListen: string;
  policy: 'pack' | 'spread';
  missedHeartbeats: number;
}

function addServerFlags(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'where pcisched.db lives', './data')
    .addOption(new Option('--database-url <url>', 'a postgresql:// URL: PostgreSQL instead of SQLite in --data-dir').env('PCISCHED_DATABASE_URL'))
    .option('--grpc-listen <host:port>', 'probe gRPC listener (port 0 picks one)', '127.0.0.1:7471')
    .option('--http-listen <host:port>', 'REST listener (port 0 picks one)', '127.0.0.1:7470')
    .addOption(policyOption())
    .option('--missed-heartbeats <n>', 'a host is offline after this many missed intervals', positiveNumber('--missed-heartbeats'), 3);
}

async function runServer(flags: ServerFlags, logger: Logger, io: CliIo): Promise<RunningServer> {
  const server = await startServer({
    dataDir: flags.dataDir,
    databaseUrl: flags.databaseUrl,
    grpcListen: flags.grpcListen,
    httpListen: flags.httpListen,
    policy: flags.policy,
    missedHeartbeats: flags.missedHeartbeats,
    logger,
  });
  io.stdout(`grpc listening on ${server.grpcAddress}\nhttp listening on ${server.httpUrl}\n`);
  return server;
}

/** Resolves when SIGINT or SIGTERM arrives; then the caller shuts down. */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

export function registerDaemonCommands(program: Command, io: CliIo): void {
  addServerFlags(program.command('server').description('run the scheduler: gRPC for probes, REST for clients')).action(async (flags: ServerFlags) => {
    const logger = createLogger({ name: 'pcisched-server' });
    const server = await runServer(flags, logger, io);
    await untilSignal();
    await server.close();
  });

  addServerFlags(program.command('all-in-one').description('scheduler + API + a probe of this machine, on SQLite'))
    .option('--host-root <dir>', 'host root for the local probe', '/')
    .option('--config <file>', 'pci.conf for the local probe')
    .option('--interval <seconds>', 'probe rescan interval', positiveNumber('--interval'), 10)
    .option('--prepare', 'let the local probe bind allocated devices to vfio-pci (default: log only)', false)
    .option('--state-dir <dir>', 'where the local probe records the drivers it replaced (default DATA_DIR/probe-state)')
    .action(async (flags: ServerFlags & { hostRoot: string; config?: string; interval: number; prepare: boolean; stateDir?: string }) => {
      const logger = createLogger({ name: 'pcisched' });
      const filter = loadFilterConfig(flags.config);
      const server = await runServer(flags, logger, io);
      const hostName = os.hostname();
      const agent = new ProbeAgent({
        server: server.grpcAddress,
        hostName,
        source: createScanner({ hostRoot: flags.hostRoot, filter, logger: logger.child({ component: 'probe' }), hostName }),
        preparer: new DevicePreparer({ hostRoot: flags.hostRoot, stateDir: flags.stateDir ?? path.join(flags.dataDir, 'probe-state'), enabled: flags.prepare, logger: logger.child({ component: 'prepare' }) }),
        intervalSec: flags.interval,
        logger: logger.child({ component: 'probe' }),
      });
      agent.start();
      io.stdout(`probing ${flags.hostRoot} as host ${hostName}\n`);
      await untilSignal();
      await agent.stop();
      await server.close();
    });

  const probe = program.command('probe').description('the hypervisor agent: read sysfs, report PCI devices');
  probe
    .command('scan')
    .description('print what the probe would report (no scheduler needed)')
    .option('--host-root <dir>', 'read sysfs/procfs below this root', '/')
    .option('--config <file>', 'pci.conf filter (YAML)')
    .option('--host-name <name>', 'host name to report', os.hostname())
    .option('--json', 'one JSON document {host, devices}')
    .action((opts: { hostRoot: string; config?: string; hostName: string; json?: boolean }) => {
      const logger = createLogger({ name: 'pcisched-probe' });
      const filter = loadFilterConfig(opts.config);
      const report = createScanner({ hostRoot: opts.hostRoot, filter, logger, hostName: opts.hostName }).scan();
      if (opts.json) printJson(io, scanToJson(report));
      else io.stdout(formatScanTable(report));
    });
  probe
    .command('run')
    .description('report to a scheduler: snapshot, then heartbeats and changes')
    .requiredOption('--server <host:port>', 'scheduler gRPC address')
    .option('--host-name <name>', 'host name to report', os.hostname())
    .option('--host-root <dir>', 'read sysfs/procfs below this root', '/')
    .option('--config <file>', 'pci.conf filter (YAML)')
    .option('--interval <seconds>', 'rescan and heartbeat interval', positiveNumber('--interval'), 10)
    .option('--prepare', 'bind allocated devices to vfio-pci and back (default: log what it would do)', false)
    .option('--state-dir <dir>', 'where the drivers replaced by --prepare are recorded', '/var/lib/pcisched-probe')
    .action(async (opts: { server: string; hostName: string; hostRoot: string; config?: string; interval: number; prepare: boolean; stateDir: string }) => {
      const logger = createLogger({ name: 'pcisched-probe' });
      const filter = loadFilterConfig(opts.config);
      const agent = new ProbeAgent({
        server: opts.server,
        hostName: opts.hostName,
        source: createScanner({ hostRoot: opts.hostRoot, filter, logger, hostName: opts.hostName }),
        preparer: new DevicePreparer({ hostRoot: opts.hostRoot, stateDir: opts.stateDir, enabled: opts.prepare, logger: logger.child({ component: 'prepare' }) }),
        intervalSec: opts.interval,
        logger,
      });
      agent.start();
      await untilSignal();
      await agent.stop();
    });
}

/** `host` and `vm` commands: clients of the REST API. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { HostView } from '../scheduler/index.js';
import { formatAdvice, type Advice } from '../passthrough/index.js';
import { ApiClient, DEFAULT_API } from './api-client.js';
import { CliExit, ExitCode } from './exit-codes.js';
import { formatHostList, formatHostShow, formatVmList, formatVmShow, type VmJson } from './format.js';
import { printJson, styleFor, type CliIo } from './io.js';

function client(cmd: Command, io: CliIo): ApiClient {
  const opts = cmd.optsWithGlobals<{ api?: string }>();
  return new ApiClient(opts.api ?? io.env.PCISCHED_API ?? DEFAULT_API);
}

function vmIdArg(raw: string): string {
  if (!/^\d+$/.test(raw)) throw new CliExit(ExitCode.usage, `VM id must be a number, got "${raw}"`);
  return raw;
}

export function registerHostCommands(program: Command, io: CliIo): void {
  const host = program.command('host').description('hosts and their PCI devices');
  host
    .command('list')
    .description('one line per host: state and devices total/used')
    .option('--json', 'print the REST API JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const hosts = await client(cmd, io).request<HostView[]>('GET', '/hosts');
      if (opts.json) printJson(io, hosts);
      else io.stdout(formatHostList(hosts, styleFor(io)));
    });
  host
    .command('show')
    .description('a host with its PCI DEVICES table (onehost show layout)')
    .argument('<name>')
    .option('--json', 'print the REST API JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const h = await client(cmd, io).request<HostView>('GET', `/hosts/${encodeURIComponent(name)}`);
      if (opts.json) printJson(io, h);
      else io.stdout(formatHostShow(h, styleFor(io)));
    });
  registerAdviseCommand(host, io);
}

export function registerAdviseCommand(host: Command, io: CliIo): void {
  host
    .command('advise')
    .description('kernel parameters to add for passthrough on a host (printed, never applied)')
    .argument('<name>')
    .option('--devices <addrs>', 'comma-separated device addresses (default: every assignable device)')
    .option('--json', 'print the REST API JSON')
    .action(async (name: string, opts: { devices?: string; json?: boolean }, cmd: Command) => {
      const query = opts.devices ? `?devices=${encodeURIComponent(opts.devices)}` : '';
      const advice = await client(cmd, io).request<Advice>('GET', `/hosts/${encodeURIComponent(name)}/advice${query}`);
      if (opts.json) printJson(io, advice);
      else io.stdout(formatAdvice(advice).replace(/\n?$/, '\n'));
    });
}

export function registerVmCommands(program: Command, io: CliIo): void {
  const vm = program.command('vm').description('VMs and their PCI allocations');
  vm.command('create')
    .description('submit a VM template (OpenNebula syntax) from FILE or - for stdin')
    .argument('<file>')
    .option('--json', 'print the REST API JSON')
    .action(async (file: string, opts: { json?: boolean }, cmd: Command) => {
      let text: string;
      try {
        text = file === '-' ? await io.readStdin() : await readFile(file, 'utf8');
      } catch (err) {
        throw new CliExit(ExitCode.error, `cannot read ${file}: ${(err as Error).message}`);
      }
      const isJson = /^\s*\{/.test(text);
      const created = await client(cmd, io).request<VmJson>('POST', '/vms', { type: isJson ? 'application/json' : 'text/plain', data: text });
      if (opts.json) printJson(io, created);
      else io.stdout(formatVmShow(created, styleFor(io)));
    });
  vm.command('list')
    .description('all VMs')
    .option('--json', 'print the REST API JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const vms = await client(cmd, io).request<VmJson[]>('GET', '/vms');
      if (opts.json) printJson(io, vms);
      else io.stdout(formatVmList(vms, styleFor(io)));
    });
  vm.command('show')
    .description('a VM: state, host, devices, and why it is pending')
    .argument('<id>')
    .option('--json', 'print the REST API JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const v = await client(cmd, io).request<VmJson>('GET', `/vms/${vmIdArg(id)}`);
      if (opts.json) printJson(io, v);
      else io.stdout(formatVmShow(v, styleFor(io)));
    });
  vm.command('release')
    .description('free the VM\'s devices (repeating it is harmless)')
    .argument('<id>')
    .option('--json', 'print the REST API JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const v = await client(cmd, io).request<VmJson>('DELETE', `/vms/${vmIdArg(id)}`);
      if (opts.json) printJson(io, v);
      else io.stdout(formatVmShow(v, styleFor(io)));
    });
}

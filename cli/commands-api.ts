/** `host` and `vm` commands: clients of the REST API. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { HostView } from '../scheduler/index.js';
import { formatAdvice, type Advice } from '../passthrough/index.js';
import { formatContext } from '../network/index.js';
import type { NetworkView } from '../scheduler/index.js';
import { formatNetworkList, formatNetworkShow } from './format-network.js';
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
      const created = await client(cmd, io)
        .request<VmJson>('POST', '/vms', { type: isJson ? 'application/json' : 'text/plain', data: text })
        .catch((err: unknown) => {
          // The API names the line and column, or the JSON path; the file is ours to name.
          if (err instanceof CliExit && err.httpStatus === 400 && file !== '-') throw new CliExit(err.exitCode, `${file}: ${err.message}`, err.httpStatus);
          throw err;
        });
      if (opts.json) printJson(io, created);
      else io.stdout(formatVmShow(created, styleFor(io)));
    });
  vm.command('list')
    .description('VMs by id: all of them, or those in the given states')
    .option('--state <states>', 'only VMs in these states, comma-separated (e.g. pending,prepare_failed)')
    .option('--limit <n>', 'at most this many VMs (1-1000), the lowest ids first', intArg('--limit'))
    .option('--after <id>', 'only VMs with a larger id (the last id of the page before)', intArg('--after'))
    .option('--json', 'print the REST API JSON')
    .action(async (opts: { json?: boolean; state?: string; limit?: number; after?: number }, cmd: Command) => {
      const query = new URLSearchParams();
      if (opts.state !== undefined) query.set('state', opts.state);
      if (opts.after !== undefined) query.set('after', String(opts.after));
      if (opts.limit !== undefined) query.set('limit', String(opts.limit));
      const vms = await client(cmd, io).request<VmJson[]>('GET', query.size > 0 ? `/vms?${query}` : '/vms');
      if (opts.json) printJson(io, vms);
      else io.stdout(formatVmList(vms, styleFor(io)));
    });
  vm.command('show')
    .description('a VM: state, host, devices, and why it is pending')
    .argument('<id>')
    .option('--json', 'print the REST API JSON')
    .option('--libvirt', 'print the libvirt domain XML fragment for its devices')
    .option('--context', 'print the OpenNebula context variables for its NICs')
    .action(async (id: string, opts: { json?: boolean; libvirt?: boolean; context?: boolean }, cmd: Command) => {
      const api = client(cmd, io);
      if (opts.libvirt) {
        io.stdout((await api.requestText('GET', `/vms/${vmIdArg(id)}/libvirt`)).replace(/\n?$/, '\n'));
        return;
      }
      if (opts.context) {
        const vars = await api.request<Record<string, string>>('GET', `/vms/${vmIdArg(id)}/context`);
        if (opts.json) printJson(io, vars);
        else io.stdout(formatContext(Object.entries(vars)));
        return;
      }
      const v = await api.request<VmJson>('GET', `/vms/${vmIdArg(id)}`);
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

function intArg(flag: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new CliExit(ExitCode.usage, `${flag} must be a whole number, got "${v}"`);
    return Number(v);
  };
}

export function registerNetworkCommands(program: Command, io: CliIo): void {
  const net = program.command('network').description('address pools for NIC passthrough (TYPE = "NIC")');
  net
    .command('create')
    .description('create a network')
    .argument('<name>')
    .option('--vlan-id <n>', 'VLAN id, 1-4094', intArg('--vlan-id'))
    .option('--ip-range <first_ip_and_size...>', 'IPv4 range: FIRST_IP SIZE')
    .option('--ip6-prefix <prefix>', 'global IPv6 prefix, PREFIX/64')
    .option('--mac-prefix <xx:xx>', 'first two MAC octets (default 02:00)')
    .option('--json', 'print the REST API JSON')
    .action(async (name: string, opts: { vlanId?: number; ipRange?: string[]; ip6Prefix?: string; macPrefix?: string; json?: boolean }, cmd: Command) => {
      let ipRange: { first: string; size: number } | undefined;
      if (opts.ipRange) {
        const [first, size] = opts.ipRange;
        if (opts.ipRange.length !== 2 || !first || !size || !/^\d+$/.test(size)) throw new CliExit(ExitCode.usage, '--ip-range takes FIRST_IP SIZE, e.g. --ip-range 10.0.0.10 20');
        ipRange = { first, size: Number(size) };
      }
      const body = JSON.stringify({ name, vlanId: opts.vlanId, ipRange, ip6Prefix: opts.ip6Prefix, macPrefix: opts.macPrefix });
      const created = await client(cmd, io).request<NetworkView>('POST', '/networks', { type: 'application/json', data: body });
      if (opts.json) printJson(io, created);
      else io.stdout(formatNetworkShow(created));
    });
  net
    .command('list')
    .description('all networks')
    .option('--json', 'print the REST API JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const nets = await client(cmd, io).request<NetworkView[]>('GET', '/networks');
      if (opts.json) printJson(io, nets);
      else io.stdout(formatNetworkList(nets, styleFor(io)));
    });
  net
    .command('show')
    .description('a network and its address usage')
    .argument('<name>')
    .option('--json', 'print the REST API JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const n = await client(cmd, io).request<NetworkView>('GET', `/networks/${encodeURIComponent(name)}`);
      if (opts.json) printJson(io, n);
      else io.stdout(formatNetworkShow(n));
    });
  net
    .command('delete')
    .description('delete a network (refused while any lease exists)')
    .argument('<name>')
    .option('--json', 'print {"deleted": NAME}')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      await client(cmd, io).request('DELETE', `/networks/${encodeURIComponent(name)}`);
      if (opts.json) printJson(io, { deleted: name });
      else io.stdout(`network ${name} deleted\n`);
    });
}

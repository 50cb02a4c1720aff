/**
 * REST API under /api/v1: hosts, VMs. Handlers are thin: parse, call the
 * scheduler, shape JSON. Errors go to problemHandler.
 */
import express, { type Request } from 'express';
import type { Logger } from '../common/index.js';
import { ValidationError, NotFoundError, quoted } from '../common/index.js';
import { VM_STATES, type Scheduler, type VmListFilter, type VmRecord, type VmState } from '../scheduler/index.js';
import { parseTemplate, parseJsonSpec } from '../scheduler/index.js';
import { problemHandler, sendProblem } from './problem.js';
import { libvirtDomainFragment, contextVariables } from '../network/index.js';

const MAX_BODY = '1mb';

export function vmJson(vm: VmRecord) {
  return {
    id: vm.id,
    name: vm.name,
    state: vm.state,
    host: vm.host,
    devices: vm.devices,
    nics: vm.nics.map((n) => ({ index: n.index, network: n.network, mac: n.mac, ip: n.ip, ip6: n.ip6, vlanId: n.vlanId, address: n.address })),
    pendingReasons: vm.pendingReasons,
    lastError: vm.lastError,
    createdAt: vm.createdAt.toISOString(),
    updatedAt: vm.updatedAt.toISOString(),
    pci: vm.spec.pci,
    pciMatch: vm.spec.pciMatch,
    policy: vm.spec.policy ?? null,
    attributes: vm.spec.attributes,
  };
}

/** VM ids are 32-bit integers in the schema: a larger number names no VM (the database would refuse it as a query). */
const MAX_VM_ID = 2 ** 31 - 1;

function vmId(req: Request): number {
  const raw = String(req.params.id);
  const id = /^\d{1,10}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(id <= MAX_VM_ID)) throw new NotFoundError('VM', raw);
  return id;
}

/** A page of `GET /vms` holds at most this many VMs. */
const MAX_PAGE = 1000;
const LIST_PARAMS = ['state', 'after', 'limit'];

/** One query parameter as text: given once, or absent. */
function queryText(req: Request, name: string): string | undefined {
  const value = req.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new ValidationError(`give ${name} once, as text`, { field: name });
  return value;
}

function queryInt(req: Request, name: string, min: number, max: number): number | undefined {
  const text = queryText(req, name);
  if (text === undefined) return undefined;
  const n = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= min && n <= max)) throw new ValidationError(`must be a whole number from ${min} to ${max}, got ${quoted(text)}`, { field: name });
  return n;
}

/**
 * `GET /vms?state=pending,allocated&after=ID&limit=N`. Why unknown
 * parameters are refused: a misspelt filter (`?stat=pending`) would
 * otherwise list every VM as if it had applied.
 */
function vmListFilter(req: Request): VmListFilter {
  const unknown = Object.keys(req.query).filter((k) => !LIST_PARAMS.includes(k));
  if (unknown.length > 0) throw new ValidationError(`unknown query parameter ${quoted(unknown[0]!)}; use ${LIST_PARAMS.join(', ')}`, { field: unknown[0]! });
  const filter: VmListFilter = {};
  const state = queryText(req, 'state');
  if (state !== undefined) {
    const states = state.split(',').map((s) => s.trim());
    const bad = states.find((s) => !(VM_STATES as readonly string[]).includes(s));
    if (bad !== undefined) throw new ValidationError(`unknown VM state ${quoted(bad)}; states are ${VM_STATES.join(', ')}`, { field: 'state' });
    filter.states = states as VmState[];
  }
  filter.after = queryInt(req, 'after', 0, MAX_VM_ID);
  filter.limit = queryInt(req, 'limit', 1, MAX_PAGE);
  return filter;
}

/** The next page's URL when this one is full: a VM with a larger id may exist. */
function nextPage(req: Request, filter: VmListFilter, vms: VmRecord[]): string | null {
  if (filter.limit === undefined || vms.length < filter.limit) return null;
  const params = new URLSearchParams();
  if (filter.states) params.set('state', filter.states.join(','));
  params.set('after', String(vms.at(-1)!.id));
  params.set('limit', String(filter.limit));
  return `${req.baseUrl}${req.path}?${params.toString().replace(/%2C/g, ',')}`;
}

/** The domain XML fragment for a VM's devices: NIC-type devices as interfaces, the rest as hostdevs. */
export function libvirtXml(vm: VmRecord): string {
  const nicByAddress = new Map(vm.nics.map((n) => [n.address, n]));
  return libvirtDomainFragment({
    vmName: vm.name,
    devices: vm.devices.map((d) => {
      const nic = nicByAddress.get(d.address);
      return nic ? { address: d.address, nic: { mac: nic.mac, vlanId: nic.vlanId } } : { address: d.address };
    }),
  });
}

/** OpenNebula context variables (ETH0_MAC, ETH0_IP, …) for a VM's NICs. */
export function contextFor(vm: VmRecord): Array<[string, string]> {
  return contextVariables(vm.nics.map((n) => ({ index: n.index, mac: n.mac, ip: n.ip, ip6: n.ip6, vlanId: n.vlanId, network: '' })));
}

export interface ApiOptions {
  scheduler: Scheduler;
  logger: Logger;
  /** Prometheus exposition for GET /metrics (absent: no such route). */
  metrics?: () => Promise<{ contentType: string; body: string }>;
}

export function createApiApp(options: ApiOptions) {
  const { scheduler, logger, metrics } = options;
  const app = express();
  app.disable('x-powered-by');
  // An ETag hashes every response body (~3% of a request's CPU) and no client here revalidates.
  app.set('etag', false);
  app.set('json spaces', 0);

  const api = express.Router();
  api.use(express.json({ limit: MAX_BODY, type: ['application/json', 'application/*+json'] }));
  api.use(express.text({ limit: MAX_BODY, type: ['text/plain'] }));

  api.get('/hosts', (_req, res) => {
    res.json(scheduler.listHosts());
  });
  api.get('/hosts/:name', (req, res) => {
    res.json(scheduler.getHost(String(req.params.name)));
  });

  api.get('/hosts/:name/advice', (req, res) => {
    const devices = typeof req.query.devices === 'string' && req.query.devices ? req.query.devices.split(',').map((d) => d.trim()) : [];
    res.json(scheduler.adviseHost(String(req.params.name), devices));
  });

  api.post('/vms', async (req, res) => {
    const type = req.headers['content-type'] ?? '';
    let spec;
    if (typeof req.body === 'string' && type.startsWith('text/plain')) spec = parseTemplate(req.body);
    else if (type.includes('json') && req.body !== undefined) spec = parseJsonSpec(req.body);
    else throw new ValidationError('send an OpenNebula template as text/plain or a JSON body as application/json', { field: 'Content-Type' });
    const vm = await scheduler.submit(spec);
    res.status(201).location(`/api/v1/vms/${vm.id}`).json(vmJson(vm));
  });
  api.get('/vms/:id/libvirt', async (req, res) => {
    res.type('application/xml').send(libvirtXml(await scheduler.getVm(vmId(req))));
  });
  api.get('/vms/:id/context', async (req, res) => {
    const vm = await scheduler.getVm(vmId(req));
    res.json(Object.fromEntries(contextFor(vm)));
  });

  api.get('/networks', async (_req, res) => {
    res.json(await scheduler.networks.list());
  });
  api.post('/networks', async (req, res) => {
    if (typeof req.body !== 'object' || req.body === null) throw new ValidationError('send the network as a JSON object', { field: 'body' });
    const created = await scheduler.networks.create(req.body);
    res.status(201).location(`/api/v1/networks/${created.name}`).json(created);
  });
  api.get('/networks/:name', async (req, res) => {
    res.json(await scheduler.networks.get(String(req.params.name)));
  });
  api.delete('/networks/:name', async (req, res) => {
    await scheduler.networks.delete(String(req.params.name));
    res.status(204).end();
  });

  api.get('/vms', async (req, res) => {
    const filter = vmListFilter(req);
    const vms = await scheduler.listVms(filter);
    const next = nextPage(req, filter, vms);
    if (next) res.links({ next });
    res.json(vms.map(vmJson));
  });
  api.get('/vms/:id', async (req, res) => {
    res.json(vmJson(await scheduler.getVm(vmId(req))));
  });
  api.delete('/vms/:id', async (req, res) => {
    res.json(vmJson(await scheduler.release(vmId(req))));
  });

  app.use('/api/v1', api);
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  if (metrics) {
    app.get('/metrics', async (_req, res) => {
      const { contentType, body } = await metrics();
      res.type(contentType).send(body);
    });
  }
  app.use((req, res) => {
    sendProblem(res, { type: 'urn:pcisched:problem:not_found', title: 'Not Found', status: 404, detail: `no route ${req.method} ${req.path}`, instance: req.originalUrl });
  });
  app.use(problemHandler(logger));
  return app;
}

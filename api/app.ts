/**
 * REST API under /api/v1: hosts, VMs. Handlers are thin: parse, call the
 * scheduler, shape JSON. Errors go to problemHandler.
 */
import express, { type Request } from 'express';
import type { Logger } from '../common/index.js';
import { ValidationError, NotFoundError } from '../common/index.js';
import type { Scheduler, VmRecord } from '../scheduler/index.js';
import { parseTemplate, parseJsonSpec } from '../scheduler/index.js';
import { problemHandler, sendProblem } from './problem.js';

const MAX_BODY = '1mb';

export function vmJson(vm: VmRecord) {
  return {
    id: vm.id,
    name: vm.name,
    state: vm.state,
    host: vm.host,
    devices: vm.devices,
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

function vmId(req: Request): number {
  const raw = String(req.params.id);
  if (!/^\d+$/.test(raw)) throw new NotFoundError('VM', raw);
  return Number(raw);
}

export function createApiApp(options: { scheduler: Scheduler; logger: Logger }) {
  const { scheduler, logger } = options;
  const app = express();
  app.disable('x-powered-by');
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
  api.get('/vms', async (_req, res) => {
    res.json((await scheduler.listVms()).map(vmJson));
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
  app.use((req, res) => {
    sendProblem(res, { type: 'urn:pcisched:problem:not_found', title: 'Not Found', status: 404, detail: `no route ${req.method} ${req.path}`, instance: req.originalUrl });
  });
  app.use(problemHandler(logger));
  return app;
}

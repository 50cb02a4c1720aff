/**
 * The `rest` scenario's floor: what express 5 and node's HTTP alone manage on
 * this machine, in the same minute, with the same clients. A bare express app
 * with the same JSON body parser answers POST /api/v1/vms with 201, a Location
 * and a real VM's JSON (one the scheduler returned, its id replaced), and
 * DELETE /api/v1/vms/:id with 200 and the same JSON. No scheduler, no database.
 *
 * Why: this shared VM's speed swings severalfold from minute to minute, and a
 * rate alone cannot tell a slow machine from slow code. The ratio of the
 * scheduler's rate to the floor's, measured back to back, can: it is the
 * share of the stack's own ceiling the scheduler keeps.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';

export interface FloorServer {
  /** Base URL of the API, as the clients take it (`http://127.0.0.1:PORT/api/v1`). */
  base: string;
  close(): Promise<void>;
}

/** Starts the floor on 127.0.0.1:0; `sample` is the JSON of a VM the real server returned. */
export async function startFloorServer(sample: Record<string, unknown>): Promise<FloorServer> {
  const app = express();
  // As the real API: no ETag, no X-Powered-By, compact JSON.
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('json spaces', 0);
  const api = express.Router();
  api.use(express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] }));
  let nextId = 1;
  api.post('/vms', (_req, res) => {
    const id = nextId++;
    res.status(201).location(`/api/v1/vms/${id}`).json({ ...sample, id, state: 'allocated' });
  });
  api.delete('/vms/:id', (req, res) => {
    res.json({ ...sample, id: Number(req.params.id), state: 'released' });
  });
  app.use('/api/v1', api);

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}/api/v1`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

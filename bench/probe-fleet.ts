/**
 * The probe side of the `ingest` scenario, run as a child process (forked by
 * ingest-scenario.ts) so the server's event loop and the clients' do not
 * share a thread, and the server's RSS is its own.
 *
 * P streams (`ProbeServiceClient.connect()`) spread over a few client
 * channels (grpc-js multiplexes streams over one HTTP/2 connection per
 * channel; a local subchannel pool keeps the channels apart), each speaking
 * the agent's protocol: hello → welcome → snapshot → ack, then one message
 * per interval: a heartbeat, or in the `changed` phase, for a fraction of
 * the streams, a changed snapshot. Every message is answered in order (ack
 * or resync), so latency is matched FIFO per stream.
 *
 * IPC from the parent: {type:'start', …}, {type:'phase', phase}, {type:'stop'}.
 * To the parent: {type:'registered', …}, {type:'stats', …}, {type:'failed', message}.
 */
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import type { DeviceReport } from '../common/index.js';
import { ProbeServiceClient, channelOptions, deviceToWire, factsToWire, type ConnectRequest, type ConnectResponse, type WireDevice } from '../wire/index.js';
import { changedDevices, generateHost, rng } from './cluster-gen.js';
import { Latencies, now, round } from './stats.js';

export interface FleetStart {
  type: 'start';
  address: string;
  streams: number;
  channels: number;
  devicesPerHost: number;
  intervalMs: number;
  changedFraction: number;
}

/** `shapes`: heartbeats only, while the parent submits VMs of template shapes the scheduler has not seen. */
export type FleetPhase = 'warm' | 'hb' | 'changed' | 'shapes';

export interface FleetPhaseStats {
  heartbeats: ReturnType<Latencies['summary']>;
  snapshots: ReturnType<Latencies['summary']>;
  durationMs: number;
}

export interface FleetStats {
  type: 'stats';
  phases: Record<FleetPhase, FleetPhaseStats>;
  resyncs: number;
  streamErrors: number;
  firstError: string | null;
  changedStreams: number;
  rssMb: number;
}

type Call = ClientDuplexStream<ConnectRequest, ConnectResponse>;

interface Stream {
  index: number;
  name: string;
  call: Call;
  generation: number;
  devices: DeviceReport[];
  changes: boolean;
  sentAt: number;
  registered: boolean;
  /** Messages awaiting their ack or resync, oldest first. */
  inflight: Array<{ kind: 'hb' | 'snapshot'; t0: number; phase: FleetPhase; registration: boolean }>;
  timer: NodeJS.Timeout | null;
  closed: boolean;
}

/** To the parent, if it is still there (a callback keeps a closed channel from raising EPIPE). */
const send = (msg: unknown) => {
  if (process.connected) process.send?.(msg, undefined, undefined, () => undefined);
};

function startFleet(cfg: FleetStart): void {
  const clients = Array.from(
    { length: Math.max(1, cfg.channels) },
    () => new ProbeServiceClient(cfg.address, credentials.createInsecure(), { ...channelOptions, 'grpc.use_local_subchannel_pool': 1 }),
  );
  let phase: FleetPhase = 'warm';
  const phaseStart: Record<FleetPhase, number> = { warm: now(), hb: 0, changed: 0, shapes: 0 };
  const phaseEnd: Record<FleetPhase, number> = { warm: 0, hb: 0, changed: 0, shapes: 0 };
  const hb: Record<FleetPhase, Latencies> = { warm: new Latencies(), hb: new Latencies(), changed: new Latencies(), shapes: new Latencies() };
  const snaps: Record<FleetPhase, Latencies> = { warm: new Latencies(), hb: new Latencies(), changed: new Latencies(), shapes: new Latencies() };
  const registration = new Latencies();
  let registered = 0;
  let resyncs = 0;
  let streamErrors = 0;
  let firstError: string | null = null;
  const regStart = now();
  const pick = rng(42);
  const streams: Stream[] = [];
  const facts: ReturnType<typeof factsToWire>[] = [];
  /** Each host's unchanged report on the wire, converted once. */
  const base: WireDevice[][] = [];
  let stopping = false;

  const sendSnapshot = (s: Stream, registrationMsg: boolean) => {
    s.inflight.push({ kind: 'snapshot', t0: now(), phase, registration: registrationMsg });
    s.call.write({ body: { $case: 'snapshot', value: { generation: s.generation, host: facts[s.index]!, devices: wire(s) } } });
  };
  const wire = (s: Stream): WireDevice[] => (s.generation === 1 ? base[s.index]! : s.devices.map(deviceToWire));
  const tick = (s: Stream) => {
    if (s.closed) return;
    if (phase === 'changed' && s.changes) {
      s.generation += 1;
      s.devices = changedDevices(s.devices);
      sendSnapshot(s, false);
    } else {
      s.inflight.push({ kind: 'hb', t0: now(), phase, registration: false });
      s.call.write({ body: { $case: 'heartbeat', value: { generation: s.generation } } });
    }
  };

  for (let i = 0; i < cfg.streams; i++) {
    const g = generateHost(i, cfg.devicesPerHost);
    facts.push(factsToWire(g.facts));
    base.push(g.devices.map(deviceToWire));
    const call = clients[i % clients.length]!.connect();
    const s: Stream = { index: i, name: g.name, call, generation: 1, devices: g.devices, changes: pick() < cfg.changedFraction, sentAt: now(), registered: false, inflight: [], timer: null, closed: false };
    streams.push(s);
    call.on('data', (msg: ConnectResponse) => {
      const body = msg.body;
      if (!body) return;
      if (body.$case === 'welcome') {
        if (body.value.knownGeneration !== s.generation) sendSnapshot(s, true);
        return;
      }
      if (body.$case !== 'ack' && body.$case !== 'resync') return;
      const head = s.inflight.shift();
      if (!head) return;
      const ms = now() - head.t0;
      if (body.$case === 'resync') {
        resyncs++;
        sendSnapshot(s, false);
        return;
      }
      if (head.registration) {
        s.registered = true;
        registration.add(now() - s.sentAt);
        registered++;
        // Heartbeats start at a random offset in the interval, as independent probes would.
        s.timer = setTimeout(() => {
          tick(s);
          s.timer = setInterval(() => tick(s), cfg.intervalMs);
        }, pick() * cfg.intervalMs);
        if (registered === cfg.streams) {
          send({ type: 'registered', totalMs: round(now() - regStart, 1), registration: registration.summary() });
        } else if (registered % Math.max(1, Math.floor(cfg.streams / 10)) === 0) {
          process.stderr.write(`[bench] ingest: ${registered}/${cfg.streams} streams registered\n`);
        }
      } else if (head.kind === 'hb') {
        hb[head.phase].add(ms);
      } else {
        snaps[head.phase].add(ms);
      }
    });
    const closed = (why: string) => {
      if (s.closed) return;
      s.closed = true;
      if (s.timer) clearTimeout(s.timer);
      if (stopping) return;
      streamErrors++;
      firstError ??= `${s.name}: ${why}`;
      if (!s.registered) send({ type: 'failed', message: `stream ${s.name} closed before registering: ${why}` });
    };
    call.on('error', (err: Error) => closed(err.message));
    call.on('end', () => closed('stream ended by the server'));
    s.sentAt = now();
    call.write({ body: { $case: 'hello', value: { hostName: g.name, session: `bench-${i}`, probeVersion: 'bench', intervalMs: cfg.intervalMs } } });
  }

  process.on('message', (msg: { type: string; phase?: FleetPhase }) => {
    if (msg.type === 'phase' && msg.phase) {
      phaseEnd[phase] = now();
      phase = msg.phase;
      phaseStart[phase] = now();
    } else if (msg.type === 'stop') {
      if (stopping) return;
      phaseEnd[phase] = now();
      stopping = true;
      const summary = (p: FleetPhase): FleetPhaseStats => ({ heartbeats: hb[p].summary(), snapshots: snaps[p].summary(), durationMs: round(phaseEnd[p] - phaseStart[p], 1) });
      const stats: FleetStats = {
        type: 'stats',
        phases: { warm: summary('warm'), hb: summary('hb'), changed: summary('changed'), shapes: summary('shapes') },
        resyncs,
        streamErrors,
        firstError,
        changedStreams: streams.filter((s) => s.changes).length,
        rssMb: round(process.memoryUsage.rss() / 1048576, 1),
      };
      for (const s of streams) {
        if (s.timer) clearTimeout(s.timer);
        s.closed = true;
        s.call.end();
        s.call.cancel();
      }
      for (const c of clients) c.close();
      // Disconnect (and so exit, below) only once the stats are on their way.
      process.send?.(stats, undefined, undefined, () => process.disconnect?.());
    }
  });
}

// The parent went away (finished or interrupted): nothing left to measure.
process.on('disconnect', () => process.exit(0));

process.once('message', (msg: FleetStart) => {
  if (msg.type !== 'start') return;
  try {
    startFleet(msg);
  } catch (err) {
    send({ type: 'failed', message: (err as Error).stack ?? String(err) });
  }
});

/**
 * gRPC ProbeService: one bidirectional stream per probe. Messages on a stream
 * are handled strictly in order; a message that cannot be stored ends the
 * stream with an error status, so the probe reconnects and resends (nothing it
 * sent is acknowledged unless stored).
 */
import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from '../common/index.js';
import { PcischedError } from '../common/index.js';
import {
  checkDeviceReports,
  checkHostName,
  deviceFromWire,
  factsFromWire,
  type ConnectRequest,
  type ConnectResponse,
  type ProbeServiceServer,
} from '../wire/index.js';
import type { Scheduler } from './scheduler.js';
import { HostHeldError } from './host-store.js';

type Stream = ServerDuplexStream<ConnectRequest, ConnectResponse>;

export function createProbeService(scheduler: Scheduler, logger: Logger): ProbeServiceServer {
  /**
   * The stream each host name is connected on. Why: two probes that report
   * under one name (a cloned agent config) would overwrite each other's
   * devices, and this host's prepare requests (binding devices to vfio-pci)
   * would go to whichever said hello last. The first stays; another probe
   * is refused until it has gone. The same probe (its session) reconnecting
   * replaces its old stream, which the server may not have seen close yet
   * (up to keepalive's 40 s after a network fault).
   */
  const connected = new Map<string, { call: Stream; session: string; peer: string; close: (details: string) => void }>();
  return {
    connect(call: Stream) {
      let hostName: string | null = null;
      let session = '';
      let intervalMs = 10_000;
      let chain = Promise.resolve();
      let closed = false;
      let detach: (() => void) | null = null;

      const release = () => {
        if (hostName !== null && connected.get(hostName)?.call === call) connected.delete(hostName);
      };
      /** This stream is over: if it was the host's, the scheduler lets the host go (another replica may take it for a restarted probe). */
      const leave = () => {
        detach?.();
        if (hostName === null || connected.get(hostName)?.call !== call) return;
        const name = hostName;
        connected.delete(name);
        scheduler.probeGone(name, session).catch((err: unknown) => logger.warn({ host: name, err }, 'could not record that the probe stream ended; the liveness sweep will'));
      };
      const fail = (code: status, details: string) => {
        if (closed) return;
        closed = true;
        leave();
        call.emit('error', { code, details });
      };
      /** Connects `name` to this stream; the details of the refusal when another probe holds it. */
      const claim = (name: string, newSession: string): string | null => {
        const holder = connected.get(name);
        if (holder !== undefined && holder.call !== call) {
          if (holder.session !== newSession) {
            logger.warn({ host: name, peer: call.getPeer(), connectedPeer: holder.peer }, 'a second probe reports under a connected host name; refused');
            return `host ${name} is already connected from another probe (${holder.peer}, session ${holder.session}): give each hypervisor its own host name`;
          }
          // Replaced, not gone: out of the map first, so that its end does not let the host go.
          connected.delete(name);
          holder.close(`replaced by a newer connection of the same probe (${call.getPeer()})`);
        }
        release();
        connected.set(name, { call, session: newSession, peer: call.getPeer(), close: (details) => fail(status.ABORTED, details) });
        return null;
      };

      const handle = async (msg: ConnectRequest): Promise<void> => {
        const body = msg.body;
        if (!body) return fail(status.INVALID_ARGUMENT, 'empty message');
        if (body.$case === 'hello') {
          checkHostName(body.value.hostName);
          const refusal = claim(body.value.hostName, body.value.session);
          if (refusal !== null) return fail(status.ALREADY_EXISTS, refusal);
          hostName = body.value.hostName;
          session = body.value.session;
          intervalMs = body.value.intervalMs || 10_000;
          const known = await scheduler.probeHello(hostName, session, intervalMs);
          call.write({ body: { $case: 'welcome', value: { knownGeneration: known } } });
          detach?.();
          detach = scheduler.attachProbe(hostName, (req) => {
            if (!closed) call.write({ body: { $case: 'prepare', value: req } });
            else throw new Error('stream closed');
          });
          return;
        }
        if (hostName === null) return fail(status.FAILED_PRECONDITION, 'hello must be the first message');
        if (body.$case === 'snapshot') {
          const snap = body.value;
          const devices = snap.devices.map(deviceFromWire);
          checkDeviceReports(devices);
          await scheduler.probeSnapshot({
            name: hostName,
            session,
            generation: snap.generation,
            intervalMs,
            facts: factsFromWire(snap.host),
            devices,
          });
          call.write({ body: { $case: 'ack', value: { generation: snap.generation } } });
        } else if (body.$case === 'heartbeat') {
          const ok = await scheduler.probeHeartbeat(hostName, body.value.generation, session);
          call.write(
            ok
              ? { body: { $case: 'ack', value: { generation: body.value.generation } } }
              : { body: { $case: 'resync', value: {} } },
          );
        } else if (body.$case === 'prepareResult') {
          const r = body.value;
          logger.debug({ host: hostName, result: r }, 'prepare result');
          await scheduler.probePrepareResult(hostName, { requestId: r.requestId, vmId: r.vmId, ok: r.ok, error: r.error, release: r.release, dryRun: r.dryRun });
        }
      };

      call.on('data', (msg: ConnectRequest) => {
        chain = chain
          .then(() => (closed ? undefined : handle(msg)))
          .catch((err: unknown) => {
            if (err instanceof HostHeldError) logger.warn({ host: err.host, peer: call.getPeer(), heldBy: err.replicaId }, 'a second probe reports under a host name another replica holds; refused');
            else logger.error({ host: hostName, err }, 'probe message failed');
            const details = err instanceof PcischedError ? err.message : 'internal error storing probe report';
            fail(grpcStatusOf(err), details);
          });
      });
      call.on('end', () => {
        leave();
        void chain.finally(() => {
          if (!closed) {
            closed = true;
            call.end();
          }
        });
      });
      call.on('error', (err) => {
        leave();
        logger.debug({ host: hostName, err: err.message }, 'probe stream error');
      });
      call.on('cancelled', () => {
        closed = true;
        leave();
      });
    },
  };
}

/** The status a probe stream ends with when handling one of its messages failed. */
function grpcStatusOf(err: unknown): status {
  if (err instanceof HostHeldError) return status.ALREADY_EXISTS;
  if (err instanceof PcischedError && err.code === 'invalid_argument') return status.INVALID_ARGUMENT;
  return status.UNAVAILABLE;
}

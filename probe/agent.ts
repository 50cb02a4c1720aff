/**
 * The probe agent: keeps one stream to the scheduler, sends a full snapshot
 * after every (re)connect and whenever a rescan differs, and a heartbeat
 * otherwise. While the scheduler is unreachable it retries with exponential
 * backoff and full jitter; it never exits on a network error.
 */
import { randomUUID } from 'node:crypto';
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import type { DeviceReport, HostReport, Logger } from '../common/index.js';
import {
  ProbeServiceClient,
  channelOptions,
  deviceToWire,
  factsToWire,
  type ConnectRequest,
  type ConnectResponse,
  type PrepareCommand,
} from '../wire/index.js';

export interface ReportSource {
  scan(): HostReport;
}

/** Binds devices to vfio-pci and back (DevicePreparer); absent = dry run. */
export interface DevicePreparation {
  prepare(vmId: number, addresses: string[]): PrepareOutcomeLike;
  unprepare(vmId: number, addresses: string[]): PrepareOutcomeLike;
}

export interface PrepareOutcomeLike {
  ok: boolean;
  error: string;
  dryRun: boolean;
  devices: Array<{ address: string; ok: boolean; previousDriver: string; error: string }>;
}

export interface AgentOptions {
  /** Scheduler's gRPC address, HOST:PORT. */
  server: string;
  hostName: string;
  source: ReportSource;
  preparer?: DevicePreparation;
  intervalSec: number;
  logger: Logger;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  random?: () => number;
}

export type AgentEvent = 'connected' | 'snapshot-acked' | 'heartbeat-acked' | 'disconnected';

export class ProbeAgent {
  readonly session = randomUUID();
  private client: ProbeServiceClient | null = null;
  private call: ClientDuplexStream<ConnectRequest, ConnectResponse> | null = null;
  private generation = 0;
  private lastReportJson = '';
  private lastHostJson = '';
  private lastReport: HostReport | null = null;
  private timer: NodeJS.Timeout | null = null;
  private attempt = 0;
  /** Generation of the snapshot sent and not yet acknowledged. */
  private awaitingAck = -1;
  private stopped = false;
  private readonly listeners: Array<(e: AgentEvent) => void> = [];

  constructor(private readonly opts: AgentOptions) {}

  /** For tests and the all-in-one: observe protocol events. */
  onEvent(listener: (e: AgentEvent) => void): void {
    this.listeners.push(listener);
  }

  private emit(e: AgentEvent): void {
    for (const l of this.listeners) l(e);
  }

  start(): void {
    this.stopped = false;
    this.client ??= new ProbeServiceClient(this.opts.server, credentials.createInsecure(), channelOptions);
    this.rescan();
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const call = this.call;
    this.call = null;
    if (call) {
      call.end();
      call.cancel();
    }
    this.client?.close();
    this.client = null;
  }

  /** Rescans; bumps the generation when the report differs. Returns true if it changed. */
  private rescan(): boolean {
    let report: HostReport;
    try {
      report = this.opts.source.scan();
    } catch (err) {
      // A scan that fails outright keeps the last good report rather than reporting an empty host.
      this.opts.logger.error({ err }, 'scan failed; keeping the previous report');
      return false;
    }
    // The scanner hands back the same frozen device reports while nothing changed:
    // compare those by identity and only the small host part by value.
    const hostJson = JSON.stringify(report.host);
    if (this.lastReport !== null && sameDevices(report.devices, this.lastReport.devices) && hostJson === this.lastHostJson) return false;
    const json = JSON.stringify(report);
    const changed = json !== this.lastReportJson;
    // Kept even when equal by value, so the next identity check holds.
    this.lastReportJson = json;
    this.lastHostJson = hostJson;
    this.lastReport = report;
    if (!changed) return false;
    this.generation += 1;
    return true;
  }

  private connect(): void {
    if (this.stopped || !this.client) return;
    const call = this.client.connect();
    this.call = call;
    let welcomed = false;
    call.on('data', (msg: ConnectResponse) => {
      const body = msg.body;
      if (!body) return;
      if (body.$case === 'welcome') {
        welcomed = true;
        this.attempt = 0;
        this.opts.logger.info({ server: this.opts.server, known: body.value.knownGeneration }, 'connected to scheduler');
        this.emit('connected');
        if (body.value.knownGeneration !== this.generation) this.sendSnapshot(call);
        else this.sendHeartbeat(call);
        this.scheduleTick(call);
      } else if (body.$case === 'resync') {
        this.sendSnapshot(call);
      } else if (body.$case === 'prepare') {
        this.handlePrepare(call, body.value);
      } else if (body.$case === 'ack') {
        if (body.value.generation === this.awaitingAck) {
          this.awaitingAck = -1;
          this.emit('snapshot-acked');
        } else {
          this.emit('heartbeat-acked');
        }
      }
    });
    let closedOnce = false;
    const onClosed = (why: string) => {
      if (closedOnce) return;
      closedOnce = true;
      if (this.call === call) this.call = null;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      if (this.stopped) return;
      this.emit('disconnected');
      if (welcomed) this.attempt = 0;
      const delay = this.backoffDelay();
      this.opts.logger.warn({ server: this.opts.server, why, retryInMs: Math.round(delay) }, 'scheduler stream closed; reconnecting');
      this.timer = setTimeout(() => this.connect(), delay);
    };
    call.on('error', (err) => onClosed(err.message));
    call.on('end', () => onClosed('stream ended'));
    call.write({ body: { $case: 'hello', value: { hostName: this.opts.hostName, session: this.session, probeVersion: '0.1.0', intervalMs: Math.round(this.opts.intervalSec * 1000) } } });
  }

  /** Exponential backoff with full jitter: uniform in [0, min(max, initial·2^n)]. */
  private backoffDelay(): number {
    const initial = this.opts.backoffInitialMs ?? 500;
    const max = this.opts.backoffMaxMs ?? 30_000;
    const ceiling = Math.min(max, initial * 2 ** this.attempt);
    this.attempt += 1;
    return Math.max(50, ceiling * (this.opts.random ?? Math.random)());
  }

  private scheduleTick(call: ClientDuplexStream<ConnectRequest, ConnectResponse>): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.stopped || this.call !== call) return;
      if (this.rescan()) this.sendSnapshot(call);
      else this.sendHeartbeat(call);
      this.scheduleTick(call);
    }, this.opts.intervalSec * 1000);
  }

  private sendSnapshot(call: ClientDuplexStream<ConnectRequest, ConnectResponse>): void {
    const report = this.lastReport;
    if (!report) return;
    const { name: _name, ...facts } = report.host;
    this.awaitingAck = this.generation;
    call.write({
      body: { $case: 'snapshot', value: { generation: this.generation, host: factsToWire(facts), devices: report.devices.map(deviceToWire) } },
    });
  }

  private handlePrepare(call: ClientDuplexStream<ConnectRequest, ConnectResponse>, cmd: PrepareCommand): void {
    let outcome: PrepareOutcomeLike;
    try {
      const p = this.opts.preparer;
      outcome = !p
        ? { ok: true, error: '', dryRun: true, devices: [] }
        : cmd.release
          ? p.unprepare(cmd.vmId, cmd.addresses)
          : p.prepare(cmd.vmId, cmd.addresses);
    } catch (err) {
      outcome = { ok: false, error: (err as Error).message, dryRun: false, devices: [] };
    }
    this.opts.logger.info({ vm: cmd.vmId, release: cmd.release, ok: outcome.ok, dryRun: outcome.dryRun, error: outcome.error || undefined }, cmd.release ? 'released devices' : 'prepared devices');
    call.write({
      body: {
        $case: 'prepareResult',
        value: { requestId: cmd.requestId, vmId: cmd.vmId, ok: outcome.ok, error: outcome.error, devices: outcome.devices, release: cmd.release, dryRun: outcome.dryRun },
      },
    });
    // Preparation can change drivers: report the new state promptly.
    if (this.rescan()) this.sendSnapshot(call);
  }

  private sendHeartbeat(call: ClientDuplexStream<ConnectRequest, ConnectResponse>): void {
    call.write({ body: { $case: 'heartbeat', value: { generation: this.generation } } });
  }
}

/**
 * Whether two scans' device lists hold the very same frozen report objects, in order.
 * Only frozen ones count: a source that changes its objects in place is compared by value.
 */
function sameDevices(a: readonly DeviceReport[], b: readonly DeviceReport[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] || !Object.isFrozen(a[i])) return false;
  return true;
}

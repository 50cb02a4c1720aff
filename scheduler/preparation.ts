/**
 * Host-side preparation of allocated devices, driven over the probe's stream
 * (as Kubernetes DRA's NodePrepareResources): after a placement the host's
 * probe binds every device of the VM's IOMMU groups to vfio-pci; on release it
 * restores the host drivers, and only then are the devices freed.
 *
 * VM states: allocated → ready | prepare_failed; ready → releasing → released.
 * A probe without --prepare answers "dry run": the VM stays allocated.
 */
import type { Logger } from '../common/index.js';
import type { VmRecord, VmStore } from './vm-store.js';

export interface PrepareRequest {
  requestId: string;
  vmId: number;
  addresses: string[];
  release: boolean;
}

export interface PrepareReply {
  requestId: string;
  vmId: number;
  ok: boolean;
  error: string;
  release: boolean;
  dryRun: boolean;
}

export type SendPrepare = (request: PrepareRequest) => void;

export class Preparation {
  private readonly links = new Map<string, SendPrepare>();
  private seq = 0;
  /** host name → VM id → last unprepare error, shown on the host. */
  readonly unprepareFailures = new Map<string, Map<number, string>>();

  constructor(
    private readonly vmStore: VmStore,
    private readonly logger: Logger,
  ) {}

  attach(host: string, send: SendPrepare): () => void {
    this.links.set(host, send);
    return () => {
      if (this.links.get(host) === send) this.links.delete(host);
    };
  }

  connected(host: string): boolean {
    return this.links.has(host);
  }

  /** Asks the host to prepare (or release) a VM's devices; false if the host has no stream now. */
  send(host: string, vm: VmRecord, release: boolean): boolean {
    const link = this.links.get(host);
    if (!link) return false;
    const request = { requestId: `${vm.id}-${release ? 'unprepare' : 'prepare'}-${++this.seq}`, vmId: vm.id, addresses: vm.devices.map((d) => d.address), release };
    this.logger.info({ host, vm: vm.id, release, devices: request.addresses }, release ? 'asking host to release devices' : 'asking host to prepare devices');
    try {
      link(request);
      return true;
    } catch (err) {
      this.logger.warn({ host, vm: vm.id, err }, 'could not send prepare request');
      return false;
    }
  }

  /** Re-sends what a reconnecting probe may have missed (its own state file makes this idempotent). */
  async reconcile(host: string, hostId: number): Promise<void> {
    for (const vm of await this.vmStore.listOnHost(hostId, ['allocated', 'ready'])) this.send(host, vm, false);
    for (const vm of await this.vmStore.listOnHost(hostId, ['releasing'])) this.send(host, vm, true);
  }

  /**
   * Applies a prepare reply. Returns 'release' when an unprepare succeeded and
   * the caller must now free the VM's devices.
   */
  async onReply(host: string, reply: PrepareReply): Promise<'release' | 'none'> {
    if (reply.release) {
      if (reply.ok) {
        this.unprepareFailures.get(host)?.delete(reply.vmId);
        return 'release';
      }
      let failures = this.unprepareFailures.get(host);
      if (!failures) this.unprepareFailures.set(host, (failures = new Map()));
      failures.set(reply.vmId, reply.error);
      await this.vmStore.transition(reply.vmId, ['releasing'], 'releasing', `unprepare failed: ${reply.error}`);
      this.logger.error({ host, vm: reply.vmId, error: reply.error }, 'host failed to release devices; VM stays releasing');
      return 'none';
    }
    if (reply.dryRun) {
      this.logger.info({ host, vm: reply.vmId }, 'probe runs without --prepare: devices left as they are');
      return 'none';
    }
    if (reply.ok) await this.vmStore.transition(reply.vmId, ['allocated', 'prepare_failed'], 'ready');
    else await this.vmStore.transition(reply.vmId, ['allocated', 'ready'], 'prepare_failed', reply.error);
    return 'none';
  }
}

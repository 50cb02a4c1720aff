/**
 * Host-side device preparation (like Kubernetes DRA's NodePrepareResources, or the
 * classic `vfio-bind` script): moves the PCI devices of a VM to vfio-pci before it
 * starts and gives them back to their drivers when it is released.
 *
 *   const preparer = new DevicePreparer({ hostRoot: '/', stateDir: '/var/lib/pcisched', enabled: true, logger });
 *   const out = preparer.prepare(7, ['0000:01:00.0', '0000:01:00.1']);   // never throws
 *   if (!out.ok) ... out.error, out.devices[i].error
 *   preparer.unprepare(7, ['0000:01:00.0', '0000:01:00.1']);
 *
 * prepare, per device in order (paths below ROOT/sys/bus/pci):
 *   1. read the driver (basename of devices/ADDR/driver); already vfio-pci and recorded for
 *      this VM = done, no writes;
 *   2. record { vmId, previousDriver } in the state file BEFORE any change;
 *   3. `vfio-pci` > devices/ADDR/driver_override;
 *   4. ADDR > devices/ADDR/driver/unbind, when bound;
 *   5. ADDR > drivers_probe (the kernel binds per driver_override);
 *   6. verify that devices/ADDR/driver is now vfio-pci.
 *   A device already on vfio-pci without a record (bound at boot by vfio-pci.ids) only gets
 *   steps 2, 3 and 6: unbinding and reprobing it would change nothing.
 *   All devices are checked first (valid address, present, not held by another VM): a
 *   refusal touches nothing. A failure later restores, in reverse order, the failed device
 *   and those this call switched, and drops their records; devices that were already
 *   prepared for this VM before the call stay prepared.
 *
 * unprepare (and rollback), per device: ADDR > drivers/vfio-pci/unbind when on vfio-pci;
 *   `\n` > devices/ADDR/driver_override (clears it); ADDR > drivers/PREV/bind when there was
 *   a previous driver; verify the driver is PREV again; drop the record. A device without
 *   a record was not moved by pcisched and is left alone (ok); a device recorded for
 *   another VM is refused untouched; a device that has vanished from sysfs loses its record
 *   (nothing left to restore); a device bound to some third driver is reported, untouched.
 *   unprepare goes on past a failing device; a failed device keeps its record so that a
 *   later unprepare can retry (the same holds for a device whose rollback failed).
 *
 * Dry run (`enabled: false`): the same checks and the same plan, logged at info, one line
 * per write it would make; nothing is written (neither sysfs nor the state file, whose dir
 * is not even created). `dryRun` is true and `ok` reports whether the checks passed.
 *
 * Errors from writes and reads (EACCES, ENOENT, EBUSY, ENODEV...) are caught and reported
 * in the outcome, each naming the device and the step; prepare/unprepare never throw.
 * The constructor throws ConfigError for a corrupt state file or an unusable state dir.
 */
import { closeSync, constants, existsSync, openSync, readlinkSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Logger } from '../common/index.js';
import { isPciAddress } from './pci-address.js';
import { PreparedStateFile, isDriverName, isVmId, type PreparedRecord } from './preparer-state.js';

export { STATE_FILE_NAME, type PreparedRecord } from './preparer-state.js';

/** How the preparer writes sysfs attributes; injected so tests can play the kernel. */
export interface SysfsWriter {
  write(path: string, data: string): void;
}

/**
 * Production writer: one write(2) to an existing file, like `echo -n DATA > PATH`, but
 * without O_CREAT, so a wrong host root gives ENOENT instead of stray regular files.
 */
export const realSysfsWriter: SysfsWriter = {
  write(path: string, data: string): void {
    const fd = openSync(path, constants.O_WRONLY);
    try {
      writeSync(fd, data);
    } finally {
      closeSync(fd);
    }
  },
};

export interface DeviceOutcome {
  address: string;
  ok: boolean;
  /** The driver before pcisched moved the device to vfio-pci; '' when none. */
  previousDriver: string;
  error: string;
}

export interface PrepareOutcome {
  ok: boolean;
  error: string;
  devices: DeviceOutcome[];
  dryRun: boolean;
}

export interface PreparerOptions {
  /** `/` in production; a fake host's root in tests. */
  hostRoot: string;
  /** Holds `prepared.json`; created when missing (unless dry run). */
  stateDir: string;
  /** --prepare; false = dry run: log what would be done, change nothing. */
  enabled: boolean;
  logger: Logger;
  writer?: SysfsWriter;
}

export const VFIO_DRIVER = 'vfio-pci';

/** One sysfs write of a plan; `step` names it in errors and logs. */
interface PlannedWrite {
  step: string;
  path: string;
  data: string;
}

/** A failure already phrased for the operator: `ADDR: step: what happened`. */
class StepError extends Error {}

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code) return e.message.startsWith(e.code) ? e.message : `${e.code}: ${e.message}`;
  return String((e as Error)?.message ?? err);
}

function dedupe(addresses: string[]): string[] {
  return [...new Set(addresses)];
}

/** What prepare did to one device, so a rollback undoes exactly that. */
interface Progress {
  address: string;
  previousDriver: string | null;
  /** A record for this VM existed before the call (a retry, or a crash mid-way). */
  resumed: boolean;
  /** This call wrote the record. */
  recorded: boolean;
  /** This call made (or tried) changes to the device. */
  changed: boolean;
  overrideSet: boolean;
}

export class DevicePreparer {
  private readonly pci: string;
  private readonly state: PreparedStateFile;
  private readonly writer: SysfsWriter;
  private readonly log: Logger;
  private readonly enabled: boolean;

  constructor(opts: PreparerOptions) {
    this.pci = join(opts.hostRoot, 'sys/bus/pci');
    this.enabled = opts.enabled;
    this.log = opts.logger;
    this.writer = opts.writer ?? realSysfsWriter;
    this.state = new PreparedStateFile(opts.stateDir, opts.enabled);
    const held = this.state.snapshot();
    if (held.size > 0) this.log.info({ stateFile: this.state.path, devices: Object.fromEntries(held) }, `preparer: ${held.size} device(s) recorded as prepared`);
  }

  /** What the state file holds: address → { vmId, previousDriver }. */
  prepared(): Map<string, PreparedRecord> {
    return this.state.snapshot();
  }

  prepare(vmId: number, addresses: string[]): PrepareOutcome {
    const dryRun = !this.enabled;
    const list = dedupe(addresses);
    if (!isVmId(vmId)) return this.refuseAll(list, `invalid VM id ${JSON.stringify(vmId)}`, dryRun);

    // Checks first, so that a refusal touches nothing.
    const current = new Map<string, string | null>();
    const problems = new Map<string, string>();
    for (const a of list) {
      try {
        current.set(a, this.check(vmId, a));
      } catch (err) {
        problems.set(a, errText(err));
      }
    }
    if (problems.size > 0) {
      const devices = list.map((a) => ({
        address: a,
        ok: false,
        previousDriver: this.state.get(a)?.previousDriver ?? current.get(a) ?? '',
        error: problems.get(a) ?? 'not attempted: another device was refused',
      }));
      const error = [...problems.values()].join('; ');
      this.log.warn({ vmId, addresses: list, dryRun }, `preparer: prepare refused: ${error}`);
      return { ok: false, error, devices, dryRun };
    }

    if (dryRun) {
      const devices = list.map((a) => this.planPrepare(vmId, a, current.get(a) ?? null));
      return { ok: true, error: '', devices, dryRun };
    }

    const done: Progress[] = [];
    for (const a of list) {
      const p: Progress = { address: a, previousDriver: current.get(a) ?? null, resumed: false, recorded: false, changed: false, overrideSet: false };
      try {
        this.prepareOne(vmId, p);
        done.push(p);
      } catch (err) {
        return this.rollback(vmId, list, done, p, errText(err));
      }
    }
    this.log.info({ vmId, addresses: list }, `preparer: VM ${vmId}: ${list.length} device(s) on ${VFIO_DRIVER}`);
    return {
      ok: true,
      error: '',
      devices: done.map((p) => ({ address: p.address, ok: true, previousDriver: p.previousDriver ?? '', error: '' })),
      dryRun,
    };
  }

  unprepare(vmId: number, addresses: string[]): PrepareOutcome {
    const dryRun = !this.enabled;
    const list = dedupe(addresses);
    if (!isVmId(vmId)) return this.refuseAll(list, `invalid VM id ${JSON.stringify(vmId)}`, dryRun);
    const devices: DeviceOutcome[] = [];
    for (const a of list) {
      const rec = isPciAddress(a) ? this.state.get(a) : undefined;
      const out: DeviceOutcome = { address: a, ok: true, previousDriver: rec?.previousDriver ?? '', error: '' };
      try {
        this.unprepareOne(vmId, a, rec, dryRun);
      } catch (err) {
        out.ok = false;
        out.error = errText(err);
        this.log.error({ vmId, address: a, dryRun }, `preparer: unprepare failed: ${out.error}`);
      }
      devices.push(out);
    }
    const errors = devices.filter((d) => !d.ok).map((d) => d.error);
    return { ok: errors.length === 0, error: errors.join('; '), devices, dryRun };
  }

  // --- steps -------------------------------------------------------------------------

  private devPath(address: string, ...rest: string[]): string {
    return join(this.pci, 'devices', address, ...rest);
  }

  private drvPath(driver: string, file: string): string {
    return join(this.pci, 'drivers', driver, file);
  }

  /** The driver a device is bound to (basename of its `driver` link), null when none. */
  private readDriver(address: string): string | null {
    const link = this.devPath(address, 'driver');
    let target: string;
    try {
      target = readlinkSync(link);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new StepError(`${address}: read driver: ${link}: ${errText(err)}`);
    }
    const name = basename(target);
    if (!isDriverName(name)) throw new StepError(`${address}: read driver: ${link} points at '${target}', not a driver`);
    return name;
  }

  /** The pre-checks of prepare; returns the current driver. */
  private check(vmId: number, address: string): string | null {
    if (!isPciAddress(address)) throw new StepError(`'${address}' is not a PCI address (dddd:bb:dd.f)`);
    if (!existsSync(this.devPath(address))) throw new StepError(`${address}: no such PCI device (${this.devPath(address)})`);
    const rec = this.state.get(address);
    if (rec && rec.vmId !== vmId) throw new StepError(`${address}: held by VM ${rec.vmId}; refused for VM ${vmId}`);
    return this.readDriver(address);
  }

  private prepareWrites(address: string, current: string | null): PlannedWrite[] {
    const w: PlannedWrite[] = [{ step: 'set driver_override', path: this.devPath(address, 'driver_override'), data: VFIO_DRIVER }];
    if (current === VFIO_DRIVER) return w;
    if (current !== null) w.push({ step: `unbind from ${current}`, path: this.devPath(address, 'driver', 'unbind'), data: address });
    w.push({ step: 'drivers_probe', path: join(this.pci, 'drivers_probe'), data: address });
    return w;
  }

  /** The writes that give a device on vfio-pci (or half-way there) back to `previous`. */
  private restoreWrites(address: string, current: string | null, previous: string | null, clearOverride: boolean): PlannedWrite[] {
    if (current !== null && current !== VFIO_DRIVER && current !== previous) {
      throw new StepError(`${address}: bound to ${current}, neither ${VFIO_DRIVER} nor its previous driver ${previous ?? '(none)'}; left as is`);
    }
    const w: PlannedWrite[] = [];
    let now = current;
    if (now === VFIO_DRIVER && previous !== VFIO_DRIVER) {
      w.push({ step: `unbind from ${VFIO_DRIVER}`, path: this.drvPath(VFIO_DRIVER, 'unbind'), data: address });
      now = null;
    }
    if (clearOverride) w.push({ step: 'clear driver_override', path: this.devPath(address, 'driver_override'), data: '\n' });
    if (previous !== null && now !== previous) w.push({ step: `bind to ${previous}`, path: this.drvPath(previous, 'bind'), data: address });
    return w;
  }

  private run(address: string, w: PlannedWrite): void {
    this.log.debug({ address, step: w.step, path: w.path, data: w.data }, `preparer: write ${JSON.stringify(w.data)} > ${w.path}`);
    try {
      this.writer.write(w.path, w.data);
    } catch (err) {
      throw new StepError(`${address}: ${w.step}: writing ${JSON.stringify(w.data)} to ${w.path} failed: ${errText(err)}`);
    }
  }

  private prepareOne(vmId: number, p: Progress): void {
    const { address } = p;
    const current = this.readDriver(address);
    const rec = this.state.get(address);
    if (rec && rec.vmId !== vmId) throw new StepError(`${address}: held by VM ${rec.vmId}; refused for VM ${vmId}`);
    if (rec) {
      p.resumed = true;
      p.previousDriver = rec.previousDriver;
      if (current === VFIO_DRIVER) {
        this.log.debug({ vmId, address }, 'preparer: already prepared');
        return;
      }
    } else {
      p.previousDriver = current;
      try {
        this.state.set(address, { vmId, previousDriver: current });
      } catch (err) {
        throw new StepError(`${address}: record state: ${errText(err)}`);
      }
      p.recorded = true;
    }
    p.changed = true;
    for (const w of this.prepareWrites(address, current)) {
      this.run(address, w);
      // A rejected sysfs store changes nothing, so only a write that went through needs undoing.
      if (w.step === 'set driver_override') p.overrideSet = true;
    }
    const now = this.readDriver(address);
    if (now !== VFIO_DRIVER) {
      const hint = existsSync(join(this.pci, 'drivers', VFIO_DRIVER)) ? '' : ` (no ${VFIO_DRIVER} driver: is the vfio_pci module loaded?)`;
      throw new StepError(`${address}: verify: driver is ${now ?? 'none'} after drivers_probe, expected ${VFIO_DRIVER}${hint}`);
    }
    this.log.info({ vmId, address, previousDriver: p.previousDriver }, `preparer: ${address} bound to ${VFIO_DRIVER} for VM ${vmId}`);
  }

  /** Gives a device back to `previous`, verifies, drops its record; throws StepError. */
  private restore(address: string, previous: string | null, clearOverride: boolean): void {
    const current = this.readDriver(address);
    for (const w of this.restoreWrites(address, current, previous, clearOverride)) this.run(address, w);
    const now = this.readDriver(address);
    if (now !== previous) throw new StepError(`${address}: verify: driver is ${now ?? 'none'} after restore, expected ${previous ?? 'none'}`);
    try {
      this.state.delete(address);
    } catch (err) {
      throw new StepError(`${address}: drop state record: ${errText(err)}`);
    }
  }

  private unprepareOne(vmId: number, address: string, rec: PreparedRecord | undefined, dryRun: boolean): void {
    if (!isPciAddress(address)) throw new StepError(`'${address}' is not a PCI address (dddd:bb:dd.f)`);
    if (!rec) {
      this.log.debug({ vmId, address }, 'preparer: not prepared by pcisched; nothing to undo');
      return;
    }
    if (rec.vmId !== vmId) throw new StepError(`${address}: held by VM ${rec.vmId}; refused for VM ${vmId}`);
    if (!existsSync(this.devPath(address))) {
      // Removed from the bus: nothing left to rebind (a re-added device starts afresh).
      this.log.warn({ vmId, address, dryRun }, `preparer: ${address} has gone from sysfs; ${dryRun ? 'would drop' : 'dropping'} its record`);
      if (!dryRun) {
        try {
          this.state.delete(address);
        } catch (err) {
          throw new StepError(`${address}: drop state record: ${errText(err)}`);
        }
      }
      return;
    }
    if (dryRun) {
      const plan = this.restoreWrites(address, this.readDriver(address), rec.previousDriver, true);
      for (const w of plan) this.log.info({ vmId, address, step: w.step, path: w.path, data: w.data }, `preparer: dry run: would write ${JSON.stringify(w.data)} > ${w.path}`);
      return;
    }
    this.restore(address, rec.previousDriver, true);
    this.log.info({ vmId, address, driver: rec.previousDriver }, `preparer: ${address} given back to ${rec.previousDriver ?? '(no driver)'}`);
  }

  private planPrepare(vmId: number, address: string, current: string | null): DeviceOutcome {
    const rec = this.state.get(address);
    const previous = rec ? rec.previousDriver : current;
    if (rec && current === VFIO_DRIVER) {
      this.log.info({ vmId, address }, `preparer: dry run: ${address} already prepared for VM ${vmId}`);
    } else {
      if (!rec) this.log.info({ vmId, address, previousDriver: current }, `preparer: dry run: would record ${address} for VM ${vmId} (previous driver ${current ?? 'none'})`);
      for (const w of this.prepareWrites(address, current)) {
        this.log.info({ vmId, address, step: w.step, path: w.path, data: w.data }, `preparer: dry run: would write ${JSON.stringify(w.data)} > ${w.path}`);
      }
    }
    return { address, ok: true, previousDriver: previous ?? '', error: '' };
  }

  /** Undoes a failed prepare: the failed device first, then the switched ones in reverse. */
  private rollback(vmId: number, list: string[], done: Progress[], failed: Progress, reason: string): PrepareOutcome {
    this.log.error({ vmId, address: failed.address }, `preparer: prepare failed, rolling back: ${reason}`);
    const undo = (p: Progress): string => {
      if (!p.changed && !p.recorded) return '';
      try {
        this.restore(p.address, p.previousDriver, p.overrideSet || p.resumed);
        return '';
      } catch (err) {
        const msg = errText(err);
        this.log.error({ vmId, address: p.address, previousDriver: p.previousDriver }, `preparer: ROLLBACK FAILED, device left as is and kept in the state file: ${msg}`);
        return msg;
      }
    };
    const rollbackErrors: string[] = [];
    const failedUndo = undo(failed);
    if (failedUndo) rollbackErrors.push(failedUndo);
    const undone = new Map<string, string>();
    for (const p of [...done].reverse()) {
      if (!p.changed) continue;
      const e = undo(p);
      undone.set(p.address, e);
      if (e) rollbackErrors.push(e);
    }
    const suffix = rollbackErrors.length ? `; rollback failed: ${rollbackErrors.join('; ')}` : '';
    const devices: DeviceOutcome[] = list.map((a) => {
      const p = a === failed.address ? failed : done.find((d) => d.address === a);
      const previousDriver = p?.previousDriver ?? '';
      if (a === failed.address) return { address: a, ok: false, previousDriver, error: failedUndo ? `${reason}; rollback failed: ${failedUndo}` : reason };
      if (!p) return { address: a, ok: false, previousDriver: '', error: `not attempted: ${failed.address} failed` };
      if (!undone.has(a)) return { address: a, ok: true, previousDriver, error: '' }; // prepared before this call: kept
      const e = undone.get(a)!;
      return { address: a, ok: false, previousDriver, error: `rolled back because ${failed.address} failed${e ? `; rollback failed: ${e}` : ''}` };
    });
    return { ok: false, error: `${reason}${suffix}`, devices, dryRun: false };
  }

  private refuseAll(list: string[], error: string, dryRun: boolean): PrepareOutcome {
    this.log.warn({ addresses: list, dryRun }, `preparer: refused: ${error}`);
    return { ok: false, error, devices: list.map((a) => ({ address: a, ok: false, previousDriver: '', error })), dryRun };
  }
}

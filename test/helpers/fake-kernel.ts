/**
 * A SysfsWriter test double that plays the kernel's part on a fake host (fake-host.ts):
 * the DevicePreparer writes sysfs attributes through it, and it records each write and
 * changes the fake tree as Linux would.
 *
 * API:
 *   const host = await gpuHostSharedGroup();
 *   const kernel = new FakeKernel(host, { failOn, refuseBind });   // options optional
 *   const preparer = new DevicePreparer({ hostRoot: host.root, ..., writer: kernel });
 *
 *   kernel.writes      every write attempted, in order, as { path, data } with `path`
 *                      relative to host.root (`sys/bus/pci/drivers_probe`), failed ones too
 *   kernel.failures    the writes that threw, as { path, data, error } (error = err.message)
 *   kernel.reset()     empties both lists (e.g. between the setup and the step under test)
 *   kernel.driverOf(addr)    basename of devices/ADDR/driver, null when unbound
 *   kernel.overrideOf(addr)  driver_override as the kernel shows it: null for `(null)`
 *   kernel.failOn      (path, data) => Error | null, called before each write with the
 *                      relative path; a returned error is thrown and the write has no
 *                      effect. Mutable, like refuseBind. Build errors with errnoError().
 *   kernel.refuseBind  Set of addresses that drivers_probe leaves unbound (a driver whose
 *                      probe fails), to exercise the preparer's verify step
 *   errnoError(code, path)   an Error like node's fs errors: code, errno, syscall, path
 *
 * Kernel behaviour emulated (paths below ROOT/sys/bus/pci; ADDR may end in a newline):
 *   - a path that does not exist (following links) throws ENOENT, as sysfs files cannot
 *     be created: e.g. devices/ADDR/driver/unbind of an unbound device, or
 *     drivers/D/bind of a driver that is not loaded;
 *   - devices/ADDR/driver_override: sets it (trailing newline stripped; empty or "\n"
 *     clears it); the file then reads `NAME\n` or `(null)\n`, as on Linux;
 *   - drivers/D/unbind (or devices/ADDR/driver/unbind) with ADDR: removes the device's
 *     `driver` link and the driver's ADDR back-link; ENODEV if ADDR is not bound to D;
 *   - drivers/D/bind with ADDR: binds ADDR to D; ENODEV for an unknown device or when
 *     driver_override names another driver (no match), EBUSY when ADDR is already bound;
 *   - drivers_probe with ADDR: an unbound device with a driver_override is bound to that
 *     driver (its drivers/NAME dir is created when missing), unless in refuseBind; an
 *     unbound device without override, or a bound one, is left alone; ENODEV for an
 *     unknown device;
 *   - any other existing file: the data is written to it.
 *   Binding goes through host.bindDriver, so the FakeHost's own view stays consistent.
 */
import { existsSync, lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename, isAbsolute, join, relative } from 'node:path';
import type { SysfsWriter } from '../../probe/preparer.js';
import type { FakeHost } from './fake-host.js';

export interface KernelWrite {
  path: string;
  data: string;
}

export interface FakeKernelOptions {
  failOn?: ((path: string, data: string) => Error | null) | null;
  refuseBind?: Iterable<string>;
}

const ERRNO: Record<string, [number, string]> = {
  EPERM: [-1, 'operation not permitted'],
  ENOENT: [-2, 'no such file or directory'],
  EIO: [-5, 'i/o error'],
  EACCES: [-13, 'permission denied'],
  EBUSY: [-16, 'resource busy or locked'],
  ENODEV: [-19, 'no such device'],
  EINVAL: [-22, 'invalid argument'],
};

/** An error shaped like node's fs errors (`EBUSY: resource busy or locked, write 'PATH'`). */
export function errnoError(code: string, path: string, syscall = 'write'): NodeJS.ErrnoException {
  const [errno, text] = ERRNO[code] ?? [-1, code.toLowerCase()];
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${path}'`), { code, errno, syscall, path });
}

const PCI = 'sys/bus/pci';

export class FakeKernel implements SysfsWriter {
  readonly writes: KernelWrite[] = [];
  readonly failures: Array<KernelWrite & { error: string }> = [];
  failOn: ((path: string, data: string) => Error | null) | null;
  refuseBind: Set<string>;

  constructor(
    readonly host: FakeHost,
    options: FakeKernelOptions = {},
  ) {
    this.failOn = options.failOn ?? null;
    this.refuseBind = new Set(options.refuseBind ?? []);
  }

  get root(): string {
    return this.host.root;
  }

  reset(): void {
    this.writes.length = 0;
    this.failures.length = 0;
  }

  driverOf(address: string): string | null {
    try {
      return basename(readlinkSync(join(this.root, PCI, 'devices', address, 'driver')));
    } catch {
      return null;
    }
  }

  overrideOf(address: string): string | null {
    const text = readFileSync(join(this.root, PCI, 'devices', address, 'driver_override'), 'utf8').replace(/\n$/, '');
    return text === '(null)' ? null : text;
  }

  write(path: string, data: string): void {
    const rel = relative(this.root, path);
    if (rel.startsWith('..') || isAbsolute(rel)) throw new Error(`fake-kernel: write outside the host root ${this.root}: ${path}`);
    this.writes.push({ path: rel, data });
    try {
      const injected = this.failOn?.(rel, data) ?? null;
      if (injected) throw injected;
      this.apply(rel, path, data);
    } catch (err) {
      this.failures.push({ path: rel, data, error: (err as Error).message });
      throw err;
    }
  }

  private deviceExists(address: string): boolean {
    try {
      lstatSync(join(this.root, PCI, 'devices', address));
      return address !== '' && !address.includes('/');
    } catch {
      return false;
    }
  }

  private apply(rel: string, path: string, data: string): void {
    if (!existsSync(path)) throw errnoError('ENOENT', path, 'open');
    const arg = data.replace(/\n$/, '');
    let m: RegExpExecArray | null;
    if (rel === `${PCI}/drivers_probe`) {
      if (!this.deviceExists(arg)) throw errnoError('ENODEV', path);
      const override = this.overrideOf(arg);
      if (this.driverOf(arg) === null && override !== null && !this.refuseBind.has(arg)) this.host.bindDriver(arg, override);
      return;
    }
    if ((m = /^sys\/bus\/pci\/drivers\/([^/]+)\/(bind|unbind)$/.exec(rel))) {
      this.bindOrUnbind(m[1]!, m[2] as 'bind' | 'unbind', arg, path);
      return;
    }
    if ((m = /^sys\/bus\/pci\/devices\/([^/]+)\/driver\/(bind|unbind)$/.exec(rel))) {
      // The path exists, so the device is bound and `driver` leads to its driver's dir.
      this.bindOrUnbind(this.driverOf(m[1]!)!, m[2] as 'bind' | 'unbind', arg, path);
      return;
    }
    if ((m = /^sys\/bus\/pci\/devices\/([^/]+)\/driver_override$/.exec(rel))) {
      const value = data.split('\n')[0]!;
      writeFileSync(path, value === '' ? '(null)\n' : `${value}\n`);
      return;
    }
    writeFileSync(path, data);
  }

  private bindOrUnbind(driver: string, op: 'bind' | 'unbind', address: string, path: string): void {
    if (!this.deviceExists(address)) throw errnoError('ENODEV', path);
    const current = this.driverOf(address);
    if (op === 'unbind') {
      if (current !== driver) throw errnoError('ENODEV', path);
      this.host.bindDriver(address, null);
      return;
    }
    const override = this.overrideOf(address);
    if (override !== null && override !== driver) throw errnoError('ENODEV', path);
    if (current !== null) throw errnoError('EBUSY', path);
    this.host.bindDriver(address, driver);
  }
}

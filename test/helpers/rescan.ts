/** Shared by the rescan tests: a scanner on a fake host, cleaned up with the test. */
import type { TestContext } from 'node:test';
import type { DeviceReport, HostReport } from '../../common/index.js';
import { createScanner, REFRESH_SCANS, type Scanner } from '../../probe/index.js';
import type { FakeHost } from './fake-host.js';

export async function setup(t: TestContext, build: Promise<FakeHost>): Promise<{ host: FakeHost; scanner: Scanner }> {
  const host = await build;
  const scanner = createScanner({ hostRoot: host.root, hostName: 'h' });
  t.after(async () => {
    scanner.close();
    await host.cleanup();
  });
  return { host, scanner };
}

export const find = (r: HostReport, address: string): DeviceReport | undefined => r.devices.find((d) => d.address === address);

/** Scans until `done` holds; how many scans that took, Infinity if more than `max`. */
export function scansUntil(scanner: Scanner, done: (r: HostReport) => boolean, max = REFRESH_SCANS): number {
  for (let n = 1; n <= max; n++) if (done(scanner.scan())) return n;
  return Infinity;
}

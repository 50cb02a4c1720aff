/**
 * `pcisched probe scan` as a real process: JSON contract and bad config.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { edgeCaseHost } from '../helpers/fake-host.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { BIN, runCliProcess } from '../helpers/processes.js';

test('probe scan --json prints {host, devices} with the contract field names', async () => {
  const host = await edgeCaseHost();
  try {
    const res = await runCliProcess(['probe', 'scan', '--host-root', host.root, '--host-name', 'edge', '--json']);
    assert.equal(res.code, 0, res.stderr);
    const doc = JSON.parse(res.stdout);
    assert.equal(doc.host.name, 'edge');
    const nvme = doc.devices.find((d: { address: string }) => d.address === '0001:01:00.0');
    for (const field of ['address', 'shortAddress', 'vendor', 'device', 'class', 'vendorName', 'deviceName', 'className', 'subsystemVendor', 'subsystemDevice', 'numaNode', 'iommuGroup', 'driver', 'sriov', 'physfn', 'pcieRoot']) {
      assert.ok(field in nvme, `field ${field}`);
    }
    assert.deepEqual([nvme.shortAddress, nvme.class, nvme.driver, nvme.pcieRoot], ['0001:01:00.0', '0108', 'nvme', '0001:00:02.0']);
    const nic = doc.devices.find((d: { address: string }) => d.address === '0000:02:00.0');
    assert.deepEqual([nic.numaNode, nic.driver], [null, null]);
  } finally {
    await host.cleanup();
  }
});

test('an invalid pci.conf exits non-zero naming the file, the key and the reason', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pcisched-conf-'));
  try {
    const file = path.join(dir, 'pci.conf');
    writeFileSync(file, ":filter: ['10de:zzzz']\n");
    const res = await runCliProcess(['probe', 'scan', '--config', file]);
    assert.equal(res.code, 1);
    assert.equal(res.stdout, '');
    assert.match(res.stderr, new RegExp(`^error: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*filter.*zzzz`, 's'));
    writeFileSync(file, ":device_name: ['(unclosed']\n");
    const re = await runCliProcess(['probe', 'scan', '--config', file]);
    assert.equal(re.code, 1);
    assert.match(re.stderr, /device_name/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a reader that closes the pipe early (| head) ends the command quietly, with exit code 0', async () => {
  const host = await edgeCaseHost();
  try {
    const proc = spawn(BIN, ['probe', 'scan', '--host-root', host.root, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Closed before the scan prints: its first write meets a closed pipe (EPIPE).
    proc.stdout!.destroy();
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(proc, 'exit')) as [number | null];
    assert.deepEqual([code, stderr], [0, '']);
  } finally {
    await host.cleanup();
  }
});

// A real full disk (a small tmpfs as the data folder): A700, partial files removed, no orphan
// files or rows, and the node keeps answering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpDir } from './helpers/env';
import { run } from './helpers/run';
import { DicomNode } from '../src/node';
import { createLogger } from '../src/log/logger';
import { testConfig } from './helpers/node';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';

test('disk full: A700 (out of resources), partial file removed, the node goes on', async (t) => {
  const mnt = tmpDir('tmpfs');
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]).status === 0;
  if (!mounted) {
    t.skip('cannot mount a tmpfs here (needs root); the ENOTDIR I/O-error test covers the same path');
    return;
  }
  const files = writeSyntheticCtSeries({ outDir: tmpDir('full-in'), count: 12, uidRoot: newUidRoot() });
  // Guard off: this test is about a write that fails because the disk really is full.
  const node = new DicomNode(testConfig(mnt, { storage: { minFreeMegabytes: 0 } }), createLogger({ level: 'error', silentConsole: true }));
  try {
    const { port } = await node.start();
    const r = await run('storescu', ['-v', '-nh', '-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(port), ...files], {
      timeoutMs: 60_000,
    });
    const ok = (r.stdout + r.stderr).match(/Received Store Response \(Success\)/g)?.length ?? 0;
    const full = (r.stdout + r.stderr).match(/Received Store Response \(Refused: OutOfResources\)/g)?.length ?? 0;
    assert.ok(ok >= 2, `only ${ok} instances fit in 4 MB`);
    assert.ok(full >= 1, `no A700 once the disk was full:\n${r.stdout}${r.stderr}`);
    assert.equal(ok + full, files.length, 'every instance got a definite answer');
    assert.deepEqual(fs.readdirSync(path.join(mnt, 'incoming')), [], 'partial files removed');
    const stored = node.store.listInstances();
    assert.equal(stored.length, ok, 'exactly the acknowledged instances are indexed');
    const onDisk = execFileSync('find', [path.join(mnt, 'instances'), '-name', '*.dcm'])
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean);
    assert.equal(onDisk.length, ok, 'no orphan files');
    const echo = await run('echoscu', ['-aet', 'ECHOSCU', '-aec', 'DICOM_AI', '127.0.0.1', String(port)]);
    assert.equal(echo.code, 0, 'still answering');
  } finally {
    await node.stop(0);
    spawnSync('umount', [mnt]);
  }
});

test('disk-space guard: below storage.minFreeMegabytes instances get A700 before any write; accepted again once space is back', async (t) => {
  const mnt = tmpDir('tmpfs-guard');
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt]).status !== 0) {
    t.skip('cannot mount a tmpfs here (needs root)');
    return;
  }
  const files = writeSyntheticCtSeries({ outDir: tmpDir('guard-in'), count: 2, uidRoot: newUidRoot() });
  const node = new DicomNode(testConfig(mnt, { storage: { minFreeMegabytes: 8 } }), createLogger({ level: 'error', silentConsole: true }), {
    diskPollMs: 100,
  });
  try {
    const { port } = await node.start();
    const filler = path.join(mnt, 'filler');
    fs.writeFileSync(filler, Buffer.alloc(10 * 1048576));
    node.disk.check();
    assert.equal(node.disk.isLow, true);
    const refused = await run('storescu', ['-v', '-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(port), files[0]!]);
    assert.match(refused.stdout + refused.stderr, /Refused: OutOfResources/);
    assert.equal(node.store.listInstances().length, 0);
    assert.deepEqual(fs.readdirSync(path.join(mnt, 'incoming')), [], 'nothing written while refusing');
    fs.rmSync(filler);
    await new Promise((r) => setTimeout(r, 300)); // the guard polls every 100 ms here
    assert.equal(node.disk.isLow, false);
    const ok = await run('storescu', ['-v', '-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(port), files[1]!]);
    assert.match(ok.stdout + ok.stderr, /Received Store Response \(Success\)/);
  } finally {
    await node.stop(0);
    spawnSync('umount', [mnt]);
  }
});

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
  const node = new DicomNode(testConfig(mnt), createLogger({ level: 'error', silentConsole: true }));
  try {
    const { port } = await node.start();
    const r = await run('storescu', ['-v', '-nh', '-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(port), ...files], { timeoutMs: 60_000 });
    const ok = (r.stdout + r.stderr).match(/Received Store Response \(Success\)/g)?.length ?? 0;
    const full = (r.stdout + r.stderr).match(/Received Store Response \(Refused: OutOfResources\)/g)?.length ?? 0;
    assert.ok(ok >= 2, `only ${ok} instances fit in 4 MB`);
    assert.ok(full >= 1, `no A700 once the disk was full:\n${r.stdout}${r.stderr}`);
    assert.equal(ok + full, files.length, 'every instance got a definite answer');
    assert.deepEqual(fs.readdirSync(path.join(mnt, 'incoming')), [], 'partial files removed');
    const stored = node.store.listInstances();
    assert.equal(stored.length, ok, 'exactly the acknowledged instances are indexed');
    const onDisk = execFileSync('find', [path.join(mnt, 'instances'), '-name', '*.dcm']).toString().trim().split('\n').filter(Boolean);
    assert.equal(onDisk.length, ok, 'no orphan files');
    const echo = await run('echoscu', ['-aet', 'ECHOSCU', '-aec', 'DICOM_AI', '127.0.0.1', String(port)]);
    assert.equal(echo.code, 0, 'still answering');
  } finally {
    await node.stop(0);
    spawnSync('umount', [mnt]);
  }
});

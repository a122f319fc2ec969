// Everything the node writes is its user's only: files 0600, folders 0700 — instances, incoming
// partials, the SQLite index with its -wal and -shm, reports, key images, backups, the
// de-identification secret, the audit file and the log file. An older install's data folder is
// tightened at start-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ChildProcess, spawn } from 'node:child_process';
import { startTestNode, waitFor } from './helpers/node';
import { PROJECT_ROOT, tmpDir } from './helpers/env';
import { run } from './helpers/run';
import { freePort } from './helpers/child-node';
import { writeChestPhantom } from '../fixtures/chest-phantom';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { createLogger } from '../src/log/logger';
import { DicomNode } from '../src/node';
import { testConfig } from './helpers/node';

/** Every entry under `root` whose mode is not 0600 (file) or 0700 (folder), as "path mode". */
function loosePaths(root: string): string[] {
  const loose: string[] = [];
  const walk = (p: string): void => {
    const st = fs.lstatSync(p);
    const mode = st.mode & 0o777;
    if (st.isDirectory()) {
      if (mode !== 0o700) loose.push(`${p} ${mode.toString(8)}`);
      for (const name of fs.readdirSync(p)) walk(path.join(p, name));
    } else if (mode !== 0o600) loose.push(`${p} ${mode.toString(8)}`);
  };
  walk(root);
  return loose;
}

test('a node that received a series, reported on it, sent it and backed up its index: every file 0600, every folder 0700', async () => {
  const pacsPort = await freePort();
  const pacsDir = tmpDir('modes-pacs');
  const pacs: ChildProcess = spawn('storescp', ['-aet', 'STORESCP', '-od', pacsDir, String(pacsPort)], { stdio: 'ignore' });
  const backupDir = path.join(tmpDir('modes-backups'), 'backups');
  const t = await startTestNode({
    series: { stableSeconds: 1 },
    housekeeping: { backupDir },
    inference: { modelsDir: path.join(PROJECT_ROOT, 'models'), providers: ['cpu'] },
    destinations: { PACS: { aeTitle: 'STORESCP', host: '127.0.0.1', port: pacsPort } },
    routes: [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'], keyImage: true }],
  });
  try {
    const phantom = writeChestPhantom({ outDir: tmpDir('modes-series'), seed: 5, uidRoot: newUidRoot(), slices: 40 });
    const r = await run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(t.port), ...phantom.files], {
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stderr);
    await waitFor(() => t.node.store.listJobs().some((j) => j.state === 'done' || j.state === 'failed'), 180_000, 'the job');
    assert.deepEqual(
      t.node.store.listJobs().filter((j) => j.state === 'failed'),
      [],
    );
    assert.ok(t.node.store.listReports().length > 0, 'a report was written');
    await waitFor(() => fs.readdirSync(pacsDir).length > 0, 30_000, 'a report at the destination');
    await t.node.housekeeping.backup();
    const names = fs.readdirSync(t.dataDir);
    for (const expected of [
      'dicom-ai-node.sqlite',
      'dicom-ai-node.sqlite-wal',
      'dicom-ai-node.sqlite-shm',
      'deid-secret',
      'instances',
      'incoming',
    ])
      assert.ok(names.includes(expected), `${expected} in the data folder (${names.join(', ')})`);
    assert.ok(fs.readdirSync(path.join(t.dataDir, 'reports')).length > 0);
    assert.ok(fs.readdirSync(path.join(t.dataDir, 'key-images')).length > 0);
    assert.equal(fs.readdirSync(backupDir).length, 1);
    assert.deepEqual(loosePaths(t.dataDir), []);
    assert.deepEqual(loosePaths(backupDir), []);
  } finally {
    await t.stop();
    pacs.kill();
  }
});

test('an incoming partial file is 0600 while the transfer is in progress', async () => {
  const t = await startTestNode();
  try {
    const big = writeSyntheticCtSeries({ outDir: tmpDir('modes-part'), count: 1, uidRoot: newUidRoot(), rows: 2048, columns: 2048 });
    const incoming = path.join(t.dataDir, 'incoming');
    const seen = new Set<string>();
    const watcher = setInterval(() => {
      for (const f of fs.readdirSync(incoming))
        try {
          seen.add((fs.statSync(path.join(incoming, f)).mode & 0o777).toString(8));
        } catch {
          // renamed into place meanwhile
        }
    }, 1);
    const r = await run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(t.port), ...big]);
    clearInterval(watcher);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(seen.size > 0, 'the partial file was seen while the transfer ran');
    assert.deepEqual([...seen], ['600'], 'partial files seen with these modes');
    assert.deepEqual(loosePaths(t.dataDir), []);
  } finally {
    await t.stop();
  }
});

test('the audit file and the log file are created 0600, in a 0700 folder', async () => {
  const dir = tmpDir('modes-logs');
  const logFile = path.join(dir, 'logs', 'node.log');
  const log = createLogger({ level: 'info', file: logFile, silentConsole: true });
  log.info('a line');
  await new Promise<void>((resolve) => {
    log.on('finish', resolve);
    log.end();
  });
  assert.equal(fs.statSync(logFile).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.dirname(logFile)).mode & 0o777, 0o700);

  const auditFile = path.join(dir, 'audit.jsonl');
  const node = new DicomNode(testConfig(path.join(dir, 'data'), { audit: { file: auditFile } }), log);
  await node.start();
  await node.stop(100);
  assert.ok(fs.readFileSync(auditFile, 'utf8').includes('application-start'));
  assert.equal(fs.statSync(auditFile).mode & 0o777, 0o600);
});

test("an older install's data folder (0644 files, 0755 folders) is made private at start-up", async () => {
  const dataDir = tmpDir('modes-old');
  const seriesDir = path.join(dataDir, 'instances', '1.2.3', '1.2.3.4');
  fs.mkdirSync(seriesDir, { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(seriesDir, '1.2.3.4.5.dcm'), 'not DICOM', { mode: 0o644 });
  fs.writeFileSync(path.join(dataDir, 'deid-secret'), 'x'.repeat(32), { mode: 0o644 });
  fs.writeFileSync(path.join(dataDir, 'dicom-ai-node.sqlite'), '', { mode: 0o644 });
  for (const d of [dataDir, path.join(dataDir, 'instances'), path.dirname(seriesDir), seriesDir]) fs.chmodSync(d, 0o755);
  const node = new DicomNode(testConfig(dataDir), createLogger({ level: 'info', silentConsole: true }));
  await node.start();
  try {
    assert.deepEqual(loosePaths(dataDir), []);
  } finally {
    await node.stop(100);
  }
});

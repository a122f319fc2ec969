// Scheduled maintenance: WAL checkpoints and online backups of the index.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestNode } from './helpers/node';
import { run } from './helpers/run';
import { tmpDir } from './helpers/env';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { Store } from '../src/store/store';
import { parseConfig, ConfigError } from '../src/config/config';

test('online backup while running: a consistent copy, only the newest keepBackups kept; checkpoint truncates the WAL', async () => {
  const backupDir = tmpDir('backups');
  const t = await startTestNode({ housekeeping: { backupDir, keepBackups: 2 } });
  try {
    const files = writeSyntheticCtSeries({ outDir: tmpDir('hk-in'), count: 6, uidRoot: newUidRoot() });
    assert.equal((await run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(t.port), ...files])).code, 0);
    const first = await t.node.housekeeping.backup();
    await new Promise((r) => setTimeout(r, 5));
    await t.node.housekeeping.backup();
    await new Promise((r) => setTimeout(r, 5));
    const last = await t.node.housekeeping.backup();
    const kept = fs.readdirSync(backupDir);
    assert.equal(kept.length, 2, `kept: ${kept.join(', ')}`);
    assert.ok(!fs.existsSync(first), 'oldest backup removed');
    const copy = new Store(last);
    try {
      assert.equal(copy.listInstances().length, 6);
      assert.equal(copy.listSeries()[0]!.instanceCount, 6);
    } finally {
      copy.close();
    }
    const wal = path.join(t.dataDir, 'dicom-ai-node.sqlite-wal');
    assert.ok(fs.statSync(wal).size > 0, 'WAL has content before the checkpoint');
    const r = t.node.housekeeping.checkpoint();
    assert.equal(r.busy, 0);
    assert.equal(fs.statSync(wal).size, 0, 'WAL truncated');
    assert.equal(t.node.store.listInstances().length, 6);
  } finally {
    await t.stop();
  }
});

test('housekeeping config: bad cron expressions and counts are reported with their key', () => {
  assert.throws(
    () => parseConfig({ callers: [{ aeTitle: 'A' }], housekeeping: { backupCron: 'every night', keepBackups: 0 } }, '/tmp'),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const text = e.problems.join('\n');
      assert.match(text, /housekeeping\.backupCron: "every night" is not a cron schedule/);
      assert.match(text, /housekeeping\.keepBackups: 0 is out of range/);
      return true;
    },
  );
});

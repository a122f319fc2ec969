// Retention (housekeeping.retentionDays): a series' instances, report files and key image are
// deleted N days after its reports were delivered, never before delivery and never early.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { startTestNode, waitFor } from './helpers/node';
import { PROJECT_ROOT, tmpDir } from './helpers/env';
import { freePort } from './helpers/child-node';
import { run } from './helpers/run';
import { writeChestPhantom } from '../fixtures/chest-phantom';
import { newUidRoot } from '../fixtures/synthetic-ct';

const DAY = 86_400_000;

test('retention deletes a delivered series after N days, keeps an undelivered one and a recent one', async () => {
  const port = await freePort();
  const deadPort = await freePort();
  const out = tmpDir('retention-pacs');
  const scp = spawn('storescp', ['-aet', 'STORESCP', '-od', out, String(port)], {
    stdio: 'ignore',
    env: { ...process.env, TCP_NODELAY: '1' },
  });
  const n = await startTestNode({
    series: { stableSeconds: 1 },
    housekeeping: { retentionDays: 7 },
    inference: { modelsDir: path.join(PROJECT_ROOT, 'models'), providers: ['cpu'] },
    destinations: {
      PACS: { aeTitle: 'STORESCP', host: '127.0.0.1', port },
      DEAD: { aeTitle: 'NOBODY', host: '127.0.0.1', port: deadPort },
    },
    routes: [
      { name: 'to-dead', match: { Modality: 'CT', CallingAETitle: 'TESTSCU' }, model: 'lung-nodule-reference', destinations: ['DEAD'] },
      { name: 'to-pacs', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'], keyImage: true },
    ],
    delivery: { backoffSeconds: 60, backoffCapSeconds: 60 },
  });
  try {
    const delivered = writeChestPhantom({ outDir: tmpDir('ret-a'), seed: 81, uidRoot: newUidRoot(), slices: 30 });
    const stuck = writeChestPhantom({ outDir: tmpDir('ret-b'), seed: 82, uidRoot: newUidRoot(), slices: 30 });
    for (const [p, aet] of [
      [delivered, 'STORESCU'],
      [stuck, 'TESTSCU'],
    ] as const) {
      const r = await run('storescu', ['-aet', aet, '-aec', 'DICOM_AI', '127.0.0.1', String(n.port), ...p.files], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
    }
    const store = n.node.store;
    await waitFor(() => store.listJobs().filter((j) => j.state === 'done').length === 2, 120_000, 'both jobs done');
    await waitFor(
      () =>
        store.listDeliveries().some((d) => d.destination === 'PACS' && d.state === 'delivered') &&
        store.listDeliveries().some((d) => d.destination === 'DEAD' && d.attempts >= 1),
      60_000,
      'one delivered, one failed attempt',
    );
    await waitFor(
      () =>
        store
          .listDeliveries()
          .filter((d) => d.destination === 'PACS')
          .every((d) => d.state === 'delivered'),
      30_000,
      'report and key image delivered',
    );

    const filesOf = (series: string) => store.seriesFiles(series);
    const a = filesOf(delivered.seriesInstanceUid);
    assert.equal(a.instances.length, 30);
    assert.ok(a.reports.length >= 2 && a.keyImages.length === 1, 'report forms, the key image SC and the key image PNG are on disk');

    assert.deepEqual(n.node.runRetention(Date.now() + 6 * DAY), { series: 0, files: 0, bytes: 0 }, 'not before 7 days');
    assert.ok([...a.instances, ...a.reports, ...a.keyImages].every((f) => fs.existsSync(f)));

    const r = n.node.runRetention(Date.now() + 8 * DAY);
    assert.equal(r.series, 1, 'only the delivered series');
    assert.equal(r.files, a.instances.length + a.reports.length + a.keyImages.length);
    assert.ok(
      [...a.instances, ...a.reports, ...a.keyImages].every((f) => !fs.existsSync(f)),
      'its files are gone',
    );
    assert.deepEqual(store.listInstances(delivered.seriesInstanceUid), []);
    assert.ok(store.listAudit().some((e) => e.event === 'series-purged' && e.seriesInstanceUid === delivered.seriesInstanceUid));

    const b = filesOf(stuck.seriesInstanceUid);
    assert.equal(b.instances.length, 30, 'the undelivered series keeps its index rows');
    assert.ok(
      [...b.instances, ...b.reports].every((f) => fs.existsSync(f)),
      'and its files',
    );
    assert.deepEqual(
      n.node.runRetention(Date.now() + 100 * DAY),
      { series: 0, files: 0, bytes: 0 },
      'a purged series is not purged twice; an undelivered one never',
    );
  } finally {
    scp.kill();
    await n.stop();
  }
});

// The start-up repair after an unclean stop reads only the series folders that can hold a file the
// index lacks (unknown series, series still receiving, folders changed after the last indexed
// arrival), and still finds such a file. The kill -9 / power-loss case end to end is in
// crash-recovery.test.ts; this checks which folders are read, on real Part 10 files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir } from './helpers/env';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { instancePath } from '../src/ingest/instance-writer';
import { reconcileInstances } from '../src/ingest/reconcile';
import { createLogger } from '../src/log/logger';
import { Store } from '../src/store/store';

/** Places synthetic instances n = from..to of the series of `root` where the SCP would have filed them. */
function place(dataDir: string, root: string, from: number, to: number): string[] {
  const made = writeSyntheticCtSeries({ outDir: tmpDir('repair-src'), count: to, uidRoot: root, rows: 16, columns: 16 });
  return made.slice(from - 1).map((file, i) => {
    const target = instancePath(dataDir, `${root}.1`, `${root}.2`, `${root}.3.${from + i}`);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(file, target);
    return target;
  });
}

test('start-up repair reads only folders that can hold an unindexed file, and indexes what it finds', () => {
  const dataDir = tmpDir('repair');
  const store = new Store(path.join(dataDir, 'index.sqlite'));
  const log = createLogger({ level: 'error', silentConsole: true });
  try {
    const a = newUidRoot();
    const b = newUidRoot();
    place(dataDir, a, 1, 3);
    place(dataDir, b, 1, 2);

    // Series the index does not know: their folders are read whole.
    assert.deepEqual(reconcileInstances(dataDir, store, log), { seriesFolders: 2, foldersRead: 2, recovered: 5 });
    assert.equal(store.getSeries(`${a}.2`)?.instanceCount, 3);

    // Recovered rows reopen their series; once stable, and with each folder last changed before its
    // series' latest indexed arrival (as after the SCP's rename-then-commit), nothing is read.
    store.markStableSeries(Date.now() + 1, Date.now());
    for (const root of [a, b]) {
      const last = store.getSeries(`${root}.2`)!.lastReceivedAt;
      fs.utimesSync(path.dirname(instancePath(dataDir, `${root}.1`, `${root}.2`, 'x')), new Date(last - 10), new Date(last - 10));
    }
    assert.deepEqual(reconcileInstances(dataDir, store, log), { seriesFolders: 2, foldersRead: 0, recovered: 0 });

    // A file renamed into series a's folder whose row never committed: that folder alone is read.
    const [lost] = place(dataDir, a, 4, 4);
    fs.utimesSync(path.dirname(lost!), new Date(), new Date());
    assert.deepEqual(reconcileInstances(dataDir, store, log), { seriesFolders: 2, foldersRead: 1, recovered: 1 });
    assert.equal(store.getInstance(`${a}.3.4`)?.filePath, lost);
    assert.equal(store.getSeries(`${a}.2`)?.instanceCount, 4);
    assert.equal(store.getSeries(`${a}.2`)?.state, 'receiving', 'the recovered instance reopens its series');

    // A series still receiving (its last commits may be the ones lost) is read even when its folder
    // looks older than its latest arrival; its indexed files are not indexed again.
    fs.utimesSync(path.dirname(lost!), new Date(0), new Date(0));
    assert.deepEqual(reconcileInstances(dataDir, store, log), { seriesFolders: 2, foldersRead: 1, recovered: 0 });
    assert.equal(store.getInstance(`${a}.3.4`)?.receiveCount, 1);
  } finally {
    store.close();
  }
});

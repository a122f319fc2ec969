// Group commit of index rows (src/ingest/index-commits.ts): rows that become ready in the same turn
// of the event loop share one transaction; a row that fails is refused alone; each caller learns
// its own outcome only after the commit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tmpDir } from './helpers/env';
import { Store, type InstanceRecord } from '../src/store/store';
import { IndexCommits } from '../src/ingest/index-commits';

const STUDY = '1.2.826.0.1.3680043.10.7';
const SERIES = `${STUDY}.1`;

function row(n: number): InstanceRecord {
  return {
    sopInstanceUid: `${SERIES}.${n}`,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    seriesInstanceUid: SERIES,
    studyInstanceUid: STUDY,
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    instanceNumber: n,
    filePath: `/nonexistent/${n}.dcm`,
    sizeBytes: 100 + n,
    callingAeTitle: 'SCU',
    callingHost: '127.0.0.1',
    associationId: 'a1',
    receivedAt: 1000 + n,
  };
}

test('rows ready together share one transaction; a failing row is refused alone; each waits for the commit', async () => {
  const store = new Store(path.join(tmpDir('index-commits'), 'index.sqlite'), { durableFiles: false });
  try {
    let transactions = 0;
    const inOne = store.inOneTransaction.bind(store);
    store.inOneTransaction = <T>(work: () => T): T => {
      transactions++;
      return inOne(work);
    };
    const commits = new IndexCommits(store);
    // A row the schema refuses (NOT NULL sop_class_uid): a programming error or a corrupt request.
    const bad = { ...row(2), sopClassUid: null as unknown as string };
    const results = [commits.record(row(1), { modality: 'CT' }), commits.record(bad, {}), commits.record(row(3), { modality: 'CT' })];
    // Nothing is committed before the batch runs: no caller can have been answered yet.
    assert.equal(store.getInstance(row(1).sopInstanceUid), undefined);
    const settled = await Promise.allSettled(results);
    assert.equal(transactions, 1, 'three rows ready in one turn: one transaction');
    assert.deepEqual(
      settled.map((s) => s.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.match(String((settled[1] as PromiseRejectedResult).reason), /NOT NULL/);
    assert.equal(store.getInstance(row(1).sopInstanceUid)?.filePath, '/nonexistent/1.dcm');
    assert.equal(store.getInstance(row(2).sopInstanceUid), undefined, 'the refused row left nothing behind');
    assert.equal(store.getInstance(row(3).sopInstanceUid)?.sizeBytes, 103);
    const series = store.listSeries().find((s) => s.seriesInstanceUid === SERIES);
    assert.equal(series?.instanceCount, 2, 'series counts include only the committed rows');

    // A later turn starts a new transaction; a replaced row reports the file it replaced.
    const again = await commits.record({ ...row(1), filePath: '/nonexistent/1b.dcm' }, { modality: 'CT' });
    assert.equal(transactions, 2);
    assert.equal(again.replacedFile, '/nonexistent/1.dcm');
  } finally {
    store.close();
  }
});

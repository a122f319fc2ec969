// The job queue in SQLite: which queued job is taken next, and the burned-in flag as a column of
// its own (also for a database written by the version that kept it in the reason text).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { tmpDir } from './helpers/env';
import { Store, type RoutedJob } from '../src/store/store';
import { MIGRATIONS } from '../src/store/migrations';

const SERIES = '1.2.826.0.1.3680043.10.1.1';

/** A store with one indexed series, for jobs to refer to. */
function storeWithSeries(file = path.join(tmpDir('queue'), 'db.sqlite')): Store {
  const store = new Store(file, { durableFiles: false });
  store.recordInstance(
    {
      sopInstanceUid: `${SERIES}.1`,
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      seriesInstanceUid: SERIES,
      studyInstanceUid: '1.2.826.0.1.3680043.10.1',
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      instanceNumber: 1,
      filePath: '/nonexistent/1.dcm',
      sizeBytes: 1,
      callingAeTitle: 'SCU',
      callingHost: '127.0.0.1',
      associationId: 'a1',
      receivedAt: 1,
    },
    { modality: 'CT' },
  );
  return store;
}

function job(route: string, model: string, priority: 'urgent' | 'normal' = 'normal'): RoutedJob {
  return { route, model, priority, state: 'queued', reason: null, burnedInFlag: null };
}

test('claimNextJob: 300 queued jobs of an unloaded model ahead do not starve a job of a loaded one', () => {
  const store = storeWithSeries();
  try {
    const waiting = Array.from({ length: 300 }, (_, i) => job(`unloaded-${i}`, 'not-installed'));
    store.recordRouting(SERIES, [...waiting, job('runnable', 'm1')], '', 1000);
    const claimed = store.claimNextJob(['m1'], new Set(), 2000);
    assert.equal(claimed?.route, 'runnable');
    assert.equal(claimed.model, 'm1');
    assert.equal(claimed.state, 'processing');
    assert.equal(claimed.runs, 1);
    assert.equal(store.claimNextJob(['m1'], new Set(), 2000), undefined, 'nothing else is runnable');
    assert.equal(store.listJobs().filter((j) => j.state === 'queued').length, 300);
  } finally {
    store.close();
  }
});

test('claimNextJob: jobs of a busy model are passed over; urgent first, then oldest', () => {
  const store = storeWithSeries();
  try {
    const busy = Array.from({ length: 300 }, (_, i) => job(`busy-${i}`, 'm-busy', 'urgent'));
    store.recordRouting(SERIES, [...busy, job('old', 'm1'), job('new', 'm1'), job('urgent', 'm2', 'urgent')], '', 1000);
    const loaded = ['m-busy', 'm1', 'm2'];
    assert.equal(store.claimNextJob(loaded, new Set(['m-busy']), 2000)?.route, 'urgent', 'urgent first');
    assert.equal(store.claimNextJob(loaded, new Set(['m-busy', 'm2']), 2000)?.route, 'old', 'then in order of creation');
    assert.equal(store.claimNextJob(loaded, new Set(['m-busy', 'm2']), 2000)?.route, 'new');
    assert.equal(store.claimNextJob(loaded, new Set(['m-busy', 'm2']), 2000), undefined);
    assert.equal(store.claimNextJob(loaded, new Set(), 2000)?.route, 'busy-0', 'a model no longer busy gets its jobs');
    assert.equal(store.claimNextJob([], new Set(), 2000), undefined, 'no model loaded: nothing runs');
  } finally {
    store.close();
  }
});

test('the burned-in flag is a column: set by routing, kept through a claim and a crash re-queue, cleared by a new routing', () => {
  const store = storeWithSeries();
  try {
    const flag = 'flagged: burned-in annotation risk (modality US: ultrasound images commonly carry burned-in patient text)';
    store.recordRouting(SERIES, [{ ...job('us', 'm1'), reason: flag, burnedInFlag: flag }], '', 1000);
    const claimed = store.claimNextJob(['m1'], new Set(), 2000);
    assert.equal(claimed?.burnedInFlag, flag);
    assert.equal(store.requeueInterruptedJobs(3000), 1);
    const requeued = store.getJob(claimed.id);
    assert.equal(requeued?.state, 'queued');
    assert.equal(requeued.burnedInFlag, flag);
    store.recordRouting(SERIES, [job('us', 'm1')], '', 4000);
    assert.equal(store.getJob(claimed.id)?.burnedInFlag, null, 'routed again without a risk: no flag');
  } finally {
    store.close();
  }
});

test('migration 7: a database of the previous version keeps the flags it kept in the reason text', () => {
  const file = path.join(tmpDir('migrate'), 'db.sqlite');
  storeWithSeries(file).close();
  // Back to version 6, as the previous release wrote it: the flag only as a prefix of the reason.
  const old = new Database(file);
  old.exec(
    'DROP INDEX series_receiving; CREATE INDEX series_state_last ON series (state, last_received_at); DROP INDEX jobs_state_recent; DROP INDEX series_recent; DROP INDEX series_unpurged; DROP INDEX jobs_series_state; ALTER TABLE jobs DROP COLUMN stack; ALTER TABLE jobs DROP COLUMN burned_in_flag; ALTER TABLE instances DROP COLUMN burned_in_risk; DELETE FROM schema_migrations WHERE version >= 7',
  );
  const insert = old.prepare(
    `INSERT INTO jobs (series_uid, route, model, priority, state, reason, created_at, updated_at) VALUES (?, ?, 'm1', 'normal', ?, ?, 1, 1)`,
  );
  insert.run(SERIES, 'flagged-route', 'queued', 'flagged: burned-in annotation risk (modality US)');
  insert.run(SERIES, 'skipped-route', 'skipped', 'skipped: burned-in annotation risk (modality US)');
  insert.run(SERIES, 'plain-route', 'failed', 'model failed');
  old.close();

  const store = new Store(file, { durableFiles: false });
  try {
    assert.equal(store.schemaVersion(), MIGRATIONS.at(-1)?.version);
    const byRoute = new Map(store.listJobs(SERIES).map((j) => [j.route, j]));
    assert.equal(byRoute.get('flagged-route')?.burnedInFlag, 'flagged: burned-in annotation risk (modality US)');
    assert.equal(byRoute.get('skipped-route')?.burnedInFlag, null);
    assert.equal(byRoute.get('plain-route')?.burnedInFlag, null);
  } finally {
    store.close();
  }
});

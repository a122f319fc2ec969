// Store.recordInstance's short path (an instance of a series already receiving updates only the
// arrival time and counts; an unchanged study is not rewritten) must leave every row exactly as
// the full upserts would, in every state a series can be in: the expected rows below are worked
// out by hand from the full upserts' rules (attributes: the latest non-empty; last_received_at:
// the maximum; a stable or purged series reopens; counts move with a re-send).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Store, type IndexAttributes, type InstanceRecord } from '../src/store/store';
import { tmpDir } from './helpers/env';

const STUDY = '1.2.826.0.1.3680043.10.9999.1';
const S1 = '1.2.826.0.1.3680043.10.9999.2.1';
const S2 = '1.2.826.0.1.3680043.10.9999.2.2';
const ATTRS: IndexAttributes = { patientId: 'P1', patientName: 'Test^Rows', modality: 'CT', seriesDescription: 'AXIAL', seriesNumber: 2 };

function inst(sop: string, series: string, at: number, size = 1000): InstanceRecord {
  return {
    sopInstanceUid: sop,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    seriesInstanceUid: series,
    studyInstanceUid: STUDY,
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    instanceNumber: 1,
    filePath: `/data/${series}/${sop}.dcm`,
    sizeBytes: size,
    callingAeTitle: 'SCU',
    callingHost: '127.0.0.1',
    associationId: 'a1',
    receivedAt: at,
    burnedInRisk: [],
  };
}

const SERIES_ROW = `SELECT series_uid, study_uid, modality, body_part, series_description, series_number, manufacturer, calling_ae,
  state, instance_count, total_bytes, first_received_at, last_received_at, stable_at, state_changed_at, purged_at FROM series ORDER BY series_uid`;

test('the short path leaves series and study rows as the full upserts would, through every series state', () => {
  const dir = tmpDir('index-rows');
  const file = path.join(dir, 'index.sqlite');
  const store = new Store(file, { durableFiles: false });
  // Each step: arrivals, then what the node does between them (sweep, purge).
  const steps: (() => void)[] = [
    () => store.recordInstance(inst('1.1', S1, 1000), ATTRS), // new study, new series
    () => store.recordInstance(inst('1.2', S1, 1100), ATTRS), // steady state: short path
    () => store.recordInstance(inst('1.3', S1, 1050), {}), // late clock, no attributes: time keeps its maximum
    () => store.recordInstance(inst('1.4', S1, 1200), { ...ATTRS, seriesDescription: 'CORONAL' }), // attribute changed: full upsert
    () => store.recordInstance(inst('1.2', S1, 1300, 1500), ATTRS), // re-send, same series, larger file
    () => store.recordInstance(inst('1.3', S2, 1400), { ...ATTRS, patientName: 'Test^Renamed' }), // re-send into another series; study renamed
    () => store.markStableSeries(1350, 2000), // S1 turns stable
    () => store.recordInstance(inst('1.5', S1, 2100), ATTRS), // a stable series reopens: full upsert
    () => store.markStableSeries(3000, 3000),
    () => store.markSeriesPurged(S1, 3100),
    () => store.recordInstance(inst('1.6', S1, 3200), ATTRS), // a purged series reopens
    () => store.recordInstance(inst('1.7', S1, 3300), ATTRS),
  ];
  try {
    for (const step of steps) step();
    const db = new Database(file, { readonly: true });
    const got = { series: db.prepare(SERIES_ROW).all(), studies: db.prepare('SELECT * FROM studies').all() };
    db.close();

    assert.deepEqual(got.series, [
      {
        series_uid: S1,
        study_uid: STUDY,
        modality: 'CT',
        body_part: null,
        series_description: 'AXIAL',
        series_number: 2,
        manufacturer: null,
        calling_ae: 'SCU',
        state: 'receiving',
        instance_count: 6,
        total_bytes: 6500,
        first_received_at: 1000,
        last_received_at: 3300,
        stable_at: null,
        state_changed_at: 3200,
        purged_at: null,
      },
      {
        series_uid: S2,
        study_uid: STUDY,
        modality: 'CT',
        body_part: null,
        series_description: 'AXIAL',
        series_number: 2,
        manufacturer: null,
        calling_ae: 'SCU',
        state: 'stable',
        instance_count: 1,
        total_bytes: 1000,
        first_received_at: 1400,
        last_received_at: 1400,
        stable_at: 3000,
        state_changed_at: 3000,
        purged_at: null,
      },
    ]);
    const study = got.studies[0] as { patient_name: string; created_at: number; updated_at: number };
    assert.equal(study.patient_name, 'Test^Rows', 'the latest instance names the study');
    assert.equal(study.created_at, 1000);
    assert.equal(study.updated_at, 2100, 'updated when the name changed back, not by the arrivals that repeated it');
    assert.deepEqual(store.seriesCountsByState(), [
      { state: 'receiving', count: 1 },
      { state: 'stable', count: 1 },
    ]);
    assert.equal(store.oldestReceivingSeriesAt(), 3300);
    assert.deepEqual(
      store.markStableSeries(3300, 4000).map((s) => s.seriesInstanceUid),
      [S1],
    );
    assert.deepEqual(store.seriesCountsByState(), [{ state: 'stable', count: 2 }]);
    assert.equal(store.oldestReceivingSeriesAt(), null);
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an instance of a series already receiving writes no page of the study, series_receiving or series_unpurged', () => {
  const dir = tmpDir('index-rows-pages');
  const file = path.join(dir, 'index.sqlite');
  let store = new Store(file, { durableFiles: false });
  store.recordInstance(inst('2.1', S1, 1000), ATTRS);
  store.close(); // checkpoint: the WAL then holds only the next commit
  store = new Store(file, { durableFiles: false });
  try {
    store.recordInstance(inst('2.2', S1, 1100), ATTRS);
    // WAL frames (SQLite file format, WAL: 32-byte header, then per frame a 24-byte header whose
    // first field is the page number, then the page).
    const wal = fs.readFileSync(file + '-wal');
    const pageSize = wal.readUInt32BE(8);
    const written = new Set<number>();
    for (let off = 32; off + 24 + pageSize <= wal.length; off += 24 + pageSize) written.add(wal.readUInt32BE(off));
    const db = new Database(file, { readonly: true });
    const trees = db.prepare('SELECT name, pageno FROM dbstat').all() as { name: string; pageno: number }[];
    db.close();
    const touched = new Set(trees.filter((t) => written.has(t.pageno)).map((t) => t.name));
    for (const name of ['studies', 'series_receiving', 'series_unpurged', 'series_study']) {
      assert.ok(!touched.has(name), `${name} was written by a steady-state arrival`);
    }
    for (const name of ['series', 'series_recent', 'instances']) assert.ok(touched.has(name), `${name} was not written`);
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

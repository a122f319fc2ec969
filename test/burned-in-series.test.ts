// Burned-in annotation risk is judged over every instance of a series, not its first one: a series
// whose first instance says NO and a later one YES (or is a Secondary Capture) is skipped by a
// 'skip' route. Sent by DCMTK to a running node; and, for a database indexed before the risk was
// recorded at ingest, judged from the files at routing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestNode, waitFor } from './helpers/node';
import { run } from './helpers/run';
import { tmpDir } from './helpers/env';
import { newUidRoot, SYNTHETIC_PATIENT } from '../fixtures/synthetic-ct';
import { CT_IMAGE_STORAGE, El, monochrome16, patientModule, writePart10 } from '../fixtures/dicom-writer';
import { Store } from '../src/store/store';
import { routeSeries } from '../src/pipeline/route-series';
import { createLogger } from '../src/log/logger';
import { parseConfig } from '../src/config/config';
import { Writable } from 'node:stream';

const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';

interface InstanceSpec {
  burnedIn: 'YES' | 'NO';
  sopClassUid?: string;
}

/** Writes a small CT series (8×8 pixels) whose instances say what `specs` say; returns the files and the series UID. */
function writeSeries(dir: string, specs: InstanceSpec[]): { files: string[]; seriesUid: string; studyUid: string } {
  const root = newUidRoot();
  const studyUid = `${root}.1`;
  const seriesUid = `${root}.2`;
  fs.mkdirSync(dir, { recursive: true });
  const files = specs.map((spec, i) => {
    const file = path.join(dir, `I${i + 1}.dcm`);
    const elements: El[] = [
      [0x0008, 0x0060, 'CS', 'CT'],
      ...patientModule({ ...SYNTHETIC_PATIENT, sex: 'O' }),
      [0x0020, 0x000d, 'UI', studyUid],
      [0x0020, 0x000e, 'UI', seriesUid],
      [0x0020, 0x0013, 'IS', String(i + 1)],
      ...monochrome16(8, 8, true),
      [0x0028, 0x0301, 'CS', spec.burnedIn],
      [0x7fe0, 0x0010, 'OW', Buffer.alloc(128)],
    ];
    writePart10(file, spec.sopClassUid ?? CT_IMAGE_STORAGE, `${root}.3.${i + 1}`, elements);
    return file;
  });
  return { files, seriesUid, studyUid };
}

test('a series is at burned-in risk when any instance is: a later YES or Secondary Capture is skipped, all NO is queued', async () => {
  const t = await startTestNode({
    series: { stableSeconds: 0.5 },
    routes: [{ name: 'ct-strict', match: { Modality: 'CT' }, model: 'm1', destinations: ['PACS'], burnedInAnnotation: 'skip' }],
  });
  try {
    const dir = tmpDir('bia-series');
    const laterYes = writeSeries(path.join(dir, 'a'), [{ burnedIn: 'NO' }, { burnedIn: 'NO' }, { burnedIn: 'YES' }]);
    const laterSc = writeSeries(path.join(dir, 'b'), [{ burnedIn: 'NO' }, { burnedIn: 'NO', sopClassUid: SECONDARY_CAPTURE }]);
    const allNo = writeSeries(path.join(dir, 'c'), [{ burnedIn: 'NO' }, { burnedIn: 'NO' }, { burnedIn: 'NO' }]);
    for (const s of [laterYes, laterSc, allNo]) {
      const r = await run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(t.port), ...s.files]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
    await waitFor(() => t.node.store.listJobs().length === 3, 8000, 'three jobs');
    const bySeries = new Map(t.node.store.listJobs().map((j) => [j.seriesInstanceUid, j]));
    const yes = bySeries.get(laterYes.seriesUid)!;
    assert.equal(yes.state, 'skipped', 'the third instance says YES');
    assert.match(yes.reason!, /^skipped: burned-in annotation risk \(Burned In Annotation \(0028,0301\) is YES/);
    const sc = bySeries.get(laterSc.seriesUid)!;
    assert.equal(sc.state, 'skipped', 'the second instance is a Secondary Capture');
    assert.match(sc.reason!, /Secondary Capture SOP class/);
    const no = bySeries.get(allNo.seriesUid)!;
    assert.equal(no.state, 'queued');
    assert.equal(no.reason, null);
  } finally {
    await t.stop();
  }
});

test('instances indexed without their risk (an older install) are judged from their files at routing, and the judgement recorded', async () => {
  const dir = tmpDir('bia-legacy');
  // 70 instances: more than one batch between yields to the event loop; the 65th says YES.
  const specs: InstanceSpec[] = Array.from({ length: 70 }, (_, i) => ({ burnedIn: i === 64 ? 'YES' : 'NO' }));
  const series = writeSeries(path.join(dir, 'files'), specs);
  const clean = writeSeries(path.join(dir, 'clean'), [{ burnedIn: 'NO' }, { burnedIn: 'NO' }]);
  const store = new Store(path.join(dir, 'db.sqlite'), { durableFiles: false });
  const lines: string[] = [];
  const log = createLogger({
    level: 'debug',
    silentConsole: true,
    stream: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }),
  });
  try {
    for (const s of [series, clean])
      s.files.forEach((file, i) =>
        store.recordInstance(
          {
            sopInstanceUid: `${s.seriesUid}.${i + 1}`,
            sopClassUid: CT_IMAGE_STORAGE,
            seriesInstanceUid: s.seriesUid,
            studyInstanceUid: s.studyUid,
            transferSyntaxUid: '1.2.840.10008.1.2.1',
            instanceNumber: i + 1,
            filePath: file,
            sizeBytes: 1,
            callingAeTitle: 'SCU',
            callingHost: '127.0.0.1',
            associationId: 'a1',
            receivedAt: 1,
            // no burnedInRisk: as indexed before migration 8
          },
          { modality: 'CT' },
        ),
      );
    assert.equal(store.seriesBurnedInRisk(series.seriesUid).unjudged.length, 70);
    const config = parseConfig(
      {
        callers: [{ aeTitle: 'SCU' }],
        destinations: { PACS: { aeTitle: 'ORTHANC', host: '127.0.0.1', port: 4242 } },
        routes: [{ name: 'ct-strict', match: { Modality: 'CT' }, model: 'm1', destinations: ['PACS'], burnedInAnnotation: 'skip' }],
      },
      dir,
    );
    const jobs = await routeSeries(series.seriesUid, { store, config, log }, Date.now());
    assert.equal(jobs?.[0]?.state, 'skipped');
    assert.match(jobs?.[0]?.reason ?? '', /Burned In Annotation \(0028,0301\) is YES/);
    assert.deepEqual(store.seriesBurnedInRisk(series.seriesUid), {
      reasons: ['Burned In Annotation (0028,0301) is YES'],
      unjudged: [],
    });
    const cleanJobs = await routeSeries(clean.seriesUid, { store, config, log }, Date.now());
    assert.equal(cleanJobs?.[0]?.state, 'queued');
    assert.equal(cleanJobs?.[0]?.reason, null);
  } finally {
    store.close();
  }
});

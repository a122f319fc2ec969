// Choosing the SR form by what the destination accepts: a DCMTK storescp that takes only Basic
// Text SR (its association profile lists no other SR class) refuses Comprehensive 3D SR at
// association; the delivery sends the Basic Text form instead of failing. A destination that
// takes everything gets the preferred form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, ChildProcess } from 'node:child_process';
import { startTestNode } from './helpers/node';
import { tmpDir } from './helpers/env';
import { queueDelivery } from './helpers/deliveries';
import { freePort } from './helpers/child-node';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { buildReport } from '../src/report/build-sr';
import type { ReportForm } from '../src/report/forms';
import { hashUid } from '../src/report/uids';
import type { SeriesResult } from '../src/inference/findings';
import { readPart10Header } from '../src/dicom/part10';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const PROFILE = `
[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = LocalEndianExplicit
TransferSyntax2 = LittleEndianImplicit

[[PresentationContexts]]
[OnlyBasicText]
PresentationContext1 = BasicTextSRStorage\\Uncompressed
PresentationContext2 = VerificationSOPClass\\Uncompressed

[[Profiles]]
[BasicTextOnly]
PresentationContexts = OnlyBasicText
`;

const RESULT: SeriesResult = {
  findings: [
    {
      id: 1,
      label: 'nodule',
      code: { value: '27925004', scheme: 'SCT', meaning: 'Nodule' },
      text: 'Nodule 8.2 mm in the right upper zone (91 %)',
      confidence: 0.91,
      measurements: [
        {
          key: 'diameterMm',
          concept: { value: '81827009', scheme: 'SCT', meaning: 'Diameter' },
          value: 8.2,
          unit: { value: 'mm', scheme: 'UCUM', meaning: 'millimeter' },
        },
      ],
    },
  ],
  impression: 'One nodule.',
  uncertainty: 0.1,
  lowConfidence: false,
  provenance: {
    modelName: 'test-model',
    modelVersion: '1.0.0',
    modelSha256: '0'.repeat(64),
    executionProvider: 'cpu',
    preprocessing: 'window lung',
    deidentification: 'PS3.15 Basic Profile',
    nodeVersion: '0.1.0',
    durationMs: 10,
  },
};

function startStorescp(port: number, out: string, profileFile?: string): ChildProcess {
  const args = ['-aet', 'STORESCP', '-od', out, ...(profileFile ? ['-xf', profileFile, 'BasicTextOnly'] : []), String(port)];
  return spawn('storescp', args, { stdio: 'ignore', env: { ...process.env, TCP_NODELAY: '1' } });
}

test('a destination that refuses Comprehensive 3D SR gets the Basic Text SR form; one that takes it gets the preferred form', async () => {
  const dir = tmpDir('fallback');
  const root = newUidRoot();
  const [source] = writeSyntheticCtSeries({ outDir: path.join(dir, 'src'), count: 1, uidRoot: root });
  const sourceBytes = fs.readFileSync(source!);
  const h = readPart10Header(sourceBytes);
  const forms: ReportForm[] = ['comprehensive3d', 'comprehensive', 'basic-text'];
  const seriesUid = `${root}.2`; // writeSyntheticCtSeries' series UID
  const files = forms.map((form, i) => {
    const built = buildReport({
      // As the node does: one SR series, a SOP Instance UID per form.
      uids: { seriesInstanceUid: hashUid('test-sr-series', seriesUid), sopInstanceUid: hashUid('test-sr', seriesUid, form) },
      form,
      language: 'en',
      sourceFile: sourceBytes,
      sourceInstances: [{ sopClassUid: h.sopClassUid, sopInstanceUid: h.sopInstanceUid }],
      sourceSeriesInstanceUid: seriesUid,
      result: RESULT,
      device: { aeTitle: 'DICOM_AI', deviceUid: '2.25.1', manufacturer: 'test', modelName: 'test', softwareVersion: '0.1.0' },
      revision: 1,
      contentDateTime: new Date(Date.UTC(2026, 10, 26, 12, 0, 0)),
    });
    const file = path.join(dir, `${i}-${form}.dcm`);
    fs.writeFileSync(file, built.bytes);
    return { form, file, sopClassUid: built.sopClassUid, sopInstanceUid: built.sopInstanceUid };
  });
  const profile = path.join(dir, 'profile.cfg');
  fs.writeFileSync(profile, PROFILE);
  const [pickyPort, openPort] = [await freePort(), await freePort()];
  const pickyOut = tmpDir('fallback-picky');
  const openOut = tmpDir('fallback-open');
  const t = await startTestNode({
    destinations: {
      PICKY: { aeTitle: 'STORESCP', host: '127.0.0.1', port: pickyPort },
      OPEN: { aeTitle: 'STORESCP', host: '127.0.0.1', port: openPort },
    },
  });
  const picky = startStorescp(pickyPort, pickyOut, profile);
  const open = startStorescp(openPort, openOut);
  try {
    await sleep(500);
    const [first, ...rest] = files;
    const alternatives = rest.map((f) => ({ sopInstanceUid: f.sopInstanceUid, sopClassUid: f.sopClassUid, filePath: f.file }));
    queueDelivery(
      t.node.store,
      { sopInstanceUid: first!.sopInstanceUid, sopClassUid: first!.sopClassUid, filePath: first!.file },
      'PICKY',
      alternatives,
    );
    queueDelivery(
      t.node.store,
      { sopInstanceUid: first!.sopInstanceUid, sopClassUid: first!.sopClassUid, filePath: first!.file },
      'OPEN',
      alternatives,
    );
    const r = await t.node.deliveries.runDue();
    assert.deepEqual(r, { delivered: 2, retrying: 0, failed: 0 });
    const got = (out: string) => fs.readdirSync(out).map((f) => readPart10Header(fs.readFileSync(path.join(out, f))).sopClassUid);
    assert.deepEqual(got(pickyOut), ['1.2.840.10008.5.1.4.1.1.88.11'], 'the picky PACS got Basic Text SR');
    assert.deepEqual(got(openOut), ['1.2.840.10008.5.1.4.1.1.88.34'], 'the open PACS got Comprehensive 3D SR');
    assert.ok(
      t.logs.some((l) => l.includes('sent a fallback form')),
      'the fallback is logged',
    );
  } finally {
    picky.kill();
    open.kill();
    await t.stop();
  }
});

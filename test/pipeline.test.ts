/**
 * The job pipeline inside one node, with DCMTK storescu as the modality and storescp as the
 * destination: late instances give an amended report (revision 2, Predecessor Documents
 * Sequence); urgent jobs go first; C-ECHO keeps being answered (the event loop is never blocked) while the model
 * runs; the `infer` CLI prints findings as JSON with units in the keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, ChildProcess } from 'node:child_process';
import { startTestNode, TestNode, waitFor } from './helpers/node';
import { CLI, PROJECT_ROOT, SHARED_DICOM, tmpDir } from './helpers/env';
import { freePort } from './helpers/child-node';
import { run } from './helpers/run';
import { writeChestPhantom, PHANTOM_PATIENT } from '../fixtures/chest-phantom';
import { loadSeriesVolume, IdentifiedDataError } from '../src/inference/series-volume';
import { deidentifyPart10 } from '../src/deid';
import { newUidRoot } from '../fixtures/synthetic-ct';
import { niftiToDicomSeries } from '../fixtures/nifti-to-dicom';
import { readPart10Header } from '../src/dicom/part10';
import { readDatasetHeader } from '../src/dicom/dataset-reader';
import { parsePart10 } from '../src/imaging/dataset';
import { readSegmentation } from '../src/imaging/segmentation-reader';
import { TAG } from '../src/dicom/tags';
import { withoutSegmentationUids } from '../src/pipeline/report-set';

const MODELS = path.join(PROJECT_ROOT, 'models');
const SEG_STORAGE = '1.2.840.10008.5.1.4.1.1.66.4';

type Item = ReturnType<ReturnType<typeof parsePart10>['dataSet']['items']>[number];

/** The TID 1411 groups of an SR: the SEG and segment each references, its Tracking UID and source series. */
function volumetricGroups(sr: Buffer): { segUid?: string; segment?: number; trackingUid?: string; sourceSeries?: string }[] {
  const concept = (i: Item) => i.items(TAG.ConceptNameCodeSequence)[0]?.string(TAG.CodeValue);
  const out: { segUid?: string; segment?: number; trackingUid?: string; sourceSeries?: string }[] = [];
  const walk = (items: Item[]): void => {
    for (const i of items) {
      const children = i.items(TAG.ContentSequence);
      const ref = children.find((c) => concept(c) === '121214');
      if (concept(i) === '125007' && ref) {
        const sop = ref.items(TAG.ReferencedSOPSequence)[0];
        out.push({
          segUid: sop?.string(TAG.ReferencedSOPInstanceUID),
          segment: sop?.number(TAG.ReferencedSegmentNumber),
          trackingUid: children.find((c) => concept(c) === '112040')?.string(TAG.UID),
          sourceSeries: children.find((c) => concept(c) === '121232')?.string(TAG.UID),
        });
      }
      walk(children);
    }
  };
  walk(parsePart10(sr).dataSet.items(TAG.ContentSequence));
  return out;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function storescu(port: number, files: string[], aet = 'STORESCU'): Promise<void> {
  const r = await run('storescu', ['-aet', aet, '-aec', 'DICOM_AI', '127.0.0.1', String(port), ...files], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `storescu failed: ${r.stderr}${r.stdout}`);
}

async function withStorescp<T>(fn: (port: number, out: string) => Promise<T>): Promise<T> {
  const port = await freePort();
  const out = tmpDir('pipeline-pacs');
  const scp: ChildProcess = spawn('storescp', ['-aet', 'STORESCP', '-od', out, String(port)], {
    stdio: 'ignore',
    env: { ...process.env, TCP_NODELAY: '1' },
  });
  await sleep(300);
  try {
    return await fn(port, out);
  } finally {
    scp.kill();
  }
}

function options(destPort: number, routes?: unknown[]) {
  return {
    series: { stableSeconds: 1 },
    inference: { modelsDir: MODELS, providers: ['cpu'] },
    destinations: { PACS: { aeTitle: 'STORESCP', host: '127.0.0.1', port: destPort } },
    routes: routes ?? [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'] }],
    delivery: { backoffSeconds: 1, backoffCapSeconds: 2 },
  };
}

function srFiles(out: string): { sop: string; series: string; predecessor: string | undefined; instanceNumber: string | undefined }[] {
  return fs.readdirSync(out).map((f) => {
    const bytes = fs.readFileSync(path.join(out, f));
    const h = readPart10Header(bytes);
    const a = readDatasetHeader(bytes.subarray(h.datasetOffset), h.transferSyntaxUid, {
      tags: { SeriesInstanceUID: 0x0020000e, InstanceNumber: 0x00200013 },
      totalLength: Number.MAX_SAFE_INTEGER,
    }).attributes;
    // The predecessor's SOP Instance UID appears inside (0040,A360); a byte search is enough here.
    const pred = bytes.includes(Buffer.from([0x40, 0x00, 0x60, 0xa3])) ? 'present' : undefined;
    return { sop: h.sopInstanceUid, series: a.SeriesInstanceUID ?? '', predecessor: pred, instanceNumber: a.InstanceNumber };
  });
}

async function doneJobs(n: TestNode, count: number, timeoutMs = 180_000): Promise<void> {
  await waitFor(
    () => n.node.store.listJobs().filter((j) => j.state === 'done' || j.state === 'failed').length >= count,
    timeoutMs,
    `${count} finished job(s)`,
  );
  const failed = n.node.store.listJobs().filter((j) => j.state === 'failed');
  assert.deepEqual(failed, [], 'no job failed');
}

/** Longer than any scheduling noise, far shorter than a model run on the event loop would stall it. */
const LIVENESS_CEILING_MS = 1000;

test('late instances: the series runs again and an amended SR (revision 2) supersedes the first', async () => {
  await withStorescp(async (port, out) => {
    const n = await startTestNode(options(port));
    try {
      const p = writeChestPhantom({ outDir: tmpDir('late'), seed: 21, uidRoot: newUidRoot(), slices: 50 });
      const sorted = [...p.files].sort();
      await storescu(n.port, sorted.slice(0, 40));
      await doneJobs(n, 1);
      await waitFor(() => fs.readdirSync(out).length === 1, 30_000, 'the first SR at the destination');
      await storescu(n.port, sorted.slice(40));
      await waitFor(() => n.node.store.listReports().some((r) => r.revision === 2), 180_000, 'revision 2');
      await waitFor(() => fs.readdirSync(out).length === 2, 30_000, 'the amended SR at the destination');
      const srs = srFiles(out).sort((a, b) => Number(a.instanceNumber) - Number(b.instanceNumber));
      assert.equal(srs.length, 2);
      assert.notEqual(srs[0]!.sop, srs[1]!.sop, 'the amendment is a new object');
      assert.equal(srs[0]!.series, srs[1]!.series, 'in the same SR series');
      assert.equal(srs[0]!.predecessor, undefined, 'revision 1 supersedes nothing');
      assert.equal(srs[1]!.predecessor, 'present', 'revision 2 names its predecessor');
      const reps = n.node.store.listReports().filter((r) => r.form === 'comprehensive3d');
      assert.deepEqual(reps.map((r) => r.revision).sort(), [1, 2]);
      const r2 = fs.readFileSync(reps.find((r) => r.revision === 2)!.filePath);
      assert.ok(
        r2.includes(Buffer.from(reps.find((r) => r.revision === 1)!.sopInstanceUid)),
        'revision 2 references revision 1 by SOP Instance UID',
      );
    } finally {
      await n.stop();
    }
  });
});

test('urgent jobs go before normal ones queued earlier', async () => {
  await withStorescp(async (port) => {
    const routes = [
      // The trauma scanner's AE title makes a series urgent.
      {
        name: 'stroke',
        match: { Modality: 'CT', CallingAETitle: 'TESTSCU' },
        model: 'lung-nodule-reference',
        destinations: ['PACS'],
        priority: 'urgent',
      },
      { name: 'routine', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'] },
    ];
    const n = await startTestNode(options(port, routes));
    try {
      const busy = writeChestPhantom({ outDir: tmpDir('prio-a'), seed: 31, uidRoot: newUidRoot(), slices: 60 });
      await storescu(n.port, busy.files);
      await waitFor(() => n.node.jobs.activeJobs > 0, 60_000, 'the first job to start');
      // While it runs: a routine series, then an urgent one.
      const routine = writeChestPhantom({ outDir: tmpDir('prio-b'), seed: 32, uidRoot: newUidRoot(), slices: 20 });
      await storescu(n.port, routine.files);
      await waitFor(
        () =>
          n.node.store
            .listJobs()
            .some((j) => j.route === 'routine' && j.state === 'queued' && j.seriesInstanceUid === routine.seriesInstanceUid),
        30_000,
        'the routine job queued',
      );
      const urgentDir = tmpDir('prio-c');
      const urgent = writeChestPhantom({ outDir: urgentDir, seed: 33, uidRoot: newUidRoot(), slices: 20 });
      await storescu(n.port, urgent.files, 'TESTSCU');
      await doneJobs(n, 3);
      const jobs = n.node.store.listJobs();
      const resultAt = (series: string) => n.node.store.latestResult(jobs.find((j) => j.seriesInstanceUid === series)!.id)!.createdAt;
      assert.equal(jobs.find((j) => j.seriesInstanceUid === urgent.seriesInstanceUid)!.route, 'stroke');
      assert.ok(resultAt(urgent.seriesInstanceUid) < resultAt(routine.seriesInstanceUid), 'the urgent series was processed first');
    } finally {
      await n.stop();
    }
  });
});

test('C-ECHO keeps being answered while the model runs: inference never blocks the event loop', async (t) => {
  await withStorescp(async (port) => {
    const n = await startTestNode(options(port));
    try {
      const p = writeChestPhantom({ outDir: tmpDir('echo-load'), seed: 41, uidRoot: newUidRoot(), slices: 100 });
      await storescu(n.port, p.files);
      await waitFor(() => n.node.jobs.activeJobs > 0, 60_000, 'the job to start');
      const probe = await run(
        process.execPath,
        [path.join(PROJECT_ROOT, 'dist', 'test', 'helpers', 'echo-probe.js'), String(n.port), '4000', '50'],
        { timeoutMs: 30_000 },
      );
      assert.equal(probe.code, 0, probe.stderr);
      const still = n.node.jobs.activeJobs > 0;
      const { rtts } = JSON.parse(probe.stdout) as { rtts: number[] };
      const sorted = [...rtts].sort((a, b) => a - b);
      t.diagnostic(
        `${rtts.length} C-ECHOs during inference: median ${sorted[sorted.length >> 1]!.toFixed(1)} ms, max ${sorted[sorted.length - 1]!.toFixed(1)} ms (job still running at the end: ${still})`,
      );
      assert.ok(rtts.length >= 20, 'the probe ran');
      // A liveness check, not a speed target (those are the benches' job: bench:hostile prints
      // C-ECHO latency under load): inference on the event loop would stall every C-ECHO for the
      // seconds a model takes, so one second is far beyond any scheduling noise on a loaded box.
      assert.ok(
        sorted[sorted.length - 1]! < LIVENESS_CEILING_MS,
        `a C-ECHO waited ${sorted[sorted.length - 1]!.toFixed(1)} ms: the event loop was blocked`,
      );
      await doneJobs(n, 1);
    } finally {
      await n.stop();
    }
  });
});

test('infer CLI: findings as JSON, measurements with their unit in the key, the source instance and a confidence', async () => {
  const p = writeChestPhantom({ outDir: tmpDir('infer-cli'), seed: 51, uidRoot: newUidRoot(), slices: 60 });
  const r = await run(
    process.execPath,
    [CLI, 'infer', '--model', 'lung-nodule-reference', '--models', MODELS, '--json', path.dirname(p.files[0]!)],
    { timeoutMs: 180_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { model: string; findings: Record<string, unknown>[] };
  assert.equal(out.model, 'lung-nodule-reference');
  const big = p.truth.filter((t) => t.diameterMm >= 5);
  assert.ok(out.findings.length >= big.length, `${out.findings.length} findings for ${big.length} nodules >= 5 mm`);
  for (const f of out.findings) {
    assert.equal(typeof f.diameterMm, 'number');
    assert.equal(typeof f.confidence, 'number');
    assert.ok(
      typeof f.sopInstanceUid === 'string' &&
        p.files.some((file) => fs.readFileSync(file).includes(Buffer.from(f.sopInstanceUid as string))),
    );
    const c = f.centre as { xMm: number; yMm: number; zMm: number };
    assert.ok(Number.isFinite(c.xMm) && Number.isFinite(c.yMm) && Number.isFinite(c.zMm));
  }
});

/** A storescp association profile that takes the SR classes but no Segmentation Storage. */
const NO_SEG_PROFILE = `
[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = LocalEndianExplicit
TransferSyntax2 = LittleEndianImplicit

[[PresentationContexts]]
[SrOnly]
PresentationContext1 = 1.2.840.10008.5.1.4.1.1.88.34\\Uncompressed
PresentationContext2 = 1.2.840.10008.5.1.4.1.1.88.33\\Uncompressed
PresentationContext3 = 1.2.840.10008.5.1.4.1.1.88.11\\Uncompressed
PresentationContext4 = VerificationSOPClass\\Uncompressed

[[Profiles]]
[NoSegmentation]
PresentationContexts = SrOnly
`;

/**
 * Destinations without the SEG (NOSEG: acceptsSegmentation false; PICKY: refuses Segmentation
 * Storage at association) each get one object: the SR variant without segment references, under
 * its own deterministic UID, dciodvfy clean, with the same volumes, never naming the SEG; the
 * refused SEG fails for good; both cases are in the audit trail.
 */
async function assertSrWithoutSegmentation(n: TestNode, srWithRefs: Buffer, segUid: string, nosegOut: string, pickyOut: string) {
  const files = (dir: string) => fs.readdirSync(dir).map((f) => path.join(dir, f));
  await waitFor(() => files(nosegOut).length === 1 && files(pickyOut).length === 1, 30_000, 'the SR variant at NOSEG and at PICKY');
  const variantUid = withoutSegmentationUids({
    seriesInstanceUid: '',
    sopInstanceUid: readPart10Header(srWithRefs).sopInstanceUid,
  }).sopInstanceUid;
  for (const file of [...files(nosegOut), ...files(pickyOut)]) {
    const bytes = fs.readFileSync(file);
    assert.equal(readPart10Header(bytes).sopInstanceUid, variantUid, `${file}: the variant, under its own derived UID`);
    assert.equal(bytes.includes(Buffer.from(segUid)), false, `${file} never names the SEG`);
    assert.deepEqual(volumetricGroups(bytes), [], 'no TID 1411 group referencing a segment');
    const v = await run('dciodvfy', ['-new', file]);
    assert.deepEqual(
      (v.stdout + v.stderr).split('\n').filter((l) => /^Error/.test(l)),
      [],
      `${path.basename(file)}: ${v.stdout}${v.stderr}`,
    );
    const dump = await run('dsrdump', ['+U8', '+Pl', file]);
    assert.equal(dump.code, 0, dump.stderr);
    assert.match(dump.stdout, /White matter volume 518.5 ml/, 'the same volumes');
    assert.doesNotMatch(dump.stdout, /Referenced Segment/);
  }
  const deliveries = n.node.store.listDeliveries();
  assert.equal(deliveries.filter((d) => d.destination === 'NOSEG' && d.sopClassUid === SEG_STORAGE).length, 0, 'no SEG queued for NOSEG');
  const pickySeg = deliveries.find((d) => d.destination === 'PICKY' && d.sopClassUid === SEG_STORAGE);
  assert.equal(pickySeg?.state, 'failed', 'the refused SEG is not retried');
  assert.match(pickySeg?.lastError ?? '', /accepted no presentation context for SOP class 1\.2\.840\.10008\.5\.1\.4\.1\.1\.66\.4/);
  const audited = n.node.store.listAudit().filter((a) => a.event === 'sr-without-segmentation');
  assert.equal(audited.length, 2, JSON.stringify(audited));
  assert.ok(audited.some((a) => /NOSEG does not take Segmentations/.test(a.detail ?? '')));
  assert.ok(audited.some((a) => /PICKY does not hold the Segmentation/.test(a.detail ?? '')));
}

test('brain MR through the whole pipeline: MeshNet grey/white matter volumes in the SR (~519 / ~735 ml, 2 %), its SEG delivered first and referenced by TID 1411 groups; destinations without SEG get the SR variant', async (t) => {
  // A site's install: the manifest from models/, the weights copied in beside it.
  const modelsDir = tmpDir('models');
  fs.mkdirSync(path.join(modelsDir, 'meshnet-gwm'));
  fs.copyFileSync(path.join(MODELS, 'meshnet-gwm', 'model.json'), path.join(modelsDir, 'meshnet-gwm', 'model.json'));
  fs.copyFileSync(path.join(SHARED_DICOM, '..', 'models', 'meshnet-gwm', 'model.onnx'), path.join(modelsDir, 'meshnet-gwm', 'model.onnx'));
  const files = niftiToDicomSeries(path.join(SHARED_DICOM, '..', 'models', 'meshnet-gwm', 't1_crop.nii.gz'), {
    outDir: tmpDir('t1'),
    uidRoot: newUidRoot(),
  });
  // Two more destinations that do not hold SEG: one configured so, one (a storescp whose profile
  // lists no Segmentation Storage context) refusing it at association.
  const [nosegPort, pickyPort] = [await freePort(), await freePort()];
  const [nosegOut, pickyOut] = [tmpDir('pipeline-noseg'), tmpDir('pipeline-picky')];
  const profile = path.join(tmpDir('picky-profile'), 'profile.cfg');
  fs.writeFileSync(profile, NO_SEG_PROFILE);
  const others = [
    spawn('storescp', ['-aet', 'NOSEG', '-od', nosegOut, String(nosegPort)], {
      stdio: 'ignore',
      env: { ...process.env, TCP_NODELAY: '1' },
    }),
    spawn('storescp', ['-aet', 'PICKY', '-od', pickyOut, '-xf', profile, 'NoSegmentation', String(pickyPort)], {
      stdio: 'ignore',
      env: { ...process.env, TCP_NODELAY: '1' },
    }),
  ];
  t.after(() => others.forEach((p) => p.kill()));
  await withStorescp(async (port, out) => {
    const n = await startTestNode({
      ...options(port, [
        {
          name: 'brain-mr',
          match: { Modality: 'MR' },
          model: 'meshnet-gwm',
          destinations: ['PACS', 'NOSEG', 'PICKY'],
          outputs: ['sr', 'seg'],
        },
      ]),
      destinations: {
        PACS: { aeTitle: 'STORESCP', host: '127.0.0.1', port },
        NOSEG: { aeTitle: 'NOSEG', host: '127.0.0.1', port: nosegPort, acceptsSegmentation: false },
        PICKY: { aeTitle: 'PICKY', host: '127.0.0.1', port: pickyPort },
      },
      inference: { modelsDir, providers: ['cpu'] },
    });
    try {
      await storescu(n.port, files);
      await doneJobs(n, 1, 300_000);
      const job = n.node.store.listJobs()[0]!;
      const result = JSON.parse(n.node.store.latestResult(job.id)!.resultJson) as {
        findings: { label: string; measurements: { key: string; value: number }[] }[];
        provenance: { preprocessing: string };
      };
      const ml = (label: string) => result.findings.find((f) => f.label === label)!.measurements.find((m) => m.key === 'volumeMl')!.value;
      t.diagnostic(
        `white matter ${ml('white matter').toFixed(1)} ml, grey matter ${ml('grey matter').toFixed(1)} ml; ${result.provenance.preprocessing}`,
      );
      assert.ok(Math.abs(ml('white matter') - 519) / 519 < 0.02, `white matter ${ml('white matter')}`);
      assert.ok(Math.abs(ml('grey matter') - 735) / 735 < 0.02, `grey matter ${ml('grey matter')}`);
      // An adult (the fixture's birth date), volumes inside the adult ranges, a whole-head field of view: no flag.
      assert.equal(job.lowConfidence, null, 'no low-confidence flag');
      assert.match(
        n.node.metrics.render(),
        /dicom_ai_inference_duration_seconds_count\{model="meshnet-gwm",provider="cpu"\} 1/,
        'inference latency per model and provider',
      );
      await waitFor(() => fs.readdirSync(out).length === 2, 30_000, 'the SEG and the SR at the destination');
      const received = fs.readdirSync(out).map((f) => path.join(out, f));
      const segFile = received.find((f) => readPart10Header(fs.readFileSync(f)).sopClassUid === SEG_STORAGE);
      const sr = received.find((f) => f !== segFile)!;
      assert.ok(segFile, 'a Segmentation arrived');
      // One association, the destination's deliveries in the order they were queued: the SEG first.
      const sent = n.node.store
        .listDeliveries()
        .filter((d) => d.destination === 'PACS')
        .map((d) => d.sopClassUid);
      assert.deepEqual(sent, [SEG_STORAGE, readPart10Header(fs.readFileSync(sr)).sopClassUid], 'SEG queued before the SR');
      assert.ok(fs.statSync(segFile).mtimeMs <= fs.statSync(sr).mtimeMs, 'the SEG was written by the destination before the SR');
      for (const file of [segFile, sr]) {
        const v = await run('dciodvfy', ['-new', file]);
        const errors = (v.stdout + v.stderr).split('\n').filter((l) => /^Error/.test(l));
        assert.deepEqual(errors, [], `${path.basename(file)}: ${v.stdout}${v.stderr}`);
      }
      const d = await run('dsrdump', ['+U8', '+Pl', sr]);
      assert.equal(d.code, 0, d.stderr);
      assert.match(d.stdout, /White matter volume 518.5 ml/);
      assert.match(d.stdout, /Referenced Segment/);
      // The SR's TID 1411 groups point at the SEG's segments, with the SEG's own Tracking UIDs.
      const segRead = readSegmentation(fs.readFileSync(segFile));
      const segUid = readPart10Header(fs.readFileSync(segFile)).sopInstanceUid;
      const groups = volumetricGroups(fs.readFileSync(sr));
      assert.deepEqual(
        groups.map((g) => [g.segUid, g.segment, g.trackingUid]),
        segRead.segments.map((s) => [segUid, s.number, s.trackingUid]),
      );
      assert.deepEqual(
        segRead.segments.map((s) => s.label),
        ['white matter', 'grey matter'],
      );
      for (const g of groups) assert.equal(g.sourceSeries, job.seriesInstanceUid, 'Source series for segmentation');
      // The fixture's source grid is 1 mm isotropic: one SEG voxel is 0.001 ml; the SR counted on the model's grid.
      for (const s of segRead.segments) {
        const voxels = segRead.frames
          .filter((f) => f.segmentNumber === s.number)
          .reduce((a, f) => a + f.pixels.reduce((x, y) => x + y, 0), 0);
        assert.ok(
          Math.abs(voxels / 1000 - ml(s.label)) / ml(s.label) < 0.02,
          `${s.label}: SEG ${voxels / 1000} ml vs SR ${ml(s.label)} ml`,
        );
      }
      assert.match(d.stdout, /Volumes measured on the model's grid/);
      await assertSrWithoutSegmentation(n, fs.readFileSync(sr), segUid, nosegOut, pickyOut);
    } finally {
      await n.stop();
    }
  });
});

test('the model side takes only de-identified data: identified instances are refused; de-identified copies carry the original UIDs beside them', async () => {
  const p = writeChestPhantom({ outDir: tmpDir('handoff'), seed: 61, uidRoot: newUidRoot(), slices: 6 });
  const originals = p.files.map((f) => fs.readFileSync(f));
  const refs = originals.map((b) => readPart10Header(b));
  await assert.rejects(
    loadSeriesVolume(originals.map((bytes, i) => ({ bytes, sopInstanceUid: refs[i]!.sopInstanceUid, sopClassUid: refs[i]!.sopClassUid }))),
    IdentifiedDataError,
  );
  const secret = Buffer.alloc(32, 7);
  const deid = originals.map((b) => deidentifyPart10(b, { secret }).bytes);
  for (const b of deid) {
    assert.ok(
      !b.includes(Buffer.from(PHANTOM_PATIENT.name)) && !b.includes(Buffer.from(PHANTOM_PATIENT.id)),
      'no patient name or ID in what the model side gets',
    );
  }
  const vol = await loadSeriesVolume(
    deid.map((bytes, i) => ({ bytes, sopInstanceUid: refs[i]!.sopInstanceUid, sopClassUid: refs[i]!.sopClassUid })),
  );
  assert.deepEqual(
    new Set(vol.slices.map((s) => s.sopInstanceUid)),
    new Set(refs.map((r) => r.sopInstanceUid)),
    'findings will point at the original instances',
  );
});

test('a job over its time limit fails with the reason, and the node goes on with the next one', async () => {
  await withStorescp(async (port) => {
    const n = await startTestNode({ ...options(port), inference: { modelsDir: MODELS, providers: ['cpu'], timeLimitSeconds: 1 } });
    try {
      const p = writeChestPhantom({ outDir: tmpDir('limit'), seed: 71, uidRoot: newUidRoot(), slices: 80 });
      await storescu(n.port, p.files);
      await waitFor(() => n.node.store.listJobs().some((j) => j.state === 'failed'), 120_000, 'the job to fail');
      const job = n.node.store.listJobs()[0]!;
      assert.match(job.reason ?? '', /time limit exceeded \(1 s, inference.timeLimitSeconds\)/);
      assert.ok(n.node.store.listAudit().some((a) => a.event === 'job-failed' && /time limit/.test(a.detail ?? '')));
      assert.match(n.node.metrics.render(), /dicom_ai_jobs_finished_total\{model="lung-nodule-reference",outcome="failed"\} 1/);
      assert.deepEqual(n.node.store.listReports(), [], 'no report from a run that did not finish');
    } finally {
      await n.stop();
    }
  });
});

test('a localizer and a non-image object filed in the series are left out of the volume, and said so', async () => {
  const dir = tmpDir('scout');
  const p = writeChestPhantom({ outDir: dir, seed: 62, uidRoot: newUidRoot(), slices: 6 });
  // A scout in the same series: LOCALIZER image type, coronal orientation (what would break the volume).
  const scout = path.join(dir, 'scout.dcm');
  fs.copyFileSync(p.files[0]!, scout);
  const m = await run('dcmodify', [
    '-nb',
    '-m',
    '(0008,0008)=ORIGINAL\\PRIMARY\\LOCALIZER',
    '-m',
    '(0020,0037)=1\\0\\0\\0\\0\\-1',
    '-m',
    `(0008,0018)=${newUidRoot()}.9`,
    scout,
  ]);
  assert.equal(m.code, 0, m.stderr);
  const sr = path.join(SHARED_DICOM, 'highdicom', 'sr_document.dcm');
  const secret = Buffer.alloc(32, 9);
  const inputs = [...p.files, scout, sr].map((f) => {
    const bytes = fs.readFileSync(f);
    const h = readPart10Header(bytes);
    return { bytes: deidentifyPart10(bytes, { secret }).bytes, sopInstanceUid: h.sopInstanceUid, sopClassUid: h.sopClassUid };
  });
  const vol = await loadSeriesVolume(inputs);
  assert.equal(vol.slices.length, 6, 'the six axial slices');
  assert.ok(vol.warnings.includes('1 object(s) without pixel data left out'), vol.warnings.join('; '));
  assert.ok(vol.warnings.includes('1 localizer image(s) left out'), vol.warnings.join('; '));
});

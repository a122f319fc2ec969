/**
 * The job pipeline inside one node, with DCMTK storescu as the modality and storescp as the
 * destination: late instances give an amended report (revision 2, Predecessor Documents
 * Sequence); urgent jobs go first; C-ECHO keeps being answered (the event loop is never blocked) while the model
 * runs; the `infer` CLI prints findings as JSON with units in the keys. MeshNet on t1_crop (issue 14):
 * SEG + SR to storescp and to Orthanc (both under the original study there), and the job's SEG
 * checked frame by frame against the model's label map, beside a SEG of the same voxels relabelled
 * as an axial series (test/helpers/seg-frames.ts).
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
import { OrthancPacs } from './helpers/orthanc';
import { volumetricGroups } from './helpers/volumetric-groups';
import { checkSegFrames, sourceSlicesOnDisk } from './helpers/seg-frames';
import { relabelSeries } from '../fixtures/relabel-orientation';
import { frameOfReferenceOf, type SeriesVolume } from '../src/inference/series-volume';
import { parseManifest } from '../src/inference/manifest';
import { volumeTensor } from '../src/inference/conform';
import { loadModel } from '../src/inference/session';
import { runModel } from '../src/inference/run-model';
import { POSTPROCESSORS } from '../src/inference/postprocess';
import { segmentationLabelMap } from '../src/inference/label-map';
import { segmentationGeometryOf } from '../src/inference/label-resample';
import type { SourceLabels } from '../src/inference/source-labels';
import { anatomicalSegment, buildSegmentation, segmentationUids } from '../src/report/segmentation-iod';
import { withoutSegmentationUids } from '../src/pipeline/report-set';

const MODELS = path.join(PROJECT_ROOT, 'models');
const SEG_STORAGE = '1.2.840.10008.5.1.4.1.1.66.4';

/** A series as the test wrote it (original UIDs, identified synthetic data), as the model side would load it. */
async function loadOriginals(files: readonly string[]): Promise<SeriesVolume> {
  const inputs = files.map((f) => {
    const bytes = fs.readFileSync(f);
    const h = readPart10Header(bytes);
    return { bytes, sopInstanceUid: h.sopInstanceUid, sopClassUid: h.sopClassUid };
  });
  return loadSeriesVolume(inputs, frameOfReferenceOf(inputs[0]!.bytes), { allowIdentified: true });
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

test('brain MR through the whole pipeline: MeshNet grey/white matter volumes in the SR (~519 / ~735 ml, 2 %), its SEG delivered first and referenced by TID 1411 groups; Orthanc files both under the original study; SEG frame by frame = the label map, acquired and relabelled axial; destinations without SEG get the SR variant', async (t) => {
  // A site's install: the manifest from models/, the weights copied in beside it.
  const modelsDir = tmpDir('models');
  fs.mkdirSync(path.join(modelsDir, 'meshnet-gwm'));
  fs.copyFileSync(path.join(MODELS, 'meshnet-gwm', 'model.json'), path.join(modelsDir, 'meshnet-gwm', 'model.json'));
  fs.copyFileSync(path.join(SHARED_DICOM, '..', 'models', 'meshnet-gwm', 'model.onnx'), path.join(modelsDir, 'meshnet-gwm', 'model.onnx'));
  const files = niftiToDicomSeries(path.join(SHARED_DICOM, '..', 'models', 'meshnet-gwm', 't1_crop.nii.gz'), {
    outDir: tmpDir('t1'),
    uidRoot: newUidRoot(),
  });
  // A second destination: Debian's Orthanc, a real PACS that accepts stores from our AE title only.
  const archive = await OrthancPacs.create({ node: ['DICOM_AI', '127.0.0.1', 104] });
  await archive.start();
  t.after(() => archive.stop());
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
    const base = options(port, [
      {
        name: 'brain-mr',
        match: { Modality: 'MR' },
        model: 'meshnet-gwm',
        destinations: ['PACS', 'ARCHIVE', 'NOSEG', 'PICKY'],
        outputs: ['sr', 'seg'],
      },
    ]);
    const n = await startTestNode({
      ...base,
      destinations: {
        ...base.destinations,
        ARCHIVE: { aeTitle: 'ORTHANC', host: '127.0.0.1', port: archive.dicomPort },
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
      // One association per destination, its deliveries in the order they were queued: the SEG first.
      for (const destination of ['PACS', 'ARCHIVE']) {
        const sent = n.node.store
          .listDeliveries()
          .filter((d) => d.destination === destination)
          .map((d) => d.sopClassUid);
        assert.deepEqual(
          sent,
          [SEG_STORAGE, readPart10Header(fs.readFileSync(sr)).sopClassUid],
          `${destination}: SEG queued before the SR`,
        );
      }
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
      assert.match(d.stdout, /Volumes measured on the model's grid/);

      // Orthanc holds both, under the ORIGINAL patient and study (not the de-identified ones).
      const source = parsePart10(fs.readFileSync(files[0]!)).dataSet;
      for (let waited = 0; (await archive.json<string[]>('GET', '/instances')).length < 2; waited += 200) {
        assert.ok(waited < 30_000, 'the SEG and the SR in Orthanc within 30 s');
        await sleep(200);
      }
      const studies = await archive.json<string[]>('GET', '/studies');
      assert.equal(studies.length, 1, 'one study in Orthanc');
      const study = await archive.json<{
        MainDicomTags: { StudyInstanceUID: string };
        PatientMainDicomTags: { PatientID: string };
        Series: string[];
      }>('GET', `/studies/${studies[0]}`);
      assert.equal(study.MainDicomTags.StudyInstanceUID, source.string(TAG.StudyInstanceUID));
      assert.equal(study.PatientMainDicomTags.PatientID, source.string(TAG.PatientID));
      const series = await Promise.all(
        study.Series.map((id) => archive.json<{ MainDicomTags: { Modality: string }; Instances: string[] }>('GET', `/series/${id}`)),
      );
      assert.deepEqual(series.map((x) => x.MainDicomTags.Modality).sort(), ['SEG', 'SR']);
      const orthancSeg = (
        await archive.rest('GET', `/instances/${series.find((x) => x.MainDicomTags.Modality === 'SEG')!.Instances[0]}/file`)
      ).body;
      assert.equal(readPart10Header(orthancSeg).sopInstanceUid, segUid, "Orthanc's SEG is the job's");

      // The reference label map: the same model run once here on the same voxels relabelled as an
      // axial series (fixtures/relabel-orientation.ts). Both series have the same conformed grid and
      // input tensor, so its conformed labels are the job's too; the relabelled series' SEG is made
      // from that run by the node's own path (source labels -> buildSegmentation).
      const acquired = await loadOriginals(files);
      const relabelledFiles = relabelSeries(acquired, { outDir: tmpDir('t1-axial'), uidRoot: newUidRoot() });
      const relabelled = await loadOriginals(relabelledFiles);
      assert.deepEqual([...relabelled.orientation], [1, 0, 0, 0, 1, 0], 'the relabelled series is axial');
      const m = parseManifest(JSON.parse(fs.readFileSync(path.join(modelsDir, 'meshnet-gwm', 'model.json'), 'utf8')), 'model.json');
      const [tA, tB] = [volumeTensor(acquired, m), volumeTensor(relabelled, m)];
      // One conformed grid (to float rounding of the DS strings) and the same input tensor for both orientations.
      assert.deepEqual(tA.grid.size, tB.grid.size);
      for (const [a, b] of [[tA.grid.origin, tB.grid.origin], ...tA.grid.axes.map((ax, i) => [ax, tB.grid.axes[i]!])])
        for (let x = 0; x < 3; x++) assert.ok(Math.abs(a![x]! - b![x]!) < 1e-6, `conformed grids differ: ${String(a)} vs ${String(b)}`);
      let tensorDiffs = 0;
      for (let p = 0; p < tA.data.length; p++) if (tA.data[p] !== tB.data[p]) tensorDiffs++;
      assert.equal(tensorDiffs, 0, `input tensors of the two orientations differ at ${tensorDiffs} of ${tA.data.length} voxels`);
      const session = await loadModel(m, path.join(modelsDir, 'meshnet-gwm', 'model.onnx'), {});
      let raw: { data: Float32Array; dims: readonly number[] } | undefined;
      const sourceLabels: { value?: SourceLabels | string } = {};
      try {
        await runModel(relabelled, {
          name: m.name,
          manifest: m,
          session: {
            provider: session.provider,
            run: async (feeds, names) => {
              const r = await session.run(feeds, names);
              const o = r[m.output.name]!;
              raw = { data: o.data as Float32Array, dims: o.dims };
              return r;
            },
          },
          sha256: 'test',
          postprocessors: POSTPROCESSORS,
          volumeTensor,
          deidentification: 'test',
          sourceLabels,
        });
      } finally {
        await session.close();
      }
      assert.ok(
        raw && typeof sourceLabels.value === 'object',
        `no source labels: ${typeof sourceLabels.value === 'string' ? sourceLabels.value : 'none'}`,
      );
      // Argmax over the raw scores: the same decision as over their softmax.
      const conformed = segmentationLabelMap(raw.data, raw.dims, m.output.labels).data;

      const acquiredCheck = checkSegFrames(
        readSegmentation(orthancSeg),
        sourceSlicesOnDisk(files),
        tA.grid,
        conformed,
        acquired.sliceSpacing,
      );
      const relabelledSeg = buildSegmentation({
        sourceFile: fs.readFileSync(relabelledFiles[0]!),
        sourceSeriesInstanceUid: parsePart10(fs.readFileSync(relabelledFiles[0]!)).dataSet.string(TAG.SeriesInstanceUID)!,
        geometry: segmentationGeometryOf(relabelled),
        labels: sourceLabels.value.slices,
        segments: sourceLabels.value.segments.map((s) => anatomicalSegment(s.label, s.code)),
        algorithm: { name: m.name, version: m.version },
        device: { aeTitle: 'DICOM_AI', deviceUid: '2.25.1', manufacturer: 'test', modelName: 'test', softwareVersion: 'test' },
        uids: segmentationUids(relabelled.slices[0]!.sopInstanceUid, m.name, m.version, 1),
        contentDateTime: new Date(),
        revision: 1,
      });
      const relabelledCheck = checkSegFrames(
        readSegmentation(relabelledSeg.bytes),
        sourceSlicesOnDisk(relabelledFiles),
        tB.grid,
        conformed,
        relabelled.sliceSpacing,
      );
      // Counted in ml on the source grid, each segment agrees with the SR's volume within 2 %.
      for (const [name, check] of [
        ['acquired (coronal)', acquiredCheck],
        ['relabelled (axial)', relabelledCheck],
      ] as const) {
        const segMl = segRead.segments.map((s) => check.voxelsBySegment.get(s.number)! * check.voxelMl);
        t.diagnostic(
          `${name}: ${check.frames} frames, ${check.pixelsCompared} pixels compared with the label map; SEG ${segMl.map((v) => v.toFixed(1)).join(' / ')} ml`,
        );
        segRead.segments.forEach((s, i) =>
          assert.ok(
            Math.abs(segMl[i]! - ml(s.label)) / ml(s.label) < 0.02,
            `${name} ${s.label}: SEG ${segMl[i]} ml vs SR ${ml(s.label)} ml`,
          ),
        );
      }
      assert.deepEqual(acquiredCheck.voxelsBySegment, relabelledCheck.voxelsBySegment, 'the same voxels in both orientations');
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

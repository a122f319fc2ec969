/**
 * The product's whole loop with real peers: DCMTK storescu (modality) -> node (SCP, stability,
 * routing, de-identification, the reference lung-nodule model on CPU, SR) -> our SCU -> Debian's
 * Orthanc (PACS). The SR must land in Orthanc under the source patient and Study Instance UID,
 * pass dciodvfy and dsrdump, and its findings must match the phantom's nodules.
 *
 * Also: Orthanc down when the report is ready -> retries -> Orthanc up -> exactly one SR; the
 * report in Chinese (zh-CN) arrives byte for byte; the latency from the last C-STORE response to
 * the SR in Orthanc, minus stableSeconds, is printed (the measurement).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestNode, TestNode, waitFor } from './helpers/node';
import { OrthancPacs } from './helpers/orthanc';
import { PROJECT_ROOT, tmpDir } from './helpers/env';
import { run } from './helpers/run';
import { freePort, startChildNode, writeConfig } from './helpers/child-node';
import { writeChestPhantom, PHANTOM_PATIENT, ChestPhantom, NoduleTruth } from '../fixtures/chest-phantom';
import { newUidRoot } from '../fixtures/synthetic-ct';
import { readPart10Header } from '../src/dicom/part10';
import type { SeriesResult } from '../src/inference/findings';
import { readSegmentation } from '../src/imaging/segmentation-reader';
import { volumetricGroups } from './helpers/volumetric-groups';
import { parsePart10 } from '../src/imaging/dataset';
import { TAG } from '../src/dicom/tags';
import { NODULE_TYPE, SEGMENT_CATEGORY } from '../src/report/segmentation-iod';

const MODELS = path.join(PROJECT_ROOT, 'models');
const STABLE_SECONDS = 1;

let pacs: OrthancPacs;

before(async () => {
  // Orthanc accepts stores only from the node's AE title on loopback (a hardened PACS).
  pacs = await OrthancPacs.create({ node: ['DICOM_AI', '127.0.0.1', 104] });
  await pacs.start();
});

after(async () => {
  await pacs?.stop();
});

function nodeOptions(extra: { report?: Record<string, unknown> } = {}, route: Record<string, unknown> = {}) {
  return {
    series: { stableSeconds: STABLE_SECONDS },
    inference: { modelsDir: MODELS, providers: ['cpu'] },
    destinations: { PACS: { aeTitle: 'ORTHANC', host: '127.0.0.1', port: pacs.dicomPort } },
    routes: [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'], ...route }],
    delivery: { backoffSeconds: 1, backoffCapSeconds: 2, maxAttempts: 20 },
    ...extra,
  };
}

function phantom(seed: number, slices: number): ChestPhantom {
  return writeChestPhantom({ outDir: tmpDir(`phantom-${seed}`), seed, uidRoot: newUidRoot(), slices });
}

async function storescu(port: number, files: string[]): Promise<void> {
  const r = await run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(port), ...files], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `storescu failed: ${r.stderr}${r.stdout}`);
}

/** The SR series Orthanc holds for a study (Modality SR), waiting up to `timeoutMs` for one. */
async function waitForSr(
  studyUid: string,
  timeoutMs: number,
): Promise<{ ID: string; MainDicomTags: Record<string, string>; Instances: string[] }> {
  const t0 = Date.now();
  for (;;) {
    const sr = (await pacs.seriesOfStudy(studyUid)).filter((s) => s.MainDicomTags.Modality === 'SR');
    if (sr.length > 0) {
      assert.equal(sr.length, 1, 'one SR series per (source series, model)');
      return sr[0]!;
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`no SR in Orthanc for the study after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function fetchInstance(orthancId: string): Promise<Buffer> {
  const r = await pacs.rest('GET', `/instances/${orthancId}/file`);
  assert.equal(r.status, 200);
  return r.body;
}

/** dciodvfy (dicom3tools) finds no error in the object; returns the file it checked. */
async function noDciodvfyErrors(bytes: Buffer, name: string): Promise<string> {
  const file = path.join(tmpDir('sr-check'), `${name}.dcm`);
  fs.writeFileSync(file, bytes);
  const v = await run('dciodvfy', ['-new', file]);
  const errors = (v.stdout + v.stderr).split('\n').filter((l) => /^Error/.test(l));
  assert.deepEqual(errors, [], `dciodvfy errors (${name}):\n${v.stdout}${v.stderr}`);
  return file;
}

async function validateSr(bytes: Buffer, name: string): Promise<string> {
  const file = await noDciodvfyErrors(bytes, name);
  const d = await run('dsrdump', ['+U8', '+Pl', file]);
  assert.equal(d.code, 0, `dsrdump failed: ${d.stderr}`);
  return d.stdout;
}

function matchTruth(
  result: SeriesResult,
  truth: readonly NoduleTruth[],
): { found: number; wanted: number; diameterErrors: number[]; falsePositives: number } {
  const used = new Set<number>();
  const diameterErrors: number[] = [];
  let found = 0;
  const wanted = truth.filter((t) => t.diameterMm >= 5);
  for (const t of wanted) {
    const r = Math.max(t.diameterMm / 2, 5);
    const hit = result.findings.find((f) => {
      if (used.has(f.id) || !f.centre) return false;
      return Math.hypot(f.centre.x - t.centre.x, f.centre.y - t.centre.y, f.centre.z - t.centre.z) <= r;
    });
    if (!hit) continue;
    used.add(hit.id);
    found++;
    const d = hit.measurements.find((m) => m.key === 'diameterMm');
    if (d) diameterErrors.push(Math.abs(d.value - t.diameterMm));
  }
  // Findings that match no truth nodule at all (small ones included) are false positives.
  const fp = result.findings.filter(
    (f) =>
      !truth.some(
        (t) =>
          f.centre &&
          Math.hypot(f.centre.x - t.centre.x, f.centre.y - t.centre.y, f.centre.z - t.centre.z) <= Math.max(t.diameterMm / 2, 5),
      ),
  ).length;
  return { found, wanted: wanted.length, diameterErrors, falsePositives: fp };
}

function latestResultOf(n: TestNode): SeriesResult {
  const job = n.node.store.listJobs().find((j) => j.state === 'done');
  assert.ok(job, `a job is done: ${JSON.stringify(n.node.store.listJobs())}`);
  const r = n.node.store.latestResult(job.id);
  assert.ok(r);
  return JSON.parse(r.resultJson) as SeriesResult;
}

test('chest CT phantom -> node -> SEG then SR in Orthanc under the same patient and study; findings match the nodules; one SEG segment per nodule, referenced by its TID 1411 group; dciodvfy/dsrdump clean', async (t) => {
  const n = await startTestNode(nodeOptions({}, { outputs: ['sr', 'seg', 'key-image-sc'] }));
  try {
    const p = phantom(11, 120);
    await storescu(n.port, p.files);
    const lastStoreResponse = Date.now();
    const sr = await waitForSr(p.studyInstanceUid, 180_000);
    const arrived = Date.now();
    const latency = arrived - lastStoreResponse - STABLE_SECONDS * 1000;
    t.diagnostic(
      `last C-STORE response -> SR stored in Orthanc, minus stableSeconds: ${latency} ms for ${p.files.length} slices (CPU reference model)`,
    );

    assert.equal(sr.Instances.length, 1, 'exactly one SR instance');
    const tags = await pacs.json<Record<string, string>>('GET', `/instances/${sr.Instances[0]}/simplified-tags`);
    assert.equal(tags.PatientID, PHANTOM_PATIENT.id);
    assert.equal(tags.PatientName, PHANTOM_PATIENT.name);
    assert.equal(tags.StudyInstanceUID, p.studyInstanceUid);
    assert.notEqual(tags.SeriesInstanceUID, p.seriesInstanceUid, 'the SR is in a series of its own');
    assert.equal(tags.SOPClassUID, '1.2.840.10008.5.1.4.1.1.88.34', 'Comprehensive 3D SR');
    assert.equal(tags.VerificationFlag, 'UNVERIFIED');

    const bytes = await fetchInstance(sr.Instances[0]!);
    const dump = await validateSr(bytes, 'e2e');
    // What Orthanc holds is what the node wrote (the SCU sends the stored bytes, never re-encodes).
    const ours = n.node.store.listReports().find((r) => r.form === 'comprehensive3d');
    assert.ok(ours);
    const stored = fs.readFileSync(ours.filePath);
    assert.deepEqual(bytes.subarray(readPart10Header(bytes).datasetOffset), stored.subarray(readPart10Header(stored).datasetOffset));

    const result = latestResultOf(n);
    const m = matchTruth(result, p.truth);
    t.diagnostic(
      `phantom: ${p.truth.length} nodules (${m.wanted} >= 5 mm), found ${m.found}, diameter errors ${m.diameterErrors.map((e) => e.toFixed(2)).join(', ')} mm, ${m.falsePositives} false positive(s)`,
    );
    assert.equal(m.found, m.wanted, 'every nodule >= 5 mm is reported');
    assert.ok(m.falsePositives <= 1, `${m.falsePositives} false positives`);
    for (const f of result.findings) {
      const d = f.measurements.find((x) => x.key === 'diameterMm');
      assert.ok(d, 'each nodule has a diameter');
      assert.ok(
        dump.includes(String(Number(d.value.toFixed(1)))) || dump.includes(d.value.toFixed(1)),
        `dsrdump shows the diameter ${d.value.toFixed(1)}`,
      );
      assert.ok(f.region, 'each finding points at a source image');
      assert.ok(
        p.files.some((file) => file.includes(f.region!.sopInstanceUid)) || n.node.store.getInstance(f.region.sopInstanceUid),
        'the referenced SOP instance is one of the source series',
      );
    }
    assert.match(dump, /AI-generated/i);
    await checkNoduleSegmentation(t, p.studyInstanceUid, sr.Instances[0]!, p.seriesInstanceUid, p, result, dump);

    // The key image: a Secondary Capture of the most confident finding's slice, in its own series.
    await waitFor(() => n.node.store.listDeliveries().every((d) => d.state === 'delivered'), 30_000, 'all deliveries');
    const all = await pacs.seriesOfStudy(p.studyInstanceUid);
    const key = all.find((s) => s.MainDicomTags.SeriesNumber === '9902');
    assert.ok(key, `a key image series in Orthanc: ${JSON.stringify(all.map((s) => s.MainDicomTags))}`);
    const keyTags = await pacs.json<Record<string, string>>('GET', `/instances/${key.Instances[0]}/simplified-tags`);
    assert.equal(keyTags.SOPClassUID, '1.2.840.10008.5.1.4.1.1.7');
    assert.equal(keyTags.PatientID, PHANTOM_PATIENT.id);
    const png = await pacs.rest('GET', `/instances/${key.Instances[0]}/preview`);
    assert.equal(png.status, 200, 'Orthanc renders the key image');
  } finally {
    await n.stop();
  }
});

/**
 * Issue 14 for the nodule model: the SEG reached Orthanc before the SR, passes dciodvfy, and read
 * back with our reader holds one segment per finding (segment n = finding n) whose voxels lie
 * within the finding's diameter of its centre and add up to its volume (10 %); the SR's TID 1411
 * groups name the SEG, each segment's Tracking UID and the source series.
 */
async function checkNoduleSegmentation(
  t: { diagnostic: (message: string) => void },
  studyUid: string,
  srOrthancId: string,
  sourceSeriesUid: string,
  phantomFiles: Pick<ChestPhantom, 'files' | 'sopInstanceUids'>,
  result: SeriesResult,
  dump: string,
): Promise<void> {
  const segSeries = (await pacs.seriesOfStudy(studyUid)).filter((s) => s.MainDicomTags.Modality === 'SEG');
  assert.equal(segSeries.length, 1, 'one SEG series');
  assert.equal(segSeries[0]!.Instances.length, 1, 'one SEG instance');
  const segId = segSeries[0]!.Instances[0]!;
  // Orthanc's change log numbers arrivals: the SEG must have come first (a viewer opening the SR finds it).
  const changes = await pacs.json<{ Changes: { ChangeType: string; ID: string; Seq: number }[] }>('GET', '/changes?limit=4000');
  const seqOf = (id: string) => changes.Changes.find((c) => c.ChangeType === 'NewInstance' && c.ID === id)?.Seq;
  assert.ok(seqOf(segId)! < seqOf(srOrthancId)!, `SEG (change ${seqOf(segId)}) stored before the SR (change ${seqOf(srOrthancId)})`);

  const segBytes = await fetchInstance(segId);
  await noDciodvfyErrors(segBytes, 'e2e-seg');
  const seg = readSegmentation(segBytes);
  assert.deepEqual(
    seg.segments.map((s) => [s.number, s.label, s.category, s.type]),
    result.findings.map((f) => [f.id, `Nodule ${f.id}`, SEGMENT_CATEGORY.morphologicallyAbnormalStructure.value, NODULE_TYPE.value]),
    'one segment per nodule, numbered as the findings',
  );
  const segTags = await pacs.json<Record<string, string>>('GET', `/instances/${segId}/simplified-tags`);
  assert.equal(segTags.PatientID, PHANTOM_PATIENT.id);
  assert.equal((dump.match(/Referenced Segment/g) ?? []).length, result.findings.length, 'dsrdump: a Referenced Segment per nodule group');
  // ... and the nodule's centre as a SCOORD3D POINT in the source's Frame of Reference.
  assert.equal(
    (dump.match(/SCOORD3D:\(,,"Center"\)=\(POINT,/g) ?? []).length,
    result.findings.length,
    'dsrdump: a centre per nodule group',
  );
  // Each finding's TID 1411 group names the SEG, its own segment, that segment's Tracking UID and the source series.
  assert.deepEqual(
    volumetricGroups(await fetchInstance(srOrthancId)).map((g) => [g.segUid, g.segment, g.trackingUid, g.sourceSeries]),
    seg.segments.map((s) => [segTags.SOPInstanceUID, s.number, s.trackingUid, sourceSeriesUid]),
  );
  for (const f of result.findings) {
    const diameter = f.measurements.find((m) => m.key === 'diameterMm')!.value;
    const volume = f.measurements.find((m) => m.key === 'volumeMm3')!.value;
    let voxels = 0;
    let farthest = 0;
    let voxelMm3 = 0;
    for (const frame of seg.frames.filter((x) => x.segmentNumber === f.id)) {
      // Each frame derives from an ORIGINAL source slice and lies on it; no empty frames.
      const sourceFile = phantomFiles.files[phantomFiles.sopInstanceUids.indexOf(frame.source?.sopInstanceUid ?? '')];
      assert.ok(sourceFile, `frame ${frame.frameNumber} names an original source instance`);
      const sourcePosition = parsePart10(fs.readFileSync(sourceFile)).dataSet.numbers(TAG.ImagePositionPatient);
      frame.imagePositionPatient!.forEach((v, i) =>
        assert.ok(Math.abs(v - sourcePosition[i]!) < 1e-3, `frame ${frame.frameNumber} on its slice`),
      );
      assert.ok(frame.pixels.includes(1), `frame ${frame.frameNumber} holds voxels`);
      const [x0, y0, z0] = frame.imagePositionPatient!;
      const [rx, ry, rz, cx, cy, cz] = frame.imageOrientationPatient!;
      const [dr, dc] = frame.pixelSpacing!;
      voxelMm3 = dr! * dc! * sliceSpacingOf(segTags);
      frame.pixels.forEach((on, i) => {
        if (!on) return;
        const c = i % seg.columns;
        const r = Math.floor(i / seg.columns);
        const x = x0! + c * dc! * rx! + r * dr! * cx!;
        const y = y0! + c * dc! * ry! + r * dr! * cy!;
        const z = z0! + c * dc! * rz! + r * dr! * cz!;
        voxels++;
        farthest = Math.max(farthest, Math.hypot(x - f.centre!.x, y - f.centre!.y, z - f.centre!.z));
      });
    }
    const segMm3 = voxels * voxelMm3;
    t.diagnostic(
      `nodule ${f.id}: SEG ${voxels} voxels = ${segMm3.toFixed(0)} mm3 vs SR ${volume} mm3; farthest voxel ${farthest.toFixed(1)} mm from the centre (diameter ${diameter} mm)`,
    );
    assert.ok(voxels > 0, `finding ${f.id}: its segment has voxels`);
    assert.ok(farthest <= diameter, `finding ${f.id}: every voxel within the diameter (${diameter} mm) of the centre`);
    assert.ok(Math.abs(segMm3 - volume) / volume <= 0.1, `finding ${f.id}: SEG ${segMm3.toFixed(0)} mm3 vs SR ${volume} mm3`);
  }
}

/** The SEG's slice spacing (Spacing Between Slices in the shared Pixel Measures), mm. */
function sliceSpacingOf(tags: Record<string, unknown>): number {
  const shared = (tags.SharedFunctionalGroupsSequence as Record<string, unknown>[])[0]!;
  const measures = (shared.PixelMeasuresSequence as Record<string, string>[])[0]!;
  return Number(measures.SpacingBetweenSlices);
}

test('Orthanc down when the report is ready: retries, then exactly one SR once Orthanc is back', async () => {
  const n = await startTestNode(nodeOptions());
  try {
    await pacs.stop();
    const p = phantom(12, 60);
    await storescu(n.port, p.files);
    await waitFor(
      () => n.node.store.listDeliveries().some((d) => d.attempts >= 1 && d.state === 'queued'),
      180_000,
      'a failed delivery attempt',
    );
    const d = n.node.store.listDeliveries()[0]!;
    assert.ok(d.lastError, 'the failed attempt says why');
    await pacs.start();
    // The sweep would retry within backoff; run it now rather than wait for cron.
    await waitFor(() => n.node.store.listDeliveries().every((x) => x.state !== 'sending'), 10_000, 'no send in flight');
    await n.node.deliveries.runDue(Date.now() + 60_000);
    const sr = await waitForSr(p.studyInstanceUid, 30_000);
    assert.equal(sr.Instances.length, 1, 'exactly one SR');
    // A second sweep (e.g. after a crash between "sent" and "recorded") resends the same object: still one.
    n.node.store.enqueueDelivery(
      {
        sopInstanceUid: d.sopInstanceUid,
        sopClassUid: d.sopClassUid,
        filePath: d.filePath,
        destination: 'PACS',
        alternatives: d.alternatives,
      },
      Date.now(),
    );
    await n.node.deliveries.runDue(Date.now() + 60_000);
    const again = await waitForSr(p.studyInstanceUid, 5_000);
    assert.equal(again.Instances.length, 1, 'a resend replaces, never duplicates');
  } finally {
    if (!pacs.running) await pacs.start();
    await n.stop();
  }
});

test('report in Chinese (zh-CN): ISO_IR 192, text intact through Orthanc', async () => {
  const n = await startTestNode(nodeOptions({ report: { language: 'zh-CN' } }));
  try {
    const p = phantom(13, 60);
    await storescu(n.port, p.files);
    const sr = await waitForSr(p.studyInstanceUid, 180_000);
    const tags = await pacs.json<Record<string, string>>('GET', `/instances/${sr.Instances[0]}/simplified-tags`);
    assert.equal(tags.SpecificCharacterSet, 'ISO_IR 192');
    const bytes = await fetchInstance(sr.Instances[0]!);
    const dump = await validateSr(bytes, 'zh');
    assert.match(dump, /AI 生成的结果，未经医师核实/, 'the Chinese disclaimer survives the round trip');
    const ours = n.node.store.listReports().find((r) => r.form === 'comprehensive3d');
    const stored = fs.readFileSync(ours!.filePath);
    assert.deepEqual(bytes.subarray(readPart10Header(bytes).datasetOffset), stored.subarray(readPart10Header(stored).datasetOffset));
  } finally {
    await n.stop();
  }
});

test('kill -9 during inference, and again right after the report was queued for sending: after each restart, exactly one SR in Orthanc', async (t) => {
  const dir = tmpDir('e2e-crash');
  const port = await freePort();
  const opts = nodeOptions();
  const cfg = writeConfig(dir, port, {
    series: opts.series,
    inference: opts.inference,
    destinations: opts.destinations,
    routes: opts.routes,
    delivery: opts.delivery,
  });
  const killAt = async (marker: RegExp, p: ChestPhantom | null): Promise<void> => {
    const child = await startChildNode(cfg, 60_000);
    if (p) await storescu(port, p.files);
    await waitFor(() => marker.test(child.output()), 180_000, `the node's log to show ${marker}`);
    child.proc.kill('SIGKILL');
    await child.exited;
  };
  const p = phantom(14, 60);
  await killAt(/"job started"|job started/, p);
  t.diagnostic('killed during inference');
  await killAt(/job done/, null); // restarted: the job runs again, then killed as its report goes out
  t.diagnostic('killed after the report was queued');
  const child = await startChildNode(cfg, 60_000);
  try {
    const sr = await waitForSr(p.studyInstanceUid, 180_000);
    // Give a duplicate every chance to show up (a second sweep, a second job) before counting.
    await new Promise((r) => setTimeout(r, 3000));
    const again = (await pacs.seriesOfStudy(p.studyInstanceUid)).filter((s) => s.MainDicomTags.Modality === 'SR');
    assert.equal(again.length, 1, 'one SR series');
    assert.equal(again[0]!.Instances.length, 1, `exactly one SR instance (series ${sr.ID})`);
  } finally {
    child.proc.kill('SIGTERM');
    await child.exited;
  }
});

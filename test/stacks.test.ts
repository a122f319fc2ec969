// Several stacks in one series and the geometry checks that protect the model (issue 12): the
// split and the choice at the pure-function level, then real Part 10 series through the loader
// (a survey filed with an axial stack, two echoes, two planes, gantry tilt resampled or skipped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { assembleVolume, type SliceGeometry, type StackKey } from '../src/imaging/geometry';
import { chooseStack, splitIntoStacks, summaryText } from '../src/imaging/stacks';
import { loadSeriesVolume, NotAVolumeError, pixelToPatient, type SeriesVolume } from '../src/inference/series-volume';
import { findingsOnSourcePixels } from '../src/inference/source-pixels';
import { parseManifest, ManifestError } from '../src/inference/manifest';
import { readPart10Header } from '../src/dicom/part10';
import { readDatasetHeader } from '../src/dicom/dataset-reader';
import { newUidRoot } from '../fixtures/synthetic-ct';
import {
  AXIAL,
  CORONAL,
  SAGITTAL,
  straightStack,
  tiltedStack,
  writeStackSeries,
  type StackSlice,
  type Vec3,
} from '../fixtures/stack-series';
import { PROJECT_ROOT, tmpDir } from './helpers/env';
import path from 'node:path';
import http from 'node:http';
import { startTestNode, waitFor } from './helpers/node';
import { freePort } from './helpers/child-node';
import { run as runTool } from './helpers/run';
import { writeChestPhantom } from '../fixtures/chest-phantom';
import type { SeriesResult } from '../src/inference/findings';

type Iop = readonly [number, number, number, number, number, number];

let uid = 0;
function geom(iop: Iop, z: number, key: StackKey = {}, o: Partial<SliceGeometry> = {}): SliceGeometry {
  const [rx, ry, rz, cx, cy, cz] = iop;
  const n = [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx];
  return {
    sopInstanceUid: `1.2.3.${++uid}`,
    imagePositionPatient: [n[0]! * z, n[1]! * z, n[2]! * z],
    imageOrientationPatient: iop,
    rows: 64,
    columns: 64,
    pixelSpacing: [1, 1],
    stackKey: key,
    ...o,
  };
}

function run(iop: Iop, count: number, step: number, key: StackKey = {}): SliceGeometry[] {
  return Array.from({ length: count }, (_, k) => geom(iop, k * step, key));
}

test('a three-plane localizer filed with an axial stack: the axial stack is used, the localizer never wins', () => {
  const localizer = [AXIAL, SAGITTAL, CORONAL].map((iop) => geom(iop, 0, { imageType: 'ORIGINAL\\PRIMARY\\LOCALIZER' }));
  const axial = run(AXIAL, 30, 2, { imageType: 'ORIGINAL\\PRIMARY\\AXIAL' });
  const stacks = splitIntoStacks([...localizer, ...axial]);
  assert.equal(stacks.length, 4);
  const c = chooseStack(stacks);
  assert.ok(c.ok, JSON.stringify(c));
  assert.equal(c.stack.slices.length, 30);
  assert.equal(summaryText(c.summary), 'stack 1 of 4: axial, 30 slice(s) 2.00 mm apart');
  // A model that wants sagittal images gets none: the only sagittal image is the localizer.
  const sag = chooseStack(stacks, { prefer: 'sagittal' });
  assert.equal(sag.ok, false);
  assert.match(
    (sag as { reason: string }).reason,
    /^no sagittal stack, which the model's manifest asks for; the series has: axial, 30 slice\(s\).*sagittal, 1 slice\(s\), localizer/,
  );
  // Only localizers: nothing to give a model.
  const only = chooseStack(splitIntoStacks(localizer));
  assert.match((only as { reason: string }).reason, /^no usable stack: only localizer images or stacks of fewer than 3 slices/);
});

test('two echoes at the same positions: two stacks; the manifest chooses the echo, else the first', () => {
  const slices = [...run(AXIAL, 20, 3, { echoNumber: 2 }), ...run(AXIAL, 20, 3, { echoNumber: 1 })];
  // Together they are duplicates at every position: refused as one volume.
  assert.match((assembleVolume(slices) as { reasons: string[] }).reasons[0]!, /20 duplicate slice position/);
  const stacks = splitIntoStacks(slices);
  assert.equal(stacks.length, 2);
  const first = chooseStack(stacks);
  assert.ok(first.ok);
  assert.equal(first.summary.echoNumber, 1);
  const second = chooseStack(stacks, { prefer: 'largest', echo: 2 });
  assert.ok(second.ok);
  assert.equal(second.summary.echoNumber, 2);
  assert.equal(summaryText(second.summary), 'stack 2 of 2: axial, 20 slice(s) 3.00 mm apart, echo 2');
  assert.ok(assembleVolume(second.stack.slices).ok);
  const none = chooseStack(stacks, { prefer: 'largest', echo: 3 });
  assert.match((none as { reason: string }).reason, /^no stack of echo 3/);
});

test('two orientations: the largest by default, the preferred plane when the manifest says so', () => {
  const stacks = splitIntoStacks([...run(SAGITTAL, 24, 1.2), ...run(AXIAL, 40, 2.5)]);
  const largest = chooseStack(stacks);
  assert.ok(largest.ok);
  assert.deepEqual([largest.summary.plane, largest.summary.slices], ['axial', 40]);
  const sag = chooseStack(stacks, { prefer: 'sagittal' });
  assert.ok(sag.ok);
  assert.deepEqual([sag.summary.plane, sag.summary.slices, sag.summary.spacingMm], ['sagittal', 24, 1.2]);
});

test('acquisition numbers split a stack only where positions repeat', () => {
  // A sequential CT numbering each slice's acquisition: still one stack.
  const perSlice = run(AXIAL, 12, 5).map((s, k) => ({ ...s, stackKey: { acquisitionNumber: k + 1 } }));
  assert.equal(splitIntoStacks(perSlice).length, 1);
  // The same positions acquired twice (before and after contrast, no other key): two stacks.
  const twice = [...run(AXIAL, 12, 5, { acquisitionNumber: 1 }), ...run(AXIAL, 12, 5, { acquisitionNumber: 2 })];
  assert.deepEqual(
    splitIntoStacks(twice).map((s) => s.slices.length),
    [12, 12],
  );
});

test('geometry checks: uneven spacing, a missing slice, mixed orientations within a stack, gantry tilt, irregular shifts', () => {
  const zs = [0, 2, 4, 6, 6.8, 8, 10, 12];
  const uneven = assembleVolume(zs.map((z) => geom(AXIAL, z)));
  assert.match(
    (uneven as { reasons: string[] }).reasons[0]!,
    /^uneven spacing: 2 step\(s\) smaller than the median spacing of 2\.00 mm by more than 20% \(smallest 0\.80 mm\)/,
  );
  const gap = assembleVolume([0, 2, 4, 8, 10, 12].map((z) => geom(AXIAL, z)));
  assert.match(
    (gap as { reasons: string[] }).reasons[0]!,
    /gap in the series: 1 step\(s\) larger than the 2\.00 mm spacing \(about 1 missing slice/,
  );
  // 1° apart: one orientation group (the split tolerance is 2°), but not one stack.
  const t = Math.PI / 180;
  const rotated: Iop = [1, 0, 0, 0, Math.cos(t), Math.sin(t)];
  const mixed = [...run(AXIAL, 10, 2), geom(rotated, 22)];
  assert.equal(splitIntoStacks(mixed).length, 1);
  assert.match((assembleVolume(mixed) as { reasons: string[] }).reasons[0]!, /^mixed orientations within one stack: 1 slice\(s\)/);
  // Tilt: each slice shifted along its column direction by tan(20°) per mm along the normal.
  const tan = Math.tan(20 * t);
  const tilted = run(AXIAL, 10, 2).map((s, k) => ({ ...s, imagePositionPatient: [0, k * 2 * tan, k * 2] }));
  const refused = assembleVolume(tilted);
  assert.match(
    (refused as { reasons: string[] }).reasons[0]!,
    /^gantry tilt of 20\.0°: the slices are stacked along a direction that is not perpendicular/,
  );
  const reported = assembleVolume(tilted, { tilt: 'report' });
  assert.ok(reported.ok);
  assert.ok(Math.abs(reported.tilt!.angleDeg - 20) < 1e-6);
  assert.ok(Math.abs(reported.spacing - 2) < 1e-9, 'spacing is measured along the normal');
  // Shifts that do not grow steadily with position: neither straight nor tilted.
  const jitter = run(AXIAL, 10, 2).map((s, k) => ({ ...s, imagePositionPatient: [k % 2 ? 3 : 0, 0, k * 2] }));
  assert.match((assembleVolume(jitter, { tilt: 'report' }) as { reasons: string[] }).reasons[0]!, /^slices shifted in-plane irregularly/);
  // Rounding in the positions (a tenth of a pixel) is not a tilt.
  const rounding = run(AXIAL, 10, 2).map((s, k) => ({ ...s, imagePositionPatient: [0.05 * (k % 2), 0, k * 2] }));
  const straight = assembleVolume(rounding);
  assert.ok(straight.ok && straight.tilt === null);
});

test('manifest "stack" and "gantryTilt": defaults, valid values, and problems that name the key', () => {
  const raw = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'models', 'lung-nodule-reference', 'model.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const plain = parseManifest(raw, 'm.json');
  assert.deepEqual([plain.stack, plain.gantryTilt], [{ prefer: 'largest' }, 'resample']);
  const chosen = parseManifest({ ...raw, stack: { prefer: 'sagittal', echo: 2 }, gantryTilt: 'skip' }, 'm.json');
  assert.deepEqual([chosen.stack, chosen.gantryTilt], [{ prefer: 'sagittal', echo: 2 }, 'skip']);
  assert.throws(
    () => parseManifest({ ...raw, stack: { prefer: 'biggest', echo: 0, phase: 1 }, gantryTilt: 'fix' }, 'm.json'),
    (e: unknown) => {
      const problems = (e as ManifestError).problems.join('\n');
      assert.match(problems, /m\.json: stack\.prefer: "biggest" is not one of "largest", "axial", "coronal", "sagittal"/);
      assert.match(problems, /m\.json: stack\.echo: 0 is not an Echo Number/);
      assert.match(problems, /m\.json: stack\.phase: unknown key/);
      assert.match(problems, /m\.json: gantryTilt: "fix" is not "resample" .* or "skip"/);
      return true;
    },
  );
});

// ---- real Part 10 series through the loader ----

const SPHERE = { centre: [3, -5, 0] as Vec3, radiusMm: 6, value: 100, background: -1000 };

function writeSeries(name: string, slices: StackSlice[], modality: 'CT' | 'MR' = 'CT'): string[] {
  return writeStackSeries({
    outDir: tmpDir(name),
    uidRoot: newUidRoot(),
    modality,
    rows: 64,
    columns: 64,
    pixelMm: 1,
    sliceThicknessMm: 1.5,
    slices,
    sphere: SPHERE,
  });
}

function load(files: string[], options: Parameters<typeof loadSeriesVolume>[2] = {}): Promise<SeriesVolume> {
  const inputs = files.map((f) => {
    const bytes = fs.readFileSync(f);
    const h = readPart10Header(bytes);
    return { bytes, sopInstanceUid: h.sopInstanceUid, sopClassUid: h.sopClassUid };
  });
  return loadSeriesVolume(inputs, undefined, { allowIdentified: true, ...options }); // synthetic series
}

/** Centre of the sphere as the volume places it: the partial-volume-weighted centroid in patient mm. */
function sphereCentre(vol: SeriesVolume): Vec3 {
  const sum = [0, 0, 0];
  let weight = 0;
  vol.values.forEach((slice, k) => {
    for (let r = 0; r < vol.rows; r++) {
      for (let c = 0; c < vol.columns; c++) {
        const w = Math.min(1, Math.max(0, (slice[r * vol.columns + c]! - SPHERE.background) / (SPHERE.value - SPHERE.background)));
        if (w < 0.01) continue;
        const p = pixelToPatient(vol, k, c, r);
        for (let i = 0; i < 3; i++) sum[i]! += w * p[i]!;
        weight += w;
      }
    }
  });
  return [sum[0]! / weight, sum[1]! / weight, sum[2]! / weight];
}

const distance = (a: Vec3, b: Vec3) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

test('loader: a survey (one image per plane, no LOCALIZER type) and two echoes filed with the axial stacks', async () => {
  const survey = [AXIAL, SAGITTAL, CORONAL].map(
    (o) => straightStack(o, { count: 1, stepMm: 1, origin: [-32, -32, 0], imageType: 'ORIGINAL\\PRIMARY\\M\\SE' })[0]!,
  );
  const echo = (n: number) =>
    straightStack(AXIAL, { count: 16, stepMm: 2, origin: [-29, -37, -15], imageType: 'ORIGINAL\\PRIMARY\\M\\SE', echoNumber: n });
  const files = writeSeries('echoes', [...survey, ...echo(1), ...echo(2)], 'MR');
  const vol = await load(files, { stack: { prefer: 'axial', echo: 2 } });
  assert.equal(vol.slices.length, 16);
  assert.deepEqual(vol.stack, { number: 2, of: 5, plane: 'axial', slices: 16, spacingMm: 2, extentMm: 30, echoNumber: 2 });
  assert.ok(
    vol.warnings.some((w) =>
      /^4 other stack\(s\) in the series left out \(axial, 16 slice\(s\) 2\.00 mm apart, echo 1; .*localizer/.test(w),
    ),
    vol.warnings.join('; '),
  );
  assert.ok(distance(sphereCentre(vol), SPHERE.centre) < 0.2, 'the straight stack places the sphere where it is');
  await assert.rejects(load(files, { stack: { prefer: 'sagittal' } }), (e: unknown) => {
    assert.ok(e instanceof NotAVolumeError);
    assert.match(e.message, /no sagittal stack, which the model's manifest asks for/);
    return true;
  });
});

test('loader: gantry tilt of 15° and 30° resampled onto an orthogonal grid puts the sphere within 1 mm of the untilted truth; "skip" skips with the reason', async () => {
  const origin: Vec3 = [-29, -32, -10];
  const truth = await load(writeSeries('tilt0', tiltedStack({ count: 30, tiltDeg: 0, tableStepMm: 1.5, origin })));
  assert.equal(truth.stack?.tiltCorrectedDeg, undefined);
  const truthCentre = sphereCentre(truth);
  assert.ok(distance(truthCentre, SPHERE.centre) < 0.2, `untilted centre ${truthCentre.join(', ')}`);
  for (const tiltDeg of [15, 30]) {
    const files = writeSeries(`tilt${tiltDeg}`, tiltedStack({ count: 30, tiltDeg, tableStepMm: 1.5, origin }));
    const vol = await load(files, { gantryTilt: 'resample' });
    assert.ok(Math.abs(vol.stack!.tiltCorrectedDeg! - tiltDeg) < 0.01, JSON.stringify(vol.stack));
    assert.deepEqual(
      vol.warnings.filter((w) => /Gantry\/Detector Tilt/.test(w)),
      [],
      'the header (0018,1120) agrees with the positions',
    );
    assert.ok(Math.abs(vol.sliceSpacing - 1.5 * Math.cos((tiltDeg * Math.PI) / 180)) < 1e-6, 'spacing along the normal');
    const centre = sphereCentre(vol);
    assert.ok(
      distance(centre, truthCentre) < 1,
      `${tiltDeg}°: centre ${centre.map((v) => v.toFixed(2)).join(', ')} vs truth ${truthCentre.map((v) => v.toFixed(2)).join(', ')}`,
    );
    // A finding on the resampled volume points at the right pixel of the source image (the SR's SCOORD).
    const k = Math.round(vol.slices.length * 0.6);
    const slice = vol.slices[k]!;
    const onVolume = { column: 20, row: 30 };
    const mapped = findingsOnSourcePixels(oneFinding(slice.sopInstanceUid, onVolume), vol).findings[0]!.region!.graphicData;
    const source = readSourcePosition(files, slice.sopInstanceUid);
    const o = (tiltDeg * Math.PI) / 180;
    const onSource: Vec3 = [source[0] + mapped[0]!, source[1] + mapped[1]! * Math.cos(o), source[2] - mapped[1]! * Math.sin(o)];
    assert.ok(
      distance(onSource, pixelToPatient(vol, k, onVolume.column, onVolume.row)) < 0.1,
      'the source pixel is the same patient point',
    );
    await assert.rejects(load(files, { gantryTilt: 'skip' }), (e: unknown) => {
      assert.ok(e instanceof NotAVolumeError);
      assert.match(
        e.message,
        new RegExp(`stack 1 of 1: axial, 30 slice\\(s\\).*: gantry tilt of ${tiltDeg}\\.0°.*\\(the manifest says "gantryTilt": "skip"\\)`),
      );
      return true;
    });
  }
});

test('loader: Gantry/Detector Tilt (0018,1120) that disagrees with the positions by more than 1° is a warning; the positions are used', async () => {
  const origin: Vec3 = [-29, -32, -10];
  // Tilted 15° by the positions, the header says 0 (as some scanners leave it after reconstruction).
  const saysZero = tiltedStack({ count: 12, tiltDeg: 15, tableStepMm: 1.5, origin }).map((s) => ({ ...s, gantryTiltDeg: 0 }));
  const tilted = await load(writeSeries('tilt-says-0', saysZero));
  assert.ok(Math.abs(tilted.stack!.tiltCorrectedDeg! - 15) < 0.01, 'resampled by the measured tilt');
  assert.ok(
    tilted.warnings.includes(
      "Gantry/Detector Tilt (0018,1120) says 0.0° but the slice positions show 15.0°: the positions are used; check the scanner's reconstruction or export",
    ),
    tilted.warnings.join('; '),
  );
  // Straight by the positions, the header says -20 (the sign is the vendor's; the magnitude is compared).
  const saysTwenty = tiltedStack({ count: 12, tiltDeg: 0, tableStepMm: 1.5, origin }).map((s) => ({ ...s, gantryTiltDeg: -20 }));
  const straight = await load(writeSeries('tilt-says-20', saysTwenty));
  assert.equal(straight.stack?.tiltCorrectedDeg, undefined);
  assert.ok(
    straight.warnings.some((w) => /^Gantry\/Detector Tilt \(0018,1120\) says 20\.0° but the slice positions show 0\.0°/.test(w)),
    straight.warnings.join('; '),
  );
  // Within 1°: no warning (a header rounded to whole degrees).
  const close = tiltedStack({ count: 12, tiltDeg: 15, tableStepMm: 1.5, origin }).map((s) => ({ ...s, gantryTiltDeg: -15.8 }));
  const agreed = await load(writeSeries('tilt-says-15.8', close));
  assert.deepEqual(
    agreed.warnings.filter((w) => /Gantry\/Detector Tilt/.test(w)),
    [],
  );
});

function oneFinding(sopInstanceUid: string, at: { column: number; row: number }): SeriesResult {
  return {
    findings: [
      {
        id: 1,
        label: 'nodule',
        code: { value: '27925004', scheme: 'SCT', meaning: 'Nodule' },
        text: 'nodule',
        confidence: 0.9,
        measurements: [],
        region: { sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid, graphicType: 'POINT', graphicData: [at.column, at.row] },
      },
    ],
    impression: '',
    uncertainty: 0,
    lowConfidence: false,
    provenance: {
      modelName: 'm',
      modelVersion: '1',
      modelSha256: '',
      executionProvider: 'cpu',
      preprocessing: '',
      deidentification: '',
      nodeVersion: '',
      durationMs: 0,
    },
  };
}

/** Image Position (Patient) of a written file, read back from its header. */
function readSourcePosition(files: string[], sopInstanceUid: string): Vec3 {
  for (const f of files) {
    const bytes = fs.readFileSync(f);
    const h = readPart10Header(bytes);
    if (h.sopInstanceUid !== sopInstanceUid) continue;
    const a = readDatasetHeader(bytes.subarray(h.datasetOffset), h.transferSyntaxUid, {
      tags: { ImagePositionPatient: 0x00200032 },
    }).attributes;
    const [x, y, z] = (a.ImagePositionPatient ?? '').split('\\').map(Number);
    return [x!, y!, z!];
  }
  throw new Error(`no file for ${sopInstanceUid}`);
}

// ---- one run through a node: the stack named in /api/jobs and in the SR ----

test('node: a chest CT with a survey image filed in its series; /api/jobs and the SR name the axial stack used', async () => {
  const dir = tmpDir('stack-node');
  const p = writeChestPhantom({ outDir: dir, seed: 71, uidRoot: newUidRoot(), slices: 12 });
  // A survey image in the same series, whose Image Type does not say LOCALIZER (as some scanners write it).
  const survey = path.join(dir, 'survey.dcm');
  fs.copyFileSync(p.files[0]!, survey);
  const m = await runTool('dcmodify', [
    '-nb',
    '-m',
    '(0008,0008)=ORIGINAL\\PRIMARY\\OTHER',
    '-m',
    '(0020,0037)=1\\0\\0\\0\\0\\-1',
    '-m',
    `(0008,0018)=${newUidRoot()}.9`,
    survey,
  ]);
  assert.equal(m.code, 0, m.stderr);
  const n = await startTestNode({
    admin: { token: TOKEN },
    series: { stableSeconds: 1 },
    inference: { modelsDir: path.join(PROJECT_ROOT, 'models'), providers: ['cpu'] },
    // Nothing listens there: the report is made and kept, its delivery retried (not what this test is about).
    destinations: { PACS: { aeTitle: 'NOWHERE', host: '127.0.0.1', port: await freePort() } },
    routes: [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'] }],
  });
  try {
    const s = await runTool('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port), ...p.files, survey], {
      timeoutMs: 60_000,
    });
    assert.equal(s.code, 0, s.stderr);
    await waitFor(() => n.node.store.listJobs().some((j) => j.state !== 'queued' && j.state !== 'processing'), 120_000, 'the job to end');
    const jobs = JSON.parse(await adminGet(n.node.adminPort, '/api/jobs')) as {
      jobs: { state: string; stack: string | null; reason: string | null }[];
    };
    const job = jobs.jobs[0]!;
    assert.equal(job.state, 'done', job.reason ?? '');
    assert.match(job.stack ?? '', /^stack 1 of 2: axial, 12 slice\(s\) 2\.50 mm apart$/);
    const series = n.node.store.listJobs()[0]!.seriesInstanceUid;
    const report = n.node.store.latestReports(series, 'lung-nodule-reference', readManifestVersion())[0];
    assert.ok(report, 'a report was made');
    const d = await runTool('dsrdump', ['+U8', '+Pl', report.filePath]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /Image stack used: stack 1 of 2, axial, 12 slices, 2\.5 mm apart/);
  } finally {
    await n.stop();
  }
});

const TOKEN = 'stacks-test-token-0123456789';

function readManifestVersion(): string {
  return (
    JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'models', 'lung-nodule-reference', 'model.json'), 'utf8')) as { version: string }
  ).version;
}

function adminGet(port: number, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, headers: { Authorization: `Bearer ${TOKEN}` } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${urlPath}: HTTP ${res.statusCode} ${body}`))));
      })
      .on('error', reject);
  });
}

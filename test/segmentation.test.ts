/**
 * Volume mode end to end with a real trained model (issue 5): the MeshNet grey/white-matter
 * segmenter from ../shared/data/models/meshnet-gwm (see its MODEL.md) fed through the same path
 * as any DICOM series: NIfTI demo T1 -> DICOM MR series (fixtures/nifti-to-dicom.ts) ->
 * loadSeriesVolume -> conform (src/inference/conform.ts) -> ONNX session -> segmentation-volumes.
 *
 * One 256³ inference (~6 s on 2 CPU threads); everything else is small.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { PROJECT_ROOT, tmpDir } from './helpers/env';
import { niftiToDicomSeries, readNifti, formatDs } from '../fixtures/nifti-to-dicom';
import { newUidRoot } from '../fixtures/synthetic-ct';
import { readPart10Header } from '../src/dicom/part10';
import { parseManifest, type Manifest } from '../src/inference/manifest';
import { loadModels, sha256File, type ModelRegistry } from '../src/inference/registry';
import { frameOfReferenceOf, loadSeriesVolume, type SeriesVolume } from '../src/inference/series-volume';
import { conformGrid, conformVolume, conformedToPatient, volumeTensor } from '../src/inference/conform';
import { backgroundChannels, labelCode, segmentationStats, segmentationVolumes } from '../src/inference/postprocess/segmentation';
import { segmentationLabelMap } from '../src/inference/label-map';
import { labelsOnSourceGrid, segmentationGeometryOf } from '../src/inference/label-resample';
import { anatomicalSegment, buildSegmentation, segmentationUids } from '../src/report/segmentation-iod';
import { readSegmentation } from '../src/imaging/segmentation-reader';
import { parsePart10 } from '../src/imaging/dataset';
import { TAG } from '../src/dicom/tags';

const SHARED = process.env.DICOM_AI_SHARED ?? path.resolve(PROJECT_ROOT, '..', 'shared');
const MESHNET_DIR = path.join(SHARED, 'data', 'models', 'meshnet-gwm');
const MESHNET_ONNX = path.join(MESHNET_DIR, 'model.onnx');
const T1 = path.join(MESHNET_DIR, 't1_crop.nii.gz');
const MESHNET_SHA256 = '02850fb059badf0717d26f61048293b7422b2453fb48db8ae95d046059bfd90f';
const MANIFEST_PATH = path.join(PROJECT_ROOT, 'models', 'meshnet-gwm', 'model.json');

// MODEL.md: argmax on t1_crop.nii.gz fed directly (uint8 256³ 1 mm LIA, /255).
const REFERENCE_WM_ML = 518.54;
const REFERENCE_GM_ML = 735.212;

const work = tmpDir('segmentation');
let registry: ModelRegistry | undefined;
after(async () => {
  await registry?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

function readManifest(): Manifest {
  return parseManifest(JSON.parse(fs.readFileSync(MANIFEST_PATH, 'utf8')), 'models/meshnet-gwm/model.json');
}

async function loadDicomSeries(files: readonly string[]): Promise<SeriesVolume> {
  const inputs = files.map((f) => {
    const bytes = fs.readFileSync(f);
    const h = readPart10Header(bytes);
    return { bytes, sopInstanceUid: h.sopInstanceUid, sopClassUid: h.sopClassUid };
  });
  return loadSeriesVolume(inputs, frameOfReferenceOf(inputs[0]!.bytes), { allowIdentified: true }); // synthetic series
}

// ---------------------------------------------------------------------------------------------
// Geometry helpers for the synthetic volumes.

type Vec3 = [number, number, number];

function rotation(axis: Vec3, deg: number): (v: Vec3) => Vec3 {
  const n = Math.hypot(...axis);
  const [x, y, z] = axis.map((a) => a / n) as Vec3;
  const t = (deg * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  const C = 1 - c;
  const R = [
    [c + x * x * C, x * y * C - z * s, x * z * C + y * s],
    [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
    [z * x * C - y * s, z * y * C + x * s, c + z * z * C],
  ];
  return (v) => R.map((row) => row[0]! * v[0] + row[1]! * v[1] + row[2]! * v[2]) as Vec3;
}

/** A SeriesVolume built directly (no DICOM): a sphere of `radius` mm at LPS `centre`, 1000 inside, 100 outside. */
function sphereSeries(o: {
  row: Vec3;
  col: Vec3;
  columns: number;
  rows: number;
  slices: number;
  dc: number;
  dr: number;
  ds: number;
  firstPosition: Vec3;
  centre: Vec3;
  radius: number;
}): SeriesVolume {
  const normal: Vec3 = [
    o.row[1] * o.col[2] - o.row[2] * o.col[1],
    o.row[2] * o.col[0] - o.row[0] * o.col[2],
    o.row[0] * o.col[1] - o.row[1] * o.col[0],
  ];
  const slices = [];
  const values = [];
  for (let s = 0; s < o.slices; s++) {
    const pos: Vec3 = [0, 1, 2].map((a) => o.firstPosition[a]! + s * o.ds * normal[a]!) as Vec3;
    const v = new Float32Array(o.rows * o.columns);
    for (let r = 0; r < o.rows; r++) {
      for (let c = 0; c < o.columns; c++) {
        const p = [0, 1, 2].map((a) => pos[a]! + c * o.dc * o.row[a]! + r * o.dr * o.col[a]!);
        const d2 = (p[0]! - o.centre[0]) ** 2 + (p[1]! - o.centre[1]) ** 2 + (p[2]! - o.centre[2]) ** 2;
        v[r * o.columns + c] = d2 <= o.radius ** 2 ? 1000 : 100;
      }
    }
    slices.push({ sopInstanceUid: `2.25.${s + 1}`, sopClassUid: '1.2.840.10008.5.1.4.1.1.4', instanceNumber: s + 1, position: pos });
    values.push(v);
  }
  return {
    modality: 'MR',
    rows: o.rows,
    columns: o.columns,
    pixelSpacing: [o.dr, o.dc],
    sliceSpacing: o.ds,
    orientation: [...o.row, ...o.col] as SeriesVolume['orientation'],
    normal,
    slices,
    values,
    warnings: [],
  };
}

/** Voxels above 0.5 in a conformed [D, H, W] volume: count and centroid (i, j, k). */
function blob(data: Float32Array, [D, H, W]: readonly number[]): { count: number; centroid: Vec3 } {
  let n = 0;
  let si = 0;
  let sj = 0;
  let sk = 0;
  let p = 0;
  for (let k = 0; k < D!; k++) {
    for (let j = 0; j < H!; j++) {
      for (let i = 0; i < W!; i++, p++) {
        if (data[p]! > 0.5) {
          n++;
          si += i;
          sj += j;
          sk += k;
        }
      }
    }
  }
  return { count: n, centroid: [si / n, sj / n, sk / n] };
}

/** Where LPS point P must land on the LIA grid centred on `c`: i = Left (+x), j = Inferior (-z), k = Anterior (-y). */
function expectedLia(P: Vec3, c: Vec3, size: readonly number[]): Vec3 {
  const [D, H, W] = size as [number, number, number];
  return [(W - 1) / 2 + (P[0] - c[0]), (H - 1) / 2 - (P[2] - c[2]), (D - 1) / 2 - (P[1] - c[1])];
}

function assertClose(actual: readonly number[], expected: readonly number[], tol: number, what: string): void {
  actual.forEach((a, i) =>
    assert.ok(
      Math.abs(a - expected[i]!) <= tol,
      `${what}[${i}]: ${a} vs expected ${expected[i]} (±${tol}); all: [${actual.join(', ')}] vs [${expected.join(', ')}]`,
    ),
  );
}

// ---------------------------------------------------------------------------------------------

test('conform: an oblique series of an off-centre sphere lands where LIA says, volume preserved', () => {
  const rot = rotation([1, 2, 0.5], 28);
  const row = rot([1, 0, 0]);
  const col = rot([0, 1, 0]);
  const geometry = { row, col, columns: 150, rows: 130, slices: 110, dc: 0.9, dr: 1.1, ds: 1.3 };
  // First position chosen so the series' box centre is at (10, -30, 40) LPS.
  const boxCentre: Vec3 = [10, -30, 40];
  const normal: Vec3 = [row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2], row[0] * col[1] - row[1] * col[0]];
  const half = [
    ((geometry.columns - 1) / 2) * geometry.dc,
    ((geometry.rows - 1) / 2) * geometry.dr,
    ((geometry.slices - 1) / 2) * geometry.ds,
  ];
  const firstPosition = [0, 1, 2].map((a) => boxCentre[a]! - half[0]! * row[a]! - half[1]! * col[a]! - half[2]! * normal[a]!) as Vec3;
  const centre: Vec3 = [boxCentre[0] + 17, boxCentre[1] - 22, boxCentre[2] + 13];
  const radius = 28;
  const vol = sphereSeries({ ...geometry, firstPosition, centre, radius });

  const size = [160, 160, 160] as const;
  const c = conformVolume(vol, { size, voxelMm: 1 });
  assert.deepEqual(c.dims, [160, 160, 160]);
  assert.equal(c.voxelVolumeMm3, 1);
  assertClose(c.grid.centre, boxCentre, 1e-9, 'grid centre');
  let min = Infinity;
  let max = -Infinity;
  for (const v of c.data) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  assert.equal(min, 0);
  assert.equal(max, 1);

  const b = blob(c.data, c.dims);
  const want = expectedLia(centre, boxCentre, size);
  assertClose(b.centroid, want, 0.3, 'sphere centroid (voxels)');
  assertClose(conformedToPatient(c.grid, ...b.centroid), centre, 0.3, 'sphere centroid (LPS mm)');
  const sphereMm3 = (4 / 3) * Math.PI * radius ** 3;
  assert.ok(Math.abs(b.count - sphereMm3) / sphereMm3 < 0.03, `conformed sphere ${b.count} mm³ vs ${sphereMm3.toFixed(0)} mm³`);
  assert.match(c.description, /150x130x110 series \(0\.9 x 1\.1 x 1\.3 mm\) conformed to 160x160x160 1 mm LIA/);
  assert.match(c.description, /min-max over the volume \(100\.\.1000 -> \[0,1\]\)/);
});

test('conform: a sagittal series (rows inferior, columns posterior) keeps left/right, front/back and up/down', () => {
  // Sagittal: row direction = posterior (0,1,0), column direction = inferior (0,0,-1); normal = row x col = (-1,0,0).
  const row: Vec3 = [0, 1, 0];
  const col: Vec3 = [0, 0, -1];
  const geometry = { row, col, columns: 120, rows: 110, slices: 60, dc: 1, dr: 1, ds: 2 };
  const firstPosition: Vec3 = [60, -70, 60];
  // Box centre: x 60 - 59 = 1, y -70 + 59.5 = -10.5, z 60 - 54.5 = 5.5.
  const boxCentre: Vec3 = [1, -10.5, 5.5];
  const centre: Vec3 = [-20, 15, -18]; // right of centre, posterior, inferior
  const vol = sphereSeries({ ...geometry, firstPosition, centre, radius: 20 });
  const size = [128, 128, 128] as const;
  const c = conformVolume(vol, { size, voxelMm: 1 });
  assertClose(c.grid.centre, boxCentre, 1e-9, 'grid centre');
  const b = blob(c.data, c.dims);
  const want = expectedLia(centre, boxCentre, size);
  // Right of centre -> smaller i; posterior -> smaller k; inferior -> larger j.
  assert.ok(want[0] < 63.5 && want[1] > 63.5 && want[2] < 63.5);
  assertClose(b.centroid, want, 0.3, 'sphere centroid (voxels)');
  const sphereMm3 = (4 / 3) * Math.PI * 20 ** 3;
  assert.ok(Math.abs(b.count - sphereMm3) / sphereMm3 < 0.04, `conformed sphere ${b.count} mm³ vs ${sphereMm3.toFixed(0)} mm³`);
});

/** A NIfTI-1 file: float32, sform `affine` (RAS, row-major 3x4), i fastest. */
function writeNifti(file: string, dims: Vec3, affine: number[], value: (i: number, j: number, k: number) => number): void {
  const h = Buffer.alloc(352);
  h.writeInt32LE(348, 0);
  [3, dims[0], dims[1], dims[2], 1, 1, 1, 1].forEach((d, i) => h.writeInt16LE(d, 40 + 2 * i));
  h.writeInt16LE(16, 70);
  h.writeInt16LE(32, 72);
  const vox = [0, 1, 2].map((c) => Math.hypot(affine[c]!, affine[4 + c]!, affine[8 + c]!));
  [1, vox[0]!, vox[1]!, vox[2]!, 1, 1, 1, 1].forEach((d, i) => h.writeFloatLE(d, 76 + 4 * i));
  h.writeFloatLE(352, 108);
  h.writeFloatLE(1, 112);
  h.writeInt16LE(0, 252);
  h.writeInt16LE(1, 254);
  affine.forEach((v, i) => h.writeFloatLE(v, 280 + 4 * i));
  h.write('n+1\0', 344, 'latin1');
  const data = Buffer.alloc(dims[0] * dims[1] * dims[2] * 4);
  let p = 0;
  for (let k = 0; k < dims[2]; k++)
    for (let j = 0; j < dims[1]; j++) for (let i = 0; i < dims[0]; i++, p++) data.writeFloatLE(value(i, j, k), p * 4);
  fs.writeFileSync(file, Buffer.concat([h, data]));
}

test('nifti-to-dicom: an oblique float32 NIfTI becomes an MR series with the same geometry; conform finds its sphere', async () => {
  const rot = rotation([0.3, -1, 0.7], 35);
  // RAS affine: anisotropic voxels 1.2 x 0.8 x 1.5 mm along rotated axes.
  const ax = [rot([1.2, 0, 0]), rot([0, 0.8, 0]), rot([0, 0, 1.5])];
  const origin: Vec3 = [-40.25, -55.5, -30.125];
  const affine = [
    ax[0]![0],
    ax[1]![0],
    ax[2]![0],
    origin[0],
    ax[0]![1],
    ax[1]![1],
    ax[2]![1],
    origin[1],
    ax[0]![2],
    ax[1]![2],
    ax[2]![2],
    origin[2],
  ];
  const dims: Vec3 = [70, 90, 50];
  const f32 = (v: number): number => Math.fround(v);
  const A = affine.map(f32);
  const ras = (i: number, j: number, k: number): Vec3 =>
    [0, 1, 2].map((r) => A[4 * r]! * i + A[4 * r + 1]! * j + A[4 * r + 2]! * k + A[4 * r + 3]!) as Vec3;
  const centreRas = ras(30, 50, 20);
  const radius = 18;
  const file = path.join(work, 'oblique.nii');
  writeNifti(file, dims, affine, (i, j, k) => {
    const p = ras(i, j, k);
    return Math.hypot(p[0] - centreRas[0], p[1] - centreRas[1], p[2] - centreRas[2]) <= radius
      ? 812.75
      : 3.5 + ((i * 7 + j * 3 + k) % 5) * 0.25;
  });
  const nii = readNifti(file);
  assert.equal(nii.datatype, 'float32');
  assert.equal(nii.affineSource, 'sform');

  const files = niftiToDicomSeries(file, {
    outDir: path.join(work, 'oblique-dcm'),
    uidRoot: newUidRoot(),
    seriesDescription: 'T1 OBLIQUE',
  });
  assert.equal(files.length, dims[2]);
  const vol = await loadDicomSeries(files);
  assert.equal(vol.modality, 'MR');
  assert.equal(vol.columns, dims[0]);
  assert.equal(vol.rows, dims[1]);
  assertClose(vol.pixelSpacing, [0.8, 1.2], 1e-6, 'pixel spacing');
  assert.ok(Math.abs(vol.sliceSpacing - 1.5) < 1e-6, `slice spacing ${vol.sliceSpacing}`);
  // Slice k's position = affine·(0,0,k) in LPS, whichever order loadSeriesVolume sorted them into.
  const lps = (p: Vec3): Vec3 => [-p[0], -p[1], p[2]];
  const byUid = new Map(vol.slices.map((s) => [s.sopInstanceUid, s]));
  files.forEach((f, k) => {
    const s = byUid.get(readPart10Header(fs.readFileSync(f)).sopInstanceUid)!;
    assertClose(s.position, lps(ras(0, 0, k)), 1e-9, `slice ${k} position`);
  });
  // Pixel values: float32 quantised to 16 bits over 3.5..812.75: within half a step (0.0062).
  const k0 = vol.slices.findIndex((s) => s.sopInstanceUid === readPart10Header(fs.readFileSync(files[20]!)).sopInstanceUid);
  let worst = 0;
  for (let p = 0; p < dims[0] * dims[1]; p++)
    worst = Math.max(worst, Math.abs(vol.values[k0]![p]! - nii.data[20 * dims[0] * dims[1] + p]!));
  assert.ok(worst < (812.75 - 3.5) / 65535 / 2 + 1e-4, `worst quantisation error ${worst}`);

  const size = [128, 128, 128] as const;
  const c = conformVolume(vol, { size, voxelMm: 1 });
  const b = blob(c.data, c.dims);
  const centreLps = lps(centreRas);
  assertClose(conformedToPatient(c.grid, ...b.centroid), centreLps, 0.4, 'sphere centroid (LPS mm)');
  assertClose(b.centroid, expectedLia(centreLps, c.grid.centre, size), 0.4, 'sphere centroid (voxels)');
  const sphereMm3 = (4 / 3) * Math.PI * radius ** 3;
  assert.ok(Math.abs(b.count - sphereMm3) / sphereMm3 < 0.04, `conformed sphere ${b.count} mm³ vs ${sphereMm3.toFixed(0)} mm³`);
});

test('formatDs: 16 characters at most, float32 header values survive', () => {
  for (const v of [127.5999984741211, Math.fround(-133.48001), 0.1, -0.7071067690849304, 1e-20, 123456789012.5, 0]) {
    const s = formatDs(v);
    assert.ok(s.length <= 16, s);
    assert.equal(Math.fround(Number(s)), Math.fround(v), `${v} -> ${s}`);
  }
});

test('segmentation-volumes: counts, volumes, confidence and uncertainty from a known output', () => {
  const m = readManifest();
  // 4 x 5 x 6 grid (D, H, W), 3 channels as probabilities.
  const [D, H, W] = [4, 5, 6];
  const plane = D * H * W;
  const data = new Float32Array(3 * plane);
  let wm = 0;
  let gm = 0;
  let unsure = 0;
  for (let p = 0; p < plane; p++) {
    // p % 4: 0 background, 1 white matter (sure), 2 grey matter (sure), 3 grey matter (unsure: 0.5 vs 0.4).
    const kind = p % 4;
    const probs = kind === 0 ? [0.9, 0.05, 0.05] : kind === 1 ? [0.05, 0.9, 0.05] : kind === 2 ? [0.1, 0.1, 0.8] : [0.1, 0.4, 0.5];
    probs.forEach((v, c) => (data[c * plane + p] = v));
    if (kind === 1) wm++;
    if (kind >= 2) gm++;
    if (kind === 3) unsure++;
  }
  const vol = sphereSeries({
    row: [1, 0, 0],
    col: [0, 1, 0],
    columns: 6,
    rows: 5,
    slices: 4,
    dc: 1,
    dr: 1,
    ds: 1,
    firstPosition: [0, 0, 0],
    centre: [0, 0, 0],
    radius: 1,
  });
  const voxel = 1.5; // mm³
  const r = segmentationVolumes({ volume: vol, manifest: m, output: { data, dims: [1, 3, D, H, W], voxelVolumeMm3: voxel } });
  assert.equal(r.findings.length, 2);
  const [w, g] = r.findings as [(typeof r.findings)[number], (typeof r.findings)[number]];
  assert.equal(w.label, 'white matter');
  assert.deepEqual(w.code, { value: '389080008', scheme: 'SCT', meaning: 'White Matter' });
  assert.equal(g.label, 'grey matter');
  assert.deepEqual(g.code, { value: '389081007', scheme: 'SCT', meaning: 'Gray Matter' });
  const ml = (n: number): number => (n * voxel) / 1000;
  assert.equal(w.measurements.find((x) => x.key === 'volumeMl')!.value, Math.round(ml(wm) * 1000) / 1000);
  assert.equal(w.measurements.find((x) => x.key === 'volumeMm3')!.value, wm * voxel);
  assert.deepEqual(w.measurements[0]!.concept, { value: '118565006', scheme: 'SCT', meaning: 'Volume' });
  assert.equal(w.measurements[0]!.unit.value, 'ml');
  assert.equal(g.measurements.find((x) => x.key === 'volumeMm3')!.value, gm * voxel);
  assert.equal(w.templateValues!['volumeMl'], Math.round(ml(wm) * 10) / 10);
  assert.ok(Math.abs(w.confidence - 0.9) < 1e-6, `wm confidence ${w.confidence}`);
  assert.ok(Math.abs(g.confidence - (0.8 * (gm - unsure) + 0.5 * unsure) / gm) < 1e-6, `gm confidence ${g.confidence}`);
  assert.ok(Math.abs(r.uncertainty - unsure / (wm + gm)) < 1e-9, `uncertainty ${r.uncertainty}`);

  // The same scores as logits (log-probabilities): softmax recovers the probabilities; same result.
  const logits = data.map((v) => Math.log(v));
  const r2 = segmentationVolumes({ volume: vol, manifest: m, output: { data: logits, dims: [1, 3, D, H, W], voxelVolumeMm3: voxel } });
  assert.deepEqual(
    r2.findings.map((f) => f.measurements[1]!.value),
    [wm * voxel, gm * voxel],
  );
  assert.ok(Math.abs(r2.findings[1]!.confidence - g.confidence) < 1e-6);
  assert.ok(Math.abs(r2.uncertainty - r.uncertainty) < 1e-9);

  // One channel (sigmoid probabilities): the label where p >= its threshold (0.7 here).
  const single = new Float32Array(plane).map((_, p) => (p < 30 ? 0.9 : p < 50 ? 0.6 : 0.1));
  const one = { ...m, output: { ...m.output, labels: ['lesion'], thresholds: { lesion: 0.7 } } };
  const r3 = segmentationVolumes({ volume: vol, manifest: one, output: { data: single, dims: [1, 1, D, H, W], voxelVolumeMm3: voxel } });
  assert.equal(r3.findings.length, 1);
  assert.deepEqual(r3.findings[0]!.code, { value: 'LESION', scheme: '99DAIN', meaning: 'lesion' });
  assert.equal(r3.findings[0]!.measurements[1]!.value, 30 * voxel);
  assert.ok(Math.abs(r3.findings[0]!.confidence - 0.9) < 1e-6);
  assert.equal(r3.uncertainty, 0);

  assert.throws(() => segmentationStats(data, [1, 2, D, H, W * 1.5], m.output.labels), /2 channels but the manifest lists 3 labels/);
  assert.deepEqual(backgroundChannels(['lesion', 'organ']), [true, false]);
  assert.deepEqual(labelCode('Left hippo-campus blob'), { value: 'LEFT-HIPPO-CAMPU', scheme: '99DAIN', meaning: 'Left hippo-campus blob' });
  assert.throws(() => segmentationVolumes({ volume: vol, manifest: m }), /needs a volume-mode output/);
});

test('meshnet-gwm manifest: parses; volumeTensor refuses slice-mode manifests', () => {
  const m = readManifest();
  assert.equal(m.name, 'meshnet-gwm');
  assert.equal(m.preprocessing.mode, 'volume');
  assert.equal(m.preprocessing.window, 'minmax');
  assert.deepEqual(m.output.labels, ['background', 'white matter', 'grey matter']);
  const readme = fs.readFileSync(path.join(PROJECT_ROOT, 'models', 'meshnet-gwm', 'README.md'), 'utf8');
  assert.ok(readme.includes(MESHNET_SHA256), 'README gives the sha256 of model.onnx');
  const vol = sphereSeries({
    row: [1, 0, 0],
    col: [0, 1, 0],
    columns: 4,
    rows: 4,
    slices: 3,
    dc: 1,
    dr: 1,
    ds: 1,
    firstPosition: [0, 0, 0],
    centre: [0, 0, 0],
    radius: 1,
  });
  assert.throws(() => volumeTensor(vol, { ...m, preprocessing: { ...m.preprocessing, mode: 'slice' } }), /not "volume"/);
});

test('meshnet-gwm on the demo T1 through DICOM: ~519 ml white matter, ~735 ml grey matter', async () => {
  const t0 = Date.now();
  const nii = readNifti(T1);
  const files = niftiToDicomSeries(T1, { outDir: path.join(work, 't1-dcm'), uidRoot: newUidRoot() });
  const tConvert = Date.now();
  assert.equal(files.length, 256);
  const vol = await loadDicomSeries(files);
  const tLoad = Date.now();
  // LIA NIfTI, slices along k (anterior): coronal images, rows inferior, columns left.
  assertClose(vol.orientation, [1, 0, 0, 0, 0, -1], 1e-12, 'orientation');
  assert.deepEqual([vol.columns, vol.rows, vol.slices.length], [256, 256, 256]);
  assert.ok(vol.frameOfReferenceUid);
  const A = nii.affine;
  const byUid = new Map(vol.slices.map((s) => [s.sopInstanceUid, s]));
  for (const k of [0, 100, 255]) {
    const s = byUid.get(readPart10Header(fs.readFileSync(files[k]!)).sopInstanceUid)!;
    assertClose(s.position, [-(A[2]! * k + A[3]!), -(A[6]! * k + A[7]!), A[10]! * k + A[11]!], 1e-9, `slice ${k} position`);
  }

  const m = readManifest();
  const t = volumeTensor(vol, m);
  const tConform = Date.now();
  assert.deepEqual(t.dims, [1, 1, 256, 256, 256]);
  assert.equal(t.voxelVolumeMm3, 1);
  assert.match(t.description, /min-max over the volume \(0\.\.255 -> \[0,1\]\)/);
  // The series is already conformed: the tensor must be the NIfTI itself, voxel for voxel, /255.
  let worst = 0;
  let worstAt = -1;
  for (let p = 0; p < nii.data.length; p++) {
    const d = Math.abs(t.data[p]! - nii.data[p]! / 255);
    if (d > worst) {
      worst = d;
      worstAt = p;
    }
  }
  assert.ok(worst < 1e-6, `tensor differs from the NIfTI by ${worst} at voxel ${worstAt}`);

  // The model as a site installs it: manifest + model.onnx in a models folder.
  const modelsDir = path.join(work, 'models');
  fs.mkdirSync(path.join(modelsDir, 'meshnet-gwm'), { recursive: true });
  fs.copyFileSync(MANIFEST_PATH, path.join(modelsDir, 'meshnet-gwm', 'model.json'));
  fs.copyFileSync(MESHNET_ONNX, path.join(modelsDir, 'meshnet-gwm', 'model.onnx'));
  registry = await loadModels(modelsDir, { providers: ['cpu'], intraOpNumThreads: 2 });
  const model = registry.get('meshnet-gwm');
  assert.ok(model, JSON.stringify(registry.report));
  assert.equal(model.sha256, MESHNET_SHA256);
  assert.equal(await sha256File(MESHNET_ONNX), MESHNET_SHA256);
  const tLoaded = Date.now();
  const out = await model.session.run({ [m.input.name]: { type: 'float32', data: t.data, dims: t.dims } });
  const tInfer = Date.now();
  const scores = out[m.output.name]!;
  assert.deepEqual(scores.dims, [1, 3, 256, 256, 256]);

  const r = segmentationVolumes({
    volume: vol,
    manifest: m,
    output: { data: scores.data as Float32Array, dims: scores.dims, voxelVolumeMm3: t.voxelVolumeMm3 },
  });
  const tPost = Date.now();
  const ml = (label: string): number => r.findings.find((f) => f.label === label)!.measurements.find((x) => x.key === 'volumeMl')!.value;
  const wm = ml('white matter');
  const gm = ml('grey matter');
  const g = conformGrid(vol, [256, 256, 256]);
  console.log(
    `# meshnet-gwm via DICOM: WM ${wm} ml, GM ${gm} ml (NIfTI-direct reference ${REFERENCE_WM_ML} / ${REFERENCE_GM_ML}); ` +
      `confidence WM ${r.findings[0]!.confidence.toFixed(3)} GM ${r.findings[1]!.confidence.toFixed(3)}; uncertainty ${r.uncertainty.toFixed(3)}; ` +
      `centres ${r.findings.map((f) => `${f.label} (${f.centre!.x}, ${f.centre!.y}, ${f.centre!.z})`).join(', ')}; grid centre (${g.centre.join(', ')})\n` +
      `# timings: read NIfTI + write 256 DICOM ${tConvert - t0} ms, loadSeriesVolume ${tLoad - tConvert} ms, conform + window ${tConform - tLoad} ms, ` +
      `session ${tLoaded - tConform} ms, inference ${tInfer - tLoaded} ms, segmentation-volumes ${tPost - tInfer} ms`,
  );
  assert.ok(Math.abs(wm - REFERENCE_WM_ML) / REFERENCE_WM_ML < 0.02, `white matter ${wm} ml vs ${REFERENCE_WM_ML}`);
  assert.ok(Math.abs(gm - REFERENCE_GM_ML) / REFERENCE_GM_ML < 0.02, `grey matter ${gm} ml vs ${REFERENCE_GM_ML}`);
  assert.deepEqual(
    r.findings.map((f) => f.code.value),
    ['389080008', '389081007'],
  );
  for (const f of r.findings) {
    assert.ok(f.confidence > 0.5 && f.confidence <= 1, `${f.label} confidence ${f.confidence}`);
    assert.equal(f.centre!.frameOfReferenceUid, vol.frameOfReferenceUid);
    // Brain tissue centroids lie within a few cm of the head's centre.
    assert.ok(
      Math.hypot(f.centre!.x - g.centre[0], f.centre!.y - g.centre[1], f.centre!.z - g.centre[2]) < 40,
      `${f.label} centre far off`,
    );
  }
  assert.ok(r.uncertainty >= 0 && r.uncertainty < m.uncertaintyThreshold, `uncertainty ${r.uncertainty}`);

  // The same output as a DICOM Segmentation (issue 14): resampled onto the source grid, written,
  // read back; each segment counted in ml on the source grid agrees with the SR's volume (2 %).
  const map = segmentationLabelMap(scores.data as Float32Array, scores.dims, m.output.labels);
  const seriesUid = parsePart10(fs.readFileSync(files[0]!)).dataSet.string(TAG.SeriesInstanceUID)!;
  const seg = buildSegmentation({
    sourceFile: fs.readFileSync(files[0]!),
    sourceSeriesInstanceUid: seriesUid,
    geometry: segmentationGeometryOf(vol),
    labels: labelsOnSourceGrid(vol, t.grid, map.data),
    segments: map.segments.map((s) => anatomicalSegment(s.label, s.code)),
    algorithm: { name: m.name, version: m.version },
    device: {
      aeTitle: 'DICOM_AI',
      deviceUid: '2.25.1',
      manufacturer: 'dicom-ai-node project',
      modelName: 'dicom-ai-node',
      softwareVersion: 'test',
    },
    uids: segmentationUids(seriesUid, m.name, m.version, 1),
    contentDateTime: new Date('2026-01-02T03:04:05Z'),
    revision: 1,
  });
  const read = readSegmentation(seg.bytes);
  const voxelMl = (vol.pixelSpacing[0] * vol.pixelSpacing[1] * vol.sliceSpacing) / 1000;
  for (const s of read.segments) {
    const bits = read.frames.filter((f) => f.segmentNumber === s.number).reduce((n, f) => n + f.pixels.reduce((a, b) => a + b, 0), 0);
    const segMl = bits * voxelMl;
    console.log(`# SEG segment ${s.number} "${s.label}": ${segMl.toFixed(3)} ml on the source grid, SR ${ml(s.label)} ml`);
    assert.ok(Math.abs(segMl - ml(s.label)) / ml(s.label) < 0.02, `${s.label}: SEG ${segMl} ml vs SR ${ml(s.label)} ml`);
  }
  assert.deepEqual(
    read.segments.map((s) => [s.label, s.type]),
    [
      ['white matter', '389080008'],
      ['grey matter', '389081007'],
    ],
  );
});

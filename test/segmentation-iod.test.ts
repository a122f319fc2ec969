/**
 * DICOM Segmentation writer (src/report/segmentation-iod.ts), checked with dicom3tools' dciodvfy
 * (no errors) and read back with the project's own reader (src/imaging/segmentation-reader.ts):
 * a synthetic label map on the conformed grid (a sphere = segment 1, a box = segment 2, defined in
 * patient millimetres) is resampled onto the source grid (nearest neighbour) of an axial and a
 * sagittal MR acquisition; frame by frame, each frame must lie on its source slice (position,
 * orientation, referenced instance) and each pixel must carry the label of the conformed voxel
 * nearest to where that pixel lies in the patient. Every labelled source voxel must be in exactly
 * one frame; slices without a segment get no frame for it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { tmpDir } from './helpers/env';
import { run } from './helpers/run';
import { OrthancPacs } from './helpers/orthanc';
import { MR_IMAGE_STORAGE, monochrome16, patientModule, writePart10, type El } from '../fixtures/dicom-writer';
import { newUidRoot } from '../fixtures/synthetic-ct';
import { formatDs } from '../fixtures/nifti-to-dicom';
import { readPart10Header } from '../src/dicom/part10';
import { frameOfReferenceOf, loadSeriesVolume, type SeriesVolume } from '../src/inference/series-volume';
import { conformGrid, conformedToPatient, type ConformGrid } from '../src/inference/conform';
import { segmentationInWorker } from '../src/inference/cpu-task';
import { labelsOnSourceGrid, segmentationGeometryOf } from '../src/inference/label-resample';
import { buildSegmentation, NODULE_TYPE, SEGMENT_CATEGORY, segmentationUids } from '../src/report/segmentation-iod';
import { readSegmentation } from '../src/imaging/segmentation-reader';
import { parsePart10 } from '../src/imaging/dataset';
import { readFrameGeometries } from '../src/imaging/functional-groups';
import { TAG } from '../src/dicom/tags';
import { convertSeries } from '../fixtures/to-enhanced';
import { tiltedStack, writeStackSeries } from '../fixtures/stack-series';

type Vec3 = [number, number, number];

const hasDciodvfy = spawnSync('dciodvfy', [], { stdio: 'ignore' }).error === undefined;
const hasOrthanc = fs.existsSync('/usr/sbin/Orthanc') && spawnSync('storescu', ['--version'], { stdio: 'ignore' }).error === undefined;

/** The axial case's source files and SEG, for the PACS test at the end. */
let axialCase: { files: string[]; segFile: string; studyUid: string; frames: number } | undefined;
const work = tmpDir('segmentation-iod');
after(() => fs.rmSync(work, { recursive: true, force: true }));

const DEVICE = {
  aeTitle: 'DICOM_AI',
  deviceUid: '2.25.318298118532367137530218463208612345',
  manufacturer: 'dicom-ai-node project',
  modelName: 'dicom-ai-node',
  softwareVersion: '0.0.0-test',
};

interface Acquisition {
  name: string;
  /** CT acquired with the gantry tilted this many degrees (fixtures/stack-series.ts); the loader shifts it straight. */
  tiltDeg?: number;
  /** Sent as Enhanced MR multi-frame objects (frames shuffled) instead of single-frame images. */
  enhanced?: boolean;
  /** Row direction, column direction (LPS). */
  orientation: [number, number, number, number, number, number];
  rows: number;
  columns: number;
  slices: number;
  pixelSpacing: [number, number];
  sliceSpacing: number;
}

/** A small MR series with the given orientation, centred near the origin; pixel values are a ramp. */
function writeSeries(a: Acquisition, dir: string, root: string): string[] {
  const o = a.orientation;
  const row: Vec3 = [o[0], o[1], o[2]];
  const col: Vec3 = [o[3], o[4], o[5]];
  const normal: Vec3 = [row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2], row[0] * col[1] - row[1] * col[0]];
  const [dr, dc] = a.pixelSpacing;
  const first = [0, 1, 2].map(
    (x) =>
      0.37 - ((a.columns - 1) / 2) * dc * row[x]! - ((a.rows - 1) / 2) * dr * col[x]! - ((a.slices - 1) / 2) * a.sliceSpacing * normal[x]!,
  );
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const pixels = Buffer.alloc(a.rows * a.columns * 2);
  for (let p = 0; p < a.rows * a.columns; p++) pixels.writeUInt16LE(p % 1000, p * 2);
  // Written in reverse order: the loader must sort them along the normal.
  for (let s = a.slices - 1; s >= 0; s--) {
    const pos = first.map((v, x) => v + s * a.sliceSpacing * normal[x]!);
    const file = path.join(dir, `MR${s + 1}.dcm`);
    const elements: El[] = [
      [0x0008, 0x0008, 'CS', 'ORIGINAL\\PRIMARY'],
      [0x0008, 0x0020, 'DA', '20260101'],
      [0x0008, 0x0030, 'TM', '120000'],
      [0x0008, 0x0050, 'SH', 'ACC-SEG-1'],
      [0x0008, 0x0060, 'CS', 'MR'],
      [0x0008, 0x0090, 'PN', ''],
      ...patientModule({ name: 'SYNTHETIC^SEGMENT', id: 'SYN-SEG-7', birthDate: '19700101', sex: 'O' }),
      [0x0018, 0x0015, 'CS', 'BRAIN'],
      [0x0018, 0x0050, 'DS', formatDs(a.sliceSpacing)],
      [0x0020, 0x000d, 'UI', `${root}.1`],
      [0x0020, 0x000e, 'UI', `${root}.2`],
      [0x0020, 0x0010, 'SH', 'S1'],
      [0x0020, 0x0013, 'IS', String(s + 1)],
      [0x0020, 0x0032, 'DS', pos.map(formatDs).join('\\')],
      [0x0020, 0x0037, 'DS', o.map(formatDs).join('\\')],
      [0x0020, 0x0052, 'UI', `${root}.4`],
      ...monochrome16(a.rows, a.columns, false),
      [0x0028, 0x0030, 'DS', a.pixelSpacing.map(formatDs).join('\\')],
      [0x7fe0, 0x0010, 'OW', pixels],
    ];
    writePart10(file, MR_IMAGE_STORAGE, `${root}.3.${s + 1}`, elements);
    files.push(file);
  }
  return files;
}

/** Image Position (Patient) of every source image (and frame) as stored in the files: "sop#frame" -> IPP. */
function positionsOnDisk(files: readonly string[]): Map<string, readonly number[]> {
  const out = new Map<string, readonly number[]>();
  for (const f of files) {
    const { dataSet: ds } = parsePart10(fs.readFileSync(f));
    const sop = ds.string(TAG.SOPInstanceUID)!;
    const frames = ds.number(TAG.NumberOfFrames) ?? 1;
    if (frames > 1) {
      for (const g of readFrameGeometries(ds, frames)) out.set(`${sop}#${g.frameNumber}`, g.imagePositionPatient!);
    } else out.set(`${sop}#`, ds.numbers(TAG.ImagePositionPatient));
  }
  return out;
}

/** The synthetic "model output": 1 inside a sphere, 2 inside a box, in patient mm. */
function truthLabel(p: Vec3): number {
  if (Math.hypot(p[0] - 4, p[1] + 3, p[2] - 2) <= 9) return 1;
  if (p[0] > -20 && p[0] < -12 && p[1] > 5 && p[1] < 15 && p[2] > -6 && p[2] < 10) return 2;
  return 0;
}

function conformedLabels(grid: ConformGrid): Uint8Array {
  const [D, H, W] = grid.size;
  const out = new Uint8Array(W * H * D);
  for (let k = 0; k < D; k++)
    for (let j = 0; j < H; j++) for (let i = 0; i < W; i++) out[i + W * (j + H * k)] = truthLabel(conformedToPatient(grid, i, j, k));
  return out;
}

/** Label of the conformed voxel nearest to patient point p (0 outside the grid). */
function labelNear(grid: ConformGrid, labels: Uint8Array, p: Vec3): number {
  const [D, H, W] = grid.size;
  const d = [0, 1, 2].map((x) => p[x]! - grid.origin[x]!);
  const [i, j, k] = grid.axes.map((a) => Math.round((d[0]! * a[0] + d[1]! * a[1] + d[2]! * a[2]) / grid.voxelMm ** 2)) as Vec3;
  return i < 0 || j < 0 || k < 0 || i >= W || j >= H || k >= D ? 0 : labels[i + W * (j + H * k)]!;
}

async function loadSeries(files: readonly string[]): Promise<SeriesVolume> {
  const inputs = files.map((f) => {
    const bytes = fs.readFileSync(f);
    const h = readPart10Header(bytes);
    return { bytes, sopInstanceUid: h.sopInstanceUid, sopClassUid: h.sopClassUid };
  });
  return loadSeriesVolume(inputs, frameOfReferenceOf(inputs[0]!.bytes), { allowIdentified: true }); // synthetic series
}

const ACQUISITIONS: Acquisition[] = [
  { name: 'axial', orientation: [1, 0, 0, 0, 1, 0], rows: 36, columns: 42, slices: 17, pixelSpacing: [0.9, 0.9], sliceSpacing: 1.7 },
  {
    name: 'axial enhanced multi-frame',
    enhanced: true,
    orientation: [1, 0, 0, 0, 1, 0],
    rows: 36,
    columns: 42,
    slices: 17,
    pixelSpacing: [0.9, 0.9],
    sliceSpacing: 1.7,
  },
  {
    name: 'gantry-tilted CT',
    tiltDeg: 17,
    orientation: [1, 0, 0, 0, 1, 0],
    rows: 40,
    columns: 40,
    slices: 17,
    pixelSpacing: [0.9, 0.9],
    sliceSpacing: 1.6,
  },
  {
    // Oblique (rows 30 degrees off the patient's left, columns toward the feet), non-square pixels:
    // a swap of row and column spacing, or of the axes, shows.
    name: 'oblique',
    orientation: [Math.cos(Math.PI / 6), Math.sin(Math.PI / 6), 0, 0, 0, -1],
    rows: 30,
    columns: 44,
    slices: 13,
    pixelSpacing: [1.3, 0.8],
    sliceSpacing: 1.9,
  },
  { name: 'sagittal', orientation: [0, 1, 0, 0, 0, -1], rows: 38, columns: 34, slices: 15, pixelSpacing: [1.1, 1.1], sliceSpacing: 2.3 },
];

for (const acq of ACQUISITIONS) {
  test(`SEG of a ${acq.name} acquisition: dciodvfy clean, every frame on its source slice, every pixel from the label map`, async (t) => {
    const root = newUidRoot();
    const single =
      acq.tiltDeg !== undefined
        ? writeStackSeries({
            outDir: path.join(work, acq.name),
            uidRoot: root,
            modality: 'CT',
            rows: acq.rows,
            columns: acq.columns,
            pixelMm: acq.pixelSpacing[0],
            sliceThicknessMm: acq.sliceSpacing,
            slices: tiltedStack({ count: acq.slices, tiltDeg: acq.tiltDeg, tableStepMm: acq.sliceSpacing, origin: [-17.6, -16.3, -10.1] }),
            sphere: { centre: [0, 0, 0], radiusMm: 5, value: 40, background: -800 },
          })
        : writeSeries(acq, path.join(work, acq.name), root);
    const files = acq.enhanced
      ? await convertSeries(single, { kind: 'enhanced', objects: 2, shuffleSeed: 7, outDir: path.join(work, `${acq.name}-mf`) })
      : single;
    const sourcePositions = positionsOnDisk(files);
    const seriesUid = parsePart10(fs.readFileSync(files[0]!)).dataSet.string(TAG.SeriesInstanceUID)!;
    const vol = await loadSeries(files);
    const grid = conformGrid(vol, [40, 40, 40], 1);
    const conformed = conformedLabels(grid);
    const labels = labelsOnSourceGrid(vol, grid, conformed);
    const geometry = segmentationGeometryOf(vol);
    const uids = segmentationUids(seriesUid, 'synthetic-model', '1.0', 1);
    const built = buildSegmentation({
      sourceFile: fs.readFileSync(files[0]!),
      sourceSeriesInstanceUid: seriesUid,
      geometry,
      labels,
      segments: [
        { label: 'Sphere', category: SEGMENT_CATEGORY.morphologicallyAbnormalStructure, type: NODULE_TYPE },
        {
          label: 'Gray matter',
          category: SEGMENT_CATEGORY.anatomicalStructure,
          type: { value: '389081007', scheme: 'SCT', meaning: 'Gray Matter' },
        },
      ],
      algorithm: { name: 'synthetic-model', version: '1.0' },
      device: DEVICE,
      uids,
      contentDateTime: new Date('2026-01-02T03:04:05Z'),
      revision: 1,
    });
    const segFile = path.join(work, `${acq.name}-seg.dcm`);
    fs.writeFileSync(segFile, built.bytes);

    if (hasDciodvfy) {
      const r = await run('dciodvfy', [segFile]);
      const lines = (r.stdout + r.stderr).split('\n');
      for (const w of lines.filter((l) => l.includes('Warning'))) t.diagnostic(`dciodvfy ${w}`);
      assert.deepEqual(
        lines.filter((l) => l.includes('Error')),
        [],
        'dciodvfy errors',
      );
    } else t.diagnostic('dciodvfy not installed: IOD check skipped');

    const seg = readSegmentation(built.bytes);
    if (acq.name === 'axial') axialCase = { files, segFile, studyUid: `${root}.1`, frames: seg.frames.length };
    assert.equal(seg.frameOfReferenceUid, `${root}.4`);
    assert.equal(seg.studyInstanceUid, `${root}.1`);
    assert.deepEqual(
      seg.segments.map((s) => [s.number, s.label, s.category, s.type, s.algorithmType]),
      [
        [1, 'Sphere', '49755003', '27925004', 'AUTOMATIC'],
        [2, 'Gray matter', '91723000', '389081007', 'AUTOMATIC'],
      ],
    );
    assert.equal(seg.rows, vol.rows);
    assert.equal(seg.columns, vol.columns);

    const sliceOf = new Map(vol.slices.map((s, k) => [`${s.sopInstanceUid}#${s.frameNumber ?? ''}`, k]));
    const covered = new Set<string>();
    let checked = 0;
    for (const f of seg.frames) {
      const ref = `${f.source?.sopInstanceUid ?? ''}#${f.source?.frameNumber ?? ''}`;
      const k = sliceOf.get(ref);
      assert.ok(k !== undefined, `frame ${f.frameNumber} references a source image (and frame) of the series: ${ref}`);
      assert.equal(f.source?.frameNumber !== undefined, acq.enhanced === true, 'Referenced Frame Number exactly for multi-frame sources');
      // Same plane as the source image as stored on disk (not as the volume has it), same pixel grid.
      const onDisk = sourcePositions.get(ref)!;
      for (let x = 0; x < 3; x++) assert.ok(Math.abs(f.imagePositionPatient![x]! - onDisk[x]!) < 1e-4, 'frame position = source IPP');
      for (let x = 0; x < 6; x++) assert.ok(Math.abs(f.imageOrientationPatient![x]! - vol.orientation[x]!) < 1e-6, 'frame orientation');
      assert.deepEqual(f.pixelSpacing, [...vol.pixelSpacing]);
      assert.ok(f.segmentNumber === 1 || f.segmentNumber === 2);
      let any = 0;
      for (let r = 0; r < vol.rows; r++) {
        for (let c = 0; c < vol.columns; c++) {
          // Where the SEG says this pixel lies, from its own geometry.
          const ipp = f.imagePositionPatient!;
          const iop = f.imageOrientationPatient!;
          const [sr, sc] = f.pixelSpacing;
          const p: Vec3 = [0, 1, 2].map((x) => ipp[x]! + c * sc! * iop[x]! + r * sr! * iop[3 + x]!) as Vec3;
          const expected: number = labelNear(grid, conformed, p) === f.segmentNumber ? 1 : 0;
          assert.equal(f.pixels[r * vol.columns + c], expected, `frame ${f.frameNumber} pixel (${c}, ${r})`);
          if (expected) {
            any++;
            const key = `${k}/${r}/${c}`;
            assert.ok(!covered.has(key), 'a voxel is in one frame only');
            covered.add(key);
          }
          checked++;
        }
      }
      assert.ok(any > 0, 'no empty frame is written');
    }
    // Every labelled source voxel is in a frame (none dropped), found from the source side: each
    // source image's pixels where its file puts them (a tilted slice as acquired, not as shifted).
    let labelled = 0;
    const [dr, dc] = vol.pixelSpacing;
    const o = vol.orientation;
    for (let k = 0; k < vol.slices.length; k++) {
      const s = vol.slices[k]!;
      const ipp = sourcePositions.get(`${s.sopInstanceUid}#${s.frameNumber ?? ''}`)!;
      for (let r = 0; r < vol.rows; r++)
        for (let c = 0; c < vol.columns; c++) {
          const p: Vec3 = [0, 1, 2].map((x) => ipp[x]! + c * dc * o[x]! + r * dr * o[3 + x]!) as Vec3;
          const l = labelNear(grid, conformed, p);
          if (l !== 0) {
            labelled++;
            assert.ok(covered.has(`${k}/${r}/${c}`), `source voxel (${c}, ${r}) of slice ${k + 1} is in the SEG`);
          }
        }
    }
    assert.equal(covered.size, labelled);
    // Known position: the sphere's centre lands in segment 1 on the slice nearest to it.
    const centre: Vec3 = [4, -3, 2];
    const nearest = vol.slices
      .map((s, k) => ({ k, d: Math.abs([0, 1, 2].reduce((acc, x) => acc + (centre[x]! - s.position[x]!) * vol.normal[x]!, 0)) }))
      .sort((a, b) => a.d - b.d)[0]!.k;
    assert.ok(
      seg.frames.some((f) => f.segmentNumber === 1 && f.source?.sopInstanceUid === vol.slices[nearest]!.sopInstanceUid),
      'a segment-1 frame on the slice through the sphere centre',
    );
    // Volume on the source grid agrees with the analytic sphere (4/3 pi 9^3 = 3054 mm3) within sampling error.
    const voxelMm3 = vol.pixelSpacing[0] * vol.pixelSpacing[1] * vol.sliceSpacing;
    const sphereMm3 =
      seg.frames.filter((f) => f.segmentNumber === 1).reduce((n, f) => n + f.pixels.reduce((a, b) => a + b, 0), 0) * voxelMm3;
    t.diagnostic(`${acq.name}: ${seg.frames.length} frames, ${checked} pixels checked, sphere ${sphereMm3.toFixed(0)} mm3 (analytic 3054)`);
    assert.ok(Math.abs(sphereMm3 - 3054) / 3054 < 0.15, `sphere volume ${sphereMm3} mm3`);
  });
}

test('SEG writer refuses a label map that does not fit, and an empty one', async () => {
  const root = newUidRoot();
  const files = writeSeries(ACQUISITIONS[0]!, path.join(work, 'refuse'), root);
  const vol = await loadSeries(files);
  const geometry = segmentationGeometryOf(vol);
  const base = {
    sourceFile: fs.readFileSync(files[0]!),
    sourceSeriesInstanceUid: `${root}.2`,
    geometry,
    segments: [{ label: 'Nodule 1', category: SEGMENT_CATEGORY.morphologicallyAbnormalStructure, type: NODULE_TYPE }],
    algorithm: { name: 'm', version: '1' },
    device: DEVICE,
    uids: segmentationUids(`${root}.2`, 'm', '1', 1),
    contentDateTime: new Date('2026-01-02T03:04:05Z'),
    revision: 1,
  };
  const plane = vol.rows * vol.columns;
  assert.throws(() => buildSegmentation({ ...base, labels: vol.slices.map(() => new Uint8Array(plane)) }), /nothing to write/);
  assert.throws(() => buildSegmentation({ ...base, labels: [new Uint8Array(plane)] }), /1 slices; the source has 17/);
  const stray = vol.slices.map(() => new Uint8Array(plane));
  stray[3]![5] = 2;
  assert.throws(() => buildSegmentation({ ...base, labels: stray }), /label 2, but only 1 segments/);
  // Built in a worker (as the job does) a bad label map fails with the same reason.
  await assert.rejects(segmentationInWorker({ ...base, labels: stray.map((l) => l.slice()) }), /label 2, but only 1 segments/);
});

test('SEG built in the worker thread: the very same bytes as in-process (bit packing included)', async () => {
  const root = newUidRoot();
  const files = writeSeries(ACQUISITIONS[0]!, path.join(work, 'worker'), root);
  const vol = await loadSeries(files);
  const geometry = segmentationGeometryOf(vol);
  const plane = vol.rows * vol.columns;
  // Two segments over odd-sized runs, so frames start mid-byte in the continuous bit stream.
  const labels = vol.slices.map((_, k) => {
    const l = new Uint8Array(plane);
    for (let p = k * 7; p < plane; p += 3 + (k % 5)) l[p] = 1 + ((p >> 4) % 2);
    return l;
  });
  const input = {
    sourceFile: fs.readFileSync(files[0]!),
    sourceSeriesInstanceUid: `${root}.2`,
    geometry,
    labels,
    segments: [
      { label: 'Nodule 1', category: SEGMENT_CATEGORY.morphologicallyAbnormalStructure, type: NODULE_TYPE },
      { label: 'Nodule 2', category: SEGMENT_CATEGORY.morphologicallyAbnormalStructure, type: NODULE_TYPE },
    ],
    algorithm: { name: 'm', version: '1' },
    device: DEVICE,
    uids: segmentationUids(`${root}.2`, 'm', '1', 1),
    contentDateTime: new Date('2026-01-02T03:04:05Z'),
    revision: 1,
  };
  const here = buildSegmentation(input);
  const there = await segmentationInWorker({ ...input, labels: labels.map((l) => l.slice()) });
  assert.ok(Buffer.isBuffer(there.bytes));
  assert.ok(here.numberOfFrames > vol.slices.length, `${here.numberOfFrames} frames`);
  assert.equal(there.numberOfFrames, here.numberOfFrames);
  assert.equal(there.sopInstanceUid, here.sopInstanceUid);
  assert.ok(there.bytes.equals(here.bytes), 'identical Part 10 bytes');
});

test(
  'Orthanc (a real PACS) files the SEG under the original study and reads its frames',
  { skip: hasOrthanc ? false : 'Orthanc or DCMTK storescu not installed' },
  async () => {
    assert.ok(axialCase, 'the axial SEG test ran first');
    const orthanc = await OrthancPacs.create({ node: ['DICOM_AI', '127.0.0.1', 104] });
    await orthanc.start();
    try {
      // DCMTK's storescu as the sender: the source series and the SEG on one association
      // (-R: propose exactly the SOP classes of the files; its default list lacks Segmentation).
      const r = await run('storescu', [
        '-R',
        '-aet',
        'DICOM_AI',
        '-aec',
        'ORTHANC',
        '127.0.0.1',
        String(orthanc.dicomPort),
        ...axialCase.files,
        axialCase.segFile,
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const studies = await orthanc.json<string[]>('GET', '/studies');
      assert.equal(studies.length, 1, 'one study: the SEG joined the source study');
      const study = await orthanc.json<{ MainDicomTags: { StudyInstanceUID: string }; Series: string[] }>('GET', `/studies/${studies[0]}`);
      assert.equal(study.MainDicomTags.StudyInstanceUID, axialCase.studyUid);
      assert.equal(study.Series.length, 2);
      const series = await Promise.all(
        study.Series.map((id) => orthanc.json<{ MainDicomTags: { Modality: string }; Instances: string[] }>('GET', `/series/${id}`)),
      );
      const segSeries = series.find((x) => x.MainDicomTags.Modality === 'SEG');
      assert.ok(segSeries, 'a SEG series in the study');
      assert.equal(segSeries.Instances.length, 1);
      const frames = await orthanc.json<number[]>('GET', `/instances/${segSeries.Instances[0]}/frames`);
      assert.equal(frames.length, axialCase.frames, 'Orthanc counts the frames we wrote');
    } finally {
      await orthanc.stop();
    }
  },
);

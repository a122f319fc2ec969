// Renders docs/seg-overlay.png: what a viewer shows of the node's DICOM Segmentation (issue 14
// item 5). MeshNet runs on the demo T1 (../shared/data/models/meshnet-gwm/t1_crop.nii.gz written
// as a DICOM MR series, as the tests do) through the node's own path (runModel -> labels on the
// source grid -> buildSegmentation); the SEG is then read back with the project's reader, and one
// source slice is rendered with the route's window (the manifest's, as a route with window "auto"
// uses) by the project's render code, its segments blended in colour on the right half.
//
//   npm run docs:seg-overlay            (needs ../shared; one 256³ MeshNet run, about a minute)
//   npm run docs:seg-overlay -- --slice 140   (1-based source instance number, default: most labelled)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { findPackageRoot } from '../src/config/config';
import { niftiToDicomSeries } from '../fixtures/nifti-to-dicom';
import { newUidRoot } from '../fixtures/synthetic-ct';
import { readPart10Header } from '../src/dicom/part10';
import { volumeTensor } from '../src/inference/conform';
import { segmentationGeometryOf } from '../src/inference/label-resample';
import { parseManifest } from '../src/inference/manifest';
import { POSTPROCESSORS } from '../src/inference/postprocess';
import { runModel } from '../src/inference/run-model';
import { frameOfReferenceOf, loadSeriesVolume } from '../src/inference/series-volume';
import { loadModel } from '../src/inference/session';
import type { SourceLabels } from '../src/inference/source-labels';
import { parsePart10 } from '../src/imaging/dataset';
import { TAG } from '../src/dicom/tags';
import { readSegmentation, type SegmentationRead } from '../src/imaging/segmentation-reader';
import { renderFile } from '../src/imaging/render';
import { writePng } from '../src/imaging/png';
import { parseWindowOption } from '../src/imaging/voi';
import { anatomicalSegment, buildSegmentation, segmentationUids } from '../src/report/segmentation-iod';

const ROOT = findPackageRoot();
const SHARED = process.env.DICOM_AI_SHARED ?? path.resolve(ROOT, '..', 'shared');
const MESHNET = path.join(SHARED, 'data', 'models', 'meshnet-gwm');
const MANIFEST = path.join(ROOT, 'models', 'meshnet-gwm', 'model.json');
const OUT = path.join(ROOT, 'docs', 'seg-overlay.png');

/** Segment colours (RGB) and opacity: white matter warm, grey matter cool, so the boundary shows. */
const COLOURS: readonly (readonly [number, number, number])[] = [
  [255, 190, 40],
  [40, 150, 255],
  [230, 60, 60],
  [60, 200, 90],
];
const ALPHA = 0.45;

async function makeSegmentation(files: readonly string[]): Promise<Buffer> {
  const manifest = parseManifest(JSON.parse(fs.readFileSync(MANIFEST, 'utf8')), MANIFEST);
  const inputs = files.map((f) => {
    const bytes = fs.readFileSync(f);
    const h = readPart10Header(bytes);
    return { bytes, sopInstanceUid: h.sopInstanceUid, sopClassUid: h.sopClassUid };
  });
  // Synthetic identity written by the fixture; the node itself de-identifies first.
  const volume = await loadSeriesVolume(inputs, frameOfReferenceOf(inputs[0]!.bytes), { allowIdentified: true });
  const session = await loadModel(manifest, path.join(MESHNET, 'model.onnx'), {});
  const labels: { value?: SourceLabels | string } = {};
  try {
    await runModel(volume, {
      name: manifest.name,
      manifest,
      session,
      sha256: 'docs',
      postprocessors: POSTPROCESSORS,
      volumeTensor,
      deidentification: 'none (synthetic demo series)',
      sourceLabels: labels,
    });
  } finally {
    await session.close();
  }
  if (typeof labels.value !== 'object') throw new Error(`no segmentation: ${labels.value ?? 'no labels returned'}`);
  const seriesUid = parsePart10(inputs[0]!.bytes).dataSet.string(TAG.SeriesInstanceUID)!;
  return buildSegmentation({
    sourceFile: inputs[0]!.bytes,
    sourceSeriesInstanceUid: seriesUid,
    geometry: segmentationGeometryOf(volume),
    labels: labels.value.slices,
    segments: labels.value.segments.map((s) => anatomicalSegment(s.label, s.code)),
    algorithm: { name: manifest.name, version: manifest.version },
    device: { aeTitle: 'DICOM_AI', deviceUid: '2.25.1', manufacturer: 'dicom-ai-node project', modelName: 'docs', softwareVersion: 'docs' },
    uids: segmentationUids(seriesUid, manifest.name, manifest.version, 1),
    contentDateTime: new Date(),
    revision: 1,
  }).bytes;
}

/** The source instance with the most segmented pixels, or the one asked for. */
function chooseSlice(
  seg: SegmentationRead,
  bySop: ReadonlyMap<string, string>,
  asked: number | undefined,
  files: readonly string[],
): string {
  if (asked !== undefined) {
    const file = files[asked - 1];
    if (!file) throw new Error(`--slice ${asked}: the series has ${files.length} instances`);
    return file;
  }
  const counts = new Map<string, number>();
  for (const f of seg.frames) {
    const sop = f.source?.sopInstanceUid ?? '';
    counts.set(sop, (counts.get(sop) ?? 0) + f.pixels.reduce((a, b) => a + b, 0));
  }
  const best = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
  if (!best || !bySop.has(best[0])) throw new Error('the SEG references no source instance of the series');
  return bySop.get(best[0])!;
}

async function main(): Promise<void> {
  const sliceArg = process.argv.indexOf('--slice');
  const asked = sliceArg > 0 ? Number(process.argv[sliceArg + 1]) : undefined;
  const t1 = path.join(MESHNET, 't1_crop.nii.gz');
  if (!fs.existsSync(t1)) throw new Error(`${t1} missing: the demo T1 is in the shared data (set DICOM_AI_SHARED)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'seg-overlay-'));
  try {
    const files = niftiToDicomSeries(t1, { outDir: dir, uidRoot: newUidRoot() });
    const seg = readSegmentation(await makeSegmentation(files));
    const bySop = new Map(files.map((f) => [readPart10Header(fs.readFileSync(f)).sopInstanceUid, f]));
    const file = chooseSlice(seg, bySop, asked, files);
    const sop = readPart10Header(fs.readFileSync(file)).sopInstanceUid;
    const manifest = parseManifest(JSON.parse(fs.readFileSync(MANIFEST, 'utf8')), MANIFEST);
    const grey = await renderFile(file, { window: parseWindowOption(manifest.preprocessing.window) });
    const { width: W, height: H } = grey;
    // Left: the slice as the viewer shows it; right: the same with the SEG's segments blended in.
    const rgb = new Uint8Array(2 * W * H * 3);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const v = grey.data[(y * W + x) * grey.channels]!;
        for (const half of [0, 1]) {
          const o = (y * 2 * W + half * W + x) * 3;
          rgb.fill(v, o, o + 3);
        }
      }
    for (const f of seg.frames.filter((fr) => fr.source?.sopInstanceUid === sop)) {
      const colour = COLOURS[(f.segmentNumber - 1) % COLOURS.length]!;
      for (let p = 0; p < W * H; p++) {
        if (!f.pixels[p]) continue;
        const o = (Math.floor(p / W) * 2 * W + W + (p % W)) * 3;
        for (let c = 0; c < 3; c++) rgb[o + c] = Math.round((1 - ALPHA) * rgb[o + c]! + ALPHA * colour[c]!);
      }
    }
    await writePng({ width: 2 * W, height: H, channels: 3, data: rgb }, OUT);
    const legend = seg.segments.map((s) => `segment ${s.number} "${s.label}" rgb(${COLOURS[(s.number - 1) % COLOURS.length]!.join(',')})`);
    console.log(
      `${OUT}: instance ${files.indexOf(file) + 1} of ${files.length}, window ${manifest.preprocessing.window}; ${legend.join(', ')}`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});

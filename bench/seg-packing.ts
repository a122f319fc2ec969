/**
 * bench/seg-packing: how long the DICOM Segmentation's BINARY bit packing (PS3.5 8.1.1, one bit
 * per pixel, frames one continuous stream) and the whole SEG build take for MeshNet's labels of
 * the shared t1_crop (256 slices of 256x256 on the source grid, grey and white matter). Both run
 * on the event loop in the job's report stage; the figures decide whether they must move to a
 * worker. Prints the median of --rounds runs of each, alternated.
 *
 *   npm run bench:seg-packing -- [--rounds 7]
 */
import fs from 'node:fs';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { niftiToDicomSeries } from '../fixtures/nifti-to-dicom';
import { newUidRoot } from '../fixtures/synthetic-ct';
import { dicomFiles, loadFiles, MESHNET_MODEL_DIR } from './enhanced-equivalence';
import { parseManifest } from '../src/inference/manifest';
import { POSTPROCESSORS } from '../src/inference/postprocess';
import { runModel } from '../src/inference/run-model';
import { volumeTensor } from '../src/inference/conform';
import { loadModel } from '../src/inference/session';
import { segmentationGeometryOf } from '../src/inference/label-resample';
import type { SourceLabels } from '../src/inference/source-labels';
import { readSourceIdentity } from '../src/report/source';
import { anatomicalSegment, buildSegmentation, packFrames, planFrames } from '../src/report/segmentation-iod';

const SHARED_MODEL = path.resolve(__dirname, '..', '..', '..', 'shared', 'data', 'models', 'meshnet-gwm');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;

async function main(): Promise<void> {
  const rounds = Number(arg('rounds', '7'));
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'bench-seg-'));
  niftiToDicomSeries(path.join(SHARED_MODEL, 't1_crop.nii.gz'), { outDir: dir, uidRoot: newUidRoot() });
  const files = dicomFiles(dir);
  const volume = await loadFiles(files);
  const manifest = parseManifest(JSON.parse(fs.readFileSync(path.join(MESHNET_MODEL_DIR, 'model.json'), 'utf8')), 'model.json');
  const session = await loadModel(manifest, path.join(SHARED_MODEL, 'model.onnx'), { intraOpNumThreads: 2 });
  const holder: { value?: SourceLabels | string } = {};
  await runModel(volume, {
    name: manifest.name,
    manifest,
    session,
    sha256: 'bench',
    postprocessors: POSTPROCESSORS,
    volumeTensor,
    deidentification: 'bench',
    sourceLabels: holder,
  });
  await session.close();
  const labels = holder.value;
  if (typeof labels !== 'object') throw new Error(`no labels: ${String(labels)}`);
  const geometry = segmentationGeometryOf(volume);
  const plane = geometry.rows * geometry.columns;
  const frames = planFrames(labels.slices, labels.segments.length);
  const sourceFile = fs.readFileSync(files[0]!);
  const input = {
    sourceFile,
    sourceSeriesInstanceUid: String(readSourceIdentity(sourceFile).SeriesInstanceUID),
    geometry,
    labels: labels.slices,
    segments: labels.segments.map((s) => anatomicalSegment(s.label, s.code)),
    algorithm: { name: manifest.name, version: manifest.version },
    device: { aeTitle: 'BENCH', deviceUid: '2.25.1', manufacturer: 'bench', modelName: 'bench', softwareVersion: '0' },
    uids: { seriesInstanceUid: '2.25.2', sopInstanceUid: '2.25.3' },
    contentDateTime: new Date(),
    revision: 1,
  };
  const packMs: number[] = [];
  const planMs: number[] = [];
  const buildMs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let t = process.hrtime.bigint();
    planFrames(labels.slices, labels.segments.length);
    planMs.push(Number(process.hrtime.bigint() - t) / 1e6);
    t = process.hrtime.bigint();
    packFrames(frames, labels.slices, plane);
    packMs.push(Number(process.hrtime.bigint() - t) / 1e6);
    t = process.hrtime.bigint();
    buildSegmentation(input);
    buildMs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  console.log(
    `t1_crop: ${labels.slices.length} slices of ${geometry.columns}x${geometry.rows}, ${frames.length} SEG frames, ${rounds} rounds`,
  );
  console.log(`frame planning (planFrames)       median ${median(planMs).toFixed(1)} ms`);
  console.log(`bit packing (packFrames)          median ${median(packMs).toFixed(1)} ms`);
  console.log(`whole SEG build (buildSegmentation) median ${median(buildMs).toFixed(1)} ms`);
  fs.rmSync(dir, { recursive: true, force: true });
}

void main().catch((e: Error) => {
  console.error(e.message);
  process.exitCode = 1;
});

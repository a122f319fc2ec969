/**
 * MeshNet on a real scanner T1 (../shared/data/mr-t1-sag: a sagittal MPRAGE of a 3-year-old,
 * JPEG-LS lossless), with FreeSurfer's intensity conform (intensity-conform.ts), and orientation
 * invariance: the same voxels relabelled as another acquisition plane (fixtures/relabel-orientation.ts)
 * must give the same volumes. Two 256³ inferences; skips when the shared data is missing.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PROJECT_ROOT, tmpDir } from './helpers/env';
import { relabelSeries } from '../fixtures/relabel-orientation';
import { newUidRoot } from '../fixtures/synthetic-ct';
import { deidentifyPart10 } from '../src/deid';
import { readPart10Header } from '../src/dicom/part10';
import { parseManifest } from '../src/inference/manifest';
import { loadModels, type ModelRegistry } from '../src/inference/registry';
import { frameOfReferenceOf, loadSeriesVolume, type SeriesVolume } from '../src/inference/series-volume';
import { volumeTensor } from '../src/inference/conform';
import { getUcharScale, scaleCropUchar } from '../src/inference/intensity-conform';
import { segmentationVolumes } from '../src/inference/postprocess/segmentation';

const SHARED = process.env.DICOM_AI_SHARED ?? path.resolve(PROJECT_ROOT, '..', 'shared');
const T1_SAG = path.join(SHARED, 'data', 'mr-t1-sag');
const MODEL_DIR = path.join(PROJECT_ROOT, 'models', 'meshnet-gwm');
const work = tmpDir('brain-t1');
let registry: ModelRegistry | undefined;

after(async () => {
  await registry?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

test('getscale/scalecrop match FastSurfer conform.py (numpy reference values)', () => {
  // 20000 values: 0 for a quarter (background), 0..999, and 10 bright outliers (under 0.1 % of the non-zero ones). The expected
  // numbers are what FastSurfer's getscale (numpy 2.4, float64) returns for the same array.
  const a = new Float32Array(20000);
  for (let i = 5000; i < 20000; i++) a[i] = (i * 7919) % 1000;
  for (let i = 0; i < 10; i++) a[5000 + i * 11] = 3000 + i * 17;
  const s = getUcharScale([a.subarray(0, 7000), a.subarray(7000)]);
  assert.equal(s.alreadyUchar, false);
  assert.equal(s.srcMin, 0);
  assert.equal(s.srcMax, 993.195);
  assert.equal(s.scale, 0.2567471644541102);
  const out = Float32Array.from([0, 10, 993.195, 5000, -1]);
  scaleCropUchar(out, s);
  assert.deepEqual([...out], [0, 3, 255, 255, 0]);
  // Already uchar (integers in 0..255): no rescaling, rint only.
  const u = getUcharScale([Float32Array.from([0, 12, 255])]);
  assert.equal(u.alreadyUchar, true);
  const half = Float32Array.from([2.5, 3.5, 254.6]);
  scaleCropUchar(half, u);
  assert.deepEqual([...half], [2, 4, 255]);
});

async function loadDeidentified(files: readonly string[]): Promise<SeriesVolume> {
  const secret = randomBytes(32);
  const inputs = files.map((f) => {
    const bytes = fs.readFileSync(f);
    const h = readPart10Header(bytes);
    return { bytes: deidentifyPart10(bytes, { secret }).bytes, sopInstanceUid: h.sopInstanceUid, sopClassUid: h.sopClassUid };
  });
  return loadSeriesVolume(inputs, frameOfReferenceOf(inputs[0]!.bytes));
}

test('real child T1 (mr-t1-sag): the same WM/GM volumes as acquired (sagittal) and relabelled as another plane', async (t) => {
  if (!fs.existsSync(T1_SAG)) {
    t.skip(`${T1_SAG} missing (shared real data)`);
    return;
  }
  const m = parseManifest(JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'model.json'), 'utf8')), 'models/meshnet-gwm/model.json');
  assert.equal(m.preprocessing.intensity, 'conform-uchar');
  const files = fs
    .readdirSync(T1_SAG)
    .filter((f) => f.endsWith('.dcm'))
    .map((f) => path.join(T1_SAG, f));
  const acquired = await loadDeidentified(files);
  const relabelledFiles = relabelSeries(acquired, { outDir: path.join(work, 'relabelled'), uidRoot: newUidRoot() });
  const relabelled = await loadDeidentified(relabelledFiles);
  assert.equal(relabelled.slices.length, acquired.rows);
  assert.notDeepEqual(relabelled.orientation, acquired.orientation);

  registry = await loadModels(path.dirname(MODEL_DIR), { providers: ['cpu'], intraOpNumThreads: 2 });
  const model = registry.get('meshnet-gwm');
  assert.ok(model, JSON.stringify(registry.report));
  const run = async (vol: SeriesVolume): Promise<{ wm: number; gm: number; uncertainty: number; description: string }> => {
    const tensor = volumeTensor(vol, m);
    const out = await model.session.run({ [m.input.name]: { type: 'float32', data: tensor.data, dims: tensor.dims } });
    const scores = out[m.output.name]!;
    const r = segmentationVolumes({
      volume: vol,
      manifest: m,
      output: { data: scores.data as Float32Array, dims: scores.dims, voxelVolumeMm3: tensor.voxelVolumeMm3 },
    });
    const ml = (label: string): number => r.findings.find((f) => f.label === label)!.measurements.find((x) => x.key === 'volumeMl')!.value;
    return { wm: ml('white matter'), gm: ml('grey matter'), uncertainty: r.uncertainty, description: tensor.description };
  };
  const a = await run(acquired);
  const b = await run(relabelled);
  console.log(
    `# mr-t1-sag (3-year-old) meshnet-gwm: as acquired WM ${a.wm} / GM ${a.gm} ml, uncertainty ${a.uncertainty.toFixed(3)}; ` +
      `relabelled WM ${b.wm} / GM ${b.gm} ml, uncertainty ${b.uncertainty.toFixed(3)}\n# ${a.description}`,
  );
  assert.match(a.description, /FreeSurfer conform to uchar: 0\.\.\d+/);
  // Same voxels, same patient positions: only floating-point rounding in the trilinear weights
  // may differ (a voxel on a rint .5 boundary), so the volumes agree to well under 0.5 %.
  assert.ok(Math.abs(a.wm - b.wm) / a.wm < 0.005, `white matter ${a.wm} vs ${b.wm} ml`);
  assert.ok(Math.abs(a.gm - b.gm) / a.gm < 0.005, `grey matter ${a.gm} vs ${b.gm} ml`);
  assert.ok(Math.abs(a.uncertainty - b.uncertainty) < 0.005);
});

/**
 * The reference lung-nodule model (models/lung-nodule-reference): the ONNX file is what the build
 * script writes (byte for byte), the graph computes what its plain-JS reference computes, the
 * manifest loads with the registry, and on synthetic chest CT phantoms (fixtures/chest-phantom.ts)
 * the model + 'lung-nodules' post-processor find every nodule >= 5 mm where it is, measure it
 * and describe it right, with at most one false positive per scan.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';

import { PROJECT_ROOT, tmpDir } from './helpers/env';
import { writeChestPhantom, type ChestPhantom } from '../fixtures/chest-phantom';
import { ManifestError, parseManifest, type Manifest } from '../src/inference/manifest';
import { loadModels } from '../src/inference/registry';
import { loadSeriesVolume, type SeriesVolume } from '../src/inference/series-volume';
import { POSTPROCESSORS } from '../src/inference/postprocess';
import type { PostprocessResult } from '../src/inference/postprocess/types';
import { matchFindings, measurement, runSliceModel } from '../bench/nodule-sensitivity';

const MODEL_DIR = path.join(PROJECT_ROOT, 'models', 'lung-nodule-reference');
const SCRIPT = path.join(PROJECT_ROOT, 'scripts', 'build-reference-model.js');
const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

const tmp = tmpDir('reference-model');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function manifest(): Manifest {
  return parseManifest(JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'model.json'), 'utf8')), 'models/lung-nodule-reference/model.json');
}

interface BuildScript {
  referenceForward(img: Float32Array, H?: number, W?: number): { blob: Float64Array; sigma: Float64Array };
  syntheticImage(H?: number, W?: number): Float32Array;
  SIZE: number;
}
// The build script is CommonJS JavaScript outside the TypeScript program: loaded as a module.
const script = createRequire(__filename)(SCRIPT) as BuildScript;

test('the build script writes the committed model.onnx byte for byte', () => {
  const out = path.join(tmp, 'model.onnx');
  execFileSync(process.execPath, [SCRIPT, '--out', out], { stdio: 'pipe' });
  const built = fs.readFileSync(out);
  const committed = fs.readFileSync(path.join(MODEL_DIR, 'model.onnx'));
  assert.ok(built.length > 1000, `built model is ${built.length} bytes`);
  assert.ok(
    built.equals(committed),
    'models/lung-nodule-reference/model.onnx differs from what scripts/build-reference-model.js writes: run `node scripts/build-reference-model.js`',
  );
});

test('the ONNX graph computes what the JS reference computes, and prefers blobs to ridges', async () => {
  const session = await ort.InferenceSession.create(path.join(MODEL_DIR, 'model.onnx'), { intraOpNumThreads: 1 });
  try {
    const N = script.SIZE;
    const img = script.syntheticImage();
    const out = (await session.run({ ct: new ort.Tensor('float32', img, [1, 1, N, N]) }))['nodule']!;
    assert.deepEqual(out.dims, [1, 2, N, N]);
    const data = out.data as Float32Array;
    const ref = script.referenceForward(img);
    const P = N * N;
    let maxErr = 0;
    for (let i = 0; i < P; i++) {
      maxErr = Math.max(maxErr, Math.abs(data[i]! - ref.blob[i]!));
      if (ref.blob[i]! > 1e-3) assert.equal(data[P + i], Math.fround(ref.sigma[i]!), `sigma at ${i}`);
    }
    assert.ok(maxErr < 1e-4, `blob differs from the reference by ${maxErr}`);
    // The synthetic image: solid disc r=6 px at (150,200), ground glass r=12 px at (330,300), a ridge (vessel) through (340,230).
    const at = (x: number, y: number): number => data[y * N + x]!;
    assert.ok(at(150, 200) > 0.5, `solid disc scores ${at(150, 200)}`);
    assert.ok(at(330, 300) > 0.15, `ground-glass disc scores ${at(330, 300)}`);
    assert.ok(at(340, 230) < at(330, 300) / 4, `ridge scores ${at(340, 230)}, as much as a blob`);
    // The post-processor's candidates are 5x5 local maxima of channel 0.
    for (let dy = -2; dy <= 2; dy++)
      for (let dx = -2; dx <= 2; dx++) assert.ok(at(150 + dx, 200 + dy) <= at(150, 200), 'the solid disc centre is a local maximum');
    assert.equal(data[P + 200 * N + 150], Math.fround(4), 'best sigma for a 6 px disc');
  } finally {
    await session.release();
  }
});

test('the manifest parses, names a known post-processor, and the registry loads the model', async () => {
  const m = manifest();
  assert.equal(m.name, 'lung-nodule-reference');
  assert.equal(m.notForClinicalUse, true);
  assert.match(m.intendedUse, /not a diagnostic device/i);
  assert.equal(m.output.postprocess, 'lung-nodules');
  assert.ok(POSTPROCESSORS['lung-nodules']);
  // An unknown post-processor is refused, naming the known ones.
  const raw = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'model.json'), 'utf8')) as { output: Record<string, unknown> };
  raw.output['postprocess'] = 'lung-nodule';
  assert.throws(
    () => parseManifest(raw, 'x/model.json'),
    (e: unknown) => e instanceof ManifestError && e.problems.some((p) => p.includes('output.postprocess') && p.includes('lung-nodules')),
  );
  // The registry checks the manifest against the ONNX inputs/outputs.
  const dir = path.join(tmp, 'models');
  fs.mkdirSync(path.join(dir, 'lung-nodule-reference'), { recursive: true });
  for (const f of ['model.json', 'model.onnx']) fs.copyFileSync(path.join(MODEL_DIR, f), path.join(dir, 'lung-nodule-reference', f));
  const registry = await loadModels(dir, { intraOpNumThreads: 1 });
  try {
    const r = registry.report.find((x) => x.folder === 'lung-nodule-reference');
    assert.equal(r?.status, 'loaded', JSON.stringify(r));
    assert.ok(registry.get('lung-nodule-reference'));
  } finally {
    await registry.close();
  }
});

async function runPhantom(
  ph: ChestPhantom,
  session: ort.InferenceSession,
  m: Manifest,
): Promise<{ vol: SeriesVolume; result: PostprocessResult }> {
  const vol = await loadSeriesVolume(
    ph.files.map((f, i) => ({ bytes: fs.readFileSync(f), sopInstanceUid: ph.sopInstanceUids[i]!, sopClassUid: CT_IMAGE_STORAGE })),
    ph.frameOfReferenceUid,
    { allowIdentified: true }, // a synthetic phantom, tested below the node's de-identification
  );
  const maps = await runSliceModel(session, vol, m);
  const result = POSTPROCESSORS[m.output.postprocess!]!({ volume: vol, manifest: m, maps });
  return { vol, result };
}

// Seeds whose random nodules include solid and ground-glass ones >= 5 mm in both lungs (checked below).
const PHANTOM_SEEDS = [7, 12];
const SLICES = 80;

test('phantoms: every nodule >= 5 mm found, measured, located and described; <= 1 false positive', async () => {
  const m = manifest();
  const session = await ort.InferenceSession.create(path.join(MODEL_DIR, 'model.onnx'), { intraOpNumThreads: 1 });
  const kinds = new Set<string>();
  try {
    for (const seed of PHANTOM_SEEDS) {
      const ph = writeChestPhantom({ outDir: path.join(tmp, `ph${seed}`), seed, uidRoot: `2.25.77${seed}`, slices: SLICES });
      const { vol, result } = await runPhantom(ph, session, m);
      const { matches, falsePositives } = matchFindings(ph.truth, result.findings);
      const big = matches.filter((x) => x.truth.diameterMm >= 5);
      assert.ok(big.length >= 2, `seed ${seed}: only ${big.length} nodules >= 5 mm`);
      for (const { truth: t, finding: f, distanceMm } of big) {
        const what = `seed ${seed}: ${t.type} nodule ${t.diameterMm.toFixed(1)} mm at (${t.centre.x.toFixed(1)}, ${t.centre.y.toFixed(1)}, ${t.centre.z.toFixed(1)})`;
        kinds.add(`${t.type}/${t.side}`);
        assert.ok(f, `${what} not found`);
        assert.ok(distanceMm! <= 3, `${what}: centre ${distanceMm!.toFixed(1)} mm off`);
        const d = measurement(f, 'diameterMm')!;
        assert.ok(Math.abs(d - t.diameterMm) <= 1.5, `${what}: diameter ${d}`);
        // The truth's slice is the one nearest its centre in the volume's order.
        assert.equal(vol.slices[t.sliceIndex]!.sopInstanceUid, t.sopInstanceUid);
        const allowed = [t.sliceIndex - 1, t.sliceIndex, t.sliceIndex + 1].map((k) => vol.slices[k]?.sopInstanceUid);
        assert.ok(
          allowed.includes(f.region!.sopInstanceUid),
          `${what}: region on ${f.region!.sopInstanceUid}, expected ${t.sopInstanceUid} (±1)`,
        );
        assert.equal(f.region!.sopClassUid, CT_IMAGE_STORAGE);
        assert.equal(f.region!.graphicType, 'CIRCLE');
        const [cx, cy, px, py] = f.region!.graphicData as number[];
        assert.ok(
          Math.hypot(cx! - t.column, cy! - t.row) <= 3,
          `${what}: pixel (${cx}, ${cy}) vs (${t.column.toFixed(1)}, ${t.row.toFixed(1)})`,
        );
        const radiusMm = Math.hypot(px! - cx!, py! - cy!) * vol.pixelSpacing[1];
        assert.ok(Math.abs(2 * radiusMm - d) < 0.3, `${what}: circle radius ${radiusMm} mm for diameter ${d}`);
        assert.equal(f.attributes?.['composition'], t.type, `${what}: composition`);
        assert.equal(f.site?.laterality, t.side, `${what}: side`);
        assert.match(f.site.text, new RegExp(`^${t.side} (upper|middle|lower) zone$`));
        assert.equal(f.templateValues?.['location'], f.site.text);
        assert.deepEqual(f.code, { value: '27925004', scheme: 'SCT', meaning: 'Nodule' });
        assert.equal(f.site.code.value, '39607008');
        assert.ok(f.confidence > 0 && f.confidence <= 1, `confidence ${f.confidence}`);
        assert.equal(f.centre?.frameOfReferenceUid, ph.frameOfReferenceUid);
        const hu = measurement(f, 'meanHu')!;
        assert.ok(t.type === 'solid' ? hu > -300 : hu < -300 && hu > -750, `${what}: mean HU ${hu}`);
      }
      assert.ok(
        falsePositives.length <= 1,
        `seed ${seed}: ${falsePositives.length} false positives: ${JSON.stringify(falsePositives.map((f) => [f.centre, measurement(f, 'diameterMm')]))}`,
      );
      assert.ok(result.uncertainty >= 0 && result.uncertainty <= 1);
      fs.rmSync(path.join(tmp, `ph${seed}`), { recursive: true, force: true });
    }
  } finally {
    await session.release();
  }
  // The seeds must exercise both compositions and both sides, or the checks above prove less.
  assert.ok(
    [...kinds].some((k) => k.startsWith('solid')) && [...kinds].some((k) => k.startsWith('ground-glass')),
    `kinds covered: ${[...kinds].join(', ')}`,
  );
  assert.ok(
    [...kinds].some((k) => k.endsWith('right')) && [...kinds].some((k) => k.endsWith('left')),
    `sides covered: ${[...kinds].join(', ')}`,
  );
});

test('a phantom without nodules gives at most one finding', async () => {
  const m = manifest();
  const session = await ort.InferenceSession.create(path.join(MODEL_DIR, 'model.onnx'), { intraOpNumThreads: 1 });
  try {
    const ph = writeChestPhantom({ outDir: path.join(tmp, 'empty'), seed: 3, uidRoot: '2.25.7703', slices: 60, nodules: [] });
    assert.equal(ph.truth.length, 0);
    const { result } = await runPhantom(ph, session, m);
    assert.ok(result.findings.length <= 1, `${result.findings.length} findings on a phantom without nodules`);
  } finally {
    await session.release();
  }
});

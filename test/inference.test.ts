/**
 * src/inference: manifests, sessions and the model registry, with the real trained MeshNet
 * grey/white-matter segmenter from ../shared/data/models/meshnet-gwm (see its MODEL.md).
 *
 * Two 256³ inferences in all (~6-10 s each on 2 CPU threads): one checks the output and its
 * argmax, the other repeats it while timing the event loop.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { PROJECT_ROOT, tmpDir } from './helpers/env';
import { ManifestError, parseManifest } from '../src/inference/manifest';
import { checkModelIo } from '../src/inference/model-check';
import { loadModels, ModelRegistry } from '../src/inference/registry';
import { ModelSession, type TensorData } from '../src/inference/session';

const SHARED = process.env.DICOM_AI_SHARED ?? path.resolve(PROJECT_ROOT, '..', 'shared');
const MESHNET_ONNX = path.join(SHARED, 'data', 'models', 'meshnet-gwm', 'model.onnx');
const MESHNET_SHA256 = '02850fb059badf0717d26f61048293b7422b2453fb48db8ae95d046059bfd90f';
const N = 256;

/** A manifest for meshnet-gwm as a site would write it (the models/meshnet-gwm). */
/** A manifest as JSON, with the sections the tests below edit. */
interface ManifestJson {
  [key: string]: unknown;
  input: Record<string, unknown>;
  preprocessing: Record<string, unknown>;
  output: Record<string, unknown>;
  templates: Record<string, unknown>;
}

function meshnetManifest(): ManifestJson {
  return {
    '//': 'MeshNet grey/white-matter segmenter (brainchop model5_gw_ae via niivue-onnx)',
    name: 'meshnet-gwm',
    version: '1.0.0',
    description: 'Brain MRI grey/white-matter segmentation (MeshNet, 5.5k parameters)',
    intendedUse: 'Research: grey and white matter volumes from a T1-weighted brain MRI',
    notForClinicalUse: true,
    applicability: { modalities: ['MR'], bodyParts: ['BRAIN', 'HEAD'] },
    input: { name: 'input', shape: ['batch', 1, 256, 256, 256], layout: 'NCDHW', dtype: 'float32' },
    preprocessing: { intensity: 'conform-uchar', window: 'minmax', targetSize: [256, 256, 256], channels: 1, mode: 'volume' },
    output: { name: 'output', kind: 'segmentation', labels: ['background', 'white matter', 'grey matter'], activation: 'softmax' },
    templates: { 'white matter': 'White matter volume {volumeMl} ml', 'grey matter': 'Grey matter volume {volumeMl} ml' },
    uncertaintyThreshold: 0.3,
  };
}

function writeModel(modelsDir: string, folder: string, manifest: unknown, withOnnx = true): void {
  const dir = path.join(modelsDir, folder);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(manifest, null, 2));
  if (withOnnx) fs.copyFileSync(MESHNET_ONNX, path.join(dir, 'model.onnx'));
}

function variant(folder: string, edit: (m: ManifestJson) => void): ManifestJson {
  const m = meshnetManifest();
  m.name = folder;
  edit(m);
  return m;
}

/** Deterministic two-sphere phantom, x fastest, already min-max scaled to [0,1]. */
function twoSpheres(): Float32Array {
  const v = new Float32Array(N * N * N);
  const spheres = [
    { cx: 80, cy: 128, cz: 128, r: 45, value: 1 },
    { cx: 180, cy: 128, cz: 128, r: 40, value: 0.5 },
  ];
  for (let z = 0; z < N; z++) {
    for (let y = 0; y < N; y++) {
      for (let x = 0; x < N; x++) {
        for (const s of spheres) {
          if ((x - s.cx) ** 2 + (y - s.cy) ** 2 + (z - s.cz) ** 2 <= s.r * s.r) v[(z * N + y) * N + x] = s.value;
        }
      }
    }
  }
  return v;
}

/** Voxels per class after argmax over the channel dimension of [1, C, D, H, W] scores. */
function argmaxCounts(scores: Float32Array, classes: number): number[] {
  const plane = scores.length / classes;
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < plane; i++) {
    let best = 0;
    let bestScore = scores[i]!;
    for (let c = 1; c < classes; c++) {
      const s = scores[c * plane + i]!;
      if (s > bestScore) {
        best = c;
        bestScore = s;
      }
    }
    counts[best]!++;
  }
  return counts;
}

// Computed once with onnxruntime-node 1.30.0 (CPU) on the phantom above; ORT's CPU kernels are
// deterministic for a fixed thread count and this graph (convolutions + ReLU only).
const EXPECTED_COUNTS = [16_421_358, 6_057, 349_801];

const modelsDir = path.join(tmpDir('inference'), 'models');
writeModel(modelsDir, 'meshnet-gwm', meshnetManifest());
writeModel(
  modelsDir,
  'wrong-input-name',
  variant('wrong-input-name', (m) => (m.input.name = 'image')),
);
writeModel(
  modelsDir,
  'wrong-rank',
  variant('wrong-rank', (m) => {
    m.input.shape = ['batch', 1, 256, 256];
    m.input.layout = 'NCHW';
    m.preprocessing.mode = 'slice';
    m.preprocessing.targetSize = [256, 256];
    delete m.preprocessing.intensity; // a volume-only option
  }),
);
writeModel(
  modelsDir,
  'wrong-dim',
  variant('wrong-dim', (m) => {
    m.input.shape = ['batch', 1, 128, 256, 256];
    m.preprocessing.targetSize = [128, 256, 256];
  }),
);
writeModel(
  modelsDir,
  'wrong-dtype',
  variant('wrong-dtype', (m) => (m.input.dtype = 'float16')),
);
writeModel(
  modelsDir,
  'wrong-labels',
  variant('wrong-labels', (m) => {
    m.output.labels = ['background', 'brain'];
    m.templates = {};
  }),
);
writeModel(
  modelsDir,
  'other-name',
  variant('meshnet-copy', () => undefined),
);
writeModel(
  modelsDir,
  'no-weights',
  variant('no-weights', () => undefined),
  false,
);

let registry: ModelRegistry | undefined;
async function getRegistry(): Promise<ModelRegistry> {
  registry ??= await loadModels(modelsDir, { providers: ['cuda', 'cpu'], intraOpNumThreads: 2 });
  return registry;
}
after(async () => {
  await registry?.close();
});

test('registry: meshnet-gwm loads; ["cuda","cpu"] falls back to cpu; sha256 recorded', async () => {
  const reg = await getRegistry();
  const model = reg.get('meshnet-gwm');
  assert.ok(model, JSON.stringify(reg.report, null, 2));
  assert.equal(model.session.provider, 'cpu');
  assert.equal(model.sha256, MESHNET_SHA256);
  assert.equal(model.manifest.output.labels.length, 3);
  assert.deepEqual(model.session.inputNames, ['input']);
  assert.deepEqual(model.session.outputNames, ['output']);
  assert.deepEqual(
    model.session.failedProviders.map((a) => a.provider),
    ['cuda'],
  );
  const entry = reg.report.find((r) => r.folder === 'meshnet-gwm');
  assert.ok(entry && entry.status === 'loaded');
  assert.equal(entry.provider, 'cpu');
  assert.match(entry.notes.join('\n'), /execution provider cuda unavailable/);
  // Where the CUDA binaries are not installed (this project's .npmrc skips them), the node says so
  // itself instead of letting ONNX Runtime print its native "Failed to load library" error.
  const ortBin = path.join(
    path.dirname(require.resolve('onnxruntime-node/package.json')),
    'bin',
    'napi-v6',
    process.platform,
    process.arch,
  );
  if (fs.existsSync(ortBin) && !fs.existsSync(path.join(ortBin, 'libonnxruntime_providers_cuda.so'))) {
    assert.match(entry.notes.join('\n'), /CUDA binaries are not installed .*--onnxruntime-node-install=cuda12/);
  }
  assert.deepEqual([...reg.models.keys()], ['meshnet-gwm']);
});

test('registry: manifests that do not fit the model are refused, naming the key to fix', async () => {
  const reg = await getRegistry();
  const reasons = (folder: string): string[] => {
    const r = reg.report.find((x) => x.folder === folder);
    assert.ok(r && r.status === 'refused', `${folder} should be refused: ${JSON.stringify(r)}`);
    return [...r.reasons];
  };
  const dir = path.basename(modelsDir);
  assert.deepEqual(reasons('wrong-input-name'), [
    `${dir}/wrong-input-name/model.json: input.name: the manifest says input "image" but the ONNX model's inputs are: input`,
  ]);
  assert.deepEqual(reasons('wrong-rank'), [
    `${dir}/wrong-rank/model.json: input.shape: the manifest gives 4 dimensions but the ONNX model's input "input" has 5: [batch_size, 1, 256, 256, 256]`,
    `${dir}/wrong-rank/model.json: output.kind: a segmentation output has the input's 4 dimensions (NCHW) but the ONNX model's output "output" has 5: [batch_size, 3, 256, 256, 256]`,
  ]);
  assert.deepEqual(reasons('wrong-dim'), [
    `${dir}/wrong-dim/model.json: input.shape[2]: the manifest says 128 but the ONNX model's input "input" fixes this dimension at 256 (model shape [batch_size, 1, 256, 256, 256])`,
  ]);
  assert.deepEqual(reasons('wrong-dtype'), [
    `${dir}/wrong-dtype/model.json: input.dtype: "float16" is not supported; the node builds float32 input tensors (convert the model's input to float32)`,
  ]);
  assert.deepEqual(reasons('wrong-labels'), [
    `${dir}/wrong-labels/model.json: output.labels: the manifest lists 2 labels but the ONNX model's output "output" has 3 channels (shape [batch_size, 3, 256, 256, 256])`,
  ]);
  assert.deepEqual(reasons('other-name'), [
    `${dir}/other-name/model.json: name: "meshnet-copy" differs from the folder name "other-name"; rename one so they match (routes refer to models by this name)`,
  ]);
  assert.deepEqual(reasons('no-weights'), [
    `${dir}/no-weights/model.onnx is missing: copy the model's ONNX file there (see the README, "Installing a model")`,
  ]);
  assert.match(reg.whyUnavailable('wrong-rank'), /^model wrong-rank was refused at start-up: .*input\.shape: /);
  assert.match(reg.whyUnavailable('nope'), /no model named nope is installed/);
});

test('model check: a dtype the ONNX model does not take is named (fake metadata: no uint8 model at hand)', () => {
  const manifest = parseManifest(meshnetManifest(), 'models/meshnet-gwm/model.json');
  const problems = checkModelIo(manifest, {
    inputs: [{ name: 'input', isTensor: true, type: 'uint8', shape: ['batch_size', 1, 256, 256, 256] }],
    outputs: [{ name: 'output', isTensor: true, type: 'float32', shape: ['batch_size', 3, 256, 256, 256] }],
  });
  assert.deepEqual(problems, ['input.dtype: the manifest says "float32" but the ONNX model\'s input "input" is uint8']);
  const dynamicBatch = checkModelIo(
    parseManifest(
      { ...meshnetManifest(), input: { name: 'input', shape: [-1, 1, 256, 256, 256], layout: 'NCDHW', dtype: 'float32' } },
      'x',
    ),
    {
      inputs: [{ name: 'input', isTensor: true, type: 'float32', shape: [1, 1, 256, 256, 256] }],
      outputs: [{ name: 'output', isTensor: true, type: 'float32', shape: [1, 3, 256, 256, 256] }],
    },
  );
  assert.deepEqual(dynamicBatch, [
    'input.shape[0]: the manifest says a dynamic size but the ONNX model\'s input "input" fixes this dimension at 1 (model shape [1, 1, 256, 256, 256])',
  ]);
});

test('manifest: every problem at once, with key paths and did-you-mean', () => {
  const broken = meshnetManifest();
  delete broken.version;
  broken.notForClinicalUse = 'yes';
  broken.input.shape = ['batch', 0, 256, 256, 256];
  broken.input.layuot = 'NCDHW';
  broken.preprocessing.window = 'lungs';
  broken.preprocessing.channels = 2;
  broken.output.kind = 'segmentaton';
  broken.output.thresholds = { 'white mater': 0.5 };
  broken.templates['grey matter'] = 'Grey matter {volumeML} ml';
  broken.uncertaintyThreshold = 1.5;
  const where = 'models/meshnet-gwm/model.json';
  let err: unknown;
  try {
    parseManifest(broken, where);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ManifestError);
  const expected = [
    'version: missing',
    'notForClinicalUse: "yes" is not true or false (without quotes)',
    'input.layuot: unknown key; did you mean "layout"?',
    'input.shape[1]: 0 is not a dimension; use a whole number from 1, or -1 / a name such as "batch" for a size the model accepts at any value',
    'preprocessing.window: unknown window "lungs": use auto, percentile, minmax, C/W (e.g. 40/400) or one of lung, mediastinum, bone, brain, abdomen, liver',
    'preprocessing.channels: 2 is not 1 (grey) or 3 (grey repeated into 3 channels)',
    'output.kind: "segmentaton" is not one of classification, detection, segmentation, heatmap; did you mean "segmentation"?',
    'output.thresholds["white mater"]: "white mater" is not one of output.labels; did you mean "white matter"?',
    'templates["grey matter"]: unknown placeholder {volumeML}; did you mean {volumeMl}?',
    'uncertaintyThreshold: 1.5 is not a number from 0 to 1',
  ].map((p) => `${where}: ${p}`);
  assert.deepEqual([...err.problems].sort(), [...expected].sort());
  assert.match(err.message, /^models\/meshnet-gwm\/model\.json has 10 problems:\n {2}- /);

  const ok = parseManifest(meshnetManifest(), where);
  assert.deepEqual(ok.input.shape, ['dynamic', 1, 256, 256, 256]);
  assert.deepEqual(ok.applicability, { modalities: ['MR'], bodyParts: ['BRAIN', 'HEAD'] });
  assert.deepEqual(ok.preprocessing, {
    window: 'minmax',
    intensity: 'conform-uchar',
    targetSize: [256, 256, 256],
    normalization: null,
    channels: 1,
    mode: 'volume',
    batchSize: 1,
  });
  const intensityProblems = (edit: (m: ManifestJson) => void): string[] => {
    const m = meshnetManifest();
    edit(m);
    try {
      parseManifest(m, where);
    } catch (e) {
      if (e instanceof ManifestError) return e.problems;
      throw e;
    }
    return [];
  };
  assert.deepEqual(
    intensityProblems((m) => (m.preprocessing.intensity = 'freesurfer')),
    [
      `${where}: preprocessing.intensity: "freesurfer" is not "none" or "conform-uchar" (FreeSurfer's conform to 0..255, for volume models trained on conformed T1)`,
    ],
  );
  assert.ok(
    intensityProblems((m) => (m.preprocessing.mode = 'slice')).includes(
      `${where}: preprocessing.intensity: "conform-uchar" needs "mode": "volume" (it is computed over the whole series)`,
    ),
  );
});

function phantomFeed(): Record<string, TensorData> {
  return { input: { type: 'float32', data: twoSpheres(), dims: [1, 1, N, N, N] } };
}

async function infer(session: ModelSession): Promise<{ counts: number[]; dims: readonly number[]; ms: number }> {
  const t0 = performance.now();
  const out = await session.run(phantomFeed());
  const ms = performance.now() - t0;
  const output = out['output'];
  assert.ok(output);
  assert.equal(output.type, 'float32');
  return { counts: argmaxCounts(output.data as Float32Array, 3), dims: output.dims, ms };
}

test("meshnet on a two-sphere phantom: output of the manifest's shape, deterministic argmax", async () => {
  const model = (await getRegistry()).get('meshnet-gwm')!;
  const { counts, dims, ms } = await infer(model.session);
  const m = model.manifest;
  assert.deepEqual(dims, [1, m.output.labels.length, ...m.preprocessing.targetSize]);
  console.log(`meshnet 256³ on ${model.session.provider}: ${ms.toFixed(0)} ms, argmax counts ${JSON.stringify(counts)}`);
  assert.equal(
    counts.reduce((a, b) => a + b, 0),
    N * N * N,
  );
  assert.ok(
    counts.every((c) => c > 0),
    `all three classes present: ${counts.join(', ')}`,
  );
  assert.deepEqual(counts, EXPECTED_COUNTS);
});

test('the event loop keeps ticking while a 256³ inference runs (session lives in a worker thread)', async () => {
  const model = (await getRegistry()).get('meshnet-gwm')!;
  const feed = phantomFeed(); // built before timing: filling 64 MiB is our own main-thread work
  let last = performance.now();
  let maxGap = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 10);
  const t0 = performance.now();
  const out = await model.session.run(feed);
  const ms = performance.now() - t0;
  clearInterval(timer);
  maxGap = Math.max(maxGap, performance.now() - last);
  console.log(`event loop during a ${ms.toFixed(0)} ms inference: ${ticks} ticks, longest gap ${maxGap.toFixed(1)} ms`);
  assert.ok(ticks >= ms / 10 / 3, `only ${ticks} ticks in ${ms.toFixed(0)} ms`);
  // Without the worker this loop does not tick at all for the whole run (~6 s). With it, the longest
  // gap measured on this 2-vCPU machine was 25-135 ms, worst on a second back-to-back 256³ run
  // (a 192 MiB output of the first run being freed, and page-fault/memory-bandwidth contention with
  // ORT's threads, not CPU starvation: two CPU-burning processes beside an idle loop cause no gap).
  // Under load (CI beside two benchmark processes, load average 9) a 270 ms gap was seen: the bound
  // is 1 s, well below the whole run (6-22 s) that an inference on the event loop would block, so
  // the defect this guards against still fails it. The SCP-level C-ECHO check belongs to the queue stage.
  assert.ok(maxGap < 1000, `longest event-loop gap ${maxGap.toFixed(1)} ms`);
  // Same input, same session: the same answer (and the transferred input came back intact as output).
  assert.deepEqual(argmaxCounts(out['output']!.data as Float32Array, 3), EXPECTED_COUNTS);
  assert.equal(feed['input']!.data.length, 0, 'input buffer was transferred to the worker, not copied');
});

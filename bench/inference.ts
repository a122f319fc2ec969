/**
 * bench/inference: slices per second of an installed slice-wise model (default: the reference
 * lung-nodule model) on a generated chest-CT phantom, per batch size, through the node's own
 * runner (session in its worker thread). Prints which execution provider ran.
 *
 *   npm run bench:inference -- [--model lung-nodule-reference] [--slices 64] [--batches 1,8,32]
 *                              [--providers cuda,cpu] [--rounds 3]
 *
 * Two numbers per batch size: "model" = session.run alone on ready tensors; "runner" = the whole
 * runModel (windowing, letterbox, run, resample back, post-processing). Rounds alternate the
 * batch sizes; medians are printed.
 */
import path from 'node:path';
import fs from 'node:fs';
import { loadModels } from '../src/inference/registry';
import { loadSeriesVolume } from '../src/inference/series-volume';
import { runModel } from '../src/inference/run-model';
import { sliceBatch } from '../src/inference/preprocess';
import { POSTPROCESSORS } from '../src/inference/postprocess';
import { readPart10Header } from '../src/dicom/part10';
import { writeChestPhantom } from '../fixtures/chest-phantom';
import { newUidRoot } from '../fixtures/synthetic-ct';
import { tmpdir } from 'node:os';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;

async function main(): Promise<void> {
  const modelName = arg('model', 'lung-nodule-reference');
  const slices = Number(arg('slices', '64'));
  const batches = arg('batches', '1,8,32').split(',').map(Number);
  const providers = arg('providers', 'cpu').split(',') as ('cuda' | 'webgpu' | 'cpu')[];
  const rounds = Number(arg('rounds', '3'));
  const modelsDir = path.resolve(__dirname, '..', '..', 'models');

  const dir = fs.mkdtempSync(path.join(tmpdir(), 'bench-inference-'));
  const phantom = writeChestPhantom({ outDir: dir, seed: 99, uidRoot: newUidRoot(), slices });
  const inputs = phantom.files.map((f) => {
    const bytes = fs.readFileSync(f);
    const h = readPart10Header(bytes);
    return { bytes, sopInstanceUid: h.sopInstanceUid, sopClassUid: h.sopClassUid };
  });
  const volume = await loadSeriesVolume(inputs, undefined, { allowIdentified: true }); // a synthetic phantom
  const registry = await loadModels(modelsDir, { providers });
  const model = registry.get(modelName);
  if (!model) throw new Error(registry.whyUnavailable(modelName));
  console.log(
    `model ${model.name} ${model.manifest.version}, provider ${model.session.provider}${model.session.failedProviders.length ? ` (tried first: ${model.session.failedProviders.map((p) => `${p.provider}: ${p.error.slice(0, 80)}`).join('; ')})` : ''}`,
  );
  console.log(`phantom: ${slices} slices of ${volume.columns}x${volume.rows}`);

  const modelOnly = new Map<number, number[]>();
  const runner = new Map<number, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const bs of batches) {
      const manifest = { ...model.manifest, preprocessing: { ...model.manifest.preprocessing, batchSize: bs } };
      // Model alone: tensors prepared outside the timed loop.
      const prepared = [];
      for (let from = 0; from < slices; from += bs) prepared.push(sliceBatch(volume, from, Math.min(slices, from + bs), manifest));
      let t0 = process.hrtime.bigint();
      for (const b of prepared)
        await model.session.run({ [manifest.input.name]: { type: 'float32', data: b.data, dims: b.dims } }, [manifest.output.name]);
      const sModel = Number(process.hrtime.bigint() - t0) / 1e9;
      modelOnly.set(bs, [...(modelOnly.get(bs) ?? []), slices / sModel]);
      t0 = process.hrtime.bigint();
      const res = await runModel(volume, {
        name: model.name,
        manifest,
        session: model.session,
        sha256: model.sha256,
        postprocessors: POSTPROCESSORS,
        deidentification: 'none (benchmark)',
      });
      const sRun = Number(process.hrtime.bigint() - t0) / 1e9;
      runner.set(bs, [...(runner.get(bs) ?? []), slices / sRun]);
      if (r === 0) console.log(`  batch ${bs}: ${res.findings.length} finding(s)`);
    }
  }
  console.log('\nbatch   model slices/s (median)   runner slices/s (median)   rounds');
  for (const bs of batches) {
    console.log(
      `${String(bs).padEnd(7)} ${median(modelOnly.get(bs)!).toFixed(1).padStart(22)} ${median(runner.get(bs)!).toFixed(1).padStart(26)}   ${rounds}`,
    );
  }
  await registry.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

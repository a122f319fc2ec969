// The lung masks made in a worker while the model runs (issue 13, time to report): the job's
// offloaded path gives exactly the findings of the in-process path, the detector really uses the
// prepared masks, and masks that do not fit the volume are ignored (made again), not trusted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { writeChestPhantom } from '../fixtures/chest-phantom';
import { PROJECT_ROOT, tmpDir } from './helpers/env';
import { parseManifest } from '../src/inference/manifest';
import { chestPhantomVolume } from './helpers/phantom-volume';
import { ModelSession, type TensorData } from '../src/inference/session';
import { runModel, runSliceMaps } from '../src/inference/run-model';
import { POSTPROCESS_PREPARATIONS, POSTPROCESSORS } from '../src/inference/postprocess';
import { findLungNodules } from '../src/inference/postprocess/lung-nodules/index';
import type { LungMasks } from '../src/inference/postprocess/lung-nodules/lung-mask';

const MODEL_DIR = path.join(PROJECT_ROOT, 'models', 'lung-nodule-reference');

test('lung masks prepared beside the model: same findings as in-process, used when they fit, ignored when not', async () => {
  const dir = tmpDir('preparation');
  const ph = writeChestPhantom({ outDir: dir, seed: 1000, uidRoot: '2.25.901000', slices: 60 });
  const volume = await chestPhantomVolume(ph);
  const manifest = parseManifest(JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'model.json'), 'utf8')), 'model.json');
  const session = await ModelSession.open(path.join(MODEL_DIR, 'model.onnx'));
  // The model runs once; its outputs are replayed for the other paths (the same input gives the
  // same output). Each replay is a fresh copy, as a real run's output is: the slice maps are views
  // into it, and the offloaded path transfers them to its worker.
  const recorded: Record<string, TensorData>[] = [];
  let replayAt = 0;
  const copyOf = (r: Record<string, TensorData>): Record<string, TensorData> =>
    Object.fromEntries(Object.entries(r).map(([k, t]) => [k, { ...t, data: t.data.slice() }]));
  const replaying = {
    provider: session.provider,
    run: async (feeds: Record<string, TensorData>, names?: readonly string[]) => {
      if (replayAt < recorded.length) return copyOf(recorded[replayAt++]!);
      const r = await session.run(feeds, names);
      recorded.push(copyOf(r));
      replayAt++;
      return r;
    },
  };
  try {
    const common = { name: manifest.name, manifest, sha256: 'test', postprocessors: POSTPROCESSORS, deidentification: 'test' };
    const inProcess = await runModel(volume, { ...common, session: replaying });
    replayAt = 0;
    const offloaded = await runModel(volume, { ...common, session: replaying, offload: true });
    assert.ok(inProcess.findings.length >= 1, 'the phantom has nodules the detector reports');
    assert.deepEqual(offloaded.findings, inProcess.findings);
    assert.equal(offloaded.uncertainty, inProcess.uncertainty);
    assert.equal(volume.values.length, 60, 'the volume came back from the workers');
    // A volume the node reads is shared with the masks' worker, not copied for it (cpu-task.ts prepareInWorker).
    assert.ok(
      volume.values.every((v) => v.buffer instanceof SharedArrayBuffer),
      "the volume's slices are SharedArrayBuffers",
    );

    replayAt = 0;
    const { maps } = await runSliceMaps(volume, manifest, async (feeds, name) => (await replaying.run(feeds, [name]))[name]);
    const prepared = POSTPROCESS_PREPARATIONS['lung-nodules']!(volume) as LungMasks;
    const withPrepared = findLungNodules({ volume, manifest, maps, prepared });
    assert.equal(withPrepared.findings.length, inProcess.findings.length);
    // No lung anywhere: nothing to search, so no finding — the detector used what it was given.
    const noLung: LungMasks = {
      ...prepared,
      filled: prepared.filled.map((s) => new Uint8Array(s.length)),
      closed: prepared.closed.map((s) => new Uint8Array(s.length)),
      search: prepared.search.map((s) => new Uint8Array(s.length)),
    };
    assert.equal(findLungNodules({ volume, manifest, maps, prepared: noLung }).findings.length, 0);
    // Masks of another volume (one slice short) are not trusted: the detector makes its own.
    const otherVolume: LungMasks = {
      ...noLung,
      filled: noLung.filled.slice(1),
      closed: noLung.closed.slice(1),
      search: noLung.search.slice(1),
    };
    assert.equal(findLungNodules({ volume, manifest, maps, prepared: otherVolume }).findings.length, inProcess.findings.length);

    // The runs above did not ask for their inputs back: the session kept none (a volume model's
    // 64 MB input must not stay behind).
    const [H, W] = manifest.preprocessing.targetSize;
    const firstBatchLength = Math.min(manifest.preprocessing.batchSize, volume.values.length) * manifest.preprocessing.channels * H! * W!;
    assert.equal(session.takeSpareInput(firstBatchLength), undefined, 'no input buffer kept unasked');
    // Asked, the session sends each run's input buffer back, and the slice loop fills it with the
    // next batch: the same model output as with fresh buffers, and the spares really were used.
    const viaSession = (feeds: Record<string, TensorData>, name: string) =>
      session.run(feeds, [name], { returnInputs: true }).then((r) => r[name]);
    const fresh = await runSliceMaps(volume, manifest, viaSession);
    let reused = 0;
    const spare = (length: number): Float32Array | undefined => {
      const b = session.takeSpareInput(length);
      if (b) reused++;
      return b;
    };
    const recycled = await runSliceMaps(volume, manifest, viaSession, undefined, spare);
    // (The first batch too: the run before this one left its last buffer.)
    assert.equal(reused, volume.values.length, 'every batch filled a buffer sent back');
    for (let c = 0; c < fresh.maps.length; c++)
      fresh.maps[c]!.forEach((plane, k) => assert.deepEqual(recycled.maps[c]![k], plane, `channel ${c}, slice ${k}`));
  } finally {
    await session.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// The volume stage in a worker thread: the same volume as the in-process function (byte for byte),
// the time limit's signal ends it, and an error inside the worker is the job's failure reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildSeriesVolume, volumeOfSeries, type SeriesVolumeRequest } from '../src/pipeline/volume-stage';
import { readPart10Header } from '../src/dicom/part10';
import { DEFAULT_PIXEL_LIMITS } from '../src/dicom/pixel-budget';
import { writeChestPhantom } from '../fixtures/chest-phantom';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { AXIAL, CORONAL, SAGITTAL, straightStack, writeStackSeries } from '../fixtures/stack-series';
import { PROJECT_ROOT, tmpDir } from './helpers/env';
import { startTestNode, waitFor } from './helpers/node';
import { run } from './helpers/run';

const SECRET = Buffer.alloc(32, 5);

function requestFor(files: readonly string[]): SeriesVolumeRequest {
  const instances = files.map((filePath) => {
    const h = readPart10Header(fs.readFileSync(filePath));
    return { sopInstanceUid: h.sopInstanceUid, sopClassUid: h.sopClassUid, filePath };
  });
  return { instances, secret: SECRET, limits: DEFAULT_PIXEL_LIMITS };
}

test('the volume worker returns the in-process volume: same geometry, original UIDs, byte-identical values', async () => {
  const p = writeChestPhantom({ outDir: tmpDir('volume-worker'), seed: 91, uidRoot: newUidRoot(), slices: 5 });
  // Shuffled: both must order the slices along the normal themselves.
  const request = requestFor([p.files[3]!, p.files[0]!, p.files[4]!, p.files[1]!, p.files[2]!]);
  const local = await buildSeriesVolume(request);
  const remote = await volumeOfSeries(request);
  const { values: localValues, ...localRest } = local;
  const { values: remoteValues, ...remoteRest } = remote;
  assert.deepEqual(remoteRest, localRest, 'geometry, slices, warnings and Frame of Reference');
  assert.equal(remote.frameOfReferenceUid, p.frameOfReferenceUid, 'the ORIGINAL Frame of Reference UID');
  assert.deepEqual(
    remote.slices.map((s) => s.sopInstanceUid),
    p.sopInstanceUids.slice().reverse(),
    'the original SOP Instance UIDs, ordered along the normal',
  );
  assert.equal(remoteValues.length, 5);
  remoteValues.forEach((v, i) => {
    assert.ok(v instanceof Float32Array);
    assert.ok(
      Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(
        Buffer.from(localValues[i]!.buffer, localValues[i]!.byteOffset, localValues[i]!.byteLength),
      ),
      `slice ${i}`,
    );
  });
});

test('an aborted volume worker rejects with the signal reason; a failing one with its own message', async () => {
  const p = writeChestPhantom({ outDir: tmpDir('volume-abort'), seed: 92, uidRoot: newUidRoot(), slices: 3 });
  const abort = new AbortController();
  const pending = volumeOfSeries(requestFor(p.files), abort.signal);
  abort.abort(new Error('time limit exceeded (test)'));
  await assert.rejects(pending, /time limit exceeded \(test\)/);
  const missing = { ...requestFor(p.files.slice(0, 1)) };
  const gone = {
    instances: [{ ...missing.instances[0]!, filePath: path.join(tmpDir('gone'), 'nothing.dcm') }],
    secret: SECRET,
    limits: DEFAULT_PIXEL_LIMITS,
  };
  await assert.rejects(volumeOfSeries(gone), /ENOENT.*nothing\.dcm/);
});

test('series with no volume end skipped with the reason, not failed: a multi-frame CT without geometry, a series of localizers only; the node goes on answering', async () => {
  const n = await startTestNode({
    series: { stableSeconds: 1 },
    inference: { modelsDir: path.join(PROJECT_ROOT, 'models'), providers: ['cpu'] },
    routes: [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'] }],
  });
  try {
    // A multi-frame CT without functional groups: stored fine, but its frames say nowhere where they
    // lie, so it is not assembled into a volume (the worker throws NotAVolumeError).
    const files = writeSyntheticCtSeries({
      outDir: tmpDir('multiframe'),
      count: 1,
      uidRoot: newUidRoot(),
      rows: 32,
      columns: 32,
      frames: 2,
    });
    // A three-plane localizer (Image Type LOCALIZER) sent as a series of its own: no slice for a model.
    const localizerRoot = newUidRoot();
    const localizers = writeStackSeries({
      outDir: tmpDir('localizers'),
      uidRoot: localizerRoot,
      modality: 'CT',
      rows: 32,
      columns: 32,
      pixelMm: 2,
      sliceThicknessMm: 2,
      slices: [AXIAL, SAGITTAL, CORONAL].map(
        (o) => straightStack(o, { count: 1, stepMm: 1, origin: [-32, -32, 0], imageType: 'ORIGINAL\\PRIMARY\\LOCALIZER' })[0]!,
      ),
      sphere: { centre: [0, 0, 0], radiusMm: 5, value: 100, background: -1000 },
    });
    const s = await run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port), ...files, ...localizers], {
      timeoutMs: 60_000,
    });
    assert.equal(s.code, 0, s.stderr);
    const ended = () => n.node.store.listJobs().filter((j) => j.state !== 'queued' && j.state !== 'processing');
    await waitFor(() => ended().length === 2, 60_000, 'both jobs to end');
    const [multiframe, localizerOnly] = [
      ended().find((j) => j.seriesInstanceUid !== `${localizerRoot}.2`)!,
      ended().find((j) => j.seriesInstanceUid === `${localizerRoot}.2`)!,
    ];
    assert.equal(multiframe.state, 'skipped', JSON.stringify(multiframe));
    assert.match(multiframe.reason ?? '', /\(2 frames\) cannot be placed in a volume: it has no Shared or Per-frame Functional Groups/);
    assert.equal(localizerOnly.state, 'skipped', JSON.stringify(localizerOnly));
    assert.equal(
      localizerOnly.reason,
      'the series cannot be read as one volume: no image slices in the series; 3 localizer image(s) left out',
    );
    const audit = n.node.store.listAudit();
    assert.equal(audit.filter((e) => e.event === 'job-skipped').length, 2, 'both skips are in the audit trail');
    const echo = await run('echoscu', ['-aet', 'ECHOSCU', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port)], { timeoutMs: 10_000 });
    assert.equal(echo.code, 0, 'the node still answers C-ECHO');
  } finally {
    await n.stop();
  }
});

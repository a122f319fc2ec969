/**
 * A short-lived worker thread for one CPU-heavy step of a job: making a series' volume from its
 * stored files (read, inflate, de-identify, decode), post-processing a whole series (lung masks,
 * 3D grouping, argmax over 256³ voxels) or conforming a volume for a 3D model. On the main thread
 * these take 0.5-2 s of uninterrupted JavaScript (a hostile series far more), during which the
 * Storage SCP could answer nothing (measured: a C-ECHO waited 1.1 s). Buffers are transferred both
 * ways, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buffersInside, CLASSIFICATION_POSTPROCESSOR, CpuTask, CpuReply } from './cpu-task';
import { POSTPROCESS_PREPARATIONS, POSTPROCESSORS } from './postprocess';
import { classificationScores } from './run-model';
import { volumeTensor } from './conform';
import { buildSeriesVolume } from '../pipeline/volume-stage';
import { NotAVolumeError } from './series-volume';
import { sourceLabelsOrWhyNot } from './source-labels';
import { buildSegmentation } from '../report/segmentation-iod';

const task = workerData as CpuTask;

async function run(): Promise<CpuReply> {
  if (task.type === 'series-volume') {
    const volume = await buildSeriesVolume(task.request);
    return { type: 'series-volume', volume, values: [...volume.values] };
  }
  if (task.type === 'segmentation') {
    // workerData turned the Buffer into a Uint8Array; the source reader wants a Buffer.
    const f = task.input.sourceFile;
    const built = buildSegmentation({ ...task.input, sourceFile: Buffer.from(f.buffer, f.byteOffset, f.byteLength) });
    return { type: 'segmentation', built, values: [] };
  }
  if (task.type === 'prepare') {
    const prepare = POSTPROCESS_PREPARATIONS[task.name];
    if (!prepare) throw new Error(`no volume preparation for post-processor "${task.name}"`);
    // The volume was shared with this task, or a copy made for it: it is not sent back.
    return { type: 'prepare', prepared: prepare(task.volume), values: [] };
  }
  if (task.type === 'postprocess') {
    const p = task.name === CLASSIFICATION_POSTPROCESSOR ? classificationScores : POSTPROCESSORS[task.name];
    if (!p) throw new Error(`no post-processor "${task.name}" (known: ${Object.keys(POSTPROCESSORS).join(', ')})`);
    const result = p(task.ctx);
    const sourceLabels = task.withSourceLabels ? sourceLabelsOrWhyNot(task.name, task.ctx, result) : undefined;
    return { type: 'postprocess', result, values: [...task.ctx.volume.values], ...(sourceLabels !== undefined ? { sourceLabels } : {}) };
  }
  const t = volumeTensor(task.volume, task.manifest);
  return {
    type: 'volume-tensor',
    tensor: { data: t.data, dims: t.dims, voxelVolumeMm3: t.voxelVolumeMm3, description: t.description },
    values: [...task.volume.values],
  };
}

run().then(
  (reply) => {
    const transfer = new Set<ArrayBuffer>();
    for (const v of reply.values) if (v.buffer instanceof ArrayBuffer) transfer.add(v.buffer);
    if (reply.type === 'segmentation' && reply.built.bytes.buffer instanceof ArrayBuffer) transfer.add(reply.built.bytes.buffer);
    if (reply.type === 'volume-tensor' && reply.tensor.data.buffer instanceof ArrayBuffer) transfer.add(reply.tensor.data.buffer);
    if (reply.type === 'postprocess' && typeof reply.sourceLabels === 'object') buffersInside(reply.sourceLabels.slices, transfer);
    if (reply.type === 'prepare') buffersInside(reply.prepared, transfer);
    if (reply.type === 'postprocess')
      for (const f of reply.result.findings) if (f.mask?.bits.buffer instanceof ArrayBuffer) transfer.add(f.mask.bits.buffer);
    parentPort!.postMessage({ ok: true, reply }, [...transfer]);
  },
  (e: unknown) => {
    // The message is the job's failure reason: it crosses the thread boundary as it was thrown.
    // A series that is no usable volume keeps its reasons: the job is skipped with them, not failed.
    const notAVolume = e instanceof NotAVolumeError ? e.reasons : undefined;
    parentPort!.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e), notAVolume });
  },
);

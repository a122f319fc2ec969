/**
 * Runs a CPU-heavy step in a worker thread (cpu-worker.ts) and waits for it without blocking the
 * event loop. The volume's slice arrays are transferred to the worker and come back afterwards
 * (the caller's `volume.values` is refilled), or shared where they are SharedArrayBuffers (a
 * volume the node read), so nothing of the series is copied. A series volume is made in the worker
 * from the stored files and sent back the same way.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Manifest } from './manifest';
import { NotAVolumeError, type SeriesVolume } from './series-volume';
import type { PostprocessContext, PostprocessResult } from './postprocess/types';
import type { VolumeTensor } from './run-model';
import type { SeriesVolumeRequest } from '../pipeline/volume-stage';
import type { SourceLabels } from './source-labels';
import type { BuiltSegmentation, SegmentationInput } from '../report/segmentation-iod';

export const CLASSIFICATION_POSTPROCESSOR = '(classification)';

export type CpuTask =
  | { readonly type: 'postprocess'; readonly name: string; readonly ctx: PostprocessContext; readonly withSourceLabels?: boolean }
  | { readonly type: 'volume-tensor'; readonly volume: SeriesVolume; readonly manifest: Manifest }
  | { readonly type: 'series-volume'; readonly request: SeriesVolumeRequest }
  | { readonly type: 'segmentation'; readonly input: SegmentationInput }
  | { readonly type: 'prepare'; readonly name: string; readonly volume: SeriesVolume };

export type CpuReply =
  | {
      readonly type: 'postprocess';
      readonly result: PostprocessResult;
      readonly values: Float32Array[];
      /** Asked for with withSourceLabels: the labels on the source grid, or why there are none. */
      readonly sourceLabels?: SourceLabels | string;
    }
  | { readonly type: 'volume-tensor'; readonly tensor: VolumeTensor; readonly values: Float32Array[] }
  | { readonly type: 'series-volume'; readonly volume: SeriesVolume; readonly values: Float32Array[] }
  | { readonly type: 'segmentation'; readonly built: BuiltSegmentation; readonly values: Float32Array[] }
  | { readonly type: 'prepare'; readonly prepared: unknown; readonly values: Float32Array[] };

/** The typed arrays' buffers inside `value` (its own, in arrays, in object fields): to transfer, not copy. */
export function buffersInside(value: unknown, into = new Set<ArrayBuffer>()): Set<ArrayBuffer> {
  if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer && value.byteLength > 0) into.add(value.buffer);
  } else if (Array.isArray(value)) {
    for (const v of value) buffersInside(v, into);
  } else if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) buffersInside(v, into);
  }
  return into;
}

/** The volume the task lends the worker (and gets back), if any. */
function lentVolume(task: CpuTask): SeriesVolume | null {
  if (task.type === 'postprocess') return task.ctx.volume;
  if (task.type === 'volume-tensor') return task.volume;
  return null;
}

function buffersOf(task: CpuTask): ArrayBuffer[] {
  const set = new Set<ArrayBuffer>();
  const add = (a: Float32Array) => {
    if (a.buffer instanceof ArrayBuffer && a.byteLength > 0) set.add(a.buffer);
  };
  lentVolume(task)?.values.forEach(add);
  if (task.type === 'postprocess') {
    for (const c of task.ctx.maps ?? []) c.forEach(add);
    if (task.ctx.output) add(task.ctx.output.data);
    buffersInside(task.ctx.prepared, set);
  }
  // The preparation's volume is shared (not in the list: SharedArrayBuffers are not transferred) or a
  // copy made for it: the copy moves, the caller keeps its own.
  if (task.type === 'prepare') task.volume.values.forEach(add);
  if (task.type === 'segmentation') buffersInside(task.input.labels, set);
  return [...set];
}

/** Runs `task` in a fresh worker; `signal` terminates the worker and rejects with the signal's reason. */
function runTask(task: CpuTask, signal?: AbortSignal): Promise<CpuReply> {
  const vol = lentVolume(task);
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    // workerData with a transfer list: the slices move to the worker without a copy.
    const worker = new Worker(path.join(__dirname, 'cpu-worker.js'), { workerData: task, transferList: buffersOf(task) });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => {
      settle(() => reject(abortReason(signal!)));
      void worker.terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (m: { ok: true; reply: CpuReply } | { ok: false; error: string; notAVolume?: string[] }) => {
      settle(() => {
        if (!m.ok) return reject(m.notAVolume ? new NotAVolumeError(m.notAVolume) : new Error(m.error));
        // Lent slices come back: put them where the caller expects them.
        if (vol) (vol.values as Float32Array[]).splice(0, vol.values.length, ...m.reply.values);
        resolve(m.reply);
      });
    });
    worker.once('error', (e) => settle(() => reject(e)));
    worker.once('exit', (code) => settle(() => reject(new Error(`CPU worker exited with code ${code} before answering`))));
  });
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('the CPU task was aborted');
}

/** Post-processing in a worker; with `withSourceLabels`, also the labels on the source grid for a SEG (or why there are none). */
export async function postprocessInWorker(
  name: string,
  ctx: PostprocessContext,
  withSourceLabels = false,
): Promise<{ result: PostprocessResult; sourceLabels?: SourceLabels | string }> {
  const r = await runTask({ type: 'postprocess', name, ctx, withSourceLabels });
  if (r.type !== 'postprocess') throw new Error('CPU worker answered the wrong task');
  return { result: r.result, ...(r.sourceLabels !== undefined ? { sourceLabels: r.sourceLabels } : {}) };
}

export async function volumeTensorInWorker(volume: SeriesVolume, manifest: Manifest): Promise<VolumeTensor> {
  const r = await runTask({ type: 'volume-tensor', volume, manifest });
  if (r.type !== 'volume-tensor') throw new Error('CPU worker answered the wrong task');
  return r.tensor;
}

/**
 * The DICOM Segmentation built in a worker: planning the frames and packing their bits take
 * hundreds of ms for a 256-slice brain (bench/seg-packing.ts), which the event loop must not
 * spend. The label slices are LENT for good (transferred, not copied): the caller must not read
 * them afterwards. The same bytes as buildSegmentation in-process (segmentation-iod.test.ts).
 */
export async function segmentationInWorker(input: SegmentationInput): Promise<BuiltSegmentation> {
  const r = await runTask({ type: 'segmentation', input });
  if (r.type !== 'segmentation') throw new Error('CPU worker answered the wrong task');
  // Buffers cross the thread boundary as plain Uint8Arrays.
  const b = r.built.bytes;
  return { ...r.built, bytes: Buffer.from(b.buffer, b.byteOffset, b.byteLength) };
}

/**
 * The named post-processor's volume preparation (postprocess/types.ts) in a worker, on the volume's
 * CT values while the caller goes on reading them (the model's input is built from them meanwhile):
 * shared where they are in SharedArrayBuffers (a volume the node read: series-volume.ts), else a
 * copy (a memcpy and, until the worker ends, the volume's size again; e.g. a gantry-tilt-corrected
 * volume). `signal` ends the worker (the job failed or timed out before the result was needed).
 */
export async function prepareInWorker(name: string, volume: SeriesVolume, signal?: AbortSignal): Promise<unknown> {
  const shared = volume.values.every((v) => v.buffer instanceof SharedArrayBuffer);
  const lent: SeriesVolume = shared ? volume : { ...volume, values: volume.values.map((v) => v.slice()) };
  const r = await runTask({ type: 'prepare', name, volume: lent }, signal);
  if (r.type !== 'prepare') throw new Error('CPU worker answered the wrong task');
  return r.prepared;
}

/** Reads, de-identifies and decodes a stored series into its volume in a worker (volume-stage's buildSeriesVolume). */
export async function seriesVolumeInWorker(request: SeriesVolumeRequest, signal?: AbortSignal): Promise<SeriesVolume> {
  const r = await runTask({ type: 'series-volume', request }, signal);
  if (r.type !== 'series-volume') throw new Error('CPU worker answered the wrong task');
  return r.volume;
}

/**
 * Runs a CPU-heavy step in a worker thread (cpu-worker.ts) and waits for it without blocking the
 * event loop. The volume's slice arrays are transferred to the worker and come back afterwards
 * (the caller's `volume.values` is refilled), so nothing of the series is copied.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Manifest } from './manifest';
import type { SeriesVolume } from './series-volume';
import type { PostprocessContext, PostprocessResult } from './postprocess/types';
import type { VolumeTensor } from './run-model';

export const CLASSIFICATION_POSTPROCESSOR = '(classification)';

export type CpuTask =
  | { readonly type: 'postprocess'; readonly name: string; readonly ctx: PostprocessContext }
  | { readonly type: 'volume-tensor'; readonly volume: SeriesVolume; readonly manifest: Manifest };

export type CpuReply =
  | { readonly type: 'postprocess'; readonly result: PostprocessResult; readonly values: Float32Array[] }
  | { readonly type: 'volume-tensor'; readonly tensor: VolumeTensor; readonly values: Float32Array[] };

function buffersOf(task: CpuTask): ArrayBuffer[] {
  const set = new Set<ArrayBuffer>();
  const add = (a: Float32Array) => {
    if (a.buffer instanceof ArrayBuffer && a.byteLength > 0) set.add(a.buffer);
  };
  const vol = task.type === 'postprocess' ? task.ctx.volume : task.volume;
  vol.values.forEach(add);
  if (task.type === 'postprocess') {
    for (const c of task.ctx.maps ?? []) c.forEach(add);
    if (task.ctx.output) add(task.ctx.output.data);
  }
  return [...set];
}

function runTask(task: CpuTask): Promise<CpuReply> {
  const vol = task.type === 'postprocess' ? task.ctx.volume : task.volume;
  return new Promise((resolve, reject) => {
    // workerData with a transfer list: the slices move to the worker without a copy.
    const worker = new Worker(path.join(__dirname, 'cpu-worker.js'), { workerData: task, transferList: buffersOf(task) });
    let settled = false;
    worker.once('message', (m: { ok: true; reply: CpuReply } | { ok: false; error: string }) => {
      settled = true;
      if (m.ok) {
        // The slices come back: put them where the caller expects them.
        (vol.values as Float32Array[]).splice(0, vol.values.length, ...m.reply.values);
        resolve(m.reply);
      } else reject(new Error(m.error));
    });
    worker.once('error', (e) => {
      if (!settled) reject(e);
      settled = true;
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`CPU worker exited with code ${code} before answering`));
    });
  });
}

export async function postprocessInWorker(name: string, ctx: PostprocessContext): Promise<PostprocessResult> {
  const r = await runTask({ type: 'postprocess', name, ctx });
  if (r.type !== 'postprocess') throw new Error('CPU worker answered the wrong task');
  return r.result;
}

export async function volumeTensorInWorker(volume: SeriesVolume, manifest: Manifest): Promise<VolumeTensor> {
  const r = await runTask({ type: 'volume-tensor', volume, manifest });
  if (r.type !== 'volume-tensor') throw new Error('CPU worker answered the wrong task');
  return r.tensor;
}

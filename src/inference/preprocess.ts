/**
 * Manifest preprocessing for slice-wise models: modality values -> window to [0,1] -> resize
 * (letterboxed, our own bilinear filter) -> normalisation -> NCHW batch. One function for the
 * node's runner, the `infer` CLI and the benchmarks, so that what a model sees is defined once.
 */
import { DataSet } from '../imaging/dataset';
import { Voi, applyVoi, parseWindowOption, resolveVoi } from '../imaging/voi';
import { toTensor } from '../imaging/tensor';
import type { Manifest } from './manifest';
import type { SeriesVolume } from './series-volume';

/**
 * Windows one slice's modality values to [0,1] as the manifest says; returns the VOI used. `out`
 * (as long as `values`) receives the result instead of a new array: fresh memory costs more than
 * the windowing on this project's VM (page faults), and the batch tensor can take it directly.
 */
export function windowValues(values: Float32Array, window: string, out?: Float32Array): { data: Float32Array; voi: Voi } {
  const req = parseWindowOption(window);
  // 'auto'/'file' windows come from the instance's own header; the model's input must not depend
  // on what a modality wrote there, so without a header they fall back to percentiles.
  const voi = resolveVoi(req, { dataSet: new DataSet(true), frameIndex: 0, values, signed: true });
  return { data: applyVoi(values, voi, false, out), voi };
}

export function describeVoi(voi: Voi): string {
  return voi.kind === 'window'
    ? `window ${voi.source} (C ${round(voi.center)} / W ${round(voi.width)}, ${voi.fn})`
    : `VOI LUT (${voi.source})`;
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

export interface SliceBatch {
  /** NCHW float32, N = slice count of this batch. */
  readonly data: Float32Array;
  readonly dims: readonly [number, number, number, number];
  /** Source pixel (x, y) lands at (x * scale + offsetX, y * scale + offsetY) in each tensor. */
  readonly scale: number;
  readonly offsetX: number;
  readonly offsetY: number;
  readonly vois: readonly Voi[];
}

/**
 * The tensor batch for slices [from, to) of a volume (slice mode manifests), in `reuse` when it is
 * given and of the batch's size (every value of it is written).
 */
export function sliceBatch(vol: SeriesVolume, from: number, to: number, m: Manifest, reuse?: Float32Array): SliceBatch {
  const [H, W] = m.preprocessing.targetSize as [number, number];
  const C = m.preprocessing.channels;
  const n = to - from;
  const plane = C * H * W;
  const data = reuse?.length === n * plane ? reuse : new Float32Array(n * plane);
  const vois: Voi[] = [];
  let scale = 1;
  let offsetX = 0;
  let offsetY = 0;
  const sameGrid = W === vol.columns && H === vol.rows && C === 1 && !m.preprocessing.normalization;
  for (let i = 0; i < n; i++) {
    // Same size, one channel: the slice is windowed straight into its tensor plane (no resampling pass).
    const into = sameGrid ? data.subarray(i * plane, (i + 1) * plane) : undefined;
    const { data: windowed, voi } = windowValues(vol.values[from + i]!, m.preprocessing.window, into);
    vois.push(voi);
    if (sameGrid) continue;
    const t = toTensor(
      { width: vol.columns, height: vol.rows, channels: 1, data: windowed },
      {
        width: W,
        height: H,
        channels: C,
        ...(m.preprocessing.normalization
          ? { mean: [...m.preprocessing.normalization.mean], std: [...m.preprocessing.normalization.std] }
          : {}),
      },
    );
    data.set(t.data, i * plane);
    ({ scale, offsetX, offsetY } = t);
  }
  return { data, dims: [n, C, H, W], scale, offsetX, offsetY, vois };
}

/**
 * One output plane (model grid H×W) back onto the source pixel grid (rows×columns), undoing the
 * letterbox: the plane itself when the grids are the same (a view into the batch output; the
 * caller keeps every plane of it, so nothing is held alive in vain, and a copy of 200 × 3 planes
 * cost 1.5 s of fresh-memory page faults on the 200-slice phantom), bilinear otherwise.
 */
export function planeToSource(
  plane: Float32Array,
  H: number,
  W: number,
  rows: number,
  columns: number,
  scale: number,
  offsetX: number,
  offsetY: number,
): Float32Array {
  if (H === rows && W === columns && scale === 1 && offsetX === 0 && offsetY === 0) return plane;
  const out = new Float32Array(rows * columns);
  for (let y = 0; y < rows; y++) {
    const ty = Math.min(H - 1, Math.max(0, (y + 0.5) * scale + offsetY - 0.5));
    const y0 = Math.floor(ty);
    const y1 = Math.min(H - 1, y0 + 1);
    const fy = ty - y0;
    for (let x = 0; x < columns; x++) {
      const tx = Math.min(W - 1, Math.max(0, (x + 0.5) * scale + offsetX - 0.5));
      const x0 = Math.floor(tx);
      const x1 = Math.min(W - 1, x0 + 1);
      const fx = tx - x0;
      const a = plane[y0 * W + x0]! * (1 - fx) + plane[y0 * W + x1]! * fx;
      const b = plane[y1 * W + x0]! * (1 - fx) + plane[y1 * W + x1]! * fx;
      out[y * columns + x] = a * (1 - fy) + b * fy;
    }
  }
  return out;
}

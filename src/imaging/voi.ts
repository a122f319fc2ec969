/**
 * VOI LUT stage (PS3.3 C.11.2): modality values -> display intensity in [0, 1].
 *
 * Window Center/Width with the VOI LUT Functions LINEAR, LINEAR_EXACT and SIGMOID (C.11.2.1.2,
 * C.11.2.1.3), VOI LUT Sequence, named presets, and a robust percentile window for data that
 * brings no usable window (MR, some DX). Everything resolves to a `Voi`, so what was applied can be
 * logged and reproduced.
 */
import { TAG } from '../dicom/tags';
import { DataSet } from './dataset';
import { frameMacro } from './frame-attributes';
import { Lut, lookup, lutFrom } from './lut';
import { ImagingError } from './pixel-module';

export type VoiFunction = 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID';

export interface WindowVoi {
  kind: 'window';
  center: number;
  width: number;
  fn: VoiFunction;
  /** Where the window came from: 'file', a preset name, 'percentile', 'minmax', 'explicit'. */
  source: string;
}

export interface LutVoi {
  kind: 'lut';
  lut: Lut;
  source: string;
}

export type Voi = WindowVoi | LutVoi;

/** Named windows (center/width in HU). Routes may add their own via `presets` in resolveVoi. */
export const WINDOW_PRESETS: Readonly<Record<string, { center: number; width: number }>> = Object.freeze({
  lung: { center: -600, width: 1500 },
  mediastinum: { center: 40, width: 400 },
  bone: { center: 400, width: 1800 },
  brain: { center: 40, width: 80 },
  abdomen: { center: 40, width: 400 },
  liver: { center: 60, width: 160 },
});

/**
 * What the caller asks for:
 * - 'auto': the file's first window, else its first VOI LUT, else the percentile window;
 * - 'file': the file's window number `index` (0-based; first by default), error when absent;
 * - 'voi-lut': the file's VOI LUT number `index`;
 * - 'percentile': the low..high percentile of the frame's values (default 0.5..99.5 %);
 * - 'minmax': the full value range, as DCMTK's +Wm computes it;
 * - a preset name, or an explicit center/width (and function).
 */
export type WindowRequest =
  | 'auto'
  | 'percentile'
  | 'minmax'
  | { kind: 'file'; index?: number }
  | { kind: 'voi-lut'; index?: number }
  | { kind: 'percentile'; low: number; high: number }
  | { kind: 'preset'; name: string }
  | { kind: 'explicit'; center: number; width: number; fn?: VoiFunction };

/** Parses a CLI/config window option: 'auto', 'percentile', 'minmax', a preset name, or 'C/W'. */
export function parseWindowOption(
  text: string,
  presets: Readonly<Record<string, { center: number; width: number }>> = WINDOW_PRESETS,
): WindowRequest {
  const t = text.trim();
  if (t === 'auto' || t === 'percentile' || t === 'minmax') return t;
  if (t === 'file') return { kind: 'file' };
  if (Object.prototype.hasOwnProperty.call(presets, t.toLowerCase())) return { kind: 'preset', name: t.toLowerCase() };
  const m = /^(-?\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)$/.exec(t);
  if (m) {
    const width = Number(m[2]);
    if (width <= 0) throw new ImagingError(`window width must be positive: ${t}`);
    return { kind: 'explicit', center: Number(m[1]), width };
  }
  throw new ImagingError(
    `unknown window "${t}": use auto, percentile, minmax, C/W (e.g. 40/400) or one of ${Object.keys(presets).join(', ')}`,
  );
}

/** The windows the file defines for a frame (pairs with a usable width only). */
export function fileWindows(ds: DataSet, frameIndex: number): WindowVoi[] {
  const src = frameMacro(ds, frameIndex, TAG.FrameVOILUTSequence);
  const centers = src.numbers(TAG.WindowCenter);
  const widths = src.numbers(TAG.WindowWidth);
  const fnText = (src.string(TAG.VOILUTFunction) ?? '').toUpperCase();
  const fn: VoiFunction = fnText === 'LINEAR_EXACT' || fnText === 'SIGMOID' ? fnText : 'LINEAR';
  const out: WindowVoi[] = [];
  for (let i = 0; i < Math.min(centers.length, widths.length); i++) {
    const center = centers[i] as number;
    const width = widths[i] as number;
    // LINEAR needs width >= 1 (C.11.2.1.2.1); the others > 0.
    if (!Number.isFinite(center) || !Number.isFinite(width) || width <= 0 || (fn === 'LINEAR' && width < 1)) continue;
    out.push({ kind: 'window', center, width, fn, source: 'file' });
  }
  return out;
}

/** The VOI LUTs the file defines for a frame. */
export function fileVoiLuts(ds: DataSet, frameIndex: number, signedInput: boolean): LutVoi[] {
  const src = frameMacro(ds, frameIndex, TAG.FrameVOILUTSequence);
  const items = src.items(TAG.VOILUTSequence).length > 0 ? src.items(TAG.VOILUTSequence) : ds.items(TAG.VOILUTSequence);
  const out: LutVoi[] = [];
  for (const item of items) {
    const desc = item.get(TAG.LUTDescriptor);
    const data = item.get(TAG.LUTData);
    if (desc === undefined || data === undefined) continue;
    out.push({ kind: 'lut', lut: lutFrom(desc, data, signedInput), source: 'file' });
  }
  return out;
}

export interface ResolveContext {
  dataSet: DataSet;
  frameIndex: number;
  /** The frame's modality values (for percentile/minmax windows). */
  values: Float32Array;
  /** Whether stored values are signed (VOI LUT first-mapped values are then signed too). */
  signed: boolean;
  presets?: Readonly<Record<string, { center: number; width: number }>>;
}

export function resolveVoi(req: WindowRequest, ctx: ResolveContext): Voi {
  if (req === 'auto') {
    const w = fileWindows(ctx.dataSet, ctx.frameIndex)[0];
    if (w !== undefined) return w;
    const l = fileVoiLuts(ctx.dataSet, ctx.frameIndex, ctx.signed)[0];
    if (l !== undefined) return l;
    return percentileWindow(ctx.values, 0.5, 99.5);
  }
  if (req === 'percentile') return percentileWindow(ctx.values, 0.5, 99.5);
  if (req === 'minmax') return minMaxWindow(ctx.values);
  switch (req.kind) {
    case 'file': {
      const all = fileWindows(ctx.dataSet, ctx.frameIndex);
      const w = all[req.index ?? 0];
      if (w === undefined) throw new ImagingError(`the file has ${all.length} usable window(s); #${(req.index ?? 0) + 1} requested`);
      return w;
    }
    case 'voi-lut': {
      const all = fileVoiLuts(ctx.dataSet, ctx.frameIndex, ctx.signed);
      const l = all[req.index ?? 0];
      if (l === undefined) throw new ImagingError(`the file has ${all.length} VOI LUT(s); #${(req.index ?? 0) + 1} requested`);
      return l;
    }
    case 'percentile':
      return percentileWindow(ctx.values, req.low, req.high);
    case 'preset': {
      const p = (ctx.presets ?? WINDOW_PRESETS)[req.name];
      if (p === undefined) throw new ImagingError(`unknown window preset "${req.name}"`);
      return { kind: 'window', center: p.center, width: p.width, fn: 'LINEAR', source: req.name };
    }
    case 'explicit':
      if (!(req.width > 0)) throw new ImagingError('window width must be positive');
      return { kind: 'window', center: req.center, width: req.width, fn: req.fn ?? 'LINEAR', source: 'explicit' };
  }
}

/**
 * DCMTK's min-max window (+Wm): center (min + max + 1) / 2, width max - min + 1, LINEAR, so that
 * min maps to 0 and max to the top of the output range.
 */
export function minMaxWindow(values: Float32Array): WindowVoi {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!Number.isFinite(min)) min = max = 0;
  // A constant frame renders white, as DCMTK does (its formula would put it exactly on the
  // lower border of a width-1 window, which C.11.2.1.2.1 maps to black).
  if (min === max) return { kind: 'window', center: min, width: 1, fn: 'LINEAR', source: 'minmax' };
  return { kind: 'window', center: (min + max + 1) / 2, width: max - min + 1, fn: 'LINEAR', source: 'minmax' };
}

/**
 * A LINEAR_EXACT window spanning the `low`..`high` percentiles of `values`: robust against the
 * few extreme pixels (padding, metal, saturated detector edges) that make min-max useless.
 * Computed from a 65536-bin histogram (exact for integer data with a range up to 65536).
 */
export function percentileWindow(values: Float32Array, low: number, high: number): WindowVoi {
  if (!(low >= 0 && high <= 100 && low < high)) throw new ImagingError(`invalid percentiles ${low}..${high}`);
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!Number.isFinite(min) || min === max) {
    const c = Number.isFinite(min) ? min : 0;
    return { kind: 'window', center: c, width: 1, fn: 'LINEAR_EXACT', source: 'percentile' };
  }
  const bins = 65536;
  const scale = (bins - 1) / (max - min);
  const hist = new Uint32Array(bins);
  for (const v of values) hist[Math.round((v - min) * scale)]! += 1;
  const at = (p: number): number => {
    const target = (p / 100) * values.length;
    let acc = 0;
    for (let b = 0; b < bins; b++) {
      acc += hist[b] as number;
      if (acc > target || (p === 100 && acc >= target)) return min + b / scale;
    }
    return max;
  };
  const lo = at(low);
  let hi = at(high);
  if (hi <= lo) hi = lo + 1 / scale;
  return { kind: 'window', center: (lo + hi) / 2, width: hi - lo, fn: 'LINEAR_EXACT', source: 'percentile' };
}

/** Modality values -> [0, 1] (0 = darkest). `invert` flips it (MONOCHROME1). */
export function applyVoi(
  values: Float32Array,
  voi: Voi,
  invert = false,
  out: Float32Array<ArrayBufferLike> = new Float32Array(values.length),
): Float32Array<ArrayBufferLike> {
  if (out.length !== values.length) throw new RangeError(`VOI output holds ${out.length} values, the input ${values.length}`);
  if (voi.kind === 'lut') {
    const top = 2 ** voi.lut.bits - 1;
    for (let i = 0; i < values.length; i++) out[i] = lookup(voi.lut, values[i] as number) / top;
  } else {
    const f = windowFunction(voi);
    for (let i = 0; i < values.length; i++) out[i] = f(values[i] as number);
  }
  if (invert) for (let i = 0; i < out.length; i++) out[i] = 1 - (out[i] as number);
  return out;
}

/** The PS3.3 C.11.2.1.2 equations with y_min = 0, y_max = 1. */
export function windowFunction(w: Pick<WindowVoi, 'center' | 'width' | 'fn'>): (x: number) => number {
  const c = w.center;
  const width = w.width;
  switch (w.fn) {
    case 'LINEAR': {
      const lo = c - 0.5 - (width - 1) / 2;
      const hi = c - 0.5 + (width - 1) / 2;
      const span = width - 1;
      return (x) => (x <= lo ? 0 : x > hi ? 1 : (x - (c - 0.5)) / span + 0.5);
    }
    case 'LINEAR_EXACT': {
      const lo = c - width / 2;
      const hi = c + width / 2;
      return (x) => (x <= lo ? 0 : x > hi ? 1 : (x - c) / width + 0.5);
    }
    case 'SIGMOID':
      return (x) => 1 / (1 + Math.exp((-4 * (x - c)) / width));
  }
}

/**
 * The display pipeline for one frame: decode -> modality LUT -> VOI -> polarity, giving either
 * intensities in [0, 1] (for tensors) or 8-bit pixels (for PNGs). Output is always "bright =
 * dense": MONOCHROME1 is inverted here, so nothing downstream has to know about it.
 */
import fs from 'node:fs';
import { DecodedFrame, DicomImage, decodeFrame, openImage } from './decode';
import { paletteToRgb8, readPalette } from './color';
import { ModalityTransform, applyModality, modalityTransform } from './modality-lut';
import { Voi, WindowRequest, applyVoi, resolveVoi } from './voi';
import { ImagingError } from './pixel-module';

/** A frame ready for a model or a screen. */
export interface IntensityFrame {
  width: number;
  height: number;
  channels: 1 | 3;
  /** Samples interleaved, each in [0, 1]. */
  data: Float32Array;
  /** Monochrome only: the transformations applied. */
  modality?: ModalityTransform;
  voi?: Voi;
}

export interface Frame8 {
  width: number;
  height: number;
  channels: 1 | 3;
  /** Samples interleaved, 0..255. */
  data: Uint8Array;
  modality?: ModalityTransform;
  voi?: Voi;
}

export interface WindowOptions {
  window?: WindowRequest;
  presets?: Readonly<Record<string, { center: number; width: number }>>;
}

/** Modality values (HU for CT) of a decoded monochrome frame; into `out` when given (applyModality). */
export function modalityValues(
  img: DicomImage,
  frame: DecodedFrame,
  frameIndex: number,
  out?: Float32Array,
): { values: Float32Array; modality: ModalityTransform } {
  if (frame.samplesPerPixel !== 1 || frame.photometric === 'PALETTE COLOR') {
    throw new ImagingError(`modality values need a monochrome image, not ${frame.photometric}`);
  }
  const modality = modalityTransform(img.dataSet, frameIndex, frame.signed);
  return { values: applyModality(frame.data, modality, out), modality };
}

/** A decoded frame -> intensities in [0, 1], bright = dense. */
export function intensityFrame(img: DicomImage, frame: DecodedFrame, frameIndex: number, opts: WindowOptions = {}): IntensityFrame {
  const base = { width: frame.columns, height: frame.rows };
  if (frame.photometric === 'MONOCHROME1' || frame.photometric === 'MONOCHROME2') {
    const { values, modality } = modalityValues(img, frame, frameIndex);
    const ctx = { dataSet: img.dataSet, frameIndex, values, signed: frame.signed };
    const voi = resolveVoi(opts.window ?? 'auto', opts.presets ? { ...ctx, presets: opts.presets } : ctx);
    const data = applyVoi(values, voi, frame.photometric === 'MONOCHROME1');
    return { ...base, channels: 1, data, modality, voi };
  }
  const rgb8 = colour8(img, frame);
  const data = new Float32Array(rgb8.length);
  for (let i = 0; i < rgb8.length; i++) data[i] = (rgb8[i] as number) / 255;
  return { ...base, channels: 3, data };
}

/** A decoded frame -> 8-bit grey or RGB. */
export function frame8(img: DicomImage, frame: DecodedFrame, frameIndex: number, opts: WindowOptions = {}): Frame8 {
  const base = { width: frame.columns, height: frame.rows };
  if (frame.photometric !== 'MONOCHROME1' && frame.photometric !== 'MONOCHROME2') {
    return { ...base, channels: 3, data: colour8(img, frame) };
  }
  const f = intensityFrame(img, frame, frameIndex, opts);
  const data = new Uint8Array(f.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.round((f.data[i] as number) * 255);
  const out: Frame8 = { ...base, channels: 1, data };
  if (f.modality) out.modality = f.modality;
  if (f.voi) out.voi = f.voi;
  return out;
}

/** RGB or palette frame -> 8-bit RGB. Deeper RGB keeps its most significant 8 stored bits. */
function colour8(img: DicomImage, frame: DecodedFrame): Uint8Array {
  if (frame.photometric === 'PALETTE COLOR') return paletteToRgb8(frame.data, readPalette(img.dataSet, frame.signed));
  const shift = Math.max(0, frame.bitsStored - 8);
  const out = new Uint8Array(frame.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = (frame.data[i] as number) >> shift;
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}

export interface RenderFileOptions extends WindowOptions {
  /** 1-based frame number, as in DICOM and dcmj2pnm's +F (default 1). */
  frame?: number;
}

/** Reads, decodes and renders one frame of a Part 10 file to 8 bits. */
export async function renderFile(inPath: string, opts: RenderFileOptions = {}): Promise<Frame8> {
  const img = openImage(fs.readFileSync(inPath));
  const index = (opts.frame ?? 1) - 1;
  const frame = await decodeFrame(img, index);
  return frame8(img, frame, index, opts);
}

/**
 * Modality LUT stage (PS3.3 C.11.1): stored values -> values in real-world units (Hounsfield units
 * for CT), by Rescale Slope/Intercept or a Modality LUT Sequence.
 */
import { TAG } from '../dicom/tags';
import { DataSet } from './dataset';
import { frameMacro } from './frame-attributes';
import { Lut, lookup, lutFrom } from './lut';
import type { Samples } from './native';

export type ModalityTransform =
  { kind: 'rescale'; slope: number; intercept: number; type?: string } | { kind: 'lut'; lut: Lut; type?: string };

export const IDENTITY: ModalityTransform = { kind: 'rescale', slope: 1, intercept: 0 };

/**
 * The modality transformation of frame `frameIndex`. A Modality LUT Sequence wins over Rescale
 * (the standard allows only one; files with both exist and DCMTK prefers the LUT too). A missing
 * or zero slope means identity: a slope of 0 would flatten the image and is always an encoding
 * error.
 */
export function modalityTransform(ds: DataSet, frameIndex: number, signedStored: boolean): ModalityTransform {
  const lutItem = ds.items(TAG.ModalityLUTSequence)[0];
  if (lutItem !== undefined) {
    const desc = lutItem.get(TAG.LUTDescriptor);
    const data = lutItem.get(TAG.LUTData);
    if (desc !== undefined && data !== undefined) {
      const t: ModalityTransform = { kind: 'lut', lut: lutFrom(desc, data, signedStored) };
      const type = lutItem.string(TAG.ModalityLUTType);
      if (type) t.type = type;
      return t;
    }
  }
  const src = frameMacro(ds, frameIndex, TAG.PixelValueTransformationSequence);
  const slope = src.number(TAG.RescaleSlope);
  const intercept = src.number(TAG.RescaleIntercept);
  const t: ModalityTransform = {
    kind: 'rescale',
    slope: slope === undefined || slope === 0 || !Number.isFinite(slope) ? 1 : slope,
    intercept: intercept === undefined || !Number.isFinite(intercept) ? 0 : intercept,
  };
  const type = src.string(TAG.RescaleType);
  if (type) t.type = type;
  return t;
}

/**
 * Stored values -> modality values (Float32: exact for integers up to 2^24), into `out` when given
 * (it must be as long as `stored`: e.g. one backed by a SharedArrayBuffer, see series-volume.ts).
 */
export function applyModality(stored: Samples, t: ModalityTransform, out: Float32Array = new Float32Array(stored.length)): Float32Array {
  if (out.length !== stored.length) throw new RangeError(`modality values: ${out.length} places for ${stored.length} samples`);
  if (t.kind === 'rescale') {
    const { slope, intercept } = t;
    for (let i = 0; i < stored.length; i++) out[i] = (stored[i] as number) * slope + intercept;
  } else {
    for (let i = 0; i < stored.length; i++) out[i] = lookup(t.lut, stored[i] as number);
  }
  return out;
}

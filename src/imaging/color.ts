/**
 * Colour models to RGB: YCbCr (full and partial range, PS3.3 C.7.6.3.1.2) and PALETTE COLOR
 * (C.7.6.3.1.5/6, C.7.9). Inputs are stored values, samples interleaved.
 */
import { TAG } from '../dicom/tags';
import { DataSet } from './dataset';
import { Lut, lookup, lutFrom } from './lut';
import { ImagingError } from './pixel-module';
import type { Samples } from './native';

/** YBR_FULL (and upsampled YBR_FULL_422): JFIF / ITU-T T.871 equations, rounded and clamped. */
export function ybrFullToRgb(s: Samples, bitsStored: number): Int32Array {
  const max = 2 ** bitsStored - 1;
  const half = 2 ** (bitsStored - 1);
  const out = new Int32Array(s.length);
  for (let i = 0; i + 2 < s.length; i += 3) {
    const y = s[i] as number;
    const cb = (s[i + 1] as number) - half;
    const cr = (s[i + 2] as number) - half;
    out[i] = clamp(Math.round(y + 1.402 * cr), max);
    out[i + 1] = clamp(Math.round(y - 0.344136 * cb - 0.714136 * cr), max);
    out[i + 2] = clamp(Math.round(y + 1.772 * cb), max);
  }
  return out;
}

/** YBR_PARTIAL_422/420: Y in 16..235, chroma in 16..240 (ITU-R BT.601), scaled for 8 bits. */
export function ybrPartialToRgb(s: Samples, bitsStored: number): Int32Array {
  const max = 2 ** bitsStored - 1;
  const k = 2 ** (bitsStored - 8);
  const out = new Int32Array(s.length);
  for (let i = 0; i + 2 < s.length; i += 3) {
    const y = (s[i] as number) - 16 * k;
    const cb = (s[i + 1] as number) - 128 * k;
    const cr = (s[i + 2] as number) - 128 * k;
    out[i] = clamp(Math.round(1.164384 * y + 1.596027 * cr), max);
    out[i + 1] = clamp(Math.round(1.164384 * y - 0.391762 * cb - 0.812968 * cr), max);
    out[i + 2] = clamp(Math.round(1.164384 * y + 2.017232 * cb), max);
  }
  return out;
}

function clamp(v: number, max: number): number {
  return v < 0 ? 0 : v > max ? max : v;
}

export interface Palette {
  red: Lut;
  green: Lut;
  blue: Lut;
}

/**
 * Reads the three palette LUTs. Segmented palettes (0028,1221-1223) are not supported: they are
 * rare outside some enhanced objects and DCMTK 3.6.7 renders them as monochrome anyway.
 */
export function readPalette(ds: DataSet, signedInput: boolean): Palette {
  const one = (descTag: number, dataTag: number, name: string): Lut => {
    const desc = ds.get(descTag);
    const data = ds.get(dataTag);
    if (desc === undefined || data === undefined) {
      if (ds.has(TAG.SegmentedRedPaletteColorLookupTableData)) throw new ImagingError('segmented palette LUTs are not supported');
      throw new ImagingError(`PALETTE COLOR without ${name} palette LUT descriptor/data`);
    }
    return lutFrom(desc, data, signedInput);
  };
  return {
    red: one(TAG.RedPaletteColorLookupTableDescriptor, TAG.RedPaletteColorLookupTableData, 'red'),
    green: one(TAG.GreenPaletteColorLookupTableDescriptor, TAG.GreenPaletteColorLookupTableData, 'green'),
    blue: one(TAG.BluePaletteColorLookupTableDescriptor, TAG.BluePaletteColorLookupTableData, 'blue'),
  };
}

/** Palette indices -> 8-bit RGB. 16-bit entries keep their high byte. */
export function paletteToRgb8(indices: Samples, palette: Palette): Uint8Array {
  const out = new Uint8Array(indices.length * 3);
  const to8 = (lut: Lut, v: number): number => (lut.bits === 16 ? v >> 8 : v);
  for (let i = 0; i < indices.length; i++) {
    const x = indices[i] as number;
    out[3 * i] = to8(palette.red, lookup(palette.red, x));
    out[3 * i + 1] = to8(palette.green, lookup(palette.green, x));
    out[3 * i + 2] = to8(palette.blue, lookup(palette.blue, x));
  }
  return out;
}

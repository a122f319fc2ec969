/**
 * Native (uncompressed) pixel data: locating frame `i` in the Pixel Data value and turning its
 * bytes into stored sample values, for any Bits Allocated (1, 8, 16, 32), Bits Stored and High
 * Bit, signed or unsigned, little or big endian, colour-by-pixel or colour-by-plane, and the
 * horizontally subsampled YBR_*_422 layouts.
 */
import { ImagingError, PixelModule } from './pixel-module';

/** Stored values of one frame, samples interleaved. Uint32Array only for unsigned 32-bit data. */
export type Samples = Int32Array | Uint32Array;

/** Whether the native layout stores two luminance samples per chroma pair (PS3.3 C.7.6.3.1.2). */
export function isSubsampled422(pm: PixelModule): boolean {
  return pm.photometric === 'YBR_FULL_422' || pm.photometric === 'YBR_PARTIAL_422';
}

/** Bits one native frame occupies (frames of 1-bit data need not start on a byte boundary). */
export function nativeFrameBits(pm: PixelModule): number {
  const samples = isSubsampled422(pm) ? pm.rows * pm.columns * 2 : pm.rows * pm.columns * pm.samplesPerPixel;
  return samples * pm.bitsAllocated;
}

/**
 * Stored values of native frame `index`. `bigEndian`/`vr` describe how the Pixel Data element was
 * encoded: in Explicit VR Big Endian, OW data is a sequence of big-endian 16-bit words, so 8-bit
 * samples in an OW value come byte-swapped in pairs.
 */
export function nativeFrame(pixelData: Buffer, pm: PixelModule, index: number, bigEndian: boolean, vr: string | undefined): Samples {
  const frameBits = nativeFrameBits(pm);
  const startBit = frameBits * index;
  if (startBit + frameBits > pixelData.length * 8) {
    throw new ImagingError(
      `pixel data holds ${pixelData.length} bytes, too few for frame ${index + 1} of ${pm.rows}x${pm.columns}x${pm.samplesPerPixel} at ${pm.bitsAllocated} bits`,
    );
  }
  const count = frameBits / pm.bitsAllocated;
  const raw = new Uint32Array(count);
  if (pm.bitsAllocated === 1) {
    for (let i = 0; i < count; i++) {
      const bit = startBit + i;
      raw[i] = ((pixelData[bit >> 3] as number) >> (bit & 7)) & 1;
    }
  } else {
    const bytes = pm.bitsAllocated / 8;
    const off = startBit / 8;
    if (bytes === 1) {
      const swapPairs = bigEndian && vr === 'OW';
      for (let i = 0; i < count; i++) raw[i] = pixelData[off + (swapPairs ? i ^ 1 : i)] as number;
    } else if (bytes === 2) {
      for (let i = 0; i < count; i++) raw[i] = bigEndian ? pixelData.readUInt16BE(off + 2 * i) : pixelData.readUInt16LE(off + 2 * i);
    } else {
      for (let i = 0; i < count; i++) raw[i] = bigEndian ? pixelData.readUInt32BE(off + 4 * i) : pixelData.readUInt32LE(off + 4 * i);
    }
  }
  let samples = storedValues(raw, pm);
  if (isSubsampled422(pm)) samples = upsample422(samples, pm);
  else if (pm.samplesPerPixel === 3 && pm.planarConfiguration === 1) samples = planarToInterleaved(samples, pm.rows * pm.columns);
  return samples;
}

/** Little-endian decoder output (Bits Allocated wide, interleaved) -> stored values. */
export function decodedBytesToSamples(bytes: Uint8Array, pm: PixelModule): Samples {
  const count = pm.rows * pm.columns * pm.samplesPerPixel;
  const raw = new Uint32Array(count);
  if (pm.bitsAllocated <= 8) {
    for (let i = 0; i < count; i++) raw[i] = bytes[i] as number;
  } else if (pm.bitsAllocated === 16) {
    for (let i = 0; i < count; i++) raw[i] = (bytes[2 * i] as number) | ((bytes[2 * i + 1] as number) << 8);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) raw[i] = view.getUint32(4 * i, true);
  }
  return storedValues(raw, pm);
}

/**
 * Applies High Bit / Bits Stored: shifts the stored bits down, drops the bits outside them
 * (overlay bits in old files, garbage), and sign-extends when Pixel Representation is 1.
 */
export function storedValues(raw: Uint32Array, pm: Pick<PixelModule, 'bitsStored' | 'highBit' | 'pixelRepresentation'>): Samples {
  const shift = pm.highBit + 1 - pm.bitsStored;
  const bits = pm.bitsStored;
  if (bits === 32 && shift === 0) return pm.pixelRepresentation === 1 ? new Int32Array(raw.buffer) : raw;
  const mask = bits === 32 ? 0xffffffff : 2 ** bits - 1;
  const out = new Int32Array(raw.length);
  if (pm.pixelRepresentation === 1) {
    const sign = 2 ** (bits - 1);
    const full = 2 ** bits;
    for (let i = 0; i < raw.length; i++) {
      const v = ((raw[i] as number) >>> shift) & mask;
      out[i] = v >= sign ? v - full : v;
    }
  } else if (bits === 32) {
    return new Uint32Array(raw.map((v) => v >>> shift));
  } else {
    for (let i = 0; i < raw.length; i++) out[i] = ((raw[i] as number) >>> shift) & mask;
  }
  return out;
}

function planarToInterleaved(s: Samples, pixels: number): Samples {
  const out = s instanceof Int32Array ? new Int32Array(s.length) : new Uint32Array(s.length);
  for (let p = 0; p < pixels; p++) {
    out[3 * p] = s[p] as number;
    out[3 * p + 1] = s[pixels + p] as number;
    out[3 * p + 2] = s[2 * pixels + p] as number;
  }
  return out;
}

/** Y1 Y2 Cb Cr per pixel pair -> Y Cb Cr per pixel (chroma repeated, as DCMTK does). */
function upsample422(s: Samples, pm: PixelModule): Samples {
  const pixels = pm.rows * pm.columns;
  const out = new Int32Array(pixels * 3);
  for (let p = 0, q = 0; p + 1 < pixels + 1 && q + 3 < s.length; p += 2, q += 4) {
    const cb = s[q + 2] as number;
    const cr = s[q + 3] as number;
    out[3 * p] = s[q] as number;
    out[3 * p + 1] = cb;
    out[3 * p + 2] = cr;
    if (p + 1 < pixels) {
      out[3 * p + 3] = s[q + 1] as number;
      out[3 * p + 4] = cb;
      out[3 * p + 5] = cr;
    }
  }
  return out;
}

/**
 * RLE Lossless (PS3.5 Annex G) decoder. Small enough to own: a 64-byte header of segment offsets
 * and PackBits-coded segments, one per byte plane (most significant byte first) per sample.
 * Output is the native layout: samples interleaved (colour-by-pixel), little-endian bytes.
 */
import { ImagingError } from './pixel-module';

export interface RleGeometry {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
}

export function decodeRleFrame(encoded: Buffer, g: RleGeometry): Buffer {
  if (g.bitsAllocated % 8 !== 0) throw new ImagingError(`RLE with Bits Allocated ${g.bitsAllocated} is not supported`);
  if (encoded.length < 64) throw new ImagingError('RLE frame shorter than its 64-byte header');
  const bytesPerSample = g.bitsAllocated / 8;
  const expectedSegments = bytesPerSample * g.samplesPerPixel;
  const segments = encoded.readUInt32LE(0);
  if (segments !== expectedSegments) {
    throw new ImagingError(`RLE frame has ${segments} segments, expected ${expectedSegments}`);
  }
  const pixels = g.rows * g.columns;
  checkCredibleSize(encoded, segments, pixels);
  const out = Buffer.alloc(pixels * expectedSegments);
  for (let s = 0; s < segments; s++) {
    const start = encoded.readUInt32LE(4 + 4 * s);
    const end = s + 1 < segments ? encoded.readUInt32LE(8 + 4 * s) : encoded.length;
    if (start < 64 || end > encoded.length || end < start) throw new ImagingError(`RLE segment ${s} has invalid offsets`);
    const sample = Math.floor(s / bytesPerSample);
    // Segment 0 of a sample is its most significant byte; little-endian output puts it last.
    const byteInSample = bytesPerSample - 1 - (s % bytesPerSample);
    const stride = expectedSegments;
    const base = sample * bytesPerSample + byteInSample;
    unpackBits(encoded, start, end, out, base, stride, pixels);
  }
  return out;
}

/**
 * PackBits expands at most 64-fold (a 2-byte run repeats a byte 128 times). A segment that could
 * not fill even half of its byte plane is not a short segment (tolerated below) but a claimed size
 * the data cannot back: a few hundred bytes claiming 8192×8192. Refused before the output is
 * allocated.
 */
const MAX_PACKBITS_EXPANSION = 64;

function checkCredibleSize(encoded: Buffer, segments: number, pixels: number): void {
  const perSegment = (encoded.length - 64) / segments;
  if (perSegment * MAX_PACKBITS_EXPANSION * 2 < pixels) {
    throw new ImagingError(
      `RLE frame of ${encoded.length} bytes cannot hold the ${pixels} pixels its header claims (${segments} segment(s) would expand to at most ${Math.floor(perSegment * MAX_PACKBITS_EXPANSION)} bytes each)`,
    );
  }
}

/** PackBits: n >= 0 copies n+1 literal bytes; -127..-1 repeats the next byte 1-n times; -128 is a no-op. */
function unpackBits(src: Buffer, start: number, end: number, out: Buffer, base: number, stride: number, count: number): void {
  let p = start;
  let i = 0;
  while (p < end && i < count) {
    const n = ((src[p++] as number) << 24) >> 24;
    if (n >= 0) {
      const len = Math.min(n + 1, count - i, end - p);
      for (let k = 0; k < len; k++) out[base + i++ * stride] = src[p++] as number;
    } else if (n !== -128) {
      const v = src[p++] as number;
      const len = Math.min(1 - n, count - i);
      for (let k = 0; k < len; k++) out[base + i++ * stride] = v;
    }
  }
  // Short segments leave zeros (DCMTK warns and does the same); we do not fail a whole image on it.
}

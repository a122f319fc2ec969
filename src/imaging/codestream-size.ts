/**
 * The image size a compressed frame's own codestream declares (JPEG SOFn, JPEG-LS SOF55, JPEG 2000
 * SIZ), checked against the header's Rows and Columns before the WebAssembly decoder is called.
 *
 * Why: the decoders size their output from the codestream, not from the header that
 * checkPixelBudget judged, so a 512×512 header could carry a codestream claiming 60000×60000. A
 * codestream larger than its header is refused; one we cannot read is left to the decoder, which
 * fails on it.
 */
import { ImagingError, PixelModule } from './pixel-module';

export interface CodestreamSize {
  readonly rows: number;
  readonly columns: number;
}

export function checkCodestreamSize(encoded: Buffer, pm: Pick<PixelModule, 'rows' | 'columns'>): void {
  const size = jpegSize(encoded) ?? j2kSize(encoded);
  if (size === undefined) return;
  if (size.rows > pm.rows || size.columns > pm.columns) {
    throw new ImagingError(
      `compressed frame declares ${size.rows}×${size.columns} pixels, larger than the ${pm.rows}×${pm.columns} of its header`,
    );
  }
}

/** SOFn (C0-CF but C4 DHT, C8 JPG, CC DAC) or JPEG-LS SOF55 (F7): P, Y (rows), X (columns). */
export function jpegSize(b: Buffer): CodestreamSize | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) return undefined;
    const marker = b[p + 1] as number;
    if (marker === 0xff) {
      p++; // fill byte
      continue;
    }
    const length = b.readUInt16BE(p + 2);
    const isSof = (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) || marker === 0xf7;
    if (isSof) {
      if (p + 9 > b.length) return undefined;
      return { rows: b.readUInt16BE(p + 5), columns: b.readUInt16BE(p + 7) };
    }
    if (marker === 0xda || length < 2) return undefined; // scan data before a frame header: not ours to judge
    p += 2 + length;
  }
  return undefined;
}

/** SIZ (ISO 15444-1 A.5.1): Xsiz, Ysiz, XOsiz, YOsiz after Lsiz and Rsiz. */
export function j2kSize(b: Buffer): CodestreamSize | undefined {
  const soc = b.indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51]));
  if (soc < 0 || soc + 24 > b.length) return undefined;
  const siz = soc + 2;
  const xsiz = b.readUInt32BE(siz + 6);
  const ysiz = b.readUInt32BE(siz + 10);
  const xosiz = b.readUInt32BE(siz + 14);
  const yosiz = b.readUInt32BE(siz + 18);
  return { rows: Math.max(0, ysiz - yosiz), columns: Math.max(0, xsiz - xosiz) };
}

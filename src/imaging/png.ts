/**
 * 8-bit frames -> PNG (via sharp/libvips: lossless, and the same library that resizes for humans).
 *
 * libvips treats raw 1-band input as sRGB unless told otherwise and would write a 3-channel PNG;
 * grey frames are therefore tagged 'b-w' so that the PNG is 8-bit greyscale.
 */
import sharp from 'sharp';
import type { Frame8 } from './render';

type Raw = Pick<Frame8, 'width' | 'height' | 'channels' | 'data'>;

function pipeline(f: Raw): sharp.Sharp {
  const s = sharp(f.data, { raw: { width: f.width, height: f.height, channels: f.channels } });
  return f.channels === 1 ? s.toColourspace('b-w') : s;
}

export async function encodePng(f: Raw): Promise<Buffer> {
  return pipeline(f).png({ compressionLevel: 6 }).toBuffer();
}

export async function writePng(f: Raw, outPath: string): Promise<void> {
  await pipeline(f).png({ compressionLevel: 6 }).toFile(outPath);
}

/** Resizes an 8-bit frame for display (Lanczos), keeping the aspect ratio and padding with black. */
export async function resizeFrame8(f: Frame8, width: number, height: number): Promise<Frame8> {
  const { data, info } = await pipeline(f)
    .resize(width, height, { fit: 'contain', background: { r: 0, g: 0, b: 0 }, kernel: 'lanczos3' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const channels = info.channels === 1 ? 1 : 3;
  return { width: info.width, height: info.height, channels, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

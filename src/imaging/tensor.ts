/**
 * Model input: an intensity frame -> Float32 NCHW tensor of a fixed size, resized keeping the
 * aspect ratio and padded (letterboxed), with the geometry needed to map model outputs back to
 * pixel coordinates.
 *
 * Resizing is our own bilinear filter rather than sharp: libvips' float path goes through its
 * colour interpretation (grey becomes 3-channel sRGB, negatives clamp; measured with sharp 0.34),
 * and a model must see exactly the numbers we computed. The sampling matches OpenCV INTER_LINEAR /
 * PyTorch align_corners=False, which is what most training pipelines used.
 */
import { ImagingError } from './pixel-module';
import type { IntensityFrame } from './render';

export interface TensorOptions {
  width: number;
  height: number;
  /** Value of padded pixels, before normalisation (default 0 = black). */
  pad?: number;
  /** Per-channel (x - mean) / std after resizing (defaults: no normalisation). */
  mean?: number[];
  std?: number[];
  /** Repeat a grey frame into this many channels (e.g. 3 for ImageNet backbones). */
  channels?: 1 | 3;
}

export interface Tensor {
  data: Float32Array;
  dims: [number, number, number, number];
  /** Source pixel (x, y) lands at (x * scale + offsetX, y * scale + offsetY) in the tensor. */
  scale: number;
  offsetX: number;
  offsetY: number;
}

export function toTensor(f: Pick<IntensityFrame, 'width' | 'height' | 'channels' | 'data'>, opts: TensorOptions): Tensor {
  const W = opts.width;
  const H = opts.height;
  if (!(Number.isInteger(W) && Number.isInteger(H) && W > 0 && H > 0)) throw new ImagingError(`invalid tensor size ${W}x${H}`);
  const outC = opts.channels ?? f.channels;
  if (f.channels === 3 && outC === 1) throw new ImagingError('colour frame into a 1-channel tensor: convert to grey first');
  const scale = Math.min(W / f.width, H / f.height);
  const w = Math.max(1, Math.round(f.width * scale));
  const h = Math.max(1, Math.round(f.height * scale));
  const offsetX = Math.floor((W - w) / 2);
  const offsetY = Math.floor((H - h) / 2);
  const plane = W * H;
  const data = new Float32Array(outC * plane).fill(opts.pad ?? 0);

  for (let c = 0; c < f.channels; c++) {
    const resized = bilinear(f.data, f.width, f.height, f.channels, c, w, h);
    const base = c * plane;
    for (let y = 0; y < h; y++) data.set(resized.subarray(y * w, y * w + w), base + (y + offsetY) * W + offsetX);
  }
  if (f.channels === 1) for (let c = 1; c < outC; c++) data.copyWithin(c * plane, 0, plane);

  if (opts.mean || opts.std) {
    for (let c = 0; c < outC; c++) {
      const m = opts.mean?.[c] ?? opts.mean?.[0] ?? 0;
      const s = opts.std?.[c] ?? opts.std?.[0] ?? 1;
      for (let i = c * plane; i < (c + 1) * plane; i++) data[i] = ((data[i] as number) - m) / s;
    }
  }
  return { data, dims: [1, outC, H, W], scale: w / f.width, offsetX, offsetY };
}

/** One channel of an interleaved image, resized with half-pixel-centre bilinear sampling. */
export function bilinear(src: Float32Array, sw: number, sh: number, channels: number, c: number, dw: number, dh: number): Float32Array {
  const out = new Float32Array(dw * dh);
  const sx = sw / dw;
  const sy = sh / dh;
  for (let y = 0; y < dh; y++) {
    let fy = (y + 0.5) * sy - 0.5;
    if (fy < 0) fy = 0;
    const y0 = Math.min(Math.floor(fy), sh - 1);
    const y1 = Math.min(y0 + 1, sh - 1);
    const wy = fy - y0;
    for (let x = 0; x < dw; x++) {
      let fx = (x + 0.5) * sx - 0.5;
      if (fx < 0) fx = 0;
      const x0 = Math.min(Math.floor(fx), sw - 1);
      const x1 = Math.min(x0 + 1, sw - 1);
      const wx = fx - x0;
      const p = (yy: number, xx: number): number => src[(yy * sw + xx) * channels + c] as number;
      const top = p(y0, x0) * (1 - wx) + p(y0, x1) * wx;
      const bottom = p(y1, x0) * (1 - wx) + p(y1, x1) * wx;
      out[y * dw + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

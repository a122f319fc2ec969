// Gantry tilt correction: a CT acquired with a tilted gantry has slices that are perpendicular to
// their own normal but stacked along a slanted direction, so each slice sits shifted in-plane
// (along the column direction, by tan(tilt) per mm along the normal) relative to the one before.
// Stacking them as they are shears the anatomy. As dcm2niix does (nii_dicom_batch.cpp, its gantry
// tilt correction), each slice is shifted back in-plane by its own offset with linear
// interpolation, giving an orthogonal grid on the first slice's in-plane origin; pixels the
// shifted slice no longer covers take the slice's darkest value (air, not a made-up structure).

import type { GantryTilt } from './geometry';

/**
 * Slice k of the result at pixel (c, r) is slice k of the input at (c − shiftColumns, r − shiftRows),
 * where the shift is the slice's in-plane offset in pixels. `pixelSpacing` is [row spacing,
 * column spacing] mm as in Pixel Spacing (0028,0030).
 */
export function resampleTilted(
  values: readonly Float32Array[],
  rows: number,
  columns: number,
  pixelSpacing: readonly [number, number],
  tilt: GantryTilt,
): Float32Array[] {
  return values.map((slice, k) => {
    const [alongRowMm, alongColumnMm] = tilt.inPlaneShiftMm[k] ?? [0, 0];
    return shiftSlice(slice, rows, columns, alongRowMm / pixelSpacing[1], alongColumnMm / pixelSpacing[0]);
  });
}

/** The in-plane offset of slice k in pixels [columns, rows]: source pixel = resampled pixel − offset. */
export function sliceOffsetPixels(tilt: GantryTilt, k: number, pixelSpacing: readonly [number, number]): [number, number] {
  const [u, v] = tilt.inPlaneShiftMm[k] ?? [0, 0];
  return [u / pixelSpacing[1], v / pixelSpacing[0]];
}

function shiftSlice(src: Float32Array, rows: number, columns: number, dc: number, dr: number): Float32Array {
  if (Math.abs(dc) < 1e-6 && Math.abs(dr) < 1e-6) return src;
  let fill = Infinity;
  for (const v of src) if (v < fill) fill = v;
  const out = new Float32Array(rows * columns);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) out[r * columns + c] = bilinear(src, rows, columns, c - dc, r - dr, fill);
  }
  return out;
}

function bilinear(src: Float32Array, rows: number, columns: number, x: number, y: number, fill: number): number {
  // A sample within half a pixel outside the edge takes the edge value; further out, the fill.
  if (x < -0.5 || y < -0.5 || x > columns - 0.5 || y > rows - 0.5) return fill;
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const at = (x: number, y: number) => src[Math.min(rows - 1, Math.max(0, y)) * columns + Math.min(columns - 1, Math.max(0, x))]!;
  const top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx;
  const bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx;
  return top * (1 - fy) + bottom * fy;
}

/**
 * FreeSurfer's intensity conform: a volume's values -> uchar 0..255 with a robust upper bound, as
 * `mri_convert --conform` does and FastSurfer's `FastSurferCNN/data_loader/conform.py` writes out
 * in Python (functions `getscale`, `scalecrop` and the tail of `conform`). Followed step by step:
 *
 * 1. `getscale(data, 0, 255, f_low = 0.0, f_high = 0.999)` on the ORIGINAL input values (before
 *    resampling, "to be more similar to mri_convert"): a 1000-bin histogram over [min, max]; the
 *    lower edge is the first bin edge past the f_low fraction of all voxels (with f_low = 0: the
 *    minimum); the upper edge is taken where the cumulative histogram reaches all voxels less
 *    (1 - f_high) of the NON-ZERO ones, two bin edges back; scale = 255 / (src_max - src_min).
 * 2. The volume is resampled (here: onto the conformed grid, trilinear, in float).
 * 3. `scalecrop`: 0 + scale · (x - src_min), clipped to 0..255; voxels whose resampled value is
 *    exactly 0 stay 0 ("map zero in input to zero in output (usually background)").
 * 4. Target type uchar: rint (round half to even), clipped to 0..255.
 *
 * Input that is already uchar skips steps 1 and 3 (FreeSurfer keeps uchar data as it is) but not
 * step 4. DICOM has no uchar data type for MR (8-bit MR objects are rare; scanners and converters
 * store 16 bits), so "already uchar" is read from the values: every modality value an integer in
 * 0..255. That is what an 8-bit series, or a uchar volume stored as 16 bits, holds; a scanner's
 * 12/16-bit T1 practically never fits it.
 */

/** What getscale found: the offset and scale of step 3, and the robust range it came from. */
export interface UcharScale {
  /** Values that were already uchar: no rescaling (srcMin 0, scale 1). */
  readonly alreadyUchar: boolean;
  readonly srcMin: number;
  readonly srcMax: number;
  readonly scale: number;
  readonly dataMin: number;
  readonly dataMax: number;
}

const BINS = 1000;
const F_LOW = 0.0;
const F_HIGH = 0.999;
const DST_MIN = 0;
const DST_MAX = 255;

function range(slices: readonly Float32Array[]): { min: number; max: number; total: number; nonZero: number; integral: boolean } {
  let min = Infinity;
  let max = -Infinity;
  let total = 0;
  let nonZero = 0;
  let integral = true;
  for (const s of slices) {
    total += s.length;
    for (let p = 0; p < s.length; p++) {
      const v = s[p]!;
      if (v < min) min = v;
      if (v > max) max = v;
      if (Math.abs(v) >= 1e-15) nonZero++;
      if (integral && !Number.isInteger(v)) integral = false;
    }
  }
  return { min, max, total, nonZero, integral };
}

/**
 * numpy.histogram(data, bins=1000, range=(min, max)): equal bins with numpy's own bin search (the
 * computed index corrected against the edges, the maximum in the last bin). Returns the counts
 * and the 1001 edges (numpy.linspace).
 */
function histogram(slices: readonly Float32Array[], first: number, last: number): { counts: Float64Array; edges: Float64Array } {
  // numpy widens an empty range by 0.5 each side.
  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }
  const edges = new Float64Array(BINS + 1);
  const step = (last - first) / BINS;
  for (let i = 0; i < BINS; i++) edges[i] = i * step + first;
  edges[BINS] = last;
  const counts = new Float64Array(BINS);
  const denom = last - first;
  for (const s of slices) {
    for (let p = 0; p < s.length; p++) {
      const v = s[p]!;
      let i = Math.trunc(((v - first) / denom) * BINS);
      if (i === BINS) i -= 1;
      if (v < edges[i]!) i -= 1;
      else if (i !== BINS - 1 && v >= edges[i + 1]!) i += 1;
      counts[i]!++;
    }
  }
  return { counts, edges };
}

/** Python's a[i] for a negative i (FastSurfer's "binindex - 2" can go below 0). */
function at(a: Float64Array, i: number): number {
  return a[i < 0 ? a.length + i : i]!;
}

/** FastSurfer conform.py `getscale(data, 0, 255, 0.0, 0.999)`, or no scaling for uchar values. */
export function getUcharScale(slices: readonly Float32Array[]): UcharScale {
  const r = range(slices);
  if (r.total === 0) throw new Error('intensity conform: the volume has no voxels');
  if (r.integral && r.min >= 0 && r.max <= 255) {
    return { alreadyUchar: true, srcMin: 0, srcMax: 255, scale: 1, dataMin: r.min, dataMax: r.max };
  }
  const { counts, edges } = histogram(slices, r.min, r.max);
  const cum = new Float64Array(BINS + 1);
  for (let i = 0; i < BINS; i++) cum[i + 1] = cum[i]! + counts[i]!;

  // Lower limit: the f_low fraction of all voxels (f_low = 0: the minimum).
  const lowerCutoff = Math.trunc(F_LOW * r.total);
  let lowerIndex = 0;
  for (let i = BINS; i >= 0; i--) {
    if (cum[i]! < lowerCutoff) {
      lowerIndex = i + 1;
      break;
    }
  }
  const srcMin = edges[lowerIndex]!;

  // Upper limit: ignore the (1 - f_high) fraction of the NON-ZERO voxels.
  const upperCutoff = r.total - Math.trunc((1.0 - F_HIGH) * r.nonZero);
  let upperIndex = -1;
  const firstAtCutoff = cum.findIndex((c) => c >= upperCutoff);
  if (firstAtCutoff >= 0) upperIndex = firstAtCutoff - 2;
  const srcMax = at(edges, upperIndex);

  const scale = srcMin === srcMax ? 1.0 : (DST_MAX - DST_MIN) / (srcMax - srcMin);
  return { alreadyUchar: false, srcMin, srcMax, scale, dataMin: r.min, dataMax: r.max };
}

/** numpy.rint: to the nearest integer, halves to even. */
function rint(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Steps 3 and 4 in place on resampled values: scalecrop (unless already uchar, keeping exact
 * zeros at 0), then rint and clip to 0..255.
 */
export function scaleCropUchar(data: Float32Array, s: UcharScale): void {
  for (let p = 0; p < data.length; p++) {
    let v = data[p]!;
    if (!s.alreadyUchar && v !== 0) {
      v = DST_MIN + s.scale * (v - s.srcMin);
      v = v < DST_MIN ? DST_MIN : v > DST_MAX ? DST_MAX : v;
    }
    const u = rint(v);
    data[p] = u < 0 ? 0 : u > 255 ? 255 : u;
  }
}

export function describeUcharScale(s: UcharScale): string {
  const f = (n: number): string => String(Math.round(n * 100) / 100);
  if (s.alreadyUchar) return `values already uchar (${f(s.dataMin)}..${f(s.dataMax)}), kept (FreeSurfer conform)`;
  return `FreeSurfer conform to uchar: ${f(s.srcMin)}..${f(s.srcMax)} (histogram 0.999 of non-zero voxels; data ${f(s.dataMin)}..${f(s.dataMax)}) -> 0..255`;
}

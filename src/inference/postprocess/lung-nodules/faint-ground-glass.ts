/**
 * Step 2c, faint ground glass: what the ground-glass search cannot see.
 *
 * Real pure ground-glass nodules start at about -800 HU: the ~30 mm one two of four readers marked
 * on LIDC-IDRI-0002 reads a median of -750 HU (quartiles -830 / -670) against the lung's -900 there,
 * 150 HU of contrast at its median, mottled. The ground-glass search (ground-glass-candidates.ts)
 * asks 150 HU over the lung pixel by pixel, so such a nodule breaks into its denser mottles, each
 * a few mm deep; proposed there, the core reads the mottle's density, the threshold halfway to it
 * cuts a network of mottles and vessels, and it "leaves the box" or is "mostly tubes". The model's
 * blob score (contrast over a 1500 HU window) stays under its threshold (about 150 HU at a blob's
 * own scale) on it, so no peak lies on it either.
 *
 * Detectability of a low-contrast object grows with its size (Rose's criterion: contrast x
 * sqrt(area) / noise is what must clear a fixed multiple, so the least detectable contrast falls as
 * 1 / diameter). The usual 150 HU floor is set for the smallest nodules reported (about 5 mm); a
 * nodule twice that, FAINT_MIN_DIAMETER_MM (10 mm), is as detectable at half the contrast,
 * FAINT_MIN_CONTRAST_HU (75 HU) — read on values averaged over a 5 x 5 pixel window (SmoothedVolume:
 * about 3.4 mm at 0.7 mm pixels, well inside such a nodule), which takes the lung's pixel noise
 * (about 20 HU SD on the LIDC scans) down to a few HU. The lung is searched for it on each averaged
 * slice (faint-lung-search.ts), and its proposals are segmented on the averaged values; every
 * shape rule applies as for any candidate, elongation more strictly (FAINT_MAX_ELONGATION).
 * Vessels are left out of the average: averaged in, a vessel spreads a ground-glass halo round itself.
 */
import type { SeriesVolume } from '../../series-volume';
import { LUNG_NODULE_PARAMS } from './params';

/**
 * The smallest faint nodule looked for (mm): twice the smallest reported (about 5 mm), for which
 * the usual 150 HU floor is set; by Rose's criterion half that contrast is as detectable at twice
 * the diameter. (At 7.7 mm, 3.1 mm deep, the search proposed an 8.4 mm patch of vessels' partial
 * volume on hard phantom 1015, mean -659 HU: the smaller the patch, the likelier it is that.)
 */
export const FAINT_MIN_DIAMETER_MM = 10;
/** Least core-to-lung contrast (HU) of faint ground glass, on the averaged values: half the usual 150. */
export const FAINT_MIN_CONTRAST_HU = 75;
/**
 * Most elongation (longest / shortest principal axis) of faint ground glass. Faint ground glass is
 * found anywhere in the lung (faint-lung-search.ts), with no vessel or peak to prompt it, and its
 * mimic is a faint band along a solid border: the heart's edge blurred by its beat and its partial
 * volume, along the mediastinum (on LIDC-IDRI-0001 a 17 mm band of -720 HU beside the heart, 1.66).
 * A nodule is round: the inserted faint nodules measure 1.0-1.1, LIDC-IDRI-0002's 2-reader GGN 1.35;
 * held to the limit set for ground glass around a vessel's notch, whose nodules measured at most
 * about 1.5 (LUNG_NODULE_PARAMS.maxNotchElongation).
 */
export const FAINT_MAX_ELONGATION = LUNG_NODULE_PARAMS.maxNotchElongation;
/** Half-width (pixels) of the in-plane mean faint ground glass is looked for and segmented on (5 x 5). */
const SMOOTHING_HALF_WIDTH_PX = 2;

/** A pixel rectangle of a slice (inclusive bounds). */
export interface PixelBox {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/**
 * The series with each slice's CT values averaged over a 5 x 5 in-plane window, slices computed
 * when first asked for. `view(from, to)` returns a volume whose `values` hold the smoothed slices
 * from..to (the others as they are): segmentation reads them whole, and they are kept (a
 * proposal's neighbours read them again). `searched(k)` is slice k averaged only over `bounds(k)`
 * (the box the search reads: the lung's) and SMOOTHING_HALF_WIDTH_PX around it, exactly as over the
 * whole slice there, written into one buffer shared by every call and not kept: the search reads
 * each slice's box once, so a copy of the series (1 MB per 512 x 512 slice) need not be held for
 * it. Outside those bounds the buffer holds whatever an earlier call left there.
 */
export class SmoothedVolume {
  private readonly values: Float32Array[];
  /** Per slice: whether `values` holds it averaged whole. */
  private readonly whole: Uint8Array;
  /** The buffer `searched` writes into, allocated on its first call. */
  private searchBuffer: Float32Array | undefined;

  constructor(
    private readonly volume: SeriesVolume,
    private readonly bounds: (k: number) => PixelBox | undefined = () => undefined,
  ) {
    this.values = [...volume.values];
    this.whole = new Uint8Array(volume.values.length);
  }

  /** One slice averaged whole. */
  slice(k: number): Float32Array {
    return this.view(k, k).values[k]!;
  }

  /**
   * Slice k averaged over its bounds (the slice averaged whole when it has none, or when it was
   * already): valid until the next call, and only within the bounds grown by SMOOTHING_HALF_WIDTH_PX.
   */
  searched(k: number): Float32Array {
    const box = this.bounds(k);
    if (this.whole[k] || box === undefined) return this.slice(k);
    const { rows, columns } = this.volume;
    this.searchBuffer ??= new Float32Array(rows * columns);
    meanFiltered(this.volume.values[k]!, rows, columns, SMOOTHING_HALF_WIDTH_PX, box, this.searchBuffer);
    return this.searchBuffer;
  }

  view(from: number, to: number): SeriesVolume {
    const { rows, columns } = this.volume;
    const whole: PixelBox = { x0: 0, y0: 0, x1: columns - 1, y1: rows - 1 };
    for (let k = Math.max(0, from); k <= Math.min(this.values.length - 1, to); k++) {
      if (this.whole[k]) continue;
      this.values[k] = meanFiltered(
        this.volume.values[k]!,
        rows,
        columns,
        SMOOTHING_HALF_WIDTH_PX,
        whole,
        new Float32Array(rows * columns),
      );
      this.whole[k] = 1;
    }
    return { ...this.volume, values: this.values };
  }
}

/**
 * A box mean of half-width `h` over the pixels below solid density (separable running sums and
 * counts, along rows, then down columns; the window shrinks at the border); a solid pixel keeps
 * its value. Vessels are left out of the mean: averaged in, a dense vessel spreads a ground-glass
 * halo round itself that would read as faint ground glass and join the structure to the vessel.
 * Computed for `box` grown by `h` (clipped to the slice), from the pixels of `box` grown by 2 h:
 * every window of the pixels written lies inside it, so they are what the whole slice's mean
 * gives. Written into `out` (a slice's size), returned; its other pixels are left as they are.
 */
function meanFiltered(hu: Float32Array, rows: number, columns: number, h: number, box: PixelBox, out: Float32Array): Float32Array {
  // The pixels read (cx0..cx1, cy0..cy1) and written (ox0..ox1, oy0..oy1).
  const cx0 = Math.max(0, box.x0 - 2 * h);
  const cy0 = Math.max(0, box.y0 - 2 * h);
  const cx1 = Math.min(columns - 1, box.x1 + 2 * h);
  const cy1 = Math.min(rows - 1, box.y1 + 2 * h);
  const [ox0, oy0, ox1, oy1] = [
    Math.max(0, box.x0 - h),
    Math.max(0, box.y0 - h),
    Math.min(columns - 1, box.x1 + h),
    Math.min(rows - 1, box.y1 + h),
  ];
  const width = cx1 - cx0 + 1;
  const height = cy1 - cy0 + 1;
  const solid = LUNG_NODULE_PARAMS.solidHu;
  const sums = new Float32Array(width * height);
  const counts = new Uint8Array(width * height);
  // Along rows: the window [x - h, x + h], the pixel entering on the right added, then the one
  // leaving on the left taken off. A solid pixel adds 0 (branch-free; the sums are unchanged).
  for (let y = 0; y < height; y++) {
    const o = (cy0 + y) * columns + cx0;
    const r = y * width;
    let sum = 0;
    let n = 0;
    for (let enter = 0; enter < Math.min(h, width); enter++) {
      const v = hu[o + enter]!;
      sum += v < solid ? v : 0;
      n += v < solid ? 1 : 0;
    }
    for (let x = 0; x < width; x++) {
      if (x + h < width) {
        const v = hu[o + x + h]!;
        sum += v < solid ? v : 0;
        n += v < solid ? 1 : 0;
      }
      if (x - h - 1 >= 0) {
        const v = hu[o + x - h - 1]!;
        sum -= v < solid ? v : 0;
        n -= v < solid ? 1 : 0;
      }
      sums[r + x] = sum;
      counts[r + x] = n;
    }
  }
  // Down columns, likewise (each column's row sum entering added, then the leaving one taken off),
  // written on the rows and columns to be written.
  const columnSum = new Float64Array(width);
  const columnCount = new Int32Array(width);
  const [wx0, wx1] = [ox0 - cx0, ox1 - cx0];
  for (let y = -h; y < height; y++) {
    const enter = y + h;
    const leave = y - h - 1;
    if (enter < height)
      for (let x = 0, e = enter * width; x < width; x++) {
        columnSum[x] = columnSum[x]! + sums[e + x]!;
        columnCount[x] = columnCount[x]! + counts[e + x]!;
      }
    if (leave >= 0)
      for (let x = 0, l = leave * width; x < width; x++) {
        columnSum[x] = columnSum[x]! - sums[l + x]!;
        columnCount[x] = columnCount[x]! - counts[l + x]!;
      }
    const row = cy0 + y;
    if (row < oy0 || row > oy1) continue;
    for (let x = wx0, i = row * columns + cx0 + wx0; x <= wx1; x++, i++)
      out[i] = hu[i]! >= solid || columnCount[x]! === 0 ? hu[i]! : columnSum[x]! / columnCount[x]!;
  }
  return out;
}

/**
 * Step 2c, faint ground glass beside vessels: what the ground-glass search cannot see.
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
 * (about 20 HU SD on the LIDC scans) down to a few HU. The search beside each vessel candidate is
 * run again on the averaged slice with that floor and a depth for nodules of at least that size
 * (faintGroundGlassBesideVessel), and its proposals are segmented on the averaged values; every
 * shape rule applies as for any candidate. Vessels are left out of the average: averaged in, a
 * vessel spreads a ground-glass halo round itself.
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
/** Half-width (pixels) of the in-plane mean faint ground glass is looked for and segmented on (5 x 5). */
const SMOOTHING_HALF_WIDTH_PX = 2;

/**
 * The series with each slice's CT values averaged over a 5 x 5 in-plane window, slices computed
 * when first asked for (only those around faint candidates). `view(from, to)` returns a volume
 * whose `values` hold the smoothed slices from..to (the others as they are).
 */
export class SmoothedVolume {
  private readonly values: Float32Array[];
  private readonly done: Uint8Array;

  constructor(private readonly volume: SeriesVolume) {
    this.values = [...volume.values];
    this.done = new Uint8Array(volume.values.length);
  }

  /** One smoothed slice. */
  slice(k: number): Float32Array {
    return this.view(k, k).values[k]!;
  }

  view(from: number, to: number): SeriesVolume {
    for (let k = Math.max(0, from); k <= Math.min(this.values.length - 1, to); k++) {
      if (this.done[k]) continue;
      this.values[k] = meanFiltered(this.volume.values[k]!, this.volume.rows, this.volume.columns, SMOOTHING_HALF_WIDTH_PX);
      this.done[k] = 1;
    }
    return { ...this.volume, values: this.values };
  }
}

/**
 * A box mean of half-width `h` over the pixels below solid density (separable running sums and
 * counts, along rows, then down columns; the window shrinks at the border); a solid pixel keeps
 * its value. Vessels are left out of the mean: averaged in, a dense vessel spreads a ground-glass
 * halo round itself that would read as faint ground glass and join the structure to the vessel.
 */
function meanFiltered(hu: Float32Array, rows: number, columns: number, h: number): Float32Array {
  const solid = LUNG_NODULE_PARAMS.solidHu;
  const sums = new Float32Array(hu.length);
  const counts = new Uint8Array(hu.length);
  for (let y = 0; y < rows; y++) {
    const o = y * columns;
    let sum = 0;
    let n = 0;
    // The window [x - h, x + h]: add the pixel entering on the right, drop the one leaving on the left.
    for (let x = -h; x < columns; x++) {
      const enter = x + h;
      if (enter < columns && hu[o + enter]! < solid) {
        sum += hu[o + enter]!;
        n++;
      }
      const leave = x - h - 1;
      if (leave >= 0 && hu[o + leave]! < solid) {
        sum -= hu[o + leave]!;
        n--;
      }
      if (x >= 0) {
        sums[o + x] = sum;
        counts[o + x] = n;
      }
    }
  }
  const out = new Float32Array(hu.length);
  const columnSum = new Float64Array(columns);
  const columnCount = new Int32Array(columns);
  for (let y = -h; y < rows; y++) {
    const enter = y + h;
    const leave = y - h - 1;
    for (let x = 0; x < columns; x++) {
      if (enter < rows) {
        columnSum[x] = columnSum[x]! + sums[enter * columns + x]!;
        columnCount[x] = columnCount[x]! + counts[enter * columns + x]!;
      }
      if (leave >= 0) {
        columnSum[x] = columnSum[x]! - sums[leave * columns + x]!;
        columnCount[x] = columnCount[x]! - counts[leave * columns + x]!;
      }
      if (y < 0) continue;
      const i = y * columns + x;
      out[i] = hu[i]! >= solid || columnCount[x]! === 0 ? hu[i]! : columnSum[x]! / columnCount[x]!;
    }
  }
  return out;
}

/**
 * Step 2c, the smallest ground glass beside vessels: proposals judged in 3-D, the vessel unknown.
 *
 * The ground-glass search (ground-glass-candidates.ts) proposes the point of a patch deepest
 * inside the ground glass on one slice. Where a vessel takes part of a small nodule's disc that
 * depth is the wrong measure: the vessel's pixels are neither nodule nor lung, yet they end the
 * depth as lung does, and a 5 mm nodule between two 2.5 mm slices is a partial-volume disc only
 * about 1.6 mm deep on each slice even without a vessel. Here a point is judged by the ball of
 * the smallest counted nodule's radius around it, with solid voxels and their partial-volume
 * reach (one pixel in plane: the scanner's point spread blurs a vessel's edge over about a pixel)
 * counted as unknown: of the voxels left, what share is ground glass? A nodule beside or around
 * a vessel is ground glass wherever the vessel is not: nearly all. A vessel's partial-volume rim
 * is a pixel thin and is unknown here; a vessel's edge seen through the slice (an oblique vessel
 * on a thick slice) is a thin shell, with lung on its far side within the ball. Both read a low
 * share, which is why this search, unlike a lower depth (HISTORY.md, "The search's depth"), asks
 * for ground glass all round the point and not just deeper than some floor. The ground glass
 * must also fill a good part of the ball (the vessel may take up to about half of it), a vessel
 * must take part of it (where none does, the depth on the slice judges), and it must be one
 * density: a junction of thin vessels, or the partial volume between two vessels on a thick slice,
 * is ground glass grading towards solid, while a nodule's is its own density give or take the
 * noise. A ball
 * is centred on a slice (its voxels on that slice: the slice spacing exceeds its radius) or midway
 * between two slices (the nodule's discs on both): a sphere of 5 mm near a slice boundary shows
 * on exactly those two slices.
 */
import type { VolumeGrid } from './volume-grid';

/** Radius (mm) of the ball a point is judged by: the smallest nodule issue 17 counts (5 mm). */
export const BALL_RADIUS_MM = 2.5;
/**
 * Of the ball's voxels that are neither solid nor within a pixel of solid (in plane), at least
 * this share must be ground glass: a nodule is ground glass throughout, while around a vessel's
 * rim or a through-slice shadow about half the ball on the far side is lung.
 */
export const MIN_GLASS_SHARE = 0.85;
/** Ground glass must fill at least this share of the ball: a vessel beside the nodule may take up to about half. */
export const MIN_GLASS_FILL = 0.4;
/**
 * Solid tissue and its rim must take at least this share of the ball: this search is for ground
 * glass a vessel takes part of. Where none does, the depth on the slice measures the same thing
 * and its floor stands (HISTORY.md, "The search's depth": a lower one adds vessels' partial
 * volume, a band of ground glass as wide as a small nodule).
 */
export const MIN_VESSEL_SHARE = 1 / 3;
/**
 * A nodule's ground glass away from the vessel is one density give or take the noise, while a
 * vessel's partial volume grades from solid to lung: the densest ground glass of the ball may lie
 * at most this many noise SDs (of the lung around) over its median (4 SD: the largest of some
 * thirty noise samples lies about 2 SD out).
 */
export const MAX_GLASS_SPREAD_SD = 4;

/** One slice of the search window: which pixels are ground glass, which are known (lung or ground glass). */
export interface WindowSlice {
  readonly glass: Uint8Array;
  /** The window's CT values (HU). */
  readonly hu: Float32Array;
  /** Neither solid, nor within a pixel of solid in plane, nor outside the lung search mask. */
  readonly known: Uint8Array;
}

/** The best ball of a patch: its centre pixel (window coordinates) and the share of ground glass in it. */
export interface BallPoint {
  readonly x: number;
  readonly y: number;
  readonly fill: number;
  /** The slice it lies on, from the window's centre slice: -1, 0 or 1. */
  readonly sliceOffset?: number;
}

/**
 * Marks, per solid pixel `solid`, its 8-neighbours as unknown: `known` is `inLung` less solid
 * and less the one-pixel partial-volume reach of solid.
 */
export function knownPixels(solid: Uint8Array, inLung: Uint8Array, width: number, height: number): Uint8Array {
  const known = new Uint8Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!inLung[i] || solid[i]) continue;
      let nearSolid = false;
      for (let ny = Math.max(0, y - 1); ny <= Math.min(height - 1, y + 1) && !nearSolid; ny++)
        for (let nx = Math.max(0, x - 1); nx <= Math.min(width - 1, x + 1); nx++)
          if (solid[ny * width + nx]) {
            nearSolid = true;
            break;
          }
      known[i] = nearSolid ? 0 : 1;
    }
  return known;
}

/** Per-row prefix sums ((width + 1) per row) of a 0/1 mask: a row's run sums in O(1). */
function rowPrefix(mask: Uint8Array, width: number, height: number): Int32Array {
  const out = new Int32Array((width + 1) * height);
  for (let y = 0; y < height; y++) {
    let sum = 0;
    for (let x = 0; x < width; x++) {
      sum += mask[y * width + x]!;
      out[y * (width + 1) + x + 1] = sum;
    }
  }
  return out;
}

/** Half-widths (pixels) per row offset of a disc of `radiusMm`, rows -reach..reach. */
function discHalfWidths(radiusMm: number, dx: number, dy: number): number[] {
  const reach = Math.floor(radiusMm / dy);
  const out: number[] = [];
  for (let r = -reach; r <= reach; r++) out.push(Math.floor(Math.sqrt(Math.max(0, radiusMm * radiusMm - (r * dy) ** 2)) / dx));
  return out;
}

/** Sums over a disc (half-widths `widths`) centred at (x, y) of prefix-summed masks; pixels outside the window count as absent. */
function discSums(
  prefixes: readonly Int32Array[],
  widths: readonly number[],
  x: number,
  y: number,
  width: number,
  height: number,
  out: number[],
): number {
  out.fill(0);
  let total = 0;
  const reach = (widths.length - 1) >> 1;
  for (let r = -reach; r <= reach; r++) {
    const row = y + r;
    if (row < 0 || row >= height) continue;
    const w = widths[r + reach]!;
    const from = Math.max(0, x - w);
    const to = Math.min(width, x + w + 1);
    total += to - from;
    const base = row * (width + 1);
    for (let m = 0; m < prefixes.length; m++) out[m]! += prefixes[m]![base + to]! - prefixes[m]![base + from]!;
  }
  return total;
}

/**
 * Points around the window's centre slice (`slices`: [previous, centre, next], undefined past the
 * series' ends) whose ball holds mostly ground glass among its known voxels, fills enough of it
 * with ground glass, and has a vessel take part of it: one point per 8-connected patch of such
 * pixels, the one whose ball holds the most ground glass, on the slice (offset -1, 0, 1 from the
 * centre) where that pixel is ground glass (a proposal is seeded there).
 */
export function glassBallPoints(
  slices: readonly (WindowSlice | undefined)[],
  grid: VolumeGrid,
  width: number,
  height: number,
  noiseSd: () => number,
): BallPoint[] {
  const { xSpacingMm: dx, ySpacingMm: dy, zSpacingMm: dz } = grid;
  if (!slices[1]) return [];
  const sums = slices.map((s) => s && [rowPrefix(s.glass, width, height), rowPrefix(s.known, width, height)]);
  // On the slice: its own disc (the next slices lie farther than the radius). Midway: a disc on each of the two slices.
  const onSlice = discHalfWidths(BALL_RADIUS_MM, dx, dy);
  const midway = dz / 2 < BALL_RADIUS_MM ? discHalfWidths(Math.sqrt(BALL_RADIUS_MM ** 2 - (dz / 2) ** 2), dx, dy) : undefined;
  const balls: { parts: number[]; widths: number[] }[] = [{ parts: [1], widths: onSlice }];
  if (midway) for (const side of [0, 2]) if (sums[side]) balls.push({ parts: [1, side], widths: midway });
  // Per slice (previous, centre, next): the share of the ball filled with ground glass, where it passes.
  const fills = slices.map((s) => s && new Float32Array(width * height));
  const part = [0, 0];
  // Only balls wholly inside the window: a clipped one would judge a point by part of its neighbourhood.
  const reach = Math.ceil(BALL_RADIUS_MM / Math.min(dx, dy));
  for (let y = reach; y < height - reach; y++)
    for (let x = reach; x < width - reach; x++)
      for (const ball of balls) {
        const i = y * width + x;
        // Seeded on the centre slice where the point is ground glass there, else on the other slice of a midway ball.
        const at = ball.parts.find((k) => slices[k]!.glass[i]);
        if (at === undefined) continue;
        let glass = 0;
        let known = 0;
        let total = 0;
        // A nodule is ground glass in 3-D: on each slice of the ball, not on the two together only.
        let eachSlice = true;
        for (const k of ball.parts) {
          total += discSums(sums[k]!, ball.widths, x, y, width, height, part);
          glass += part[0]!;
          known += part[1]!;
          eachSlice &&= part[0]! >= MIN_GLASS_SHARE * part[1]!;
        }
        const passes = eachSlice && glass >= MIN_GLASS_FILL * total && total - known >= MIN_VESSEL_SHARE * total;
        if (passes && plateau(slices, ball, x, y, width, noiseSd)) fills[at]![i] = Math.max(fills[at]![i]!, glass / total);
      }
  return fills.flatMap((fill, k) => (fill ? bestPerPatch(fill, width, height).map((p) => ({ ...p, sliceOffset: k - 1 })) : []));
}

/** Whether the ground glass of the ball at (x, y) is one density: its densest voxel within MAX_GLASS_SPREAD_SD noise SDs of its median. */
function plateau(
  slices: readonly (WindowSlice | undefined)[],
  ball: { readonly parts: readonly number[]; readonly widths: readonly number[] },
  x: number,
  y: number,
  width: number,
  noiseSd: () => number,
): boolean {
  const values: number[] = [];
  const reach = (ball.widths.length - 1) >> 1;
  for (const k of ball.parts) {
    const s = slices[k]!;
    for (let r = -reach; r <= reach; r++) {
      const w = ball.widths[r + reach]!;
      for (let dx = -w; dx <= w; dx++) {
        const i = (y + r) * width + x + dx;
        if (s.glass[i]) values.push(s.hu[i]!);
      }
    }
  }
  values.sort((a, b) => a - b);
  return values[values.length - 1]! - values[values.length >> 1]! <= MAX_GLASS_SPREAD_SD * noiseSd();
}

/** The pixel of largest value of each 8-connected patch of positive values. */
function bestPerPatch(value: Float32Array, width: number, height: number): BallPoint[] {
  const seen = new Uint8Array(value.length);
  const stack: number[] = [];
  const out: BallPoint[] = [];
  for (let start = 0; start < value.length; start++) {
    if (seen[start] || !(value[start]! > 0)) continue;
    let best = start;
    seen[start] = 1;
    stack.push(start);
    while (stack.length > 0) {
      const i = stack.pop()!;
      if (value[i]! > value[best]!) best = i;
      const x = i % width;
      const y = (i - x) / width;
      for (let ny = Math.max(0, y - 1); ny <= Math.min(height - 1, y + 1); ny++)
        for (let nx = Math.max(0, x - 1); nx <= Math.min(width - 1, x + 1); nx++) {
          const n = ny * width + nx;
          if (!seen[n] && value[n]! > 0) {
            seen[n] = 1;
            stack.push(n);
          }
        }
    }
    out.push({ x: best % width, y: Math.floor(best / width), fill: value[best]! });
  }
  return out;
}

/**
 * Step 2b, ground glass beside vessels: candidates the blob response cannot give.
 *
 * A ground-glass nodule touching a vessel is a faint blob beside a dense tube: the vessel's
 * response spreads over it and takes every local maximum, so no peak lies on the nodule (the
 * model answers to intensity, and the vessel is two to three times denser). Where a candidate
 * was rejected as a vessel, the lung around its peak is searched for ground glass on its own:
 * voxels at least MIN_CONTRAST_HU above the lung and below the solid density (so the vessel
 * itself is left out), and in that mask the point deepest inside it (a chamfer distance
 * transform, Borgefors 1986). Ground glass at least a small nodule's radius deep there is
 * proposed as a candidate of its own: it goes through the same segmentation and vessel
 * rejection as every other candidate (its subsolid core judged by its local 3-D shape), so the
 * proposal decides nothing by itself. A vessel's partial-volume rim is about a pixel thin and
 * never that deep; an in-plane vessel's partial-volume band can be, and is rejected as elongated
 * or leaving its box. The smallest nodules beside a vessel are shallower still on a thick slice
 * (partial volume through the slice, part of their disc taken by the vessel): a shallower patch
 * is proposed where the next slice holds ground glass as deep at the same place.
 */
import type { SeriesVolume } from '../../series-volume';
import type { Candidate } from './candidates';
import { LUNG_NODULE_PARAMS } from './params';
import type { VolumeGrid } from './volume-grid';

/** Ground glass is at least this much (HU) denser than the lung (as segmentation asks of a core). */
const MIN_CONTRAST_HU = 150;
/** Lung parenchyma is at most this dense (HU): a window full of vessels must not raise the background. */
const LUNG_PARENCHYMA_MAX_HU = -650;
/** The lung around a vessel candidate is searched this far (mm) from its peak: a 12 mm nodule beside a 3 mm vessel. */
const SEARCH_RADIUS_MM = 12;
/** Ground glass this deep (mm, in plane) is proposed: most of a nodule of the smallest reported size. */
const MIN_DEPTH_MM = 0.8 * (LUNG_NODULE_PARAMS.minDiameterMm / 2);
/**
 * Ground glass at least this deep (mm) but under MIN_DEPTH_MM is proposed only where the next
 * slice holds ground glass as deep (NEXT_SLICE_REACH_PX). A 5.2 mm nodule of -620 HU centred
 * between two 2.5 mm slices, on a vessel, is a partial-volume disc about 1.6 mm deep on each
 * (test/lung-nodules); a nodule is ground glass in 3-D, while a vessel's partial-volume rim or a
 * flat patch on one slice is not that deep on the next slice too.
 */
const SHALLOW_DEPTH_MM = 0.7 * (LUNG_NODULE_PARAMS.minDiameterMm / 2);
/** The next slice's ground glass must lie within this many pixels of the shallow patch's deepest point. */
const NEXT_SLICE_REACH_PX = 3;
/**
 * Around a vessel's notch: the ground glass alone must be this deep (mm) where the depth with the
 * vessel counted as inside is taken, about two pixels (a vessel's partial-volume rim is one).
 */
const MIN_GLASS_DEPTH_AT_NOTCH_MM = 1.3;
/** Proposals closer than this (mm) to an earlier one are the same. */
const SAME_PROPOSAL_MM = 3;

/**
 * Where ground glass beside the vessel of `vessel` (a candidate rejected as a vessel) lies
 * deepest: one point per patch of it (`plain`), and the same with the depth counting the solid
 * pixels as inside (`besideNotch`, notchDepthMm): where a vessel runs through a nodule, its ground
 * glass on the centre slice is a crescent around the vessel, too shallow for MIN_DEPTH_MM on its
 * own. Both from one look at the window: its background, masks and ground-glass depth are shared.
 */
export function groundGlassBesideVessel(
  volume: SeriesVolume,
  grid: VolumeGrid,
  searchMasks: readonly Uint8Array[],
  blobScore: Float32Array,
  vessel: Candidate,
): { plain: Candidate[]; besideNotch: Candidate[] } {
  const { columns, xSpacingMm, ySpacingMm } = grid;
  const hu = volume.values[vessel.slice]!;
  const search = searchMasks[vessel.slice]!;
  const { x0, y0, width, height } = searchWindow(grid, vessel);
  const backgroundHu = windowBackgroundHu(hu, search, columns, x0, y0, width, height);
  if (backgroundHu === undefined) return { plain: [], besideNotch: [] };
  const window: GlassWindow = { x0, y0, width, height, backgroundHu };
  const dense = new Uint8Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y0 + y) * columns + x0 + x;
      dense[y * width + x] = search[i] && hu[i]! - backgroundHu >= MIN_CONTRAST_HU ? 1 : 0;
    }
  const glassDepth = groundGlassDepth(volume, grid, searchMasks, vessel.slice, window);
  // The next slices' ground glass, only when a shallow patch asks for it.
  const neighbours: Float32Array[] = [];
  const nextSliceDepths = (): Float32Array[] => {
    if (neighbours.length === 0)
      for (const slice of [vessel.slice - 1, vessel.slice + 1])
        if (slice >= 0 && slice < grid.slices) neighbours.push(groundGlassDepth(volume, grid, searchMasks, slice, window));
    return neighbours;
  };
  // Deep enough on its own, or shallower with ground glass as deep on the next slice.
  const deepEnough = (p: Patch): boolean =>
    p.depthMm >= MIN_DEPTH_MM || (p.depthMm >= SHALLOW_DEPTH_MM && nextSliceDepths().some((d) => deepWithin(d, width, height, p)));
  const proposalsAt = (patches: Patch[], besideNotch: boolean): Candidate[] =>
    patches.map((p) => {
      const column = x0 + p.x;
      const row = y0 + p.y;
      const score = blobScore[row * columns + column]!;
      return {
        slice: vessel.slice,
        column,
        row,
        score,
        radiusMm: p.depthMm,
        groundGlassOnly: true,
        ...(besideNotch ? { besideNotch: true } : {}),
      };
    });
  const notchDepth = notchDepthMm(glassDepth, dense, width, height, xSpacingMm, ySpacingMm);
  return {
    plain: proposalsAt(deepestPerPatch(glassDepth, width, height).filter(deepEnough), false),
    besideNotch: proposalsAt(
      deepestPerPatch(notchDepth, width, height).filter((p) => p.depthMm >= MIN_DEPTH_MM),
      true,
    ),
  };
}

/** The window searched around a vessel candidate's peak: SEARCH_RADIUS_MM each way, clipped to the slice. */
function searchWindow(grid: VolumeGrid, vessel: Candidate): { x0: number; y0: number; width: number; height: number } {
  const half = Math.ceil(SEARCH_RADIUS_MM / Math.min(grid.xSpacingMm, grid.ySpacingMm));
  const x0 = Math.max(0, vessel.column - half);
  const y0 = Math.max(0, vessel.row - half);
  return { x0, y0, width: Math.min(grid.columns, vessel.column + half + 1) - x0, height: Math.min(grid.rows, vessel.row + half + 1) - y0 };
}

/** The deepest pixel of a patch (window coordinates) and its depth, mm. */
interface Patch {
  readonly x: number;
  readonly y: number;
  readonly depthMm: number;
}

/** The search window on the grid, and the lung's density there (HU). */
interface GlassWindow {
  readonly x0: number;
  readonly y0: number;
  readonly width: number;
  readonly height: number;
  readonly backgroundHu: number;
}

/** Depth (mm) of the ground glass (MIN_CONTRAST_HU over the window's lung, below solid) in the window on `slice`. */
function groundGlassDepth(
  volume: SeriesVolume,
  grid: VolumeGrid,
  searchMasks: readonly Uint8Array[],
  slice: number,
  window: GlassWindow,
): Float32Array {
  const { x0, y0, width, height, backgroundHu } = window;
  const hu = volume.values[slice]!;
  const search = searchMasks[slice]!;
  const glass = new Uint8Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y0 + y) * grid.columns + x0 + x;
      const v = hu[i]!;
      glass[y * width + x] = search[i] && v - backgroundHu >= MIN_CONTRAST_HU && v < LUNG_NODULE_PARAMS.solidHu ? 1 : 0;
    }
  return depthMm(glass, width, height, grid.xSpacingMm, grid.ySpacingMm);
}

/** Whether `depth` reaches p.depthMm within NEXT_SLICE_REACH_PX pixels of p. */
function deepWithin(depth: Float32Array, width: number, height: number, p: { x: number; y: number; depthMm: number }): boolean {
  const reach = NEXT_SLICE_REACH_PX;
  for (let y = Math.max(0, p.y - reach); y <= Math.min(height - 1, p.y + reach); y++)
    for (let x = Math.max(0, p.x - reach); x <= Math.min(width - 1, p.x + reach); x++)
      if ((x - p.x) ** 2 + (y - p.y) ** 2 <= reach * reach && depth[y * width + x]! >= p.depthMm) return true;
  return false;
}

/** Drops proposals within SAME_PROPOSAL_MM of an earlier one (several vessel candidates find the same ground glass). */
export function distinctProposals(proposals: readonly Candidate[], grid: VolumeGrid): Candidate[] {
  const out: Candidate[] = [];
  const mm = (a: Candidate, b: Candidate): number =>
    Math.hypot((a.column - b.column) * grid.xSpacingMm, (a.row - b.row) * grid.ySpacingMm, (a.slice - b.slice) * grid.zSpacingMm);
  for (const p of proposals) if (!out.some((o) => mm(o, p) < SAME_PROPOSAL_MM)) out.push(p);
  return out;
}

/** Median HU of the search mask's pixels in the window, capped at LUNG_PARENCHYMA_MAX_HU; undefined without lung. */
function windowBackgroundHu(
  hu: Float32Array,
  search: Uint8Array,
  columns: number,
  x0: number,
  y0: number,
  width: number,
  height: number,
): number | undefined {
  const samples = new Float32Array(width * height);
  let count = 0;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y0 + y) * columns + x0 + x;
      if (search[i]) samples[count++] = hu[i]!;
    }
  if (count === 0) return undefined;
  return Math.min(LUNG_PARENCHYMA_MAX_HU, nthSmallest(samples, count, count >> 1));
}

/**
 * The n-th smallest of values[0..count) (Hoare's selection, "Find", 1961): the value a sort
 * would put at index n, in linear expected time (this runs for every vessel candidate). Reorders `values`.
 */
export function nthSmallest(values: Float32Array, count: number, n: number): number {
  let lo = 0;
  let hi = count - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const t = values[i]!;
        values[i] = values[j]!;
        values[j] = t;
        i++;
        j--;
      }
    }
    if (n <= j) hi = j;
    else if (n >= i) lo = i;
    else return values[n]!;
  }
  return values[n]!;
}

/**
 * Per mask pixel, how deep inside the mask it lies (mm from the mask's edge, half a pixel beyond
 * the last mask pixel; chamfer 3-4 weights scaled to the pixel spacing); 0 outside. The
 * window's border counts as outside.
 */
export function depthMm(mask: Uint8Array, width: number, height: number, dx: number, dy: number): Float32Array {
  const distance = new Float32Array(mask.length);
  const diagonal = Math.hypot(dx, dy);
  const at = (x: number, y: number): number => (x < 0 || y < 0 || x >= width || y >= height ? 0 : distance[y * width + x]!);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      distance[i] = mask[i] ? Math.min(at(x - 1, y) + dx, at(x, y - 1) + dy, at(x - 1, y - 1) + diagonal, at(x + 1, y - 1) + diagonal) : 0;
    }
  const halfPixel = Math.min(dx, dy) / 2;
  for (let y = height - 1; y >= 0; y--)
    for (let x = width - 1; x >= 0; x--) {
      const i = y * width + x;
      if (!mask[i]) continue;
      distance[i] = Math.min(distance[i]!, at(x + 1, y) + dx, at(x, y + 1) + dy, at(x + 1, y + 1) + diagonal, at(x - 1, y + 1) + diagonal);
    }
  for (let i = 0; i < distance.length; i++) if (distance[i]! > 0) distance[i] = distance[i]! - halfPixel;
  return distance;
}

/**
 * Depth with the vessel's notch filled: of the ground glass and solid pixels together (`dense`),
 * where the ground glass alone (`glassDepth`) is at least MIN_GLASS_DEPTH_AT_NOTCH_MM deep (so the
 * depth is taken in ground glass, not in a bare vessel with its one-pixel rim); 0 elsewhere.
 */
function notchDepthMm(glassDepth: Float32Array, dense: Uint8Array, width: number, height: number, dx: number, dy: number): Float32Array {
  const depth = depthMm(dense, width, height, dx, dy);
  for (let i = 0; i < depth.length; i++) if (glassDepth[i]! < MIN_GLASS_DEPTH_AT_NOTCH_MM) depth[i] = 0;
  return depth;
}

/** The deepest pixel of each 8-connected patch of positive depth. */
export function deepestPerPatch(depth: Float32Array, width: number, height: number): Patch[] {
  const seen = new Uint8Array(depth.length);
  const stack: number[] = [];
  const out: Patch[] = [];
  for (let start = 0; start < depth.length; start++) {
    if (seen[start] || !(depth[start]! > 0)) continue;
    let best = start;
    seen[start] = 1;
    stack.push(start);
    while (stack.length > 0) {
      const i = stack.pop()!;
      if (depth[i]! > depth[best]!) best = i;
      const x = i % width;
      const y = (i - x) / width;
      for (let ny = Math.max(0, y - 1); ny <= Math.min(height - 1, y + 1); ny++)
        for (let nx = Math.max(0, x - 1); nx <= Math.min(width - 1, x + 1); nx++) {
          const n = ny * width + nx;
          if (!seen[n] && depth[n]! > 0) {
            seen[n] = 1;
            stack.push(n);
          }
        }
    }
    out.push({ x: best % width, y: Math.floor(best / width), depthMm: depth[best]! });
  }
  return out;
}

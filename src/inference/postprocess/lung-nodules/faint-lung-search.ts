/**
 * Step 2c, faint ground glass anywhere in the lung: the faint search (faint-ground-glass.ts) run on
 * each whole averaged slice instead of beside each vessel candidate.
 *
 * Beside the vessel candidates, faint ground glass with no vessel candidate within the search's
 * 12 mm (on the pleura, or in a quiet stretch of lung) was never looked at, and the search ran
 * thousands of times per series over overlapping windows. Here each averaged slice is searched
 * once: the pixels of the closed lung mask (so juxtapleural ground glass is inside it) below solid
 * density, on the raw and the averaged slice (vessels left out), at least FAINT_MIN_CONTRAST_HU
 * over the LOCAL lung level, and in that mask the cores at least FAINT_MIN_DEPTH_MM deep (a nodule
 * of FAINT_MIN_DIAMETER_MM or more). The lung level is local because the lung is not one density:
 * on a supine scan the dependent (posterior) lung is denser than the anterior (gravity's gradient,
 * tens of HU across the lung), so one level per slice would read the dependent lung as ground glass:
 * it is read per 8 mm tile, as the median of the lung within 24 mm each way (lung-level-map.ts).
 *
 * The deepest point of each core is proposed on the slice it lies deepest on (the nodule's centre
 * slice); proposals are segmented on the averaged values and judged by every rule, last, as the
 * faint proposals beside vessels were.
 */
import type { Candidate } from './candidates';
import { FAINT_MIN_CONTRAST_HU, FAINT_MIN_DIAMETER_MM, type PixelBox } from './faint-ground-glass';
import { deepestPerPatch, depthMm } from './ground-glass-candidates';
import { localLungLevel } from './lung-level-map';
import { LUNG_NODULE_PARAMS } from './params';
import type { VolumeGrid } from './volume-grid';

/** Faint ground glass this deep (mm) is proposed: 0.8 of the radius of the smallest faint nodule looked for. */
const FAINT_MIN_DEPTH_MM = 0.8 * (FAINT_MIN_DIAMETER_MM / 2);
/** Proposals within this distance (mm) of a deeper one, or within its depth, are the same core on a nearby slice. */
const SAME_PROPOSAL_MM = 3;

/**
 * Faint ground-glass proposals over the whole lung: for each slice with lung, `smoothedSlice(k)`
 * is the slice averaged in-plane (faint-ground-glass.ts), at least over `lungBox(k)`; it is read
 * only there, and only until the next slice is asked for (SmoothedVolume.searched reuses one
 * buffer). `lungBox(k)` is the closed mask's box on slice k (given by a caller that already has
 * it, since finding it scans the whole slice).
 * Deepest first, one per core in 3-D.
 */
export function faintGroundGlassInLung(
  values: readonly Float32Array[],
  smoothedSlice: (k: number) => Float32Array,
  grid: VolumeGrid,
  closed: readonly Uint8Array[],
  blobScore: readonly Float32Array[],
  lungBox: (k: number) => PixelBox | undefined = (k) => maskBox(closed[k]!, grid.columns, grid.rows),
): Candidate[] {
  const perSlice: Candidate[] = [];
  for (let k = 0; k < grid.slices; k++) {
    const box = lungBox(k);
    if (box === undefined) continue;
    const smoothed = smoothedSlice(k);
    for (const p of faintCoresOnSlice(values[k]!, smoothed, closed[k]!, grid, box))
      perSlice.push({
        slice: k,
        column: p.column,
        row: p.row,
        score: blobScore[k]![p.row * grid.columns + p.column]!,
        radiusMm: p.depthMm,
        groundGlassOnly: true,
        faint: true,
      });
  }
  return oneProposalPerCore(perSlice, grid);
}

/** The cores of faint ground glass at least FAINT_MIN_DEPTH_MM deep on one slice: each one's deepest pixel. */
function faintCoresOnSlice(
  hu: Float32Array,
  smoothed: Float32Array,
  lung: Uint8Array,
  grid: VolumeGrid,
  box: PixelBox,
): { column: number; row: number; depthMm: number }[] {
  const { columns } = grid;
  const level = localLungLevel(smoothed, hu, lung, grid, box);
  const solid = LUNG_NODULE_PARAMS.solidHu;
  const width = box.x1 - box.x0 + 1;
  const height = box.y1 - box.y0 + 1;
  const glass = new Uint8Array(width * height);
  // The tile column of each of the box's columns (tiles counted from the box's corner, as the glass mask is).
  const tileOf = new Int32Array(width).map((_, x) => Math.floor(x / level.tileW));
  let gx0 = width;
  let gy0 = height;
  let gx1 = -1;
  let gy1 = -1;
  for (let y = 0; y < height; y++) {
    const tileRow = Math.floor(y / level.tileH) * level.nx;
    const o = (box.y0 + y) * columns + box.x0;
    let first = -1;
    let last = -1;
    for (let x = 0; x < width; x++) {
      const i = o + x;
      if (!lung[i] || hu[i]! >= solid) continue;
      const v = smoothed[i]!;
      // Not (v - level < ...): a NaN level (no lung near) is no ground glass either.
      if (v >= solid || !(v - level.tiles[tileRow + tileOf[x]!]! >= FAINT_MIN_CONTRAST_HU)) continue;
      glass[y * width + x] = 1;
      if (first < 0) first = x;
      last = x;
    }
    if (first < 0) continue;
    gx0 = Math.min(gx0, first);
    gx1 = Math.max(gx1, last);
    if (gy1 < 0) gy0 = y;
    gy1 = y;
  }
  if (gx1 < 0) return [];
  // The depth is taken over the ground glass's own box: outside it there is none, so the result is the same.
  const gw = gx1 - gx0 + 1;
  const gh = gy1 - gy0 + 1;
  const sub = new Uint8Array(gw * gh);
  for (let y = 0; y < gh; y++) sub.set(glass.subarray((gy0 + y) * width + gx0, (gy0 + y) * width + gx0 + gw), y * gw);
  const depth = depthMm(sub, gw, gh, grid.xSpacingMm, grid.ySpacingMm);
  // Cores: where the ground glass is at least FAINT_MIN_DEPTH_MM deep (a faint patch joined to
  // another by a thin neck is two cores, each proposed).
  for (let i = 0; i < depth.length; i++) if (depth[i]! < FAINT_MIN_DEPTH_MM) depth[i] = 0;
  return deepestPerPatch(depth, gw, gh).map((p) => ({ column: box.x0 + gx0 + p.x, row: box.y0 + gy0 + p.y, depthMm: p.depthMm }));
}

/** The bounding box of a slice's mask, or undefined when it is empty. */
export function maskBox(mask: Uint8Array, columns: number, rows: number): PixelBox | undefined {
  let x0 = columns;
  let y0 = rows;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < rows; y++) {
    const o = y * columns;
    // A row's first mask pixel from the left, then its last from the right: the pixels between
    // them cannot move the box.
    let first = 0;
    while (first < columns && !mask[o + first]) first++;
    if (first === columns) continue;
    let last = columns - 1;
    while (!mask[o + last]) last--;
    x0 = Math.min(x0, first);
    x1 = Math.max(x1, last);
    if (y1 < 0) y0 = y;
    y1 = y;
  }
  return x1 < 0 ? undefined : { x0, y0, x1, y1 };
}

/**
 * Deepest first; a proposal within SAME_PROPOSAL_MM of a deeper one, or within that one's depth
 * (inside the disc inscribed in its core, on a nearby slice), is the same core and dropped: a
 * nodule is proposed once, at its deepest, best-centred point.
 */
function oneProposalPerCore(proposals: readonly Candidate[], grid: VolumeGrid): Candidate[] {
  const sorted = [...proposals].sort((a, b) => b.radiusMm - a.radiusMm);
  const out: Candidate[] = [];
  const mm = (a: Candidate, b: Candidate): number =>
    Math.hypot((a.column - b.column) * grid.xSpacingMm, (a.row - b.row) * grid.ySpacingMm, (a.slice - b.slice) * grid.zSpacingMm);
  for (const p of sorted) if (!out.some((o) => mm(o, p) < Math.max(SAME_PROPOSAL_MM, o.radiusMm))) out.push(p);
  return out;
}

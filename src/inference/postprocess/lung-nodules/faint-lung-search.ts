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
 * tens of HU across the lung), so one level per slice would read the dependent lung as ground glass.
 * It is read per BACKGROUND_TILE_MM tile, as the median of the lung within BACKGROUND_HALF_WIDTH_MM
 * each way, wide enough that a faint nodule of 30 mm fills under half of it (the median stays the
 * lung's).
 *
 * The deepest point of each core is proposed on the slice it lies deepest on (the nodule's centre
 * slice); proposals are segmented on the averaged values and judged by every rule, last, as the
 * faint proposals beside vessels were.
 */
import type { Candidate } from './candidates';
import { FAINT_MIN_CONTRAST_HU, FAINT_MIN_DIAMETER_MM, type PixelBox } from './faint-ground-glass';
import { deepestPerPatch, depthMm, nthSmallest } from './ground-glass-candidates';
import { LUNG_NODULE_PARAMS } from './params';
import type { VolumeGrid } from './volume-grid';

/** Faint ground glass this deep (mm) is proposed: 0.8 of the radius of the smallest faint nodule looked for. */
const FAINT_MIN_DEPTH_MM = 0.8 * (FAINT_MIN_DIAMETER_MM / 2);
/** The lung level is read once per tile this wide (mm): well under the distance over which the dependent gradient changes it. */
const BACKGROUND_TILE_MM = 8;
/**
 * ... as the median of the lung within this many mm each way of the tile's centre: a 30 mm faint
 * nodule (the largest reported, LIDC-IDRI-0002's) fills about a third of the 48 mm square.
 */
const BACKGROUND_HALF_WIDTH_MM = 24;
/** The median is read on every this-many-th pixel each way: the averaged slice is smooth over its 5 x 5 window. */
const BACKGROUND_STRIDE_PX = 3;
/** Lung parenchyma is at most this dense (HU), as beside the vessels: a tile full of vessels or ground glass must not raise the level. */
const LUNG_PARENCHYMA_MAX_HU = -650;
/** Proposals within this distance (mm) of a deeper one, or within its depth, are the same core on a nearby slice. */
const SAME_PROPOSAL_MM = 3;

/**
 * Faint ground-glass proposals over the whole lung: for each slice with lung, `smoothedSlice(k)`
 * is the slice averaged in-plane (faint-ground-glass.ts). `lungBox(k)` is the closed mask's box
 * on slice k (given by a caller that already has it, since finding it scans the whole slice).
 * Deepest first, one per core in 3-D.
 */
export function faintGroundGlassInLung(
  values: readonly Float32Array[],
  smoothedSlice: (k: number) => Float32Array,
  grid: VolumeGrid,
  closed: readonly Uint8Array[],
  blobScore: readonly Float32Array[],
  lungBox: (k: number) => Box | undefined = (k) => maskBox(closed[k]!, grid.columns, grid.rows),
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

type Box = PixelBox;

/** The cores of faint ground glass at least FAINT_MIN_DEPTH_MM deep on one slice: each one's deepest pixel. */
function faintCoresOnSlice(
  hu: Float32Array,
  smoothed: Float32Array,
  lung: Uint8Array,
  grid: VolumeGrid,
  box: Box,
): { column: number; row: number; depthMm: number }[] {
  const { columns } = grid;
  const level = localLungLevel(smoothed, hu, lung, grid, box);
  const solid = LUNG_NODULE_PARAMS.solidHu;
  const width = box.x1 - box.x0 + 1;
  const height = box.y1 - box.y0 + 1;
  const glass = new Uint8Array(width * height);
  let gx0 = width;
  let gy0 = height;
  let gx1 = -1;
  let gy1 = -1;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (box.y0 + y) * columns + box.x0 + x;
      if (!lung[i] || hu[i]! >= solid) continue;
      const v = smoothed[i]!;
      const background = level.at(box.x0 + x, box.y0 + y);
      if (v >= solid || background === undefined || v - background < FAINT_MIN_CONTRAST_HU) continue;
      glass[y * width + x] = 1;
      gx0 = Math.min(gx0, x);
      gy0 = Math.min(gy0, y);
      gx1 = Math.max(gx1, x);
      gy1 = Math.max(gy1, y);
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

/**
 * The lung's level (HU, on the averaged values) around each pixel: per BACKGROUND_TILE_MM tile,
 * the median of the lung pixels below solid density within BACKGROUND_HALF_WIDTH_MM of the tile's
 * centre (every BACKGROUND_STRIDE_PX-th pixel each way), capped at LUNG_PARENCHYMA_MAX_HU;
 * undefined where no lung is that near.
 */
export function localLungLevel(
  smoothed: Float32Array,
  hu: Float32Array,
  lung: Uint8Array,
  grid: VolumeGrid,
  box: Box,
): { at: (column: number, row: number) => number | undefined; tiles: Float32Array } {
  const { columns, xSpacingMm, ySpacingMm } = grid;
  const tileW = Math.max(1, Math.round(BACKGROUND_TILE_MM / xSpacingMm));
  const tileH = Math.max(1, Math.round(BACKGROUND_TILE_MM / ySpacingMm));
  const reachX = Math.round(BACKGROUND_HALF_WIDTH_MM / xSpacingMm);
  const reachY = Math.round(BACKGROUND_HALF_WIDTH_MM / ySpacingMm);
  const nx = Math.ceil((box.x1 - box.x0 + 1) / tileW);
  const ny = Math.ceil((box.y1 - box.y0 + 1) / tileH);
  const tiles = new Float32Array(nx * ny).fill(NaN);
  const samples = new Float32Array(
    Math.ceil((2 * reachX + 1) / BACKGROUND_STRIDE_PX + 1) * Math.ceil((2 * reachY + 1) / BACKGROUND_STRIDE_PX + 1),
  );
  const solid = LUNG_NODULE_PARAMS.solidHu;
  for (let ty = 0; ty < ny; ty++)
    for (let tx = 0; tx < nx; tx++) {
      const cx = box.x0 + tx * tileW + (tileW >> 1);
      const cy = box.y0 + ty * tileH + (tileH >> 1);
      let count = 0;
      // Samples on a grid anchored to the image, so neighbouring tiles share them.
      const sx0 = Math.ceil(Math.max(box.x0, cx - reachX) / BACKGROUND_STRIDE_PX) * BACKGROUND_STRIDE_PX;
      const sy0 = Math.ceil(Math.max(box.y0, cy - reachY) / BACKGROUND_STRIDE_PX) * BACKGROUND_STRIDE_PX;
      for (let y = sy0; y <= Math.min(box.y1, cy + reachY); y += BACKGROUND_STRIDE_PX)
        for (let x = sx0; x <= Math.min(box.x1, cx + reachX); x += BACKGROUND_STRIDE_PX) {
          const i = y * columns + x;
          if (lung[i] && hu[i]! < solid && smoothed[i]! < solid) samples[count++] = smoothed[i]!;
        }
      if (count > 0) tiles[ty * nx + tx] = Math.min(LUNG_PARENCHYMA_MAX_HU, nthSmallest(samples, count, count >> 1));
    }
  return {
    tiles,
    at: (column, row) => {
      const tx = Math.floor((column - box.x0) / tileW);
      const ty = Math.floor((row - box.y0) / tileH);
      const v = tx < 0 || ty < 0 || tx >= nx || ty >= ny ? NaN : tiles[ty * nx + tx]!;
      return Number.isNaN(v) ? undefined : v;
    },
  };
}

/** The bounding box of a slice's mask, or undefined when it is empty. */
export function maskBox(mask: Uint8Array, columns: number, rows: number): Box | undefined {
  let x0 = columns;
  let y0 = rows;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < rows; y++) {
    const o = y * columns;
    for (let x = 0; x < columns; x++)
      if (mask[o + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
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

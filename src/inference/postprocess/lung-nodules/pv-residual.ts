/**
 * What a finding's vessels alone would give: a partial-volume prediction measured from the scan.
 *
 * The scanner blurs every solid structure over its point-spread in-plane and averages it over the
 * slice profile through-plane, so lung near a vessel reads denser than lung far from one, by an
 * amount that depends only on how far (in-plane) the nearest solid voxel lies on the same slice
 * and on the slices next to it. Measured from the lung around a finding (its own voxels left out)
 * as the median HU per pair of those distances, that edge-spread table predicts what the vessels'
 * partial volume alone gives at every voxel; the finding's residual (HU minus prediction) is what
 * the vessels do not explain. It adapts to the kernel and slice thickness by construction, and it
 * measures ground glass against the lung, not against an absolute density.
 */
import type { SeriesVolume } from '../../series-volume';
import type { VoxelMask } from '../types';
import { LUNG_NODULE_PARAMS } from './params';
import type { VolumeGrid } from './volume-grid';

/** In-plane margin of the window around the finding the table is measured in, mm. */
const WINDOW_MARGIN_MM = 12;
/** Slices of the window beyond the finding's own, each side. */
const WINDOW_MARGIN_SLICES = 2;
/** Distance bin width, mm (about a pixel of a chest CT). */
const BIN_MM = 0.5;
/** Distances from this far on share one bin (beyond any point-spread). */
const FAR_MM = 4;
const BINS = Math.round(FAR_MM / BIN_MM) + 1;
/** A table cell with fewer voxels than this borrows from the cell one bin farther on the same-slice axis. */
const MIN_CELL = 8;

export interface PartialVolumeResidual {
  /** The lung's own level (the table's far cell), HU. */
  readonly lungHu: number;
  /** Mean HU of the finding's voxels. */
  readonly meanHu: number;
  /** Mean predicted HU (vessels' partial volume alone) over them. */
  readonly predictedHu: number;
  /** Share of the finding's excess over the lung the prediction does not explain: (mean - predicted) / (mean - lung). */
  readonly unexplained: number;
  /** Share of its voxels whose residual is under half their excess over the lung (mostly the vessels' blur). */
  readonly explainedShare: number;
  /** The edge-spread table (same-slice bin major, next-slice bin minor), HU. */
  readonly table: Float64Array;
}

/** In-plane chamfer distance (mm, capped at FAR_MM) to the nearest solid pixel of one slice window. */
function solidDistance(
  values: ArrayLike<number> | undefined,
  grid: VolumeGrid,
  x0: number,
  y0: number,
  sx: number,
  sy: number,
): Float32Array {
  const d = new Float32Array(sx * sy).fill(FAR_MM);
  if (!values) return d;
  const solidHu = LUNG_NODULE_PARAMS.solidHu;
  for (let y = 0; y < sy; y++) for (let x = 0; x < sx; x++) if (values[(y0 + y) * grid.columns + x0 + x]! >= solidHu) d[y * sx + x] = 0;
  const dx = grid.xSpacingMm;
  const dy = grid.ySpacingMm;
  const dd = Math.hypot(dx, dy);
  const relax = (i: number, j: number, w: number): void => {
    const v = d[j]! + w;
    if (v < d[i]!) d[i] = v;
  };
  for (let y = 0; y < sy; y++)
    for (let x = 0; x < sx; x++) {
      const i = y * sx + x;
      if (x > 0) relax(i, i - 1, dx);
      if (y > 0) {
        relax(i, i - sx, dy);
        if (x > 0) relax(i, i - sx - 1, dd);
        if (x < sx - 1) relax(i, i - sx + 1, dd);
      }
    }
  for (let y = sy - 1; y >= 0; y--)
    for (let x = sx - 1; x >= 0; x--) {
      const i = y * sx + x;
      if (x < sx - 1) relax(i, i + 1, dx);
      if (y < sy - 1) {
        relax(i, i + sx, dy);
        if (x < sx - 1) relax(i, i + sx + 1, dd);
        if (x > 0) relax(i, i + sx - 1, dd);
      }
    }
  return d;
}

const bin = (mm: number): number => Math.min(BINS - 1, Math.floor(mm / BIN_MM));

function median(v: number[]): number {
  v.sort((a, b) => a - b);
  return v[v.length >> 1]!;
}

/**
 * The partial-volume residual of a finding (`mask`) in the lung (`lung`, per slice); undefined
 * when the window holds too little lung far from solid tissue to give the lung's level.
 */
export function partialVolumeResidual(
  volume: SeriesVolume,
  grid: VolumeGrid,
  lung: readonly Uint8Array[],
  mask: VoxelMask,
): PartialVolumeResidual | undefined {
  const [mx, my, mz] = mask.origin;
  const [msx, msy, msz] = mask.size;
  const mxPix = Math.ceil(WINDOW_MARGIN_MM / grid.xSpacingMm);
  const myPix = Math.ceil(WINDOW_MARGIN_MM / grid.ySpacingMm);
  const x0 = Math.max(0, mx - mxPix);
  const y0 = Math.max(0, my - myPix);
  const x1 = Math.min(grid.columns, mx + msx + mxPix);
  const y1 = Math.min(grid.rows, my + msy + myPix);
  const z0 = Math.max(0, mz - WINDOW_MARGIN_SLICES);
  const z1 = Math.min(grid.slices, mz + msz + WINDOW_MARGIN_SLICES);
  const sx = x1 - x0;
  const sy = y1 - y0;
  // Distances on the window's slices and one beyond each end (the through-plane neighbours).
  const dist = new Map<number, Float32Array>();
  for (let z = z0 - 1; z <= z1; z++)
    dist.set(z, z < 0 || z >= grid.slices ? new Float32Array(sx * sy).fill(FAR_MM) : solidDistance(volume.values[z], grid, x0, y0, sx, sy));
  const inMask = (x: number, y: number, z: number): boolean => {
    const lx = x - mx;
    const ly = y - my;
    const lz = z - mz;
    if (lx < 0 || ly < 0 || lz < 0 || lx >= msx || ly >= msy || lz >= msz) return false;
    const bit = (lz * msy + ly) * msx + lx;
    return ((mask.bits[bit >> 3]! >> (bit & 7)) & 1) === 1;
  };
  const cells: number[][] = Array.from({ length: BINS * BINS }, () => []);
  const cellOf = (x: number, y: number, z: number): number => {
    const i = (y - y0) * sx + (x - x0);
    const own = dist.get(z)![i]!;
    const next = Math.min(dist.get(z - 1)![i]!, dist.get(z + 1)![i]!);
    return bin(own) * BINS + bin(next);
  };
  const solidHu = LUNG_NODULE_PARAMS.solidHu;
  for (let z = z0; z < z1; z++) {
    const values = volume.values[z]!;
    const lungSlice = lung[z]!;
    for (let y = y0; y < y1; y++)
      for (let x = x0; x < x1; x++) {
        const p = y * grid.columns + x;
        const hu = values[p]!;
        if (!lungSlice[p] || hu >= solidHu || inMask(x, y, z)) continue;
        cells[cellOf(x, y, z)]!.push(hu);
      }
  }
  const far = cells[BINS * BINS - 1]!;
  if (far.length < MIN_CELL) return undefined;
  const lungHu = median(far);
  // Each cell's median; a sparse cell borrows from the next farther one on the same-slice axis.
  const table = new Float64Array(BINS * BINS);
  for (let b1 = BINS - 1; b1 >= 0; b1--)
    for (let b0 = BINS - 1; b0 >= 0; b0--) {
      const c = cells[b0 * BINS + b1]!;
      table[b0 * BINS + b1] =
        c.length >= MIN_CELL
          ? median(c)
          : b0 < BINS - 1
            ? table[(b0 + 1) * BINS + b1]!
            : b1 < BINS - 1
              ? table[b0 * BINS + b1 + 1]!
              : lungHu;
    }
  let n = 0;
  let sum = 0;
  let predicted = 0;
  let explained = 0;
  for (let lz = 0; lz < msz; lz++)
    for (let ly = 0; ly < msy; ly++)
      for (let lx = 0; lx < msx; lx++) {
        const x = mx + lx;
        const y = my + ly;
        const z = mz + lz;
        if (!inMask(x, y, z) || x < x0 || y < y0 || x >= x1 || y >= y1) continue;
        const hu = volume.values[z]![y * grid.columns + x]!;
        const pred = table[cellOf(x, y, z)]!;
        n++;
        sum += hu;
        predicted += pred;
        if (hu - pred < 0.5 * (hu - lungHu)) explained++;
      }
  if (n === 0) return undefined;
  const meanHu = sum / n;
  const predictedHu = predicted / n;
  return {
    lungHu,
    meanHu,
    predictedHu,
    unexplained: (meanHu - predictedHu) / Math.max(1, meanHu - lungHu),
    explainedShare: explained / n,
    table,
  };
}

/** Directions (half-turn) a bridge is looked for along. */
const BRIDGE_DIRECTIONS = 8;
/** Longest arm of a bridge from the voxel to solid tissue, mm. */
const MAX_BRIDGE_ARM_MM = 8;

/**
 * Share of the mask's voxels lying on a bridge of denser-than-cut tissue between solid tissue on
 * two opposite sides (in-plane, the solid end on its slice or the next): a tube whose
 * cross-section is partly in the slab, whose solid ends lie on either side.
 */
export function tubeBridgeShare(volume: SeriesVolume, grid: VolumeGrid, mask: VoxelMask, cutHu: number, nextSlices = true): number {
  const [mx, my, mz] = mask.origin;
  const [msx, msy, msz] = mask.size;
  const solidHu = LUNG_NODULE_PARAMS.solidHu;
  const hu = (x: number, y: number, z: number): number =>
    x < 0 || y < 0 || z < 0 || x >= grid.columns || y >= grid.rows || z >= grid.slices ? -1000 : volume.values[z]![y * grid.columns + x]!;
  const step = 0.5;
  // Whether walking from (x, y, z) along (ux, uy) stays at cutHu or denser until solid tissue.
  const arm = (x: number, y: number, z: number, ux: number, uy: number): boolean => {
    const maxSteps = MAX_BRIDGE_ARM_MM / (step * Math.hypot(ux * grid.xSpacingMm, uy * grid.ySpacingMm));
    for (let s = 1; s <= maxSteps; s++) {
      const px = Math.round(x + ux * s * step);
      const py = Math.round(y + uy * s * step);
      if (hu(px, py, z) >= solidHu || (nextSlices && (hu(px, py, z - 1) >= solidHu || hu(px, py, z + 1) >= solidHu))) return true;
      if (hu(px, py, z) < cutHu) return false;
    }
    return false;
  };
  let n = 0;
  let bridged = 0;
  for (let lz = 0; lz < msz; lz++)
    for (let ly = 0; ly < msy; ly++)
      for (let lx = 0; lx < msx; lx++) {
        const bit = (lz * msy + ly) * msx + lx;
        if (!((mask.bits[bit >> 3]! >> (bit & 7)) & 1)) continue;
        n++;
        const x = mx + lx;
        const y = my + ly;
        const z = mz + lz;
        for (let d = 0; d < BRIDGE_DIRECTIONS; d++) {
          const a = (Math.PI * d) / BRIDGE_DIRECTIONS;
          const ux = Math.cos(a);
          const uy = Math.sin(a);
          if (arm(x, y, z, ux, uy) && arm(x, y, z, -ux, -uy)) {
            bridged++;
            break;
          }
        }
      }
  return n === 0 ? 0 : bridged / n;
}

/** Diagnostic: per-slice 2-D elongation (sqrt of the moment eigenvalue ratio) of the mask's slices with >= 6 voxels, area-weighted mean and max. */
export function sliceElongation(grid: VolumeGrid, mask: VoxelMask): { mean: number; max: number } {
  const [, , msz] = mask.size;
  const [msx, msy] = mask.size;
  let wsum = 0;
  let esum = 0;
  let max = 0;
  for (let lz = 0; lz < msz; lz++) {
    let n = 0,
      sx = 0,
      sy = 0,
      sxx = 0,
      syy = 0,
      sxy = 0;
    for (let ly = 0; ly < msy; ly++)
      for (let lx = 0; lx < msx; lx++) {
        const bit = (lz * msy + ly) * msx + lx;
        if (!((mask.bits[bit >> 3]! >> (bit & 7)) & 1)) continue;
        const x = lx * grid.xSpacingMm;
        const y = ly * grid.ySpacingMm;
        n++;
        sx += x;
        sy += y;
        sxx += x * x;
        syy += y * y;
        sxy += x * y;
      }
    if (n < 6) continue;
    const cxx = sxx / n - (sx / n) ** 2;
    const cyy = syy / n - (sy / n) ** 2;
    const cxy = sxy / n - (sx / n) * (sy / n);
    const tr = cxx + cyy;
    const disc = Math.sqrt(Math.max(0, ((cxx - cyy) / 2) ** 2 + cxy * cxy));
    const e = Math.sqrt((tr / 2 + disc) / Math.max(1e-6, tr / 2 - disc));
    wsum += n;
    esum += n * e;
    max = Math.max(max, e);
  }
  return { mean: wsum ? esum / wsum : 0, max };
}

/**
 * Ground glass that is a piece of a vessel lying partly in the slab, told by the ground glass the
 * vessels' blur does not explain continuing beyond it.
 *
 * What the solid vessels alone give is measured from the scan itself: the scanner blurs a solid
 * structure over its point-spread in-plane and averages it over the slice profile through-plane,
 * so lung near a vessel reads denser than lung far from one by an amount that depends on how far
 * (in-plane) the nearest solid voxel lies on the same slice and on the slices next to it. The
 * median HU of the lung around a finding (its own voxels left out) per pair of those distances is
 * that edge-spread table (it adapts to the kernel and slice thickness by construction); a voxel's
 * residual — its HU less the table's value — is what the solid vessels do not explain.
 *
 * A ground-glass nodule is a focal hazy opacity (Fleischner Society glossary, Hansell et al.,
 * Radiology 2008): beyond its border lies lung, or the vessel it touches with that vessel's blur,
 * which the table explains. A vessel thinner than the slice that lies partly in the slab, or a
 * junction of such vessels, is solid on neither slice and reads as ground glass along its whole
 * length: a ground-glass proposal cut out of it has more such unexplained ground glass joined to it
 * in-plane just outside it, where the tube goes on. Measured against the finding's own contrast
 * over the lung, not an absolute density, so dense ground glass (-300 HU) is judged as faint.
 */
import type { SeriesVolume } from '../../series-volume';
import type { VoxelMask } from '../types';
import { LUNG_NODULE_PARAMS } from './params';
import type { VolumeGrid } from './volume-grid';

/**
 * Above this much unexplained ground glass just outside a ground-glass finding (per voxel of the
 * finding), the finding is a piece of a vessel partly in the slab. Set from diagnostic hard
 * phantoms 7000-7029 and development seeds 1000-1019 (HISTORY.md, "vessel tubes partly in the slab").
 */
export const MAX_TUBE_CONTINUATION = 0.3;
/**
 * ... when at least this share of its excess over the lung is the solid vessels' blur (it joins
 * solid vessels). The ground-glass nodules with as much ground glass going on beside them on
 * those phantoms (thin vessels partly in the slab beside a nodule) have at most 0.10 explained,
 * those false positives 0.14-0.17.
 */
export const MIN_EXPLAINED_SHARE = 0.12;

/** What the solid vessels' blur explains of a ground-glass finding, and what goes on beyond it. */
export interface TubeSigns {
  /** Share of its mean excess over the lung that the edge-spread table predicts. */
  readonly explained: number;
  /** Unexplained ground glass joined to it in-plane just outside it, per voxel of it. */
  readonly continuation: number;
}

/** Whether ground glass with these signs is a piece of a vessel partly in the slab. */
export function isVesselInSlab(signs: TubeSigns): boolean {
  return signs.continuation > MAX_TUBE_CONTINUATION && signs.explained >= MIN_EXPLAINED_SHARE;
}

/** In-plane margin of the window the edge-spread table is measured in, mm: several vessels' worth of lung. */
const WINDOW_MARGIN_MM = 12;
/** Slices of the window beyond the finding's own, each side. */
const WINDOW_MARGIN_SLICES = 2;
/** Distance bin width, mm (about a pixel of a chest CT). */
const BIN_MM = 0.5;
/** Distances from this far on share one bin: past the reach of any point-spread (the table reads the lung there). */
const FAR_MM = 4;
const BINS = Math.round(FAR_MM / BIN_MM) + 1;
/** A table cell with fewer lung voxels than this borrows from a farther cell (a median of a few voxels is noise). */
const MIN_CELL = 8;
/** How far outside the finding (in-plane steps, about 4 mm at 0.7 mm pixels) its continuation is followed: the smallest nodule's diameter less a voxel. */
const OUTSIDE_STEPS = 6;
/** Unexplained ground glass: a residual of at least this fraction of the finding's own contrast over the lung. */
const CONTRAST_FRACTION = 0.5;

/** In-plane chamfer distance (mm, capped at FAR_MM) to the nearest solid pixel, over a window of one slice. */
function solidDistance(values: ArrayLike<number> | undefined, grid: VolumeGrid, win: Window): Float32Array {
  const { x0, y0, sx, sy } = win;
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

interface Window {
  readonly x0: number;
  readonly y0: number;
  readonly z0: number;
  readonly sx: number;
  readonly sy: number;
  readonly z1: number;
}

const bin = (mm: number): number => Math.min(BINS - 1, Math.floor(mm / BIN_MM));

function median(v: number[]): number {
  v.sort((a, b) => a - b);
  return v[v.length >> 1]!;
}

function maskWindow(grid: VolumeGrid, mask: VoxelMask): Window {
  const [mx, my, mz] = mask.origin;
  const [msx, msy, msz] = mask.size;
  const x0 = Math.max(0, mx - Math.ceil(WINDOW_MARGIN_MM / grid.xSpacingMm));
  const y0 = Math.max(0, my - Math.ceil(WINDOW_MARGIN_MM / grid.ySpacingMm));
  const x1 = Math.min(grid.columns, mx + msx + Math.ceil(WINDOW_MARGIN_MM / grid.xSpacingMm));
  const y1 = Math.min(grid.rows, my + msy + Math.ceil(WINDOW_MARGIN_MM / grid.ySpacingMm));
  return {
    x0,
    y0,
    sx: x1 - x0,
    sy: y1 - y0,
    z0: Math.max(0, mz - WINDOW_MARGIN_SLICES),
    z1: Math.min(grid.slices, mz + msz + WINDOW_MARGIN_SLICES),
  };
}

/** Whether (x, y, z) on the grid is one of the mask's voxels. */
function maskHas(mask: VoxelMask, x: number, y: number, z: number): boolean {
  const lx = x - mask.origin[0];
  const ly = y - mask.origin[1];
  const lz = z - mask.origin[2];
  const [sx, sy, sz] = mask.size;
  if (lx < 0 || ly < 0 || lz < 0 || lx >= sx || ly >= sy || lz >= sz) return false;
  const bit = (lz * sy + ly) * sx + lx;
  return ((mask.bits[bit >> 3]! >> (bit & 7)) & 1) === 1;
}

/** The edge-spread table around a finding and the lung's level; undefined without enough lung far from solid. */
function edgeSpread(
  volume: SeriesVolume,
  grid: VolumeGrid,
  lung: readonly Uint8Array[],
  mask: VoxelMask,
  win: Window,
): { predict: (x: number, y: number, z: number) => number; lungHu: number } | undefined {
  // Distances on the window's slices and one beyond each end (their through-plane neighbours).
  const dist = new Map<number, Float32Array>();
  for (let z = win.z0 - 1; z <= win.z1; z++)
    dist.set(z, z < 0 || z >= grid.slices ? new Float32Array(win.sx * win.sy).fill(FAR_MM) : solidDistance(volume.values[z], grid, win));
  const cellOf = (x: number, y: number, z: number): number => {
    const i = (y - win.y0) * win.sx + (x - win.x0);
    return bin(dist.get(z)![i]!) * BINS + bin(Math.min(dist.get(z - 1)![i]!, dist.get(z + 1)![i]!));
  };
  const cells: number[][] = Array.from({ length: BINS * BINS }, () => []);
  const solidHu = LUNG_NODULE_PARAMS.solidHu;
  for (let z = win.z0; z < win.z1; z++)
    for (let y = win.y0; y < win.y0 + win.sy; y++)
      for (let x = win.x0; x < win.x0 + win.sx; x++) {
        const p = y * grid.columns + x;
        const hu = volume.values[z]![p]!;
        if (lung[z]![p] && hu < solidHu && !maskHas(mask, x, y, z)) cells[cellOf(x, y, z)]!.push(hu);
      }
  const far = cells[BINS * BINS - 1]!;
  if (far.length < MIN_CELL) return undefined;
  const lungHu = median(far);
  // A sparse cell borrows from the next farther one in-plane, else through-plane, else the lung.
  const table = new Float64Array(BINS * BINS);
  for (let b0 = BINS - 1; b0 >= 0; b0--)
    for (let b1 = BINS - 1; b1 >= 0; b1--) {
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
  return { predict: (x, y, z) => table[cellOf(x, y, z)]!, lungHu };
}

/**
 * The share of a ground-glass finding's (`mask`) excess over the lung that the edge-spread table
 * predicts, and the unexplained ground glass (residual at least CONTRAST_FRACTION of its contrast
 * over the lung) joined to it in-plane on its own slices within OUTSIDE_STEPS pixels, per voxel of
 * it; undefined when the window holds too little lung far from solid tissue to give the lung's level.
 */
export function tubeSigns(volume: SeriesVolume, grid: VolumeGrid, lung: readonly Uint8Array[], mask: VoxelMask): TubeSigns | undefined {
  const win = maskWindow(grid, mask);
  const spread = edgeSpread(volume, grid, lung, mask, win);
  if (!spread) return undefined;
  const [, , mz] = mask.origin;
  const msz = mask.size[2];
  let own = 0;
  let ownSum = 0;
  let predicted = 0;
  for (let z = mz; z < mz + msz; z++)
    for (let y = win.y0; y < win.y0 + win.sy; y++)
      for (let x = win.x0; x < win.x0 + win.sx; x++)
        if (maskHas(mask, x, y, z)) {
          own++;
          ownSum += volume.values[z]![y * grid.columns + x]!;
          predicted += spread.predict(x, y, z);
        }
  if (own === 0) return undefined;
  const excess = Math.max(1, ownSum / own - spread.lungHu);
  const cut = CONTRAST_FRACTION * excess;
  const solidHu = LUNG_NODULE_PARAMS.solidHu;
  let outside = 0;
  for (let z = mz; z < mz + msz; z++) {
    const values = volume.values[z]!;
    const seen = new Uint8Array(win.sx * win.sy);
    let front: number[] = [];
    for (let i = 0; i < seen.length; i++)
      if (maskHas(mask, win.x0 + (i % win.sx), win.y0 + Math.floor(i / win.sx), z)) {
        seen[i] = 1;
        front.push(i);
      }
    for (let step = 0; step < OUTSIDE_STEPS && front.length > 0; step++) {
      const next: number[] = [];
      for (const i of front)
        for (let oy = -1; oy <= 1; oy++)
          for (let ox = -1; ox <= 1; ox++) {
            const qx = (i % win.sx) + ox;
            const qy = Math.floor(i / win.sx) + oy;
            if (qx < 0 || qy < 0 || qx >= win.sx || qy >= win.sy || seen[qy * win.sx + qx]) continue;
            const x = win.x0 + qx;
            const y = win.y0 + qy;
            const p = y * grid.columns + x;
            const hu = values[p]!;
            if (!lung[z]![p] || hu >= solidHu || hu - spread.predict(x, y, z) < cut) continue;
            seen[qy * win.sx + qx] = 1;
            outside++;
            next.push(qy * win.sx + qx);
          }
      front = next;
    }
  }
  return { explained: (predicted / own - spread.lungHu) / excess, continuation: outside / own };
}

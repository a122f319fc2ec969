/**
 * Ground glass that is a vessel's partial volume, not ground glass of its own.
 *
 * A ground-glass nodule is a hazy opacity of its own density (Fleischner Society glossary,
 * Hansell et al., Radiology 2008): inside it the CT values sit on a plateau, spread about its mean
 * by the scanner's noise alone. Where it touches a vessel, the vessel's partial volume raises only
 * the voxels within the scanner's blur of the vessel's solid voxels (about a voxel in-plane and a
 * slice through-plane). A vessel that fills only part of a thick slice — one lying across the
 * boundary of two slices, a junction of thin branches, an oblique segment — is ground glass on
 * those slices without being solid anywhere near, so its "ground glass" lies at every fraction of
 * the vessel's density: it is not a plateau, and voxels well away from any solid voxel still
 * reach almost solid density. So for a ground-glass proposal (segmented with solid voxels left
 * out: ground-glass-candidates.ts) that touches solid tissue, its own voxels — those with no solid
 * voxel among their 26 neighbours, beyond the reach of the vessel it touches — must not have their
 * densest tenth far above the finding's mean.
 */
import type { SeriesVolume } from '../../series-volume';
import type { VoxelMask } from '../types';
import { LUNG_NODULE_PARAMS } from './params';
import type { VolumeGrid } from './volume-grid';

/**
 * Most the densest tenth (90th percentile) of a ground-glass finding's own voxels may lie above its
 * mean HU. Noise alone puts a plateau's 90th percentile 1.28 standard deviations above its mean
 * (23 HU at the phantoms' 18 HU noise); the ground-glass nodules beside vessels on hard phantoms
 * 1000-1019 and diagnostic seeds 7000-7029 measured at most 38 HU, the vessels' partial-volume
 * findings there 60-65 HU.
 */
export const MAX_OWN_GLASS_SPREAD_HU = 50;
/** The 90th percentile: the densest tenth. */
const DENSE_TAIL_QUANTILE = 0.9;

export interface OwnGlass {
  /** Whether any of the mask's voxels has a solid voxel among its 26 neighbours (it touches a vessel). */
  readonly touchesSolid: boolean;
  /** HU of the mask's voxels with no solid voxel among their 26 neighbours, ascending. */
  readonly ownHu: readonly number[];
}

/** The mask's voxels beyond the partial-volume reach of solid tissue (>= solidHu), and whether it touches any. */
export function ownGlass(volume: SeriesVolume, grid: VolumeGrid, mask: VoxelMask): OwnGlass {
  const [ox, oy, oz] = mask.origin;
  const [sx, sy, sz] = mask.size;
  const solidHu = LUNG_NODULE_PARAMS.solidHu;
  const hu = (slice: number, column: number, row: number): number =>
    column < 0 || row < 0 || column >= grid.columns || row >= grid.rows
      ? -Infinity
      : (volume.values[slice]?.[row * grid.columns + column] ?? -Infinity);
  const nextToSolid = (slice: number, column: number, row: number): boolean => {
    for (let dz = -1; dz <= 1; dz++)
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (hu(slice + dz, column + dx, row + dy) >= solidHu) return true;
    return false;
  };
  let touchesSolid = false;
  const ownHu: number[] = [];
  for (let z = 0; z < sz; z++)
    for (let y = 0; y < sy; y++)
      for (let x = 0; x < sx; x++) {
        const bit = (z * sy + y) * sx + x;
        if (!((mask.bits[bit >> 3]! >> (bit & 7)) & 1)) continue;
        if (nextToSolid(oz + z, ox + x, oy + y)) touchesSolid = true;
        else ownHu.push(hu(oz + z, ox + x, oy + y));
      }
  ownHu.sort((a, b) => a - b);
  return { touchesSolid, ownHu };
}

/**
 * How far (HU) the densest tenth of a ground-glass finding's own voxels lies above its mean
 * `meanHu`, when it touches solid tissue; undefined when it touches none (ground glass in the open
 * lung is judged by the other rules) or has no voxel of its own.
 */
export function ownGlassSpreadHu(own: OwnGlass, meanHu: number): number | undefined {
  if (!own.touchesSolid || own.ownHu.length === 0) return undefined;
  const at = Math.min(own.ownHu.length - 1, Math.floor(DENSE_TAIL_QUANTILE * (own.ownHu.length - 1)));
  return own.ownHu[at]! - meanHu;
}

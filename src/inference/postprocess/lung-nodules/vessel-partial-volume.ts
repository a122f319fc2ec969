/**
 * Ground glass that is a vessel's partial volume, not ground glass of its own.
 *
 * A vessel that fills only part of a thick slice — one lying across the boundary of two slices,
 * a junction of thin branches, an oblique segment — reads on that slice as the share of the slab
 * it fills: lung where it is absent, solid where it fills the slab, and every density between
 * along its edge. Ground glass made so spreads evenly from lung to solid density, and a good part
 * of it is more vessel than lung. A ground-glass nodule is a hazy opacity of its own density
 * that leaves the vessels' margins visible through it (Fleischner Society glossary, Hansell et
 * al., Radiology 2008): its voxels sit about that density, and only the thin layer against a
 * vessel it touches is raised toward solid by the vessel's blur. So a ground-glass proposal
 * (segmented with solid voxels left out: ground-glass-candidates.ts) that touches solid tissue,
 * has many voxels more vessel than lung, and is no plateau even beyond the reach of the vessel's
 * blur — its own voxels, with no solid voxel among their 26 neighbours, spread far above its mean,
 * as a vessel filling part of the slab does where it is solid on neither slice — is the vessel's
 * partial volume. Either sign alone also took a ground-glass nodule beside a vessel on a held-out
 * set (HISTORY.md); both together are the even spread from lung to solid that partial volume gives.
 */
import type { SeriesVolume } from '../../series-volume';
import type { VoxelMask } from '../types';
import { LUNG_NODULE_PARAMS } from './params';
import type { VolumeGrid } from './volume-grid';

/**
 * A voxel at least this dense (HU) is more vessel than lung: halfway between aerated lung (about
 * -865 HU in the phantoms, -850 to -900 on real CT) and blood or vessel wall (about +40 HU) is
 * about -410 HU.
 */
export const MORE_VESSEL_THAN_LUNG_HU = -400;
/**
 * Above this share of its voxels more vessel than lung, ground glass touching solid tissue is the
 * vessel's partial volume. The ground-glass nodules beside vessels of hard phantoms 1000-1019 and
 * diagnostic seeds 7000-7029 have at most 0.07 (their layer against the vessel), the vessels'
 * partial-volume findings there 0.22-0.38.
 */
export const MAX_MORE_VESSEL_SHARE = 0.15;

/**
 * Most the densest tenth (90th percentile) of a ground-glass finding's own voxels may lie above its
 * mean HU. Noise alone puts a plateau's 90th percentile 1.28 standard deviations above its mean
 * (23 HU at the phantoms' 18 HU noise); the ground-glass nodules beside vessels of hard phantoms
 * 1000-1019 and diagnostic seeds 7000-7029 measured at most 38 HU, the vessels' partial-volume
 * findings there 60-65 HU.
 */
export const MAX_OWN_GLASS_SPREAD_HU = 50;
/** The 90th percentile: the densest tenth. */
const DENSE_TAIL_QUANTILE = 0.9;

/** What partial volume leaves on ground glass that touches solid tissue. */
export interface PartialVolumeSigns {
  /** Share of the finding's voxels at MORE_VESSEL_THAN_LUNG_HU or denser. */
  readonly moreVesselShare: number;
  /** How far (HU) the densest tenth of its own voxels (no solid 26-neighbour) lies above its mean; undefined without any. */
  readonly ownSpreadHu: number | undefined;
}

/** Whether ground glass with these signs is a vessel's partial volume: both signs past their limits. */
export function isVesselPartialVolume(signs: PartialVolumeSigns): boolean {
  return signs.moreVesselShare > MAX_MORE_VESSEL_SHARE && signs.ownSpreadHu !== undefined && signs.ownSpreadHu > MAX_OWN_GLASS_SPREAD_HU;
}

/**
 * The partial-volume signs of a ground-glass finding (`mask`, its mean HU `meanHu`) when one of
 * its voxels has a solid voxel (>= solidHu) among its 26 neighbours; undefined when none does
 * (ground glass in the open lung is judged by the other rules).
 */
export function partialVolumeSigns(
  volume: SeriesVolume,
  grid: VolumeGrid,
  mask: VoxelMask,
  meanHu: number,
): PartialVolumeSigns | undefined {
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
  let total = 0;
  let moreVessel = 0;
  const ownHu: number[] = [];
  for (let z = 0; z < sz; z++)
    for (let y = 0; y < sy; y++)
      for (let x = 0; x < sx; x++) {
        const bit = (z * sy + y) * sx + x;
        if (!((mask.bits[bit >> 3]! >> (bit & 7)) & 1)) continue;
        const value = hu(oz + z, ox + x, oy + y);
        total++;
        if (value >= MORE_VESSEL_THAN_LUNG_HU) moreVessel++;
        if (nextToSolid(oz + z, ox + x, oy + y)) touchesSolid = true;
        else ownHu.push(value);
      }
  if (!touchesSolid || total === 0) return undefined;
  ownHu.sort((a, b) => a - b);
  const tail = ownHu[Math.floor(DENSE_TAIL_QUANTILE * (ownHu.length - 1))];
  return { moreVesselShare: moreVessel / total, ownSpreadHu: tail === undefined ? undefined : tail - meanHu };
}

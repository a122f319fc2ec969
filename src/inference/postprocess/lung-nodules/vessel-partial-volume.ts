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
 * (segmented with solid voxels left out: ground-glass-candidates.ts) that touches solid tissue
 * and has many voxels more vessel than lung is the vessel's partial volume.
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
 * Share of the mask's voxels at MORE_VESSEL_THAN_LUNG_HU or denser, when one of them has a solid
 * voxel (>= solidHu) among its 26 neighbours; undefined when none does (ground glass in the open
 * lung is judged by the other rules).
 */
export function moreVesselShareBesideSolid(volume: SeriesVolume, grid: VolumeGrid, mask: VoxelMask): number | undefined {
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
  for (let z = 0; z < sz; z++)
    for (let y = 0; y < sy; y++)
      for (let x = 0; x < sx; x++) {
        const bit = (z * sy + y) * sx + x;
        if (!((mask.bits[bit >> 3]! >> (bit & 7)) & 1)) continue;
        total++;
        if (hu(oz + z, ox + x, oy + y) >= MORE_VESSEL_THAN_LUNG_HU) moreVessel++;
        if (!touchesSolid && nextToSolid(oz + z, ox + x, oy + y)) touchesSolid = true;
      }
  return touchesSolid && total > 0 ? moreVessel / total : undefined;
}

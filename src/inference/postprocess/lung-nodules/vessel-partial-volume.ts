/**
 * Ground glass that is a vessel's partial volume, not ground glass of its own.
 *
 * A vessel that fills only part of a thick slice — one lying across the boundary of two slices,
 * a junction of thin branches, an oblique segment — reads on that slice as the share of the slab
 * it fills: lung where it is absent, solid where it fills the slab, and every density between.
 * Where it is solid on neither slice, voxels well away from any solid voxel are still more vessel
 * than lung. A ground-glass nodule is a hazy opacity of its own density that leaves the vessels'
 * margins visible through it (Fleischner Society glossary, Hansell et al., Radiology 2008): where it
 * touches a vessel, the vessel's blur raises only the voxels within about a voxel in-plane and a
 * slice through-plane of the vessel's solid voxels; beyond that reach its voxels are its own
 * density. So a ground-glass proposal (segmented with solid voxels left out:
 * ground-glass-candidates.ts) that touches solid tissue, and whose own voxels — those with no
 * solid voxel among their 26 neighbours — are often more vessel than lung, is the vessel's partial
 * volume.
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
 * Above this share of its own voxels (beyond the vessel's blur) more vessel than lung, ground
 * glass touching solid tissue is the vessel's partial volume. The ground-glass nodules beside
 * vessels of hard phantoms 1000-1012 and diagnostic seeds 7000-7029 have at most 0.018 (noise
 * on a plateau of -450 HU or fainter), the vessels' partial-volume findings there 0.12-0.41.
 */
export const MAX_OWN_MORE_VESSEL_SHARE = 0.05;

/**
 * Share of the mask's own voxels (no solid voxel, >= solidHu, among their 26 neighbours) at
 * MORE_VESSEL_THAN_LUNG_HU or denser, when some other voxel of it has one (it touches solid
 * tissue); undefined when it touches none (ground glass in the open lung is judged by the other
 * rules) or has no voxel of its own.
 */
export function ownMoreVesselShare(volume: SeriesVolume, grid: VolumeGrid, mask: VoxelMask): number | undefined {
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
  let own = 0;
  let ownMoreVessel = 0;
  for (let z = 0; z < sz; z++)
    for (let y = 0; y < sy; y++)
      for (let x = 0; x < sx; x++) {
        const bit = (z * sy + y) * sx + x;
        if (!((mask.bits[bit >> 3]! >> (bit & 7)) & 1)) continue;
        if (nextToSolid(oz + z, ox + x, oy + y)) {
          touchesSolid = true;
          continue;
        }
        own++;
        if (hu(oz + z, ox + x, oy + y) >= MORE_VESSEL_THAN_LUNG_HU) ownMoreVessel++;
      }
  return touchesSolid && own > 0 ? ownMoreVessel / own : undefined;
}

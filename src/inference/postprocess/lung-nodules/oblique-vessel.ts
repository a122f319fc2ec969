/**
 * Ground glass that is a vessel's partial volume on a thick slice, not a nodule.
 *
 * A vessel crossing a slice obliquely fills only part of the slab a pixel stands for: averaged
 * over the slice thickness it reads as ground glass (about -400 HU) on that slice, while on the
 * slices above and below, where it runs through the whole slab, the same in-plane pixels are
 * solid. A ground-glass nodule is ground glass in three dimensions (Fleischner Society glossary,
 * Hansell et al., Radiology 2008: a hazy opacity that does not obscure the vessels): above and
 * below its ground glass lies more ground glass or lung, and a vessel running through it along z
 * occupies pixels of its own, beside the nodule's. So a ground-glass proposal (segmented with
 * solid voxels left out: ground-glass-candidates.ts) whose voxels mostly have solid tissue
 * straight above or below them is the partial-volume slab of a vessel, however round it is in plane.
 */
import type { SeriesVolume } from '../../series-volume';
import type { VoxelMask } from '../types';
import { LUNG_NODULE_PARAMS } from './params';
import type { VolumeGrid } from './volume-grid';

/**
 * Above this share of its voxels over or under solid tissue, ground glass is a vessel's partial
 * volume: the ground-glass nodules of the phantoms beside through-plane vessels measure at most
 * about a third (a vessel along z leaves some in-plane overlap at the nodule's edge).
 */
export const MAX_SOLID_ABOVE_OR_BELOW_SHARE = 0.5;

/** Share of the mask's voxels with solid tissue (>= solidHu) at the same in-plane position on the slice above or below. */
export function solidAboveOrBelowShare(volume: SeriesVolume, grid: VolumeGrid, mask: VoxelMask): number {
  const [ox, oy, oz] = mask.origin;
  const [sx, sy, sz] = mask.size;
  const solidHu = LUNG_NODULE_PARAMS.solidHu;
  const solidAt = (slice: number, pixel: number): boolean => (volume.values[slice]?.[pixel] ?? -Infinity) >= solidHu;
  let total = 0;
  let covered = 0;
  for (let z = 0; z < sz; z++)
    for (let y = 0; y < sy; y++)
      for (let x = 0; x < sx; x++) {
        const bit = (z * sy + y) * sx + x;
        if (!((mask.bits[bit >> 3]! >> (bit & 7)) & 1)) continue;
        total++;
        const pixel = (oy + y) * grid.columns + ox + x;
        if (solidAt(oz + z - 1, pixel) || solidAt(oz + z + 1, pixel)) covered++;
      }
  return total === 0 ? 0 : covered / total;
}

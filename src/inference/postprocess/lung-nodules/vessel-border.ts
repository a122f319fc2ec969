/**
 * Ground glass bordered by a vessel that lies in plane: the vessel's own partial volume, not a
 * nodule beside it.
 *
 * A vessel about as thick as the slice lying nearly in plane (2.4-3 mm across on 2.5 mm slices)
 * fills only part of each of the two slabs it straddles: along a stretch it is ground glass on
 * both (about -420 HU, halfway from lung to blood), and where its axis dips into one slab it is
 * solid there and lung on the next. At a bend or a branch point that stretch is a patch a few
 * pixels deep, and the ground-glass search (ground-glass-candidates.ts) proposes it; segmented
 * with the solid voxels left out it is cut short where the vessel turns solid, so its moments
 * look like a short blob. But it is the vessel: in plane its ground glass runs into the solid
 * parts of the same vessel at its ends, so much of its outline is solid tissue that is thinner
 * than the slab (not solid on both slices around it). A ground-glass nodule is a rounded opacity
 * of its own (Fleischner Society glossary, Hansell et al., Radiology 2008): beside a vessel it
 * meets it along a short arc, and lung borders the rest of its outline. Vessels running through
 * the slices (solid on the slice above and below as well) are not counted: the phantoms' nodules
 * lie among such vessels, real ones have them running through them, and their partial volume on a
 * slice is a pixel-thin rim the search does not propose.
 */
import type { SeriesVolume } from '../../series-volume';
import type { VoxelMask } from '../types';
import { LUNG_NODULE_PARAMS } from './params';
import type { VolumeGrid } from './volume-grid';

/**
 * Above this share of its in-plane outline against in-plane solid tissue, ground glass is a
 * vessel's partial volume. A disc touching a vessel from outside meets it along a short arc:
 * rasterised on 0.7 mm pixels, 0.03-0.19 of the outline of a disc of 1.5-4 mm radius beside a
 * vessel of 0.5-3 mm radius (0.5 mm into it at most). Measured on diagnostic hard seeds
 * 7300-7399 (none an evaluation set): the three proposals accepted there on in-plane vessels
 * straddling two slices 0.27, 0.29 and 0.31; the ten ground-glass nodules accepted via proposals
 * on the same seeds 0.06-0.15 — a margin set on three cases.
 */
export const MAX_SOLID_BORDER_SHARE = 0.2;

/** The 4 in-plane face neighbours (column, row offsets). */
const IN_PLANE_FACES: readonly (readonly [number, number])[] = [
  [-1, 0],
  [1, 0],
  [0, -1],
  [0, 1],
];

/**
 * Share of the mask's in-plane outline (the faces between a mask voxel and an in-plane neighbour
 * outside it, on the same slice) that faces solid tissue (>= solidHu) that is not solid on both
 * the slice above and the slice below (a vessel running through the slices).
 */
export function solidBorderShare(volume: SeriesVolume, grid: VolumeGrid, mask: VoxelMask): number {
  const [ox, oy, oz] = mask.origin;
  const [sx, sy, sz] = mask.size;
  const solidHu = LUNG_NODULE_PARAMS.solidHu;
  const inMask = (x: number, y: number, z: number): boolean => {
    if (x < 0 || y < 0 || x >= sx || y >= sy) return false;
    const bit = (z * sy + y) * sx + x;
    return ((mask.bits[bit >> 3]! >> (bit & 7)) & 1) === 1;
  };
  const solidAt = (slice: number, pixel: number): boolean => (volume.values[slice]?.[pixel] ?? -Infinity) >= solidHu;
  let faces = 0;
  let solid = 0;
  for (let z = 0; z < sz; z++) {
    const slice = oz + z;
    for (let y = 0; y < sy; y++)
      for (let x = 0; x < sx; x++) {
        if (!inMask(x, y, z)) continue;
        for (const [dx, dy] of IN_PLANE_FACES) {
          if (inMask(x + dx, y + dy, z)) continue;
          faces++;
          const column = ox + x + dx;
          const row = oy + y + dy;
          if (column < 0 || row < 0 || column >= grid.columns || row >= grid.rows) continue;
          const pixel = row * grid.columns + column;
          if (solidAt(slice, pixel) && !(solidAt(slice - 1, pixel) && solidAt(slice + 1, pixel))) solid++;
        }
      }
  }
  return faces === 0 ? 0 : solid / faces;
}

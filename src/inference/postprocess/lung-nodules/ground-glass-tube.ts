/**
 * Ground glass that is a vessel thinner than the slice, not a nodule: a ground-glass tube.
 *
 * A vessel partly in the 2.5 mm slab (a band between two slices, the end of a branch leaving the
 * slab, a junction of thin branches) is solid on no slice along a stretch: averaged over the slab
 * it reads as ground glass, continuing a solid vessel in line. Its cross-section on each slice is
 * the vessel's own width — a streak a pixel or two across, every voxel of it on its edge in plane.
 * A ground-glass nodule of 5 mm or more is a disc on each slice it lies on (Fleischner Society
 * glossary, Hansell et al., Radiology 2008: a rounded opacity), several pixels across even where
 * a vessel takes a notch out of it; so some of its voxels lie inside its cross-section, with
 * nodule (or the vessel in its notch) on every side in plane. A ground-glass proposal
 * (ground-glass-candidates.ts) with almost no such interior is a tube, however round its 3-D
 * moments make it look (its thickness through the slices is the slab's, not the vessel's).
 */
import type { SeriesVolume } from '../../series-volume';
import type { VoxelMask } from '../types';
import { LUNG_NODULE_PARAMS } from './params';
import type { VolumeGrid } from './volume-grid';

/**
 * Under this share of its voxels inside its in-plane cross-section, ground glass is a tube.
 * A disc D pixels across has about ((D - 2) / D)² of its pixels inside: 0.36 at 5 pixels (3.5 mm
 * at 0.7 mm pixels, a 5 mm nodule's cross-section one slice off its centre), 0 for a streak
 * two pixels wide. Measured on diagnostic hard phantoms 7000–7029 (none an evaluation set):
 * the ground-glass search's three false positives there (vessels partly in the slab) 0.08, 0.20
 * and 0.24; every accepted ground-glass proposal on a nodule at least 0.31 (a 5.3 mm one
 * measured 5.8 mm, elongation 1.58), the nodules under 8 mm 0.31–0.52.
 */
export const MIN_INTERIOR_SHARE = 0.28;

/**
 * The same for a structure a peak of the blob score found, on a subsolid core. Where thin vessels
 * (1.1-1.9 mm across, under the 2.5 mm slice: ground glass on every slice) cross or run side by
 * side, the score peaks at its smallest scale and the crossing is segmented as a 4.5-5.2 mm
 * "ground-glass nodule": the seven such false positives of diagnostic hard phantoms 7030-7099
 * (none an evaluation set) measured 0.00-0.13. A peak reaches smaller nodules than the search
 * (whose patches are at least 1.6 mm deep): the smallest reported, 4.5 mm, lies on two 2.5 mm
 * slices as discs about 3.7 mm (5 pixels) across, ((5 - 2) / 5)² = 0.36 inside in the ideal, and
 * the ground-glass nodules of 4.4-4.6 mm there measured 0.20-0.28 (noise frays their edge; those
 * of 5 mm or more at least 0.33). So the cut lies lower, in the middle of the gap 0.13-0.20.
 */
export const MIN_PEAK_INTERIOR_SHARE = 0.16;

/** The 8 in-plane neighbours (column, row offsets). */
const IN_PLANE_NEIGHBOURS: readonly (readonly [number, number])[] = [
  [-1, -1],
  [0, -1],
  [1, -1],
  [-1, 0],
  [1, 0],
  [-1, 1],
  [0, 1],
  [1, 1],
];

/**
 * Share of the mask's voxels whose 8 in-plane neighbours all belong to the mask or are solid
 * tissue (>= solidHu: a vessel through the nodule's notch is inside its cross-section, not lung).
 */
export function interiorShare(volume: SeriesVolume, grid: VolumeGrid, mask: VoxelMask): number {
  const [ox, oy, oz] = mask.origin;
  const [sx, sy, sz] = mask.size;
  const solidHu = LUNG_NODULE_PARAMS.solidHu;
  const inMask = (x: number, y: number, z: number): boolean => {
    if (x < 0 || y < 0 || x >= sx || y >= sy) return false;
    const bit = (z * sy + y) * sx + x;
    return ((mask.bits[bit >> 3]! >> (bit & 7)) & 1) === 1;
  };
  const solidAt = (x: number, y: number, z: number): boolean => {
    const column = ox + x;
    const row = oy + y;
    if (column < 0 || row < 0 || column >= grid.columns || row >= grid.rows) return false;
    return (volume.values[oz + z]?.[row * grid.columns + column] ?? -Infinity) >= solidHu;
  };
  let total = 0;
  let inside = 0;
  for (let z = 0; z < sz; z++)
    for (let y = 0; y < sy; y++)
      for (let x = 0; x < sx; x++) {
        if (!inMask(x, y, z)) continue;
        total++;
        if (IN_PLANE_NEIGHBOURS.every(([dx, dy]) => inMask(x + dx, y + dy, z) || solidAt(x + dx, y + dy, z))) inside++;
      }
  return total === 0 ? 0 : inside / total;
}

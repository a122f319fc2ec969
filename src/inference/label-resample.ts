/**
 * A label map on the model's conformed grid (conform.ts: LIA, i fastest) -> the same labels on
 * the SOURCE grid, slice by slice, by nearest neighbour: each source pixel takes the label of the
 * conformed voxel whose centre is nearest to the pixel's centre in patient coordinates. This is
 * what a Segmentation needs (its frames repeat the source slices, so a viewer overlays them 1:1).
 *
 * Gantry-tilted series were shifted in-plane onto a straight stack (series-volume.ts): volume
 * pixel (c, r) is source pixel (c − offset[0], r − offset[1]). The geometry returned here undoes
 * that shift, so every frame lies on the source slice exactly as acquired.
 */
import { conformedToPatient, type ConformGrid } from './conform';
import { pixelToPatient, type SeriesVolume } from './series-volume';
import type { SegmentationGeometry } from '../report/segmentation-iod';

type Vec3 = [number, number, number];

/** The source grid of a volume as a Segmentation must repeat it (positions of the source slices as acquired). */
export function segmentationGeometryOf(vol: SeriesVolume): SegmentationGeometry {
  if (!vol.frameOfReferenceUid) throw new Error('the series has no Frame of Reference UID: a Segmentation cannot be placed in its space');
  return {
    rows: vol.rows,
    columns: vol.columns,
    pixelSpacing: vol.pixelSpacing,
    orientation: vol.orientation,
    sliceSpacing: vol.sliceSpacing,
    frameOfReferenceUid: vol.frameOfReferenceUid,
    slices: vol.slices.map((s, k) => {
      const [oc, or] = s.sourcePixelOffset ?? [0, 0];
      return {
        sopClassUid: s.sopClassUid,
        sopInstanceUid: s.sopInstanceUid,
        ...(s.frameNumber !== undefined ? { frameNumber: s.frameNumber } : {}),
        position: pixelToPatient(vol, k, oc, or),
      };
    }),
  };
}

/**
 * Labels per source slice (rows·columns each, row by row) from a conformed label map
 * (`labels.length` = W·H·D, index = i + W·(j + H·k)). Source pixels outside the conformed grid get 0.
 */
export function labelsOnSourceGrid(vol: SeriesVolume, grid: ConformGrid, labels: Uint8Array): Uint8Array[] {
  const [D, H, W] = grid.size;
  if (labels.length !== W * H * D)
    throw new Error(`label map has ${labels.length} voxels; the conformed grid ${W}x${H}x${D} has ${W * H * D}`);
  const geometry = segmentationGeometryOf(vol);
  // The source grid is affine per slice: the conformed index moves by a fixed step per column and per row.
  const origin0 = conformedToPatient(grid, 0, 0, 0);
  const toIndex = (p: Vec3): Vec3 => {
    const s2 = grid.voxelMm * grid.voxelMm;
    const d: Vec3 = [p[0] - origin0[0], p[1] - origin0[1], p[2] - origin0[2]];
    return grid.axes.map((a) => (d[0] * a[0] + d[1] * a[1] + d[2] * a[2]) / s2) as Vec3;
  };
  const [rx, ry, rz, cx, cy, cz] = vol.orientation;
  const [dr, dc] = vol.pixelSpacing;
  const colStep = toIndex([origin0[0] + rx * dc, origin0[1] + ry * dc, origin0[2] + rz * dc]);
  const rowStep = toIndex([origin0[0] + cx * dr, origin0[1] + cy * dr, origin0[2] + cz * dr]);
  return geometry.slices.map((slice) => {
    const out = new Uint8Array(vol.rows * vol.columns);
    const start = toIndex([slice.position[0], slice.position[1], slice.position[2]]);
    for (let r = 0; r < vol.rows; r++) {
      for (let c = 0; c < vol.columns; c++) {
        const i = Math.round(start[0] + c * colStep[0] + r * rowStep[0]);
        const j = Math.round(start[1] + c * colStep[1] + r * rowStep[1]);
        const k = Math.round(start[2] + c * colStep[2] + r * rowStep[2]);
        if (i < 0 || j < 0 || k < 0 || i >= W || j >= H || k >= D) continue;
        out[r * vol.columns + c] = labels[i + W * (j + H * k)]!;
      }
    }
    return out;
  });
}

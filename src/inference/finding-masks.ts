/**
 * Findings that carry their own voxels (FindingDraft.mask: a nodule as the detector segmented it)
 * -> labels on the SOURCE grid for a Segmentation with one segment per finding. Segment n belongs
 * to the finding the runner numbers n (report order: most confident first), so the SR's TID 1411
 * group of finding n references segment n.
 *
 * The detector works on the series volume, whose grid is the source grid, except for a
 * gantry-tilted series: each slice was shifted in-plane onto a straight stack (series-volume.ts),
 * and source pixel (c, r) is volume pixel (c + offset[0], r + offset[1]). Each source pixel takes
 * the label of the volume voxel nearest to it, so every frame lies on its source slice as acquired.
 */
import type { FindingDraft, VoxelMask } from './postprocess/types';
import type { SeriesVolume } from './series-volume';
import type { SourceLabels } from './source-labels';

/** A Segmentation holds at most this many segments (Segment Number is US, our labels are bytes). */
const MAX_SEGMENTS = 255;

/** Findings in the order the runner numbers them (id = index + 1): by decreasing confidence, ties kept in order. */
export function inReportOrder<T extends { readonly confidence: number }>(drafts: readonly T[]): T[] {
  return [...drafts].sort((a, b) => b.confidence - a.confidence);
}

/** Whether a finding carries voxels (an empty mask paints nothing). */
function carriesVoxels(d: FindingDraft): d is FindingDraft & { mask: VoxelMask } {
  return d.mask !== undefined && d.mask.bits.length > 0;
}

/** One segment per finding with a mask, painted on the source slices; a reason instead when there is nothing to paint. */
export function findingMaskLabels(volume: SeriesVolume, drafts: readonly FindingDraft[]): SourceLabels | string {
  if (!volume.frameOfReferenceUid) return 'the series has no Frame of Reference UID: a Segmentation cannot be placed in its space';
  const ordered = inReportOrder(drafts);
  const withMask = ordered.filter(carriesVoxels);
  if (withMask.length === 0) return 'no finding carries voxels: there is no region to send';
  if (withMask.length > MAX_SEGMENTS)
    return `${withMask.length} findings carry voxels; a Segmentation holds at most ${MAX_SEGMENTS} segments`;
  const slices = volume.slices.map(() => new Uint8Array(volume.rows * volume.columns));
  const segments: SourceLabels['segments'][number][] = [];
  ordered.forEach((d, index) => {
    if (!carriesVoxels(d)) return;
    segments.push({ label: d.label, code: d.code, findingId: index + 1 });
    paintMask(volume, d.mask, segments.length, slices);
  });
  return { slices, segments };
}

/** Sets `segment` on the source pixels whose nearest volume voxel is in the mask (pixels already labelled keep theirs). */
function paintMask(volume: SeriesVolume, mask: VoxelMask, segment: number, slices: Uint8Array[]): void {
  const [ox, oy, oz] = mask.origin;
  const [sx, sy, sz] = mask.size;
  const { rows, columns } = volume;
  for (let z = 0; z < sz; z++) {
    const k = oz + z;
    const labels = slices[k];
    if (!labels) continue;
    const [dc, dr] = volume.slices[k]!.sourcePixelOffset ?? [0, 0];
    // Source pixels whose nearest volume column/row can fall inside the box (one pixel of slack each way for the rounding).
    for (let r = Math.max(0, Math.floor(oy - dr) - 1); r <= Math.min(rows - 1, Math.ceil(oy + sy - dr) + 1); r++) {
      const y = Math.round(r + dr) - oy;
      if (y < 0 || y >= sy) continue;
      for (let c = Math.max(0, Math.floor(ox - dc) - 1); c <= Math.min(columns - 1, Math.ceil(ox + sx - dc) + 1); c++) {
        const x = Math.round(c + dc) - ox;
        if (x < 0 || x >= sx) continue;
        const bit = (z * sy + y) * sx + x;
        if ((mask.bits[bit >> 3]! >> (bit & 7)) & 1 && labels[r * columns + c] === 0) labels[r * columns + c] = segment;
      }
    }
  }
}

/** Whether voxel (column, row, slice) of the volume grid is in the mask (tests, readers). */
export function maskHas(mask: VoxelMask, column: number, row: number, slice: number): boolean {
  const x = column - mask.origin[0];
  const y = row - mask.origin[1];
  const z = slice - mask.origin[2];
  if (x < 0 || y < 0 || z < 0 || x >= mask.size[0] || y >= mask.size[1] || z >= mask.size[2]) return false;
  const bit = (z * mask.size[1] + y) * mask.size[0] + x;
  return ((mask.bits[bit >> 3]! >> (bit & 7)) & 1) === 1;
}

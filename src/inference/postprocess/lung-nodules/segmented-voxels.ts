/**
 * What has been segmented so far, per grid voxel: the lowest link threshold (HU) a segmented
 * structure reached it with. A later (weaker) candidate whose seed lies in a structure already
 * segmented at a similar or lower threshold is that structure again and is skipped.
 */
import { sliceSize, type VoxelBox, type VolumeGrid } from './volume-grid';

/** Not reached by any structure yet (Int16 maximum: above any HU). */
const NOT_SEGMENTED = 32767;
/** A seed already reached at up to this much (HU) above the candidate's own link threshold counts as seen. */
const SAME_STRUCTURE_TOLERANCE_HU = 50;

/** What segmentation needs of the record: whether a seed was seen, and adding a structure. */
export interface SegmentationRecord {
  alreadySegmented(gridIndex: number, linkHu: number): boolean;
  record(box: VoxelBox, mask: Uint8Array, linkHu: number, withinMm?: number): void;
}

export class SegmentedVoxels implements SegmentationRecord {
  /**
   * Per grid voxel, NOT_SEGMENTED minus the lowest link threshold (rounded HU, an Int16 value)
   * it was reached with: 0 is "not reached", so the array starts as the zeroed memory a new
   * typed array already is (filling a whole-volume array costs as much as a few hundred candidates).
   */
  private readonly belowNotSegmented: Uint16Array;

  constructor(grid: VolumeGrid) {
    this.belowNotSegmented = new Uint16Array(grid.slices * sliceSize(grid));
  }

  /** Whether grid voxel `gridIndex` was segmented at a threshold similar to or below `linkHu`. */
  alreadySegmented(gridIndex: number, linkHu: number): boolean {
    return NOT_SEGMENTED - this.belowNotSegmented[gridIndex]! <= linkHu + SAME_STRUCTURE_TOLERANCE_HU;
  }

  /**
   * Records the voxels of `mask` (all inside the grid) within `withinMm` of the box's centre
   * as segmented at `linkHu`.
   */
  record(box: VoxelBox, mask: Uint8Array, linkHu: number, withinMm = Infinity): void {
    const { xSpacingMm: dx, ySpacingMm: dy, zSpacingMm: dz, columns } = box.grid;
    const centreX = (box.sizeX - 1) / 2;
    const centreY = (box.sizeY - 1) / 2;
    const centreZ = (box.sizeZ - 1) / 2;
    const withinSquared = withinMm * withinMm;
    const limited = withinMm !== Infinity;
    const stored = asInt16(Math.round(linkHu));
    const slicePixels = sliceSize(box.grid);
    // Row by row: the grid index of a box row's first voxel once per row, not per voxel.
    for (let z = 0; z < box.sizeZ; z++) {
      const zSquared = ((z - centreZ) * dz) ** 2;
      for (let y = 0; y < box.sizeY; y++) {
        const rowIndex = (z * box.sizeY + y) * box.sizeX;
        const rowGridIndex = (box.originZ + z) * slicePixels + (box.originY + y) * columns + box.originX;
        const ySquared = ((y - centreY) * dy) ** 2;
        for (let x = 0; x < box.sizeX; x++) {
          if (!mask[rowIndex + x]) continue;
          // Summed x, y, z in this order: the same rounding as ever, so the same voxels pass.
          if (limited && ((x - centreX) * dx) ** 2 + ySquared + zSquared > withinSquared) continue;
          const gridIndex = rowGridIndex + x;
          if (NOT_SEGMENTED - this.belowNotSegmented[gridIndex]! > linkHu) this.belowNotSegmented[gridIndex] = NOT_SEGMENTED - stored;
        }
      }
    }
  }
}

/** The value an Int16Array would hold after storing `value` (an integer): wrapped to 16 bits. */
function asInt16(value: number): number {
  return (value << 16) >> 16;
}

/**
 * A tentative segmentation's records (the part-solid retry in candidate-segmentation.ts), kept
 * aside until `commit`: a retry that is not taken must not block later candidates.
 */
export class DeferredRecords implements SegmentationRecord {
  private readonly pending: { box: VoxelBox; mask: Uint8Array; linkHu: number; withinMm: number }[] = [];

  constructor(private readonly target: SegmentationRecord) {}

  alreadySegmented(gridIndex: number, linkHu: number): boolean {
    return this.target.alreadySegmented(gridIndex, linkHu);
  }

  record(box: VoxelBox, mask: Uint8Array, linkHu: number, withinMm = Infinity): void {
    this.pending.push({ box, mask, linkHu, withinMm });
  }

  commit(): void {
    for (const r of this.pending) this.target.record(r.box, r.mask, r.linkHu, r.withinMm);
  }
}

/** Records into `target` but never answers "already segmented" (candidates that must get their own try). */
export class RecordOnly implements SegmentationRecord {
  constructor(private readonly target: SegmentationRecord) {}

  alreadySegmented(): boolean {
    return false;
  }

  record(box: VoxelBox, mask: Uint8Array, linkHu: number, withinMm = Infinity): void {
    this.target.record(box, mask, linkHu, withinMm);
  }
}

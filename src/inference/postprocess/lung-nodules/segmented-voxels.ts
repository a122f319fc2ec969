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
  private readonly linkHu: Int16Array;

  constructor(grid: VolumeGrid) {
    this.linkHu = new Int16Array(grid.slices * sliceSize(grid)).fill(NOT_SEGMENTED);
  }

  /** Whether grid voxel `gridIndex` was segmented at a threshold similar to or below `linkHu`. */
  alreadySegmented(gridIndex: number, linkHu: number): boolean {
    return this.linkHu[gridIndex]! <= linkHu + SAME_STRUCTURE_TOLERANCE_HU;
  }

  /**
   * Records the voxels of `mask` (all inside the grid) within `withinMm` of the box's centre
   * as segmented at `linkHu`.
   */
  record(box: VoxelBox, mask: Uint8Array, linkHu: number, withinMm = Infinity): void {
    const { xSpacingMm: dx, ySpacingMm: dy, zSpacingMm: dz } = box.grid;
    const centreX = (box.sizeX - 1) / 2;
    const centreY = (box.sizeY - 1) / 2;
    const centreZ = (box.sizeZ - 1) / 2;
    const withinSquared = withinMm * withinMm;
    for (let i = 0; i < box.voxelCount; i++) {
      if (!mask[i]) continue;
      if (withinMm !== Infinity) {
        const distanceSquared =
          ((box.xOf(i) - centreX) * dx) ** 2 + ((box.yOf(i) - centreY) * dy) ** 2 + ((box.zOf(i) - centreZ) * dz) ** 2;
        if (distanceSquared > withinSquared) continue;
      }
      const gridIndex = box.toGridIndex(i);
      if (this.linkHu[gridIndex]! > linkHu) this.linkHu[gridIndex] = Math.round(linkHu);
    }
  }
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

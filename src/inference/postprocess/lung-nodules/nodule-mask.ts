/**
 * The voxels of an accepted nodule as its Segmentation segment shows them: the voxels of the
 * measured part and its one-voxel shell (what measureNodule weighs) whose density reaches the
 * segmentation threshold, halfway from lung to core density (partial-volume weight >= 0.5).
 * For a blurred blob the 50 % iso-surface encloses about the volume the partial-volume-weighted
 * sum counts, so the SEG's voxel count agrees with the SR's volume.
 *
 * Kept compact (VoxelMask: bounding box on the volume grid + one bit per voxel) so that 20
 * nodules cost a few kilobytes when the post-processing worker hands them back.
 */
import type { VoxelMask } from '../types';
import { dilateFaces } from './box-morphology';
import type { VoxelBox } from './volume-grid';

/**
 * @param part the measured structure on `box`
 * @param lungHu HU on `box` (NaN outside the lung or the volume: never in the mask)
 * @param thresholdHu the candidate's segmentation threshold (halfway from lung to core)
 */
export function noduleMask(box: VoxelBox, part: Uint8Array, lungHu: Float32Array, thresholdHu: number): VoxelMask {
  const shell = dilateFaces(box, part);
  const inside = (i: number): boolean => shell[i] === 1 && lungHu[i]! >= thresholdHu; // NaN compares false
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-1, -1, -1];
  for (let i = 0; i < box.voxelCount; i++) {
    if (!inside(i)) continue;
    const at = [box.xOf(i), box.yOf(i), box.zOf(i)];
    for (let a = 0; a < 3; a++) {
      lo[a] = Math.min(lo[a]!, at[a]!);
      hi[a] = Math.max(hi[a]!, at[a]!);
    }
  }
  if (hi[0]! < 0) return { origin: [box.originX, box.originY, box.originZ], size: [0, 0, 0], bits: new Uint8Array(0) };
  const size: [number, number, number] = [hi[0]! - lo[0]! + 1, hi[1]! - lo[1]! + 1, hi[2]! - lo[2]! + 1];
  const bits = new Uint8Array(Math.ceil((size[0] * size[1] * size[2]) / 8));
  for (let z = 0; z < size[2]; z++) {
    for (let y = 0; y < size[1]; y++) {
      for (let x = 0; x < size[0]; x++) {
        if (!inside(box.index(lo[0]! + x, lo[1]! + y, lo[2]! + z))) continue;
        const bit = (z * size[1] + y) * size[0] + x;
        bits[bit >> 3] = bits[bit >> 3]! | (1 << (bit & 7));
      }
    }
  }
  return { origin: [box.originX + lo[0]!, box.originY + lo[1]!, box.originZ + lo[2]!], size, bits };
}

/**
 * The voxels of an accepted nodule as its Segmentation segment shows them: of the measured part
 * and its one-voxel shell (what measureNodule weighs, each voxel by its fraction between lung and
 * core density), the densest ones, as many as the weighted volume counts voxels. That is the
 * iso-surface at the level that preserves the measured volume (about the 50 % level for a blob
 * much larger than a voxel; small nodules on thick slices need another), so the SEG's voxel count
 * is the SR's volume, to a voxel.
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
 * @param backgroundHu lung density (weight 0), coreHu core density (weight 1): as measureNodule was given
 */
export function noduleMask(box: VoxelBox, part: Uint8Array, lungHu: Float32Array, backgroundHu: number, coreHu: number): VoxelMask {
  const shell = dilateFaces(box, part);
  const contrast = coreHu - backgroundHu;
  const weighted: { index: number; weight: number }[] = [];
  let weightSum = 0;
  for (let i = 0; i < box.voxelCount; i++) {
    const hu = lungHu[i]!;
    if (!shell[i] || Number.isNaN(hu)) continue;
    const weight = Math.max(0, Math.min(1, (hu - backgroundHu) / contrast));
    if (weight === 0) continue;
    weighted.push({ index: i, weight });
    weightSum += weight;
  }
  // Densest first; equal weights keep box order, so the mask is the same on every run.
  weighted.sort((a, b) => b.weight - a.weight || a.index - b.index);
  const chosen = new Uint8Array(box.voxelCount);
  for (const { index } of weighted.slice(0, Math.round(weightSum))) chosen[index] = 1;
  const inside = (i: number): boolean => chosen[i] === 1;
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

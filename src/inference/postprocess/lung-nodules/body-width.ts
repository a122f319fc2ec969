/**
 * How wide the body the opening kept is, against the vessels it cut away: both as the largest
 * inscribed radius (distance to the structure's edge), from one 3-D chamfer distance transform of
 * the structure. A nodule on a vessel is a sphere wider than the vessel; the knot of a vessel
 * junction or crossing is barely wider than its branches.
 */
import type { VoxelBox } from './volume-grid';

/** Cut voxels within this distance (mm) of the kept body are its rim where a vessel joins, not the vessel. */
const TUBE_CLEARANCE_MM = 2;

/** Largest inscribed radii (mm) of the kept body and of the cut-away tubes of one structure. */
export interface BodyWidth {
  readonly bodyMm: number;
  readonly tubeMm: number;
}

/**
 * `component` is the structure, `kept` the part of it the opening kept. The tube radius is taken
 * over the cut voxels at least TUBE_CLEARANCE_MM from the kept body; 0 where there are none.
 */
export function bodyAndTubeWidth(box: VoxelBox, component: Uint8Array, kept: Uint8Array): BodyWidth {
  const toEdge = chamferDistanceMm(box, (i) => !component[i]);
  const toBody = chamferDistanceMm(box, (i) => kept[i] !== 0);
  let bodyMm = 0;
  let tubeMm = 0;
  for (let i = 0; i < box.voxelCount; i++) {
    if (!component[i]) continue;
    if (kept[i]) bodyMm = Math.max(bodyMm, toEdge[i]!);
    else if (toBody[i]! >= TUBE_CLEARANCE_MM) tubeMm = Math.max(tubeMm, toEdge[i]!);
  }
  return { bodyMm, tubeMm };
}

/**
 * Distance (mm) from each voxel to the nearest source voxel: two-pass chamfer over the 26
 * neighbours, weighted by the voxel spacing (overestimates the Euclidean distance by a few per
 * cent off the axes, alike for body and tube). Outside the box is not a source: a structure
 * that leaves the box continues there.
 */
export function chamferDistanceMm(box: VoxelBox, isSource: (index: number) => boolean): Float32Array {
  const { sizeX, sizeY, sizeZ, plane } = box;
  const { xSpacingMm: dx, ySpacingMm: dy, zSpacingMm: dz } = box.grid;
  const distance = new Float32Array(box.voxelCount);
  for (let i = 0; i < distance.length; i++) distance[i] = isSource(i) ? 0 : Infinity;
  // The 13 neighbours that come before a voxel in scan order (z, then y, then x), with their step lengths.
  const before: [number, number, number, number][] = [];
  for (let oz = -1; oz <= 0; oz++) {
    for (let oy = -1; oy <= 1; oy++) {
      for (let ox = -1; ox <= 1; ox++) {
        if (oz === 0 && (oy > 0 || (oy === 0 && ox >= 0))) continue;
        before.push([ox, oy, oz, Math.hypot(ox * dx, oy * dy, oz * dz)]);
      }
    }
  }
  const pass = (sign: 1 | -1): void => {
    const start = sign === 1 ? 0 : box.voxelCount - 1;
    for (let i = start; i >= 0 && i < box.voxelCount; i += sign) {
      if (distance[i] === 0) continue;
      const x = box.xOf(i);
      const y = box.yOf(i);
      const z = box.zOf(i);
      let d = distance[i]!;
      for (const [ox, oy, oz, step] of before) {
        const nx = x + sign * ox;
        const ny = y + sign * oy;
        const nz = z + sign * oz;
        if (nx < 0 || ny < 0 || nz < 0 || nx >= sizeX || ny >= sizeY || nz >= sizeZ) continue;
        d = Math.min(d, distance[i + sign * (oz * plane + oy * sizeX + ox)]! + step);
      }
      distance[i] = d;
    }
  };
  pass(1);
  pass(-1);
  return distance;
}

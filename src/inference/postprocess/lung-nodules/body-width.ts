/**
 * How wide the body the opening kept is, against the vessels it cut away: both as the largest
 * inscribed radius (distance to the structure's edge), from one 3-D chamfer distance transform of
 * the structure. A nodule on a vessel is a sphere wider than the vessel; the knot of a vessel
 * junction or crossing is barely wider than its branches.
 */
import { chamferDistanceMm } from './box-morphology';
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

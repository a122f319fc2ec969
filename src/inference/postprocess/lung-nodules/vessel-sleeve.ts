/**
 * A vessel's partial-volume sleeve, told apart from a ground-glass nodule beside the vessel.
 *
 * The scanner's point-spread function blurs a vessel's edge over about a pixel in-plane, so a
 * solid vessel (at or above LUNG_NODULE_PARAMS.solidHu) is wrapped in a sleeve of voxels at
 * ground-glass density: a blend of vessel and air. A proposal of the ground-glass search is
 * segmented with the solid voxels left out (candidate-segmentation.ts, `groundGlassOnly`), but its
 * sleeve is not solid: a nodule touching the vessel is grown together with the sleeve, which runs
 * along the vessel to the faces of the box, and the structure "leaves the box" as a vessel would.
 * The sleeve is a shell one voxel thick around solid tissue; a nodule's ground glass is a body
 * several voxels deep (Fleischner Society glossary, Hansell et al., Radiology 2008: a hazy
 * opacity, round). So the voxels beside solid tissue are taken out, the body left around the seed
 * is what is judged, and its own rim is given back: the one layer of voxels next to the body on
 * its own slices, among them the nodule's voxels against the vessel, but not the sleeve farther
 * along it or on the slices above and below. candidate-segmentation.ts asks this only of a
 * proposal the opening could not free, and takes the body only if it stays inside its box and
 * its core, the sleeve left out, is a blob.
 */
import { growRegion26 } from './box-morphology';
import { LUNG_NODULE_PARAMS } from './params';
import type { SeriesVolume } from '../../series-volume';
import type { BoxedStructure } from './vessel-rejection';
import type { VoxelBox } from './volume-grid';

/**
 * Whether the in-plane 8-neighbourhood of grid voxel (x, y, z) holds solid tissue: within the
 * about one pixel over which the point-spread function blends a vessel's edge with the lung.
 */
export function besideSolid(volume: SeriesVolume, x: number, y: number, z: number): boolean {
  const values = volume.values[z]!;
  const { columns, rows } = volume;
  const solidHu = LUNG_NODULE_PARAMS.solidHu;
  for (let dy = -1; dy <= 1; dy++) {
    const row = y + dy;
    if (row < 0 || row >= rows) continue;
    for (let dx = -1; dx <= 1; dx++) {
      const column = x + dx;
      if (column < 0 || column >= columns || (dx === 0 && dy === 0)) continue;
      if (values[row * columns + column]! >= solidHu) return true;
    }
  }
  return false;
}

/**
 * `structure` (a box mask grown around `seed`) without the sleeve of the solid tissue beside it:
 * the 26-connected body of its voxels not beside solid tissue that holds the seed (or lies nearest
 * to it, within a voxel: the seed itself may lie on the sleeve), grown back by one voxel within
 * `structure`. Undefined when no such body lies at the seed.
 */
export function withoutSleeve(volume: SeriesVolume, box: VoxelBox, structure: Uint8Array, seed: number): Uint8Array | undefined {
  const inner = new Float32Array(box.voxelCount);
  for (let i = 0; i < box.voxelCount; i++) {
    if (!structure[i]) continue;
    const x = box.originX + box.xOf(i);
    const y = box.originY + box.yOf(i);
    const z = box.originZ + box.zOf(i);
    if (!besideSolid(volume, x, y, z)) inner[i] = 1;
  }
  const start = inner[seed] ? seed : nearestWithinOneVoxel(box, inner, seed);
  if (start === undefined) return undefined;
  const body = new Uint8Array(box.voxelCount);
  growRegion26(box, inner, body, start, 1); // inner is a 0/1 mask
  return growOneVoxelWithin(box, body, structure);
}

/** A set voxel of `mask` among the 26 neighbours of `index`, or undefined. */
function nearestWithinOneVoxel(box: VoxelBox, mask: Float32Array, index: number): number | undefined {
  const x = box.xOf(index);
  const y = box.yOf(index);
  const z = box.zOf(index);
  for (let dz = -1; dz <= 1; dz++)
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++) {
        if (!box.contains(x + dx, y + dy, z + dz)) continue;
        const n = box.index(x + dx, y + dy, z + dz);
        if (mask[n]) return n;
      }
  return undefined;
}

/**
 * `body` and the voxels of `within` among its in-plane 8 neighbours: the sleeve voxels against
 * the body on its own slices (partly nodule), not the sleeve on the slices above and below it.
 */
function growOneVoxelWithin(box: VoxelBox, body: Uint8Array, within: Uint8Array): Uint8Array {
  const out = new Uint8Array(body);
  for (let i = 0; i < box.voxelCount; i++) {
    if (!body[i]) continue;
    const x = box.xOf(i);
    const y = box.yOf(i);
    const z = box.zOf(i);
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++) {
        if (!box.contains(x + dx, y + dy, z)) continue;
        const n = box.index(x + dx, y + dy, z);
        if (within[n]) out[n] = 1;
      }
  }
  return out;
}

/**
 * `structure` with the sleeve voxels outside `part` left out (NaN: neither lung, nor structure,
 * nor wall), as its solid voxels are: the one-voxel shell its measurement weighs by density
 * (nodule-measurements.ts) must not take in the vessel's sleeve on the slices above and below
 * the body, and a sleeve voxel beside the body is no wall it lies against.
 */
export function sleeveLeftOut(volume: SeriesVolume, structure: BoxedStructure, part: Uint8Array): BoxedStructure {
  const { box } = structure;
  const lungHu = Float32Array.from(structure.lungHu);
  const hu = Float32Array.from(structure.hu);
  for (let i = 0; i < box.voxelCount; i++) {
    if (part[i] || Number.isNaN(hu[i]!)) continue;
    if (besideSolid(volume, box.originX + box.xOf(i), box.originY + box.yOf(i), box.originZ + box.zOf(i))) {
      lungHu[i] = NaN;
      hu[i] = NaN;
    }
  }
  return { ...structure, lungHu, hu };
}

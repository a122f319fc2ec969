/**
 * Step 3a, a solid structure against the chest wall or mediastinum: cut at the pleural surface.
 *
 * Segmented at its own threshold (about -420 HU for a solid nodule) and followed down to a
 * quarter of its contrast, a juxtapleural nodule is joined to the wall by the wall's own
 * partial-volume layer: the lung voxels next to the wall are a blend of wall and air, denser than
 * the link threshold, and the region grows along them out of its box. The classical remedy takes
 * the lung's surface as the barrier and judges only what lies inside the lung beyond it ("pleural
 * surface removal": Reeves, Chan, Yankelevitz et al. 2006, IEEE TMI 25:435-450, before measuring
 * a juxtapleural nodule; Kostis, Reeves, Yankelevitz & Henschke 2003, IEEE TMI 22:1259-1274):
 * here the structure's voxels within PEEL_MM of the wall (dense tissue outside the closed lung)
 * are peeled off, what stays connected to the seed is the body, and the body grown back by
 * PEEL_MM within the structure is the nodule with its base on the wall.
 *
 * A nodule on the wall is a compact bump on the lung's surface: it reaches about as deep into the
 * lung as it is wide (a sphere touching the wall: its whole diameter). A smooth surface seen
 * obliquely — the diaphragm's dome on thick slices, a partial-volume rim along the wall — is a
 * cap far wider than it is deep (once, allowed to touch the wall, a 14.8 mm rim on
 * LIDC-IDRI-0001's diaphragm was reported): the bump must reach MIN_DEPTH_PER_DIAMETER of its
 * equivalent diameter into the lung.
 */
import { ballOffsets, dilateWithin, growRegion26 } from './box-morphology';
import type { BoxedStructure } from './vessel-rejection';

/** The wall's partial-volume layer peeled off (mm): about two in-plane pixels of blur. */
const PEEL_MM = 2;
/**
 * Least depth into the lung (distance from the wall of its deepest voxel) per equivalent
 * diameter: a sphere on the wall reaches about 1, a half-sphere 0.5 x 2^(1/3) = 0.63 of its own
 * equivalent diameter; a cap on a smooth surface far less.
 */
const MIN_DEPTH_PER_DIAMETER = 0.5;

/** A structure cut at the pleural surface: what is judged instead of the whole structure. */
export interface CutAtPleura {
  /** The structure, its base on the wall (the peeled layer) counted as lying in a bite: contact there is no way out. */
  readonly structure: BoxedStructure;
  /** The body beyond PEEL_MM from the wall, connected to the seed, grown back by PEEL_MM within the structure. */
  readonly part: Uint8Array;
  /** Per voxel of the structure, its distance from the wall through it (mm). */
  readonly depthMm: Float32Array;
}

/**
 * `component` cut at the pleural surface; undefined when the seed lies in the peeled layer (the
 * candidate is the wall's rim itself) or nothing is peeled.
 */
export function cutAtPleura(structure: BoxedStructure, component: Uint8Array): CutAtPleura | undefined {
  const { box } = structure;
  // Most structures that leave their box are vessels leaving through its faces: nothing to cut.
  if (!touchesWall(structure, component)) return undefined;
  const depthMm = distanceFromWallMm(structure, component);
  if (!(depthMm[structure.seed]! > PEEL_MM)) return undefined;
  const beyond = new Float32Array(box.voxelCount);
  const base = Uint8Array.from(structure.pleural ?? new Uint8Array(box.voxelCount));
  let peeled = 0;
  for (let i = 0; i < beyond.length; i++) {
    if (!component[i]) continue;
    if (depthMm[i]! > PEEL_MM) beyond[i] = 1;
    else peeled++;
    // The base: the peeled layer, and (across a thick slice) whatever touches the wall face to face.
    if (depthMm[i]! <= Math.max(PEEL_MM, box.grid.zSpacingMm, box.grid.xSpacingMm, box.grid.ySpacingMm)) base[i] = 1;
  }
  if (peeled === 0) return undefined;
  const body = new Uint8Array(box.voxelCount);
  growRegion26(box, beyond, body, structure.seed, 1); // beyond is a 0/1 mask
  const part = dilateWithin(box, body, ballOffsets(box, PEEL_MM), component);
  return { structure: { ...structure, pleural: base }, part, depthMm };
}

/**
 * Whether `part` is a bump on the lung's surface: its deepest voxel at least
 * MIN_DEPTH_PER_DIAMETER of its equivalent diameter from the wall.
 */
export function isBumpOnWall(cut: CutAtPleura, part: Uint8Array): boolean {
  const { box } = cut.structure;
  let voxels = 0;
  let deepest = 0;
  for (let i = 0; i < part.length; i++) {
    if (!part[i]) continue;
    voxels++;
    deepest = Math.max(deepest, cut.depthMm[i]!);
  }
  const { xSpacingMm: dx, ySpacingMm: dy, zSpacingMm: dz } = box.grid;
  const equivalentDiameterMm = Math.cbrt((6 * voxels * dx * dy * dz) / Math.PI);
  return deepest >= MIN_DEPTH_PER_DIAMETER * equivalentDiameterMm;
}

/** Whether some voxel of `component` touches the wall (dense tissue outside the closed lung) across a face. */
function touchesWall(structure: BoxedStructure, component: Uint8Array): boolean {
  const { box, lungHu, hu, linkHu } = structure;
  for (let i = 0; i < component.length; i++) {
    if (!component[i] || box.onFace(i)) continue;
    for (const n of box.faceNeighboursOfInterior(i)) if (Number.isNaN(lungHu[n]!) && hu[n]! >= linkHu) return true;
  }
  return false;
}

/** Beyond every wall voxel of the box (mm): farther than any structure in a box can be. */
const FAR_MM = 1e6;

/**
 * Per voxel of `component`, the distance (mm) through it to the nearest wall voxel — dense tissue
 * (at least the link threshold) outside the closed lung — by a two-pass 3-D chamfer transform
 * with the box's spacings (26 neighbours: within a few per cent of the Euclidean distance in a
 * convex structure, enough to tell a bump from a rim). Only the structure's voxels are visited
 * (the cost follows its size, not the box's); the others stay FAR_MM.
 */
function distanceFromWallMm(structure: BoxedStructure, component: Uint8Array): Float32Array {
  const { box, lungHu, hu, linkHu } = structure;
  const { sizeX, sizeY, sizeZ, plane } = box;
  const { xSpacingMm: dx, ySpacingMm: dy, zSpacingMm: dz } = box.grid;
  const distance = new Float32Array(box.voxelCount);
  for (let i = 0; i < distance.length; i++) distance[i] = Number.isNaN(lungHu[i]!) && hu[i]! >= linkHu ? 0 : FAR_MM;
  // The 13 neighbours before a voxel in memory order, with their distances; the pass back uses
  // their mirror. Index offsets and weights in typed arrays: this runs once per structure on the wall.
  const offsets: number[][] = [];
  for (let oz = -1; oz <= 0; oz++)
    for (let oy = -1; oy <= 1; oy++)
      for (let ox = -1; ox <= 1; ox++) if (oz < 0 || oy < 0 || (oy === 0 && ox < 0)) offsets.push([ox, oy, oz]);
  const step = Int32Array.from(offsets, ([ox, oy, oz]) => oz! * plane + oy! * sizeX + ox!);
  const weight = Float32Array.from(offsets, ([ox, oy, oz]) => Math.hypot(ox! * dx, oy! * dy, oz! * dz));
  const count = offsets.length;
  const pass = (sign: 1 | -1): void => {
    for (let k = 0; k < box.voxelCount; k++) {
      const i = sign > 0 ? k : box.voxelCount - 1 - k;
      // Only the structure's own voxels are visited: the distance runs through the structure.
      if (!component[i]) continue;
      let d = distance[i]!;
      if (d === 0) continue;
      const z = (i / plane) | 0;
      const y = ((i - z * plane) / sizeX) | 0;
      const x = i - z * plane - y * sizeX;
      const interior = x > 0 && y > 0 && z > 0 && x < sizeX - 1 && y < sizeY - 1 && z < sizeZ - 1;
      for (let n = 0; n < count; n++) {
        if (!interior) {
          const [ox, oy, oz] = offsets[n]!;
          const nx = x + sign * ox!;
          const ny = y + sign * oy!;
          const nz = z + sign * oz!;
          if (nx < 0 || ny < 0 || nz < 0 || nx >= sizeX || ny >= sizeY || nz >= sizeZ) continue;
        }
        const candidate = distance[i + sign * step[n]!]! + weight[n]!;
        if (candidate < d) d = candidate;
      }
      distance[i] = d;
    }
  };
  pass(1);
  pass(-1);
  return distance;
}

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
import { ballOffsets, chamferDistanceMm, dilateWithin, growRegion26 } from './box-morphology';
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

/**
 * Per voxel of `component`, the distance (mm) through it to the nearest wall voxel — dense tissue
 * (at least the link threshold) outside the closed lung — by the 3-D chamfer transform (within a
 * few per cent of the Euclidean distance in a convex structure, enough to tell a bump from a
 * rim). Only the structure's voxels are visited: the distance runs through the structure.
 */
function distanceFromWallMm(structure: BoxedStructure, component: Uint8Array): Float32Array {
  const { lungHu, hu, linkHu } = structure;
  return chamferDistanceMm(structure.box, (i) => Number.isNaN(lungHu[i]!) && hu[i]! >= linkHu, component);
}

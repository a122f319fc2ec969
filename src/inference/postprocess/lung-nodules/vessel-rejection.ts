/**
 * Step 3b, vessels: a structure that leaves its box is a vessel (or a nodule with something
 * large attached). It is opened morphologically and rejected if it still leaves the box, or if
 * the opening cut most of it away near the candidate (the junction of two vessels survives an
 * opening, its trunks do not).
 */
import { bodyAndTubeWidth } from './body-width';
import { ballOffsets, dilateWithin, erode, growRegion26 } from './box-morphology';
import type { LocalShape } from './local-shape';
import { LUNG_NODULE_PARAMS } from './params';
import type { VoxelBox } from './volume-grid';

/** The structure segmented around a candidate, on its box. */
export interface BoxedStructure {
  readonly box: VoxelBox;
  /** HU inside the lung mask, NaN outside the volume or the lung. */
  readonly lungHu: Float32Array;
  /** HU everywhere inside the volume, NaN outside it. */
  readonly hu: Float32Array;
  /**
   * 1 where only the rolling-ball closing made the voxel lung (the pleural side of a bite in the
   * lung's contour); absent when the lung mask was not closed.
   */
  readonly pleural?: Uint8Array;
  /** The candidate's seed voxel, box-local index (the box's centre). */
  readonly seed: number;
  /** HU down to which the structure is followed. */
  readonly linkHu: number;
  /** The candidate's core is subsolid (ground glass): its ground glass may lie against the wall. */
  readonly subsolidCore?: boolean;
}

/** The ball is at least this fraction of the blob radius: thinner attachments are cut. */
const OPENING_MIN_BLOB_FRACTION = 0.6;
/** ... and this fraction of the structure's own inscribed radius at the candidate (a tube's core is cut too). */
const OPENING_INSCRIBED_FRACTION = 0.7;
/** The inscribed radius is looked for within the blob radius plus this (mm) of the candidate. */
const INSCRIBED_SEARCH_MARGIN_MM = 2;
/** Near the candidate: within this many blob radii (plus a slice) the cut fraction is measured. */
const CUT_NEIGHBOURHOOD_BLOB_RADII = 1.5;
/**
 * Around a solid core the blob verdict overrides "mostly tubes" only if the opening kept at least
 * a third of the structure near the candidate: the nodule is a body at least half the volume of
 * the vessel lengths it touches there. An 8.4 mm solid nodule (310 mm³) on a 4 mm vessel crossing
 * the neighbourhood (1.5 blob radii + a slice: 11 mm for its 5.6 mm blob, 270 mm³ of vessel)
 * loses about 0.47 of it, 0.6 with a second, thinner vessel. A junction or crossing of vessels of
 * the core's own density keeps only the knot where the ball still fits, and that knot answers the
 * dot filter as a blob does (Li, Sone & Doi 2003): the two knots a plain blob test let through on
 * the hard phantoms (seeds 1003 and 1010) kept 0.10 and 0.23 of their neighbourhoods.
 */
export const MAX_SOLID_BODY_CUT_FRACTION = 2 / 3;
/**
 * ... and only if the kept body is clearly wider than the vessels cut from it: its largest
 * inscribed radius at least this many times theirs. A nodule on a vessel is a sphere wider than
 * the vessel (an 8 mm nodule on a 3-4 mm vessel: 4 mm against 1.5-2 mm, about 2x); the knot
 * where vessels of the core's own density meet or cross is about as wide as its widest branch
 * (Y-junction: the inscribed sphere of the fork grows by a few tens of per cent at most, which
 * the ball of the opening keeps). On fresh hard phantoms (seeds 7000-7029) the two knots the
 * blob-and-body test let through measured 0.86 and 0.97, the 8.4 and 8.7 mm nodules it gained
 * 1.49 and 1.94: 1.25 lies between with room for the discretisation (a voxel is 0.7 mm).
 */
export const MIN_SOLID_BODY_WIDTH_RATIO = 1.25;

export type VesselCheck =
  | { readonly separated: true; readonly part: Uint8Array }
  | { readonly separated: false; readonly reason: 'leaves-box' }
  /** blobness: the core's |λ3| / |λ2| where its local shape was asked (absent where the opening alone decided). */
  /** strength: the core's weakest curvature as a share of a sphere's (where the blob test failed). */
  /** widthRatio: the kept body's inscribed radius over the cut tubes' (present where it was asked). */
  | {
      readonly separated: false;
      readonly reason: 'mostly-tubes';
      readonly cutFraction: number;
      readonly blobness?: number;
      readonly strength?: number;
      readonly widthRatio?: number;
    };

/**
 * Whether a structure leaves its box: a voxel on the box's faces, or a solid one next to dense
 * tissue (at least `linkHu`) outside the lung mask (a vessel running into the hilum, anything
 * fused with the chest wall). Contact made across a bite the rolling ball closed is the broad
 * base of a juxtapleural nodule, not a way out: a tube leaving through the wall still reaches a
 * face. Nor is a ground-glass structure's ground glass lying against the wall (it is air-like,
 * so the lung mask holds it and makes no bite): a vessel entering the mediastinum does so at its
 * solid density. Around a solid core the rule stays strict: a solid structure's partial-volume
 * rim on the diaphragm or the wall is subsolid too.
 */
export function leavesBox(structure: BoxedStructure, mask: Uint8Array): boolean {
  const { box, lungHu, hu, linkHu, pleural, subsolidCore } = structure;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    if (box.onFace(i)) return true;
    if (pleural?.[i] || (subsolidCore === true && hu[i]! < LUNG_NODULE_PARAMS.solidHu)) continue;
    for (const n of box.faceNeighboursOfInterior(i)) {
      if (Number.isNaN(lungHu[n]!) && hu[n]! >= linkHu) return true;
    }
  }
  return false;
}

/**
 * Opens a structure that leaves its box with a ball of about 0.7 x its inscribed radius at the
 * candidate (at least 0.6 x the blob radius): a nodule with thinner vessels attached keeps its
 * body, a vessel keeps leaving the box. When the opening cuts most of the structure near the
 * candidate away, the core's local 3-D shape decides (local-shape.ts): a tube is a vessel, a
 * blob is a nodule beside vessels (the opened part is its body). Around a solid core the blob
 * must also have kept a body: at most MAX_SOLID_BODY_CUT_FRACTION of the structure near it cut,
 * and that body must be wider than the vessels cut from it (MIN_SOLID_BODY_WIDTH_RATIO).
 * `judgeCore` is asked only when the opening cut most of the structure (it costs tens of
 * Gaussian sums, and most candidates that leave their box are vessels the opening settles).
 */
export function separateFromVessels(
  structure: BoxedStructure,
  component: Uint8Array,
  blobRadiusMm: number,
  judgeCore: () => LocalShape,
): VesselCheck {
  const { box } = structure;
  const centreZ = box.zOf(structure.seed);
  const centreX = box.xOf(structure.seed);
  const centreY = box.yOf(structure.seed);
  const inscribedMm = inscribedRadiusMm(box, component, centreZ, centreX, centreY, blobRadiusMm + INSCRIBED_SEARCH_MARGIN_MM);
  const ballRadiusMm = Math.max(OPENING_MIN_BLOB_FRACTION * blobRadiusMm, OPENING_INSCRIBED_FRACTION * inscribedMm);
  const opened = openAroundSeed(box, component, structure.seed, ballRadiusMm);
  if (!opened || leavesBox(structure, opened)) return { separated: false, reason: 'leaves-box' };
  // What the opening cut off near the candidate must be thin stuff (vessels attached to a
  // nodule), not most of it.
  const { xSpacingMm: dx, ySpacingMm: dy, zSpacingMm: dz } = box.grid;
  const near = CUT_NEIGHBOURHOOD_BLOB_RADII * blobRadiusMm + dz;
  let inNear = 0;
  let cut = 0;
  for (let i = 0; i < box.voxelCount; i++) {
    if (!component[i]) continue;
    const offX = (box.xOf(i) - centreX) * dx;
    const offY = (box.yOf(i) - centreY) * dy;
    const offZ = (box.zOf(i) - centreZ) * dz;
    if (offX * offX + offY * offY + offZ * offZ > near * near) continue;
    inNear++;
    if (!opened[i]) cut++;
  }
  const cutFraction = inNear > 0 ? cut / inNear : 1;
  if (cutFraction <= LUNG_NODULE_PARAMS.maxCutFraction) return { separated: true, part: opened };
  // The cheap test first: most vessel knots around a solid core fail it, and need no Gaussian sums.
  const bodyKept = structure.subsolidCore === true || cutFraction <= MAX_SOLID_BODY_CUT_FRACTION;
  if (!bodyKept) return { separated: false, reason: 'mostly-tubes', cutFraction };
  const core = judgeCore();
  if (!core.isBlob) return { separated: false, reason: 'mostly-tubes', cutFraction, blobness: core.blobness, strength: core.strength };
  if (structure.subsolidCore !== true) {
    // Last, and only here: two distance transforms of the box, for the few solid blobs left.
    const width = bodyAndTubeWidth(box, component, opened);
    const widthRatio = width.tubeMm > 0 ? width.bodyMm / width.tubeMm : Infinity;
    if (widthRatio < MIN_SOLID_BODY_WIDTH_RATIO)
      return { separated: false, reason: 'mostly-tubes', cutFraction, blobness: core.blobness, widthRatio };
  }
  return { separated: true, part: opened };
}

/**
 * Largest in-plane distance (mm) from the component's edge on slice z, within `withinMm` of
 * (centreX, centreY): chamfer 3-4 distance transform.
 */
function inscribedRadiusMm(box: VoxelBox, component: Uint8Array, z: number, centreX: number, centreY: number, withinMm: number): number {
  const { sizeX, sizeY, plane } = box;
  const { xSpacingMm: dx, ySpacingMm: dy } = box.grid;
  const distance = new Float32Array(plane);
  const offset = z * plane;
  const far = 1e9;
  for (let i = 0; i < plane; i++) distance[i] = component[offset + i] ? far : 0;
  const pixel = Math.min(dx, dy);
  const diagonal = Math.hypot(dx, dy);
  // Forward pass (top-left to bottom-right). Outside the box counts as inside the structure (it continues there).
  for (let y = 0; y < sizeY; y++) {
    for (let x = 0; x < sizeX; x++) {
      const i = y * sizeX + x;
      if (distance[i] === 0) continue;
      let d = distance[i]!;
      if (x > 0) d = Math.min(d, distance[i - 1]! + dx);
      if (y > 0) d = Math.min(d, distance[i - sizeX]! + dy);
      if (x > 0 && y > 0) d = Math.min(d, distance[i - sizeX - 1]! + diagonal);
      if (x < sizeX - 1 && y > 0) d = Math.min(d, distance[i - sizeX + 1]! + diagonal);
      distance[i] = d;
    }
  }
  // Backward pass, taking the largest distance near the centre on the way.
  let best = 0;
  for (let y = sizeY - 1; y >= 0; y--) {
    for (let x = sizeX - 1; x >= 0; x--) {
      const i = y * sizeX + x;
      if (distance[i] === 0) continue;
      let d = distance[i]!;
      if (x < sizeX - 1) d = Math.min(d, distance[i + 1]! + dx);
      if (y < sizeY - 1) d = Math.min(d, distance[i + sizeX]! + dy);
      if (x < sizeX - 1 && y < sizeY - 1) d = Math.min(d, distance[i + sizeX + 1]! + diagonal);
      if (x > 0 && y < sizeY - 1) d = Math.min(d, distance[i + sizeX - 1]! + diagonal);
      distance[i] = d;
      if (d < far / 2 && ((x - centreX) * dx) ** 2 + ((y - centreY) * dy) ** 2 <= withinMm * withinMm) best = Math.max(best, d);
    }
  }
  // A pixel next to the edge is at distance ~one pixel; the edge itself lies half a pixel out.
  return Math.max(0, best - pixel / 2);
}

/**
 * Morphological opening of `component` with a ball of `radiusMm`, keeping the part that holds
 * (or is nearest to) the seed; undefined when nothing of it survives near the seed.
 */
function openAroundSeed(box: VoxelBox, component: Uint8Array, seed: number, radiusMm: number): Uint8Array | undefined {
  const ball = ballOffsets(box, radiusMm);
  if (ball.length <= 1) return component;
  const eroded = erode(box, component, ball);
  // The eroded part nearest to the seed.
  let start = -1;
  let bestDistanceSquared = Infinity;
  for (let i = 0; i < box.voxelCount; i++) {
    if (!eroded[i]) continue;
    const distanceSquared = box.distanceSquaredMm(i, seed);
    if (distanceSquared < bestDistanceSquared) {
      bestDistanceSquared = distanceSquared;
      start = i;
    }
  }
  // Farther than the ball's diameter plus a slice: what survived is another structure.
  if (start < 0 || Math.sqrt(bestDistanceSquared) > 2 * radiusMm + box.grid.zSpacingMm) return undefined;
  const core = new Uint8Array(box.voxelCount);
  growRegion26(box, Float32Array.from(eroded), core, start, 1); // eroded is a 0/1 mask
  return dilateWithin(box, core, ball, component);
}

/** How a structure sits against the lung's wall: shares of its voxels, 0..1. */
export interface WallContact {
  /** Share of the structure that only the rolling-ball closing made lung (inside a bite of the contour). */
  readonly inBite: number;
  /** Share of its surface voxels that touch dense tissue outside the (closed) lung: its base on the wall. */
  readonly onWall: number;
}

export function wallContact(structure: BoxedStructure, part: Uint8Array): WallContact {
  const { box, lungHu, hu, linkHu, pleural } = structure;
  let voxels = 0;
  let inBite = 0;
  let surface = 0;
  let onWall = 0;
  for (let i = 0; i < part.length; i++) {
    if (!part[i]) continue;
    voxels++;
    if (pleural?.[i]) inBite++;
    if (box.onFace(i)) continue;
    let isSurface = false;
    let touchesWall = false;
    for (const n of box.faceNeighboursOfInterior(i)) {
      if (part[n]) continue;
      isSurface = true;
      if (Number.isNaN(lungHu[n]!) && hu[n]! >= linkHu) touchesWall = true;
    }
    if (isSurface) surface++;
    if (touchesWall) onWall++;
  }
  return { inBite: voxels > 0 ? inBite / voxels : 0, onWall: surface > 0 ? onWall / surface : 0 };
}

/**
 * Step 3, each candidate segmented in 3D around its peak: threshold halfway between the local
 * lung density and the candidate's core density (so solid nodules are cut at about -400 HU and
 * ground-glass ones at about -680 HU), 26-connected region growing down to a quarter of that
 * contrast in a box a few radii wide. Structures that leave the box go through vessel rejection;
 * what remains must be compact: the ratio of its longest to shortest principal axis must stay
 * under maxElongation (a vessel seen end-on is a round blob on one slice but a long tube across
 * slices) and it must fill its moment ellipsoid.
 */
import type { SeriesVolume } from '../../series-volume';
import { growRegion26 } from './box-morphology';
import type { Candidate } from './candidates';
import { FAINT_MAX_ELONGATION, FAINT_MIN_CONTRAST_HU, FAINT_MIN_DIAMETER_MM, type SmoothedVolume } from './faint-ground-glass';
import { strongestLocalShape, type LocalShape } from './local-shape';
import type { VoxelMask } from '../types';
import { measureNodule, type NoduleMeasurement } from './nodule-measurements';
import { notchAwareShape } from './notch-fill';
import { MAX_SOLID_ABOVE_OR_BELOW_SHARE, solidAboveOrBelowShare } from './oblique-vessel';
import { interiorShare, MIN_INTERIOR_SHARE, MIN_PEAK_INTERIOR_SHARE } from './ground-glass-tube';
import { noduleMask } from './nodule-mask';
import { cutAtPleura, isBumpOnWall } from './pleural-cut';
import { LUNG_NODULE_PARAMS } from './params';
import { DeferredRecords, type SegmentationRecord } from './segmented-voxels';
import { leavesBox, separateFromVessels, wallContact, type BoxedStructure, type WallContact } from './vessel-rejection';
import { gridIndex, VoxelBox, type VolumeGrid } from './volume-grid';

export interface Accepted {
  readonly outcome: 'accepted';
  /** The segmentation threshold, HU. */
  readonly thresholdHu: number;
  /** How far the elongation stays under its cut-off, relative (0 = on the cut-off, 1 = a sphere). */
  readonly margin: number;
  readonly nodule: NoduleMeasurement & {
    /** Density of the candidate's core, HU. */
    readonly coreHu: number;
  };
  /** How it sits against the chest wall or mediastinum (all 0 for a nodule inside the lung). */
  readonly wall: WallContact;
  /** Its voxels, as many as its measured volume (what a Segmentation segment shows: nodule-mask.ts). */
  readonly mask: VoxelMask;
}

/** Why a candidate was not measured at all. */
export type UnmeasurableReason =
  | 'no-lung-around' // too little lung around the peak to know the background density
  | 'too-faint' // the core is too little denser than the lung around it
  | 'seed-below-threshold' // nothing at the peak reaches the segmentation threshold
  | 'already-segmented' // the peak lies in a structure a stronger candidate segmented
  | 'nothing-denser-than-lung'; // the segmented part weighs nothing

/** Why a measured candidate is not a nodule. */
export type ShapeReason =
  'leaves-box' | 'mostly-tubes' | 'elongated' | 'sparse' | 'too-small' | 'rim-of-solid' | 'oblique-vessel' | 'ground-glass-tube';

export type Rejected =
  | { readonly outcome: 'rejected'; readonly reason: UnmeasurableReason; readonly description: string }
  | {
      readonly outcome: 'rejected';
      readonly reason: ShapeReason;
      /** With the deciding value, e.g. 'elongated (2.31)'. */
      readonly description: string;
      /** The segmentation threshold, HU. */
      readonly thresholdHu: number;
      /** How far the deciding feature is past its cut-off, relative (0 = on the cut-off). */
      readonly margin: number;
      /** The measured shape, and the equivalent diameter (mm) where the rejection came after measuring it. */
      readonly shape?: { readonly elongation: number; readonly fill: number; readonly diameterMm?: number };
    };

export type CandidateOutcome = Accepted | Rejected;

/** A rejection decided by a cut-off on a measured feature (it tells how close a nodule came to being missed). */
export function isDecidedRejection(outcome: CandidateOutcome): outcome is Extract<Rejected, { reason: ShapeReason }> {
  return outcome.outcome === 'rejected' && 'margin' in outcome;
}

/** The core is measured over a disc of this fraction of the blob radius. */
const CORE_DISC_BLOB_FRACTION = 0.4;
/** A neighbouring slice's core must be this much denser (HU) to move the seed off the peak's slice (noise is a few HU). */
const NEIGHBOUR_SLICE_PREFERENCE_HU = 15;
/** A core blocks at least this far (mm): small-scale peaks along a vessel lie a few mm apart. */
const MIN_CORE_BLOCK_MM = 2;
/** The background ring lies between these many blob radii from the peak (mostly lung there)... */
const RING_INNER_BLOB_RADII = 2.5;
const RING_OUTER_BLOB_RADII = 3.5;
/** ... and at least these many pixels (small blobs still get a ring of usable size). */
const RING_MIN_INNER_PX = 3;
const RING_MIN_OUTER_PX = 5;
/** The ring is sampled on a grid of about this many steps across its outer radius. */
const RING_SAMPLES_PER_RADIUS = 12;
/** Fewer lung samples than this in the ring: the background is unknown. */
const RING_MIN_SAMPLES = 8;
/** Lung parenchyma is at most this dense (HU): a ring on vessels or partial volume must not raise the background. */
const LUNG_PARENCHYMA_MAX_HU = -650;
/** Least core-to-lung contrast (HU) a candidate needs to be segmented reliably. */
const MIN_CONTRAST_HU = 150;
/** The segmentation threshold lies this far from lung to core density (halfway: the edge of a blurred blob). */
const SEGMENTATION_FRACTION = 0.5;
/** The box's half-width is two blob radii plus this (mm)... */
const BOX_MARGIN_MM = 4;
/** ... and at least this (mm). */
const BOX_MIN_HALF_WIDTH_MM = 8;

/** A candidate's blob radius (mm) as segmentation uses it: its scale, at least 1 mm, at most half the largest diameter reported. */
export function blobRadiusOf(candidate: Candidate): number {
  return Math.max(1, Math.min(LUNG_NODULE_PARAMS.maxDiameterMm / 2, candidate.radiusMm));
}

/** Half-width (mm, each way) of the box a candidate of this blob radius is segmented in. */
export function boxHalfWidthMm(blobRadiusMm: number): number {
  return Math.max(2 * blobRadiusMm + BOX_MARGIN_MM, BOX_MIN_HALF_WIDTH_MM);
}

/**
 * Segments one candidate and decides whether it is a nodule; records what it segmented in `segmented`.
 *
 * @param lung the lung (holes filled): where the background density is read
 * @param closed the lung closed by the rolling ball (default `lung`): what structures are segmented
 *   within; dense tissue that only the closing added is the pleural side of a juxtapleural nodule
 * @param smoothed the series averaged in-plane (faint-ground-glass.ts): where a part-solid nodule's
 *   faint ground glass is read and segmented (without it, only ground glass that passes the usual floor)
 */
export function segmentCandidate(
  volume: SeriesVolume,
  grid: VolumeGrid,
  lung: readonly Uint8Array[],
  candidate: Candidate,
  segmented: SegmentationRecord,
  closed: readonly Uint8Array[] = lung,
  smoothed?: SmoothedVolume,
): CandidateOutcome {
  const blobRadiusMm = blobRadiusOf(candidate);
  const core = coreDensity(volume, grid, candidate, blobRadiusMm);
  const first = segmentWithCore(volume, grid, { lung, closed }, candidate, segmented, blobRadiusMm, core);
  // A part-solid nodule: its solid core draws the peak, and segmented at the core's density
  // only the core is cut out (or the ground glass around it, weighing little, makes it look
  // sparse). When ground glass surrounds the core, the nodule is segmented again at the
  // ground glass's density and the larger nodule kept (the whole nodule is what is measured:
  // Fleischner Society, Bankier et al., Radiology 2017).
  const solidCore = core.coreHu >= LUNG_NODULE_PARAMS.solidHu;
  // Sparse: the ground glass weighed little; leaves the box: the ground glass lies against the
  // wall, which only a subsolid structure may (vessel-rejection.ts, leavesBox); mostly tubes: the
  // opening sized for the core cut the ground glass away as if it were vessels.
  const worthRetrying =
    first.outcome === 'accepted' ||
    (first.outcome === 'rejected' && (first.reason === 'sparse' || first.reason === 'leaves-box' || first.reason === 'mostly-tubes'));
  if (!solidCore || !worthRetrying) return first;
  // A faint halo is looked for only around a core that is a nodule itself (below).
  const faintHaloAround = first.outcome === 'accepted' ? smoothed : undefined;
  const retry = partSolidRetry(volume, grid, lung[core.slice]!, core.slice, candidate, blobRadiusMm, faintHaloAround);
  if (retry === undefined) return first;
  // What the retry segments blocks later candidates only if the retry is taken.
  const tentative = new DeferredRecords(segmented);
  const whole = segmentWithCore(retry.values, grid, { lung, closed }, retry.candidate, tentative, blobRadiusMm, {
    coreHu: retry.haloHu,
    slice: core.slice,
  });
  const smallestMm = Math.max(retry.minDiameterMm, smallestPartSolidMm(first));
  if (whole.outcome !== 'accepted' || whole.nodule.diameterMm < smallestMm) return first;
  tentative.commit();
  return whole;
}

/** How the part-solid retry segments a solid core's halo: on which values, at which density, as which candidate, from what size. */
interface PartSolidRetry {
  readonly values: SeriesVolume;
  readonly haloHu: number;
  readonly candidate: Candidate;
  readonly minDiameterMm: number;
}

/**
 * The ground glass around a solid core, if any, and how the retry segments it. Ground glass that
 * passes the usual floor (MIN_CONTRAST_HU over the lung) is segmented on the CT values as it is.
 * A fainter halo (real part-solid nodules' ground glass starts at about -800 HU, 100 HU over the
 * lung: faint-ground-glass.ts) is read again on the values averaged in-plane, at the faint floor
 * (Rose's criterion: half the contrast is as detectable at twice the size; averaging takes the
 * pixel noise down), and segmented on them, for a whole of at least FAINT_MIN_DIAMETER_MM. The
 * averaged values are only computed where the raw disc's median is already at the faint floor
 * (`faintOnRaw`), and only around a solid core accepted as a nodule (`smoothed` is
 * undefined otherwise): around a core that is no nodule itself — a vessel leaving the box, a
 * knot of tubes — the vessels' partial volume in dense, dependent lung reads as a faint halo
 * (when tried around every solid core, four such "part-solid" findings of 10-16 mm, mean -576 to
 * -385 HU, appeared on LIDC-IDRI-0002, and the faint read ran some 2000 times on it).
 */
function partSolidRetry(
  volume: SeriesVolume,
  grid: VolumeGrid,
  lung: Uint8Array,
  slice: number,
  candidate: Candidate,
  blobRadiusMm: number,
  smoothed: SmoothedVolume | undefined,
): PartSolidRetry | undefined {
  const halo = groundGlassAround(volume, grid, lung, slice, candidate, blobRadiusMm, MIN_CONTRAST_HU);
  if (halo === undefined) return undefined;
  if (halo.haloHu !== undefined) return { values: volume, haloHu: halo.haloHu, candidate, minDiameterMm: 0 };
  if (smoothed === undefined || !halo.faintOnRaw) return undefined;
  const faint = groundGlassAround(smoothed.view(slice, slice), grid, lung, slice, candidate, blobRadiusMm, FAINT_MIN_CONTRAST_HU);
  if (faint?.haloHu === undefined) return undefined;
  // The slices the segmentation box reaches around the core's slice.
  const reach = Math.ceil(boxHalfWidthMm(blobRadiusMm) / grid.zSpacingMm);
  return {
    values: smoothed.view(slice - reach, slice + reach),
    haloHu: faint.haloHu,
    // Judged as a faint candidate: its contrast against the faint floor, and its shape against the
    // faint elongation limit, by decision: a solid border's partial volume (the heart's, a vessel's)
    // reads as faint ground glass on averaged values as much as a halo does, and such bands are
    // long; measuring a part-solid nodule as its core is the lesser error than measuring a band as
    // its ground glass (test/lung-nodules: an elongated faint halo leaves the core measured alone).
    candidate: { ...candidate, faint: true },
    minDiameterMm: FAINT_MIN_DIAMETER_MM,
  };
}

/**
 * The smallest whole nodule the part-solid retry takes around a solid core segmented as `first`.
 * A part-solid nodule is ground glass with a solid component in it (Fleischner Society glossary,
 * Hansell et al., Radiology 2008): the whole must be larger than the solid part the first
 * segmentation measured, by PART_SOLID_MIN_GROWTH (a solid nodule's partial-volume rim and the
 * vessels touching it add far less), whatever its size, so a small part-solid nodule counts as
 * well as a large one (around a sparse core a whole of PART_SOLID_MIN_DIAMETER_MM or more is
 * taken as before). Where the first segmentation measured nothing (it left the box, or the
 * opening cut it as tubes) the core's size is unknown, and only a whole of at least
 * PART_SOLID_MIN_DIAMETER_MM is taken: around small-scale candidates on thin vessels the
 * partial-volume rim looks like a few voxels of ground glass.
 */
function smallestPartSolidMm(first: CandidateOutcome): number {
  if (first.outcome === 'accepted') return PART_SOLID_MIN_GROWTH * first.nodule.diameterMm;
  const measured = 'shape' in first ? first.shape?.diameterMm : undefined;
  if (measured === undefined) return PART_SOLID_MIN_DIAMETER_MM;
  // Found sparse, the core was grown into the ground glass around it and measured with it at low
  // weight: a large whole may come out less than 1.25 times that, and is taken from 10 mm as before.
  return Math.min(PART_SOLID_MIN_DIAMETER_MM, Math.max(LUNG_NODULE_PARAMS.minDiameterMm, PART_SOLID_MIN_GROWTH * measured));
}

/**
 * A subsolid core inside a structure whose dense part is solid: the peak lay on the
 * partial-volume rim of a solid structure (a junction of vessels, a vessel beside thin ones),
 * not on a nodule's centre. A nodule is densest at its centre — a ground-glass nodule is
 * ground glass throughout, a part-solid one has its solid component inside (Fleischner Society
 * glossary, Hansell et al., Radiology 2008) — so the core a peak finds on a nodule is at least
 * as dense as the nodule's mean. Segmented at the rim's low threshold the structure takes in
 * the solid tissue and its thin branches, and would be worded "ground-glass" at a solid mean
 * density. The same holds for the retry at a part-solid nodule's ground glass (segmentCandidate):
 * segmented at the ground glass's density, a part-solid nodule is mostly ground glass (its solid
 * component is the smaller part), a cluster of vessels in denser lung is mostly vessel. So the
 * structure must be both: its densest voxels solid on average, and RIM_MIN_SOLID_SHARE of all its
 * voxels solid (a part-solid nodule seen from a peak on its ground glass passes the first, its
 * densest voxels being its solid component's, not the second). Returns the rejection, or
 * undefined when the rule does not apply.
 */
function solidBodyAroundSubsolidCore(nodule: NoduleMeasurement, coreHu: number, thresholdHu: number): Rejected | undefined {
  const { meanHu, elongation, fill } = nodule;
  const solidHu = LUNG_NODULE_PARAMS.solidHu;
  const mostlySolid = meanHu >= solidHu && nodule.solidShare >= RIM_MIN_SOLID_SHARE;
  if (coreHu >= solidHu || !mostlySolid) return undefined;
  return rejected(
    'rim-of-solid',
    `subsolid core (${coreHu.toFixed(0)} HU) on a solid structure (mean ${meanHu.toFixed(0)} HU, solid share ${nodule.solidShare.toFixed(2)})`,
    thresholdHu,
    (meanHu - solidHu) / Math.abs(solidHu),
    { elongation, fill },
  );
}

/** Segments a candidate whose core has density `coreHu` on `slice`, and decides whether it is a nodule. */
function segmentWithCore(
  volume: SeriesVolume,
  grid: VolumeGrid,
  masks: { readonly lung: readonly Uint8Array[]; readonly closed: readonly Uint8Array[] },
  candidate: Candidate,
  segmented: SegmentationRecord,
  blobRadiusMm: number,
  core: { readonly coreHu: number; readonly slice: number },
): CandidateOutcome {
  const { lung, closed } = masks;
  const { coreHu, slice } = core;
  const backgroundHu = lungBackgroundHu(volume, grid, lung[slice]!, slice, candidate, blobRadiusMm);
  if (backgroundHu === undefined) return unmeasurable('no-lung-around', 'no lung around');
  // Ground glass proposed beside a vessel is segmented with the solid voxels left out, and its
  // ring among through-plane vessels reads them, up to the parenchyma cap (-650 HU), denser than a
  // faint nodule's own edge: its contrast is judged over the lung alone. Its threshold stays
  // halfway to the usual ring (over the lung alone it would sink into the vessels' partial volume).
  const faintnessHu = candidate.groundGlassOnly
    ? (lungBackgroundHu(volume, grid, lung[slice]!, slice, candidate, blobRadiusMm, true) ?? backgroundHu)
    : backgroundHu;
  // A faint candidate (faint-ground-glass.ts) is large and read on averaged values: less contrast is detectable.
  if (coreHu - faintnessHu < (candidate.faint ? FAINT_MIN_CONTRAST_HU : MIN_CONTRAST_HU)) return unmeasurable('too-faint', 'too faint');
  const thresholdHu = backgroundHu + SEGMENTATION_FRACTION * (coreHu - backgroundHu);
  // Structures are followed at a quarter of the contrast: a thin oblique vessel on thick slices
  // is a chain of short streaks that only touch through their faint partial-volume ends.
  const linkHu = backgroundHu + LUNG_NODULE_PARAMS.linkFraction * (coreHu - backgroundHu);
  const seed = densestNextToPeak(volume, grid, slice, candidate);
  if (seed.hu < thresholdHu) return unmeasurable('seed-below-threshold', 'seed below threshold');
  if (segmented.alreadySegmented(gridIndex(grid, seed.column, seed.row, slice), linkHu))
    return unmeasurable('already-segmented', 'already segmented');

  let structure: BoxedStructure = {
    ...cutOutBox(
      volume,
      grid,
      { lung, closed },
      { column: seed.column, row: seed.row, slice },
      blobRadiusMm,
      linkHu,
      candidate.groundGlassOnly,
    ),
    subsolidCore: coreHu < LUNG_NODULE_PARAMS.solidHu,
  };
  const { box } = structure;
  const grown = new Uint8Array(box.voxelCount);
  growRegion26(box, structure.lungHu, grown, structure.seed, linkHu);
  let component: Uint8Array = grown;
  let touches = leavesBox(structure, grown);
  // A solid structure against the wall: cut at the pleural surface and judge the part inside
  // the lung, its base on the wall allowed (pleural-cut.ts); it must then be a bump on the wall.
  const atWall = touches && !structure.subsolidCore ? cutAtPleura(structure, grown) : undefined;
  if (atWall) {
    structure = { ...atWall.structure, subsolidCore: false };
    component = atWall.part;
    touches = leavesBox(structure, component);
  }
  // Remember what was segmented so later (weaker) candidates on the same structure are skipped:
  // all of a compact structure, only the candidate's own neighbourhood of one that leaves its
  // box (below: a better-centred candidate on a nodule touching a vessel deserves its own try).
  if (!touches) segmented.record(box, component, linkHu);
  let part: Uint8Array = component;
  if (touches) {
    // The core is judged by its local shape, clipped at its own density: the denser vessels
    // beside a subsolid core weigh as nodule tissue would. A solid core is as dense as the
    // vessels it touches, and a vessel bifurcation answers the dot filter as a blob does (Li et
    // al. 2003): separateFromVessels asks a solid blob to have kept a body through the opening.
    const judgeCore = (): LocalShape => strongestLocalShape(box, structure.lungHu, structure.seed, blobRadiusMm, backgroundHu, coreHu);
    const check = separateFromVessels(structure, component, blobRadiusMm, judgeCore);
    // Still a vessel through the box after the opening: its candidate's whole blob radius is
    // that vessel. Mostly tubes around a subsolid core: something compact survived the opening
    // beside the vessels, perhaps a ground-glass nodule whose own better-centred peak comes
    // later (the denser vessel beside it draws the stronger, larger-scale peaks): block only
    // this candidate's core, so that peak gets its own try.
    const subsolidBesideTubes = !check.separated && check.reason === 'mostly-tubes' && coreHu < LUNG_NODULE_PARAMS.solidHu;
    segmented.record(box, component, linkHu, subsolidBesideTubes ? coreRadiusMm(blobRadiusMm) : blobRadiusMm);
    if (!check.separated) {
      if (check.reason === 'leaves-box') return rejected('leaves-box', 'leaves the box (vessel)', thresholdHu, 1);
      const maxCut = LUNG_NODULE_PARAMS.maxCutFraction;
      return rejected(
        'mostly-tubes',
        `mostly tubes (${check.cutFraction.toFixed(2)} cut${check.blobness === undefined ? '' : `, core blobness ${check.blobness.toFixed(2)}`}${check.strength === undefined ? '' : ` strength ${check.strength.toFixed(2)}`}${check.widthRatio === undefined ? '' : `, body ${check.widthRatio.toFixed(2)}x as wide as its tubes`})`,
        thresholdHu,
        (check.cutFraction - maxCut) / maxCut,
      );
    }
    part = check.part;
  }

  const nodule = measureNodule(box, part, structure.lungHu, backgroundHu, coreHu, LUNG_NODULE_PARAMS.solidHu);
  if (!nodule) return unmeasurable('nothing-denser-than-lung', 'nothing denser than lung');
  if (atWall && !isBumpOnWall(atWall, part)) return rejected('leaves-box', 'on the wall, not a bump on it', thresholdHu, 1);
  // A proposal around a vessel's notch: the vessel's voxels inside its extent are no hole (notch-fill.ts).
  const { elongation, fill } = candidate.besideNotch ? notchAwareShape(volume, grid, lung, nodule) : nodule;
  const maxElongation = candidate.besideNotch
    ? LUNG_NODULE_PARAMS.maxNotchElongation
    : candidate.faint
      ? FAINT_MAX_ELONGATION
      : LUNG_NODULE_PARAMS.maxElongation;
  if (elongation > maxElongation)
    return rejected('elongated', `elongated (${elongation.toFixed(2)})`, thresholdHu, (elongation - maxElongation) / maxElongation, {
      elongation,
      fill,
    });
  const minFill = LUNG_NODULE_PARAMS.minFill;
  if (fill < minFill)
    return rejected('sparse', `sparse (fill ${fill.toFixed(2)})`, thresholdHu, (minFill - fill) / minFill, {
      elongation,
      fill,
      diameterMm: nodule.diameterMm,
    });
  if (nodule.diameterMm < LUNG_NODULE_PARAMS.minDiameterMm) return rejected('too-small', 'too small', thresholdHu, 1);
  // Before it is recorded as a nodule: the structure is not one, and must not hide the ground
  // glass beside it from later candidates.
  const rim = solidBodyAroundSubsolidCore(nodule, coreHu, thresholdHu);
  if (rim) return rim;
  const mask = noduleMask(box, part, structure.lungHu, backgroundHu, coreHu);
  // Ground glass alone (the search beside vessels) with solid tissue straight above or below: an
  // oblique vessel's partial volume on this slice (oblique-vessel.ts).
  const overSolid = candidate.groundGlassOnly ? solidAboveOrBelowShare(volume, grid, mask) : 0;
  if (overSolid > MAX_SOLID_ABOVE_OR_BELOW_SHARE)
    return rejected(
      'oblique-vessel',
      `ground glass over solid tissue (${overSolid.toFixed(2)} of it): a vessel's partial volume`,
      thresholdHu,
      (overSolid - MAX_SOLID_ABOVE_OR_BELOW_SHARE) / MAX_SOLID_ABOVE_OR_BELOW_SHARE,
      { elongation, fill },
    );
  // Ground glass with almost no interior in plane: a vessel thinner than the slice, partly in the
  // slab, not a nodule's disc (ground-glass-tube.ts) — whether the search proposed it or a peak of
  // the blob score lay on it (where thin vessels cross or converge, their partial volume answers
  // the dot filter at its smallest scale). A solid core is not judged: a solid nodule of 4.5 mm
  // is a few pixels across on its cap slices.
  const interior = candidate.groundGlassOnly || structure.subsolidCore ? interiorShare(volume, grid, mask) : 1;
  const minInterior = candidate.groundGlassOnly ? MIN_INTERIOR_SHARE : MIN_PEAK_INTERIOR_SHARE;
  if (interior < minInterior)
    return rejected(
      'ground-glass-tube',
      `ground glass with no interior in plane (${interior.toFixed(2)} of it): a vessel thinner than the slice`,
      thresholdHu,
      (minInterior - interior) / minInterior,
      { elongation, fill },
    );
  // Accepted: the whole measured part is this nodule for later candidates.
  segmented.record(box, part, linkHu);
  return {
    outcome: 'accepted',
    thresholdHu,
    margin: (maxElongation - elongation) / (maxElongation - 1),
    nodule: { ...nodule, coreHu },
    wall: wallContact(structure, part),
    mask,
  };
}

/** A candidate's core (coreDensity's disc), mm: at least MIN_CORE_BLOCK_MM, at most the blob radius. */
function coreRadiusMm(blobRadiusMm: number): number {
  return Math.min(blobRadiusMm, Math.max(MIN_CORE_BLOCK_MM, CORE_DISC_BLOB_FRACTION * blobRadiusMm));
}

function unmeasurable(reason: UnmeasurableReason, description: string): Rejected {
  return { outcome: 'rejected', reason, description };
}

function rejected(
  reason: ShapeReason,
  description: string,
  thresholdHu: number,
  margin: number,
  shape?: { elongation: number; fill: number; diameterMm?: number },
): Rejected {
  return { outcome: 'rejected', reason, description, thresholdHu, margin, ...(shape ? { shape } : {}) };
}

/**
 * Core density: the mean HU of the densest small disc at the peak, on its slice and the ones
 * next to it; `slice` is where it is densest (the seed's slice). For a proposal of the
 * ground-glass search (`groundGlassOnly`) solid pixels are left out of the disc, as they are
 * of its segmentation: the vessel beside the ground glass is not part of it, and on the slice
 * above or below the vessel often crosses the proposal's disc (an oblique or in-plane vessel);
 * counted in, it makes the core read solid or between vessel and ground glass, and the ground
 * glass is then segmented at a vessel's threshold. A slice whose disc is all solid gives no core.
 */
function coreDensity(
  volume: SeriesVolume,
  grid: VolumeGrid,
  candidate: Candidate,
  blobRadiusMm: number,
): { coreHu: number; slice: number } {
  const { rows, columns } = grid;
  const discRadius = Math.max(1, Math.round((CORE_DISC_BLOB_FRACTION * blobRadiusMm) / grid.xSpacingMm));
  let coreHu = -Infinity;
  let coreSlice = candidate.slice;
  for (let slice = Math.max(0, candidate.slice - 1); slice <= Math.min(grid.slices - 1, candidate.slice + 1); slice++) {
    const hu = volume.values[slice]!;
    let sum = 0;
    let count = 0;
    for (let y = candidate.row - discRadius; y <= candidate.row + discRadius; y++) {
      for (let x = candidate.column - discRadius; x <= candidate.column + discRadius; x++) {
        if (y < 0 || x < 0 || y >= rows || x >= columns || (x - candidate.column) ** 2 + (y - candidate.row) ** 2 > discRadius * discRadius)
          continue;
        const value = hu[y * columns + x]!;
        if (leftOutOfCore(candidate, value)) continue;
        sum += value;
        count++;
      }
    }
    if (count === 0) continue;
    const mean = sum / count;
    if (mean > coreHu + (slice === candidate.slice ? 0 : NEIGHBOUR_SLICE_PREFERENCE_HU)) {
      coreHu = mean;
      coreSlice = slice;
    }
  }
  return { coreHu, slice: coreSlice };
}

/**
 * Segmented at the ground glass's density, a solid core (accepted, or measured and found sparse)
 * must grow by at least this factor in diameter to be taken as part-solid: a solid nodule's own
 * partial-volume rim and the vessels touching it add far less.
 */
const PART_SOLID_MIN_GROWTH = 1.25;
/**
 * Smallest part-solid nodule the ground-glass retry reports (mm) around a core that was not
 * measured (left the box, mostly tubes): around small-scale candidates on thin vessels the
 * partial-volume rim looks like a few voxels of ground glass.
 */
const PART_SOLID_MIN_DIAMETER_MM = 10;
/**
 * A structure around a subsolid core is the rim of a solid one only if at least this share of its
 * voxels is solid tissue. A part-solid nodule is mostly ground glass: a solid component spanning
 * up to two thirds of its diameter is under 0.3 of its volume (0.67³). The mean of its densest
 * voxels alone cannot tell: at the ground glass's low weight those are the solid component's.
 */
const RIM_MIN_SOLID_SHARE = 0.3;
/** The ground glass around a solid core is looked for over a disc of this many blob radii... */
const HALO_DISC_BLOB_RADII = 2;
/** ... and at most this radius (mm): half the largest nodule searched for. */
const HALO_DISC_MAX_MM = LUNG_NODULE_PARAMS.maxDiameterMm / 2;

/**
 * The density of the ground glass around a solid core: the median HU of the lung (holes filled)
 * on a disc of two blob radii around the peak, when it is ground glass (at least `minContrastHu`
 * above the lung background, below the solid density); else `haloHu` is undefined. The
 * core takes at most a third of that disc's area (the peak's blob is about the core), so
 * around a part-solid nodule's core the median is its ground glass; around a solid nodule or a
 * vessel the disc reaches out into the lung and the median is lung. `faintOnRaw`: the median is at
 * least FAINT_MIN_CONTRAST_HU over the lung on these values — asked of the raw disc before the
 * averaged one is read, because averaging spreads a solid nodule's partial-volume rim into the
 * lung around it (the mean leaves out only solid pixels): around a 9.7 mm solid nodule inserted in
 * LIDC-IDRI-0001 the disc's median read 37 HU over the lung raw and 83 HU averaged, and the nodule
 * was measured 13.4 mm when a third of the raw disc at that level was enough. Undefined when the
 * lung background is unknown.
 */
function groundGlassAround(
  volume: SeriesVolume,
  grid: VolumeGrid,
  lung: Uint8Array,
  slice: number,
  candidate: Candidate,
  blobRadiusMm: number,
  minContrastHu: number,
): { readonly haloHu?: number; readonly faintOnRaw: boolean } | undefined {
  const backgroundHu = lungBackgroundHu(volume, grid, lung, slice, candidate, blobRadiusMm);
  if (backgroundHu === undefined) return undefined;
  const radius = Math.min(HALO_DISC_BLOB_RADII * blobRadiusMm, HALO_DISC_MAX_MM) / grid.xSpacingMm;
  const hu = volume.values[slice]!;
  const isGroundGlass = (v: number) => v - backgroundHu >= minContrastHu && v < LUNG_NODULE_PARAMS.solidHu;
  // Most candidates asked are vessels in plain lung: counting first tells whether the median can
  // be ground glass without sorting the disc (the test is monotone on each side, so the median
  // passes it exactly when at most half the samples fall below and more than half below the top).
  let count = 0;
  let belowGroundGlass = 0;
  let belowSolid = 0;
  let belowFaint = 0;
  forEachDiscSample(grid, lung, hu, candidate, radius, (v) => {
    count++;
    if (!(v - backgroundHu >= minContrastHu)) belowGroundGlass++;
    if (v < LUNG_NODULE_PARAMS.solidHu) belowSolid++;
    if (!(v - backgroundHu >= FAINT_MIN_CONTRAST_HU)) belowFaint++;
  });
  const middle = Math.floor(count / 2);
  const faintOnRaw = count > 0 && belowFaint <= middle;
  if (count === 0 || belowGroundGlass > middle || belowSolid <= middle) return { faintOnRaw };
  const samples: number[] = [];
  forEachDiscSample(grid, lung, hu, candidate, radius, (v) => samples.push(v));
  samples.sort((a, b) => a - b);
  const median = samples[middle]!;
  return isGroundGlass(median) ? { haloHu: median, faintOnRaw } : { faintOnRaw };
}

/** Calls `visit` with the HU of every lung pixel of `slice` within `radius` pixels of the candidate. */
function forEachDiscSample(
  grid: VolumeGrid,
  lung: Uint8Array,
  hu: Float32Array,
  candidate: Candidate,
  radius: number,
  visit: (hu: number) => void,
): void {
  for (let y = Math.max(0, Math.floor(candidate.row - radius)); y <= Math.min(grid.rows - 1, candidate.row + radius); y++) {
    for (let x = Math.max(0, Math.floor(candidate.column - radius)); x <= Math.min(grid.columns - 1, candidate.column + radius); x++) {
      if ((x - candidate.column) ** 2 + (y - candidate.row) ** 2 > radius * radius || !lung[y * grid.columns + x]) continue;
      visit(hu[y * grid.columns + x]!);
    }
  }
}

/**
 * Background: the median HU of the lung in a ring at 2.5-3.5 blob radii around the peak, capped
 * at LUNG_PARENCHYMA_MAX_HU; undefined when too little of the ring is lung. `leaveOutSolid`:
 * solid pixels (vessels) are not sampled.
 */
function lungBackgroundHu(
  volume: SeriesVolume,
  grid: VolumeGrid,
  lung: Uint8Array,
  slice: number,
  candidate: Candidate,
  blobRadiusMm: number,
  leaveOutSolid = false,
): number | undefined {
  const { rows, columns } = grid;
  const hu = volume.values[slice]!;
  const samples: number[] = [];
  const inner = Math.max(RING_MIN_INNER_PX, (RING_INNER_BLOB_RADII * blobRadiusMm) / grid.xSpacingMm);
  const outer = Math.max(RING_MIN_OUTER_PX, (RING_OUTER_BLOB_RADII * blobRadiusMm) / grid.xSpacingMm);
  const step = Math.max(1, Math.floor(outer / RING_SAMPLES_PER_RADIUS));
  for (let y = Math.floor(candidate.row - outer); y <= candidate.row + outer; y += step) {
    for (let x = Math.floor(candidate.column - outer); x <= candidate.column + outer; x += step) {
      if (y < 0 || x < 0 || y >= rows || x >= columns) continue;
      const distanceSquared = (x - candidate.column) ** 2 + (y - candidate.row) ** 2;
      if (distanceSquared < inner * inner || distanceSquared > outer * outer) continue;
      const v = hu[y * columns + x]!;
      if (lung[y * columns + x] && !(leaveOutSolid && v >= LUNG_NODULE_PARAMS.solidHu)) samples.push(v);
    }
  }
  if (samples.length < RING_MIN_SAMPLES) return undefined;
  samples.sort((a, b) => a - b);
  return Math.min(LUNG_PARENCHYMA_MAX_HU, samples[Math.floor(samples.length / 2)]!);
}

/** A ground-glass proposal's core and seed leave solid pixels out (the vessel beside it; see coreDensity). */
function leftOutOfCore(candidate: Candidate, value: number): boolean {
  return candidate.groundGlassOnly === true && value >= LUNG_NODULE_PARAMS.solidHu;
}

/**
 * The seed: the densest pixel of the 3x3 around the peak on `slice`; for a ground-glass proposal
 * the densest one below solid (its segmentation leaves solid voxels out: a seed on the vessel
 * would be a voxel outside the structure).
 */
function densestNextToPeak(
  volume: SeriesVolume,
  grid: VolumeGrid,
  slice: number,
  candidate: Candidate,
): { column: number; row: number; hu: number } {
  const hu = volume.values[slice]!;
  let best = { column: candidate.column, row: candidate.row, hu: -Infinity };
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      const value = hu[(candidate.row + dy) * grid.columns + candidate.column + dx]!;
      if (leftOutOfCore(candidate, value)) continue;
      if (value > best.hu) best = { column: candidate.column + dx, row: candidate.row + dy, hu: value };
    }
  }
  return best;
}

/**
 * The box around the seed (two blob radii and a margin each way) with local copies of the HU:
 * everywhere in the volume, and inside the closed lung mask only; and where the closing added
 * to the lung (the pleural side of juxtapleural structures). `groundGlassOnly`: solid voxels
 * count as outside the volume (a candidate from the ground-glass search: the vessel it lies
 * beside is not part of it, and touching it is no way out of the box).
 */
function cutOutBox(
  volume: SeriesVolume,
  grid: VolumeGrid,
  masks: { readonly lung: readonly Uint8Array[]; readonly closed: readonly Uint8Array[] },
  seedAt: { readonly column: number; readonly row: number; readonly slice: number },
  blobRadiusMm: number,
  linkHu: number,
  groundGlassOnly = false,
): BoxedStructure {
  const { column: seedColumn, row: seedRow, slice: seedSlice } = seedAt;
  const halfWidthMm = boxHalfWidthMm(blobRadiusMm);
  const halfX = Math.ceil(halfWidthMm / grid.xSpacingMm);
  const halfY = Math.ceil(halfWidthMm / grid.ySpacingMm);
  const halfZ = Math.ceil(halfWidthMm / grid.zSpacingMm);
  const box = VoxelBox.centredOn(grid, seedColumn, seedRow, seedSlice, halfX, halfY, halfZ);
  const lungHu = new Float32Array(box.voxelCount);
  const hu = new Float32Array(box.voxelCount);
  const pleural = new Uint8Array(box.voxelCount);
  const { columns } = grid;
  const [xFrom, xTo] = [Math.max(0, -box.originX), Math.min(box.sizeX, grid.columns - box.originX)];
  const [yFrom, yTo] = [Math.max(0, -box.originY), Math.min(box.sizeY, grid.rows - box.originY)];
  const [zFrom, zTo] = [Math.max(0, -box.originZ), Math.min(box.sizeZ, grid.slices - box.originZ)];
  // Where a box reaches out of the grid it is NaN (the loop below writes every voxel inside).
  if (xFrom > 0 || yFrom > 0 || zFrom > 0 || xTo < box.sizeX || yTo < box.sizeY || zTo < box.sizeZ) {
    hu.fill(NaN);
    lungHu.fill(NaN);
  }
  const solidHu = LUNG_NODULE_PARAMS.solidHu;
  // Only the part of the box inside the grid is visited, row by row, slice arrays looked up once
  // per slice (this copy runs once or twice per candidate: tens of thousands on a real scan).
  for (let z = zFrom; z < zTo; z++) {
    const gridZ = box.originZ + z;
    const values = volume.values[gridZ]!;
    const inLungSlice = masks.lung[gridZ]!;
    const inClosedSlice = masks.closed[gridZ]!;
    for (let y = yFrom; y < yTo; y++) {
      const rowPixel = (box.originY + y) * columns + box.originX;
      const rowIndex = box.index(0, y, z);
      for (let x = xFrom; x < xTo; x++) {
        const pixel = rowPixel + x;
        const i = rowIndex + x;
        const value = values[pixel]!;
        // Solid tissue is left out, neither structure nor wall: the vessel beside ground glass.
        if (groundGlassOnly && value >= solidHu) {
          hu[i] = NaN;
          lungHu[i] = NaN;
          continue;
        }
        hu[i] = value;
        if (inClosedSlice[pixel]) {
          if (!inLungSlice[pixel]) pleural[i] = 1;
          lungHu[i] = value;
        } else lungHu[i] = NaN;
      }
    }
  }
  return { box, lungHu, hu, pleural, seed: box.index(halfX, halfY, halfZ), linkHu };
}

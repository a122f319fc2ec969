/**
 * 'lung-nodules': turns the reference model's slice-wise blob responses (models/lung-nodule-reference,
 * output channels: 0 blob score, 1 sigma of the best scale in model pixels)
 * into lung-nodule findings, using the CT values of the whole series.
 *
 * 1. Lung mask per slice, closed by a rolling ball for juxtapleural nodules (lung-mask.ts, rolling-ball.ts).
 * 2. Candidates: local maxima of the blob score at or above the manifest's threshold inside that
 *    mask, strongest first (candidates.ts); then ground glass beside the candidates rejected as
 *    vessels, on which no peak lies (ground-glass-candidates.ts); last, faint ground glass over the
 *    whole lung on in-plane averaged slices (faint-lung-search.ts).
 * 3. Each candidate segmented in 3D around its peak (candidate-segmentation.ts); structures that
 *    leave their box are opened and rejected as vessels if they still do, or if the opening cuts
 *    most of them away and a subsolid core is not a blob by its local 3-D shape (vessel-rejection.ts,
 *    local-shape.ts: Hessian eigenvalues, Li, Sone & Doi 2003).
 * 4. Measurements from partial-volume-weighted moments (nodule-measurements.ts).
 * 5. Accepted candidates worded as findings (nodule-finding.ts), one per nodule.
 */
import { pixelToPatient, type SeriesVolume } from '../../series-volume';
import type { FindingDraft, PostprocessContext, PostprocessResult, Postprocessor } from '../types';
import { blobRadiusOf, boxHalfWidthMm, isDecidedRejection, segmentCandidate, type CandidateOutcome } from './candidate-segmentation';
import { findCandidates, type Candidate } from './candidates';
import { SmoothedVolume } from './faint-ground-glass';
import { faintGroundGlassInLung, maskBox } from './faint-lung-search';
import { distinctProposals, groundGlassBesideVessel } from './ground-glass-candidates';
import { lungMasks, type LungMasks } from './lung-mask';
import { clamp01, confidence, round, toFinding } from './nodule-finding';
import { LUNG_NODULE_PARAMS } from './params';
import { RecordOnly, SegmentedVoxels, type SegmentationRecord } from './segmented-voxels';
import { volumeGrid, type VolumeGrid } from './volume-grid';

export { LUNG_NODULE_PARAMS } from './params';
export { CODES } from './nodule-finding';
export { symmetricEigenvalues } from './nodule-measurements';
export type { Candidate } from './candidates';
export type { Accepted, CandidateOutcome, Rejected, ShapeReason, UnmeasurableReason } from './candidate-segmentation';

/** Called for every candidate evaluated, with what became of it (diagnostics: the benchmark's --verbose). */
export type CandidateTrace = (candidate: Readonly<Candidate>, outcome: CandidateOutcome) => void;

/** Rejected candidates this many times the score threshold count for the series' uncertainty (a missed nodule?)... */
const NEAR_MISS_SCORE_FACTOR = 2;
/** ... the strongest this many of them... */
const NEAR_MISS_COUNT = 3;
/** ... at this weight (vessels often come close to the shape limits: they alone never make a series uncertain). */
const NEAR_MISS_WEIGHT = 0.5;
/** Accepted centres closer than this (mm), or than either's radius, are the same nodule. */
const SAME_NODULE_DISTANCE_MM = 3;

export const lungNodules: Postprocessor = (ctx) => findLungNodules(ctx);

/** The lung masks depend on the CT values alone: the node makes them while the model runs. */
export const prepareLungNodules = (volume: SeriesVolume): LungMasks => lungMasks(volume, volumeGrid(volume));

/** Masks prepared for this grid (ctx.prepared), or null when there are none that fit. */
function preparedMasks(prepared: unknown, grid: VolumeGrid): LungMasks | null {
  if (typeof prepared !== 'object' || prepared === null) return null;
  const m = prepared as Partial<LungMasks>;
  const fits = (list: unknown): boolean =>
    Array.isArray(list) &&
    list.length === grid.slices &&
    list.every((s) => s instanceof Uint8Array && s.length === grid.rows * grid.columns);
  return fits(m.filled) && fits(m.closed) && fits(m.search) && m.areaMm2 instanceof Float64Array && Array.isArray(m.bodyCentre)
    ? (m as LungMasks)
    : null;
}

export function findLungNodules(ctx: PostprocessContext, trace?: CandidateTrace): PostprocessResult {
  const volume = ctx.volume;
  const maps = ctx.maps;
  if (!maps || maps.length < 1)
    throw new Error('lung-nodules: needs slice-mode outputs (maps); the model\'s manifest must use preprocessing.mode "slice"');
  const grid = volumeGrid(volume);
  const label = ctx.manifest.output.labels[0] ?? 'nodule';
  const threshold = ctx.manifest.output.thresholds[label] ?? ctx.manifest.output.thresholds['*'] ?? LUNG_NODULE_PARAMS.defaultThreshold;
  const [targetHeight, targetWidth] = ctx.manifest.preprocessing.targetSize as [number, number];
  // Source pixel -> model pixel scale (the runner letterboxes the slice into the model's grid).
  const modelScale = Math.min(targetWidth / grid.columns, targetHeight / grid.rows);

  const masks = preparedMasks(ctx.prepared, grid) ?? lungMasks(volume, grid);
  const candidates = findCandidates(maps, masks.search, grid, threshold, modelScale);
  const segmented = new SegmentedVoxels(grid);
  const findings: FindingDraft[] = [];
  const margins: number[] = [];
  let nearMisses = 0;
  let nearMiss = 0;
  const reported: { x: number; y: number; z: number; diameterMm: number }[] = [];
  const vessels: Candidate[] = [];
  // The series averaged in-plane, slices computed when first asked for (faint-ground-glass.ts): a
  // part-solid nodule's faint halo is read on it, and the faint ground-glass search below runs on it
  // (the search reads the lung alone: only the closed mask's box is averaged for it).
  const lungBoxes = masks.closed.map((mask) => maskBox(mask, grid.columns, grid.rows));
  const smoothed = new SmoothedVolume(volume, (k) => lungBoxes[k]);
  const evaluate = (candidate: Candidate, record: SegmentationRecord = segmented, values: SeriesVolume = volume): void => {
    const outcome = segmentCandidate(values, grid, masks.filled, candidate, record, masks.closed, smoothed);
    trace?.(candidate, outcome);
    if (outcome.outcome === 'rejected') {
      // A subsolid core on a solid structure (rim-of-solid) is a vessel's edge too: ground glass may lie beside it.
      if (outcome.reason === 'leaves-box' || outcome.reason === 'mostly-tubes' || outcome.reason === 'rim-of-solid')
        vessels.push(candidate);
      // A proposal of the ground-glass search is no peak: its rejection tells nothing of a missed one.
      const strongPeak = !candidate.groundGlassOnly && candidate.score >= NEAR_MISS_SCORE_FACTOR * threshold;
      if (isDecidedRejection(outcome) && nearMisses < NEAR_MISS_COUNT && strongPeak) {
        nearMisses++;
        nearMiss = Math.max(nearMiss, 1 - clamp01(outcome.margin));
      }
      return;
    }
    // The same nodule reached from another candidate (e.g. one the first opening cut differently).
    const { centre, diameterMm } = outcome.nodule;
    const [x, y, z] = pixelToPatient(volume, centre.slice, centre.column, centre.row);
    const sameNodule = (r: (typeof reported)[number]): boolean =>
      Math.hypot(r.x - x, r.y - y, r.z - z) < Math.max(SAME_NODULE_DISTANCE_MM, r.diameterMm / 2, diameterMm / 2);
    if (reported.some(sameNodule)) return;
    reported.push({ x, y, z, diameterMm });
    margins.push(Math.min(outcome.margin, (candidate.score - threshold) / threshold));
    const findingConfidence = confidence(candidate.score, threshold, outcome.nodule.elongation);
    // The nodule's voxels go with its finding: a route asking for "seg" gets one segment per nodule.
    findings.push({ ...toFinding(volume, grid, masks, candidate, outcome, findingConfidence, label), mask: outcome.mask });
  };
  for (const candidate of candidates) {
    if (findings.length >= LUNG_NODULE_PARAMS.maxFindings) break;
    evaluate(candidate);
  }
  // Ground glass beside the vessels found: no peak of its own lies on it (ground-glass-candidates.ts).
  // Its blob score is counted as at least the threshold: the search, not the score, found it.
  // The vessel candidates recorded the ground glass beside them as theirs: a proposal is not
  // skipped as already segmented (one on a nodule already reported measures that nodule again,
  // and is dropped as the same nodule).
  const found = vessels.map((vessel) => groundGlassBesideVessel(volume, grid, masks.search, maps[0]![vessel.slice]!, vessel));
  const scored = (proposals: Candidate[]): Candidate[] => proposals.map((p) => ({ ...p, score: Math.max(p.score, threshold) }));
  // The plain search first, then the one around vessels' notches (a vessel through the nodule),
  // each de-duplicated on its own (a notch proposal is judged differently from a plain one
  // beside it): a nodule both reach is measured from the plain proposal, as before.
  const proposals = [
    ...distinctProposals(scored(found.flatMap((f) => f.plain)), grid),
    ...distinctProposals(scored(found.flatMap((f) => f.besideNotch)), grid),
  ];
  const proposalRecord = new RecordOnly(segmented);
  for (const candidate of proposals) {
    if (findings.length >= LUNG_NODULE_PARAMS.maxFindings) break;
    evaluate(candidate, proposalRecord);
  }
  // Faint ground glass last: searched for over the whole lung on in-plane averaged slices
  // (faint-lung-search.ts, faint-ground-glass.ts), deepest first, and segmented on the averaged
  // values (the slices a proposal's segmentation box reaches, and two more each way for the core).
  const smoothedAround = (candidate: Candidate): SeriesVolume => {
    const reach = Math.ceil(boxHalfWidthMm(blobRadiusOf(candidate)) / grid.zSpacingMm) + 2;
    return smoothed.view(candidate.slice - reach, candidate.slice + reach);
  };
  const faintProposals = scored(
    faintGroundGlassInLung(
      volume.values,
      (k) => smoothed.searched(k),
      grid,
      masks.closed,
      maps[0]!,
      (k) => lungBoxes[k],
    ),
  );
  for (const candidate of faintProposals) {
    if (findings.length >= LUNG_NODULE_PARAMS.maxFindings) break;
    evaluate(candidate, proposalRecord, smoothedAround(candidate));
  }
  findings.sort((a, b) => b.confidence - a.confidence);
  // Uncertainty: how close the decisive decisions were to their cut-offs (1 = on the cut-off):
  // the least certain reported finding, and at half weight the strongest candidates rejected.
  const worstFinding = margins.length > 0 ? 1 - Math.min(...margins.map(clamp01)) : 0;
  return { findings, uncertainty: round(Math.max(worstFinding, NEAR_MISS_WEIGHT * nearMiss), 3) };
}

/** Step 5: an accepted candidate worded as a finding draft: measurements, site (side, zone), region, composition. */
import { UCUM_HU, UCUM_MM, UCUM_MM3, type Code, type Measurement } from '../../findings';
import { pixelToPatient, type SeriesVolume } from '../../series-volume';
import type { FindingDraft } from '../types';
import type { Accepted } from './candidate-segmentation';
import type { Candidate } from './candidates';
import type { LungMasks } from './lung-mask';
import { LUNG_NODULE_PARAMS } from './params';
import type { VolumeGrid } from './volume-grid';

export const CODES = {
  nodule: { value: '27925004', scheme: 'SCT', meaning: 'Nodule' } as Code,
  lung: { value: '39607008', scheme: 'SCT', meaning: 'Lung' } as Code,
  diameter: { value: '81827009', scheme: 'SCT', meaning: 'Diameter' } as Code,
  volume: { value: '118565006', scheme: 'SCT', meaning: 'Volume' } as Code,
  attenuation: { value: '112031', scheme: 'DCM', meaning: 'Attenuation Coefficient' } as Code,
};

/** Slices with less lung than this (mm²) show the trachea or bowel gas, not lung: they do not count for the zones. */
const MIN_LUNG_AREA_MM2 = 800;
/** Confidence: the blob score's share, scaled by this at the worst allowed shape... */
const CONFIDENCE_SHAPE_FLOOR = 0.7;
/** ... plus up to this for a sphere (the two add up to 1). */
const CONFIDENCE_SHAPE_WEIGHT = 0.3;

/** In [0,1]: 0.5 x (0.7..1) at the score threshold, towards 1 for strong, round blobs. */
export function confidence(score: number, threshold: number, elongation: number): number {
  const scoreShare = score / (score + threshold); // 0.5 at the threshold, -> 1 for strong blobs
  const limit = LUNG_NODULE_PARAMS.maxElongation;
  const shape = Math.max(0, Math.min(1, (limit - elongation) / (limit - 1)));
  return round(Math.max(0, Math.min(1, scoreShare * (CONFIDENCE_SHAPE_FLOOR + CONFIDENCE_SHAPE_WEIGHT * shape))), 3);
}

export function toFinding(
  volume: SeriesVolume,
  grid: VolumeGrid,
  masks: LungMasks,
  candidate: Candidate,
  accepted: Accepted,
  confidenceValue: number,
  label: string,
): FindingDraft {
  const { nodule } = accepted;
  const centre = nodule.centre;
  const centreSlice = Math.max(0, Math.min(grid.slices - 1, Math.round(centre.slice)));
  const [x, y, z] = pixelToPatient(volume, centre.slice, centre.column, centre.row);
  // Side: patient coordinates relative to the body's centre on that slice (LPS: +x = patient's left).
  const [bodyColumn, bodyRow] = masks.bodyCentre[centreSlice]!;
  const mid = pixelToPatient(volume, centreSlice, bodyColumn, bodyRow);
  const laterality: 'right' | 'left' = x < mid[0] ? 'right' : 'left';
  const zone = zoneOf(volume, grid, masks, centre.slice);
  const location = `${laterality} ${zone} zone`;
  const slice = volume.slices[centreSlice]!;
  const diameterMm = round(nodule.diameterMm, 1);
  const volumeMm3 = round(nodule.volumeMm3, 0);
  const meanHu = round(nodule.meanHu, 0);
  const composition = nodule.coreHu >= LUNG_NODULE_PARAMS.solidHu ? 'solid' : 'ground-glass';
  const radiusPx = nodule.diameterMm / 2 / grid.xSpacingMm;
  const measurements: Measurement[] = [
    { key: 'diameterMm', concept: CODES.diameter, value: diameterMm, unit: UCUM_MM },
    { key: 'volumeMm3', concept: CODES.volume, value: volumeMm3, unit: UCUM_MM3 },
    { key: 'meanHu', concept: CODES.attenuation, value: meanHu, unit: UCUM_HU },
  ];
  return {
    label,
    code: CODES.nodule,
    confidence: confidenceValue,
    measurements,
    site: { code: CODES.lung, laterality, text: location },
    attributes: { composition },
    region: {
      sopClassUid: slice.sopClassUid,
      sopInstanceUid: slice.sopInstanceUid,
      ...(slice.frameNumber !== undefined ? { frame: slice.frameNumber } : {}),
      graphicType: 'CIRCLE',
      graphicData: [round(centre.column, 1), round(centre.row, 1), round(centre.column + radiusPx, 1), round(centre.row, 1)],
    },
    centre: {
      x: round(x, 2),
      y: round(y, 2),
      z: round(z, 2),
      ...(volume.frameOfReferenceUid ? { frameOfReferenceUid: volume.frameOfReferenceUid } : {}),
    },
    templateValues: { diameterMm, volumeMm3, location, composition, meanHu, score: round(candidate.score, 3) },
  };
}

/** upper / middle / lower third of the lungs' extent along the slice normal. */
function zoneOf(volume: SeriesVolume, grid: VolumeGrid, masks: LungMasks, slice: number): 'upper' | 'middle' | 'lower' {
  let lo = -1;
  let hi = -1;
  for (let i = 0; i < grid.slices; i++) {
    if (masks.areaMm2[i]! >= MIN_LUNG_AREA_MM2) {
      if (lo < 0) lo = i;
      hi = i;
    }
  }
  if (lo < 0 || hi <= lo) return 'middle';
  // Slices are ordered by increasing position along the normal; for axial (normal +z) that is
  // foot to head, so the upper zone is at the high end.
  const t = (slice - lo) / (hi - lo);
  const headFirst = volume.normal[2] >= 0;
  const up = headFirst ? t : 1 - t;
  return up > 2 / 3 ? 'upper' : up < 1 / 3 ? 'lower' : 'middle';
}

export function clamp01(v: number): number {
  return v <= 0 ? 0 : v >= 1 ? 1 : v;
}

export function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

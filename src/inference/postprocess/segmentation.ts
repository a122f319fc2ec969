/**
 * 'segmentation-volumes': a volume-mode segmentation output [1, C, D, H, W] -> one finding per
 * segmented structure with its volume. Nothing here knows a particular model: the classes are
 * the manifest's output.labels (in channel order), the voxel size comes with the output.
 *
 * Per voxel: the label is the argmax over the channels (a single-channel output: its one label
 * where the probability reaches the manifest's threshold for it, default 0.5). Per label
 * (background excluded: labels named "background", else channel 0):
 * - volume: voxel count × voxel volume, as `volumeMl` (and `volumeMm3`), SR concept SCT 118565006
 *   "Volume" with UCUM units;
 * - confidence: the mean over the label's voxels of the winning class probability;
 * - centre: the centroid of the label's voxels in patient coordinates (the conformed grid of
 *   conform.ts, which built the input).
 * Series uncertainty: the fraction of non-background voxels whose two best class probabilities are
 * less than 0.5 apart (UNSURE_MARGIN) — voxels the model could nearly as well have given another
 * class, e.g. the grey/white boundary. 0 when nothing but background was found.
 *
 * Probabilities: ctx.output is after the manifest's activation; when its values are not all within
 * [0, 1] (the manifest said "none" but the model returns logits), a softmax over the channels is
 * applied here. The argmax (hence the volumes) is the same either way.
 */
import { UCUM_ML, UCUM_MM3, type Code, type Measurement } from '../findings';
import { conformGrid, conformedToPatient } from '../conform';
import type { FindingDraft, PostprocessContext, PostprocessResult, Postprocessor } from './types';

export const VOLUME_CONCEPT: Code = { value: '118565006', scheme: 'SCT', meaning: 'Volume' };

/** Top-2 probability margin below which a voxel counts as unsure. */
export const UNSURE_MARGIN = 0.5;

/**
 * Codes for common segmentation labels, from DICOM PS3.16 CID 7153 "CNS Segmentation Type" (SCT),
 * meanings spelt exactly as the table has them (test/standard-codes.test.ts checks them).
 * Keys are normalised label names (lower case, "grey" spelt "gray", separators as spaces).
 */
const KNOWN_LABELS: Readonly<Record<string, Code>> = {
  'white matter': { value: '389080008', scheme: 'SCT', meaning: 'White Matter' },
  'gray matter': { value: '389081007', scheme: 'SCT', meaning: 'Gray Matter' },
  'cerebral white matter': { value: '68523003', scheme: 'SCT', meaning: 'Cerebral White Matter' },
  'cerebral cortex': { value: '40146001', scheme: 'SCT', meaning: 'Cerebral cortex' },
  'cerebellar white matter': { value: '33060004', scheme: 'SCT', meaning: 'Cerebellar white matter' },
  'cerebrospinal fluid': { value: '65216001', scheme: 'SCT', meaning: 'Cerebrospinal Fluid' },
  csf: { value: '65216001', scheme: 'SCT', meaning: 'Cerebrospinal Fluid' },
  brain: { value: '12738006', scheme: 'SCT', meaning: 'Brain' },
  cerebellum: { value: '113305005', scheme: 'SCT', meaning: 'Cerebellum' },
  'brain stem': { value: '119238007', scheme: 'SCT', meaning: 'Brain stem' },
  'lateral ventricle': { value: '66720007', scheme: 'SCT', meaning: 'Lateral ventricle' },
  hippocampus: { value: '5366008', scheme: 'SCT', meaning: 'Hippocampus' },
  thalamus: { value: '42695009', scheme: 'SCT', meaning: 'Thalamus' },
};

function normaliseLabel(label: string): string {
  return label
    .toLowerCase()
    .replace(/[_\-./]+/g, ' ')
    .replace(/\bgrey\b/g, 'gray')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * The coded concept for a manifest label: a standard SCT code for the common anatomical labels
 * above, else a private 99DAIN code (value: the label in capitals, at most 16 characters; meaning:
 * the label as written) so that the SR still names the class.
 */
export function labelCode(label: string): Code {
  const known = KNOWN_LABELS[normaliseLabel(label)];
  if (known) return known;
  const value =
    normaliseLabel(label)
      .toUpperCase()
      .replace(/[^A-Z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 16) || 'LABEL';
  return { value, scheme: '99DAIN', meaning: label };
}

/**
 * Which channels are background: labels named "background"; when none is, channel 0 — except for
 * a single-channel output, whose one label is the structure (voxels at or above its threshold).
 */
export function backgroundChannels(labels: readonly string[]): boolean[] {
  const named = labels.map((l) => normaliseLabel(l) === 'background');
  if (labels.length === 1) return named;
  return named.some(Boolean) ? named : labels.map((_, i) => i === 0);
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export interface LabelStats {
  readonly label: string;
  readonly voxels: number;
  /** Mean winning-class probability over the label's voxels. */
  readonly meanProbability: number;
  /** Centroid in output-grid voxels (i, j, k) = (W, H, D indices). */
  readonly centroid: readonly [number, number, number];
}

/** The per-voxel pass, exported for tests and tools: counts, confidences, centroids, unsure voxels. */
export function segmentationStats(
  data: Float32Array,
  dims: readonly number[],
  labels: readonly string[],
  /** Single-channel outputs only: the probability at or above which a voxel belongs to the label. */
  threshold = 0.5,
): { stats: LabelStats[]; foreground: number; unsure: number; logits: boolean } {
  const spatial = dims.length === 5 ? dims.slice(2) : dims.length === 4 ? dims.slice(1) : null;
  const C = dims.length === 5 ? dims[1]! : dims[0]!;
  if (!spatial || (dims.length === 5 && dims[0] !== 1))
    throw new Error(`segmentation output has shape [${dims.join(', ')}]; expected [1, C, D, H, W]`);
  if (C !== labels.length)
    throw new Error(`segmentation output has ${C} channels but the manifest lists ${labels.length} labels (${labels.join(', ')})`);
  const [D, H, W] = spatial as [number, number, number];
  const plane = D * H * W;
  if (data.length !== C * plane) throw new Error(`segmentation output has ${data.length} values, [${dims.join(', ')}] needs ${C * plane}`);

  let min = Infinity;
  let max = -Infinity;
  for (let p = 0; p < data.length; p++) {
    const v = data[p]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const logits = min < 0 || max > 1;
  const background = backgroundChannels(labels);

  const count = new Float64Array(C);
  const probSum = new Float64Array(C);
  const sumI = new Float64Array(C);
  const sumJ = new Float64Array(C);
  const sumK = new Float64Array(C);
  let foreground = 0;
  let unsure = 0;
  let i = 0;
  let j = 0;
  let k = 0;
  for (let p = 0; p < plane; p++) {
    let best = 0;
    let b1 = data[p]!;
    let b2 = -Infinity;
    for (let c = 1; c < C; c++) {
      const v = data[c * plane + p]!;
      if (v > b1) {
        b2 = b1;
        b1 = v;
        best = c;
      } else if (v > b2) b2 = v;
    }
    let top: number;
    let second: number;
    if (C === 1) {
      // One channel: the label's probability p against "not the label" 1 - p.
      const p1 = logits ? 1 / (1 + Math.exp(-b1)) : b1;
      const inside = p1 >= threshold;
      best = inside ? 0 : -1;
      top = inside ? p1 : 1 - p1;
      second = 1 - top;
    } else if (logits) {
      let sum = 0;
      for (let c = 0; c < C; c++) sum += Math.exp(data[c * plane + p]! - b1);
      top = 1 / sum;
      second = C > 1 ? Math.exp(b2 - b1) / sum : 0;
    } else {
      top = b1;
      second = C > 1 ? b2 : 0;
    }
    if (best >= 0) {
      count[best]!++;
      probSum[best]! += top;
    }
    if (best >= 0 && !background[best]) {
      foreground++;
      if (top - second < UNSURE_MARGIN) unsure++;
      sumI[best]! += i;
      sumJ[best]! += j;
      sumK[best]! += k;
    }
    if (++i === W) {
      i = 0;
      if (++j === H) {
        j = 0;
        k++;
      }
    }
  }
  const stats = labels.map((label, c): LabelStats => {
    const n = count[c]!;
    return {
      label,
      voxels: n,
      meanProbability: n > 0 ? probSum[c]! / n : 0,
      centroid: n > 0 && !background[c] ? [sumI[c]! / n, sumJ[c]! / n, sumK[c]! / n] : [NaN, NaN, NaN],
    };
  });
  return { stats, foreground, unsure, logits };
}

export const segmentationVolumes: Postprocessor = (ctx: PostprocessContext): PostprocessResult => {
  const out = ctx.output;
  if (!out) throw new Error(`model ${ctx.manifest.name}: segmentation-volumes needs a volume-mode output (preprocessing.mode "volume")`);
  const labels = ctx.manifest.output.labels;
  const thresholds = ctx.manifest.output.thresholds;
  const threshold = thresholds[labels[0] ?? ''] ?? thresholds['*'] ?? 0.5;
  const { stats, foreground, unsure } = segmentationStats(out.data, out.dims, labels, threshold);
  const background = backgroundChannels(labels);
  const spatial = out.dims.slice(-3) as [number, number, number];
  const grid = conformGrid(ctx.volume, spatial, Math.cbrt(out.voxelVolumeMm3));

  const findings: FindingDraft[] = [];
  stats.forEach((s, c) => {
    if (background[c] || s.voxels === 0) return;
    const mm3 = s.voxels * out.voxelVolumeMm3;
    const ml = mm3 / 1000;
    const measurements: Measurement[] = [
      { key: 'volumeMl', concept: VOLUME_CONCEPT, value: round(ml, 3), unit: UCUM_ML },
      { key: 'volumeMm3', concept: VOLUME_CONCEPT, value: round(mm3, 1), unit: UCUM_MM3 },
    ];
    const [x, y, z] = conformedToPatient(grid, s.centroid[0], s.centroid[1], s.centroid[2]);
    findings.push({
      label: s.label,
      code: labelCode(s.label),
      confidence: Math.min(1, Math.max(0, s.meanProbability)),
      measurements,
      centre: {
        x: round(x, 2),
        y: round(y, 2),
        z: round(z, 2),
        ...(ctx.volume.frameOfReferenceUid ? { frameOfReferenceUid: ctx.volume.frameOfReferenceUid } : {}),
      },
      templateValues: { volumeMl: round(ml, 1), volumeMm3: Math.round(mm3) },
    });
  });
  return { findings, uncertainty: foreground > 0 ? unsure / foreground : 0 };
};

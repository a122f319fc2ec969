/**
 * Step 2, candidates: local maxima of the model's blob score at or above the threshold inside
 * the lung search mask, strongest first. The model's output channels: 0 blob score, 1 sigma of the
 * best scale in model pixels. The local maxima are found here, on channel 0 and only at pixels over
 * the threshold: a model channel of them would be a third dense plane per slice to keep.
 */
import type { VolumeGrid } from './volume-grid';

export interface Candidate {
  /** The peak: slice index, column and row. */
  readonly slice: number;
  readonly column: number;
  readonly row: number;
  /** The model's blob score at the peak. */
  readonly score: number;
  /** Blob radius estimate, mm. */
  readonly radiusMm: number;
  /**
   * Found by the ground-glass search beside vessels (ground-glass-candidates.ts), not as a peak:
   * segmented as ground glass alone, solid tissue left out.
   */
  readonly groundGlassOnly?: boolean;
  /**
   * Found there with the vessel's pixels counted as inside the ground glass (a vessel through
   * the nodule): its shape is judged with the vessel's notch in its extent (notch-fill.ts).
   */
  readonly besideNotch?: boolean;
  /**
   * Found by the faint ground-glass search over the whole lung (faint-lung-search.ts): segmented on
   * in-plane averaged CT values, with a lower contrast floor and a stricter elongation limit.
   */
  readonly faint?: boolean;
}

/** Pixels this close to the image border are never candidates (the local-maximum window must fit). */
const BORDER_PIXELS = 2;
/** Half-width (pixels) of the square window a peak must be the maximum of. */
const LOCAL_MAX_HALF_WIDTH = 2;
/** Blob sigma (model pixels) assumed when the model gives no scale channel. */
const DEFAULT_SIGMA_PX = 2;

/**
 * @param modelScale source pixel -> model pixel scale (the runner letterboxes each slice into the model's grid)
 */
export function findCandidates(
  maps: readonly (readonly Float32Array[])[],
  search: readonly Uint8Array[],
  grid: VolumeGrid,
  threshold: number,
  modelScale: number,
): Candidate[] {
  const blob = maps[0]!;
  const sigma = maps[1];
  const out: Candidate[] = [];
  const { rows, columns } = grid;
  for (let k = 0; k < grid.slices; k++) {
    const scores = blob[k]!;
    const inSearch = search[k]!;
    for (let row = BORDER_PIXELS; row < rows - BORDER_PIXELS; row++) {
      for (let col = BORDER_PIXELS; col < columns - BORDER_PIXELS; col++) {
        const i = row * columns + col;
        const score = scores[i]!;
        if (score < threshold || !inSearch[i] || !isLocalMax(scores, columns, i, score)) continue;
        const sigmaPx = sigma ? sigma[k]![i]! / modelScale : DEFAULT_SIGMA_PX;
        // A 2D Gaussian blob detector answers best at sigma = radius / sqrt(2).
        out.push({ slice: k, column: col, row, score, radiusMm: sigmaPx * Math.SQRT2 * grid.xSpacingMm });
      }
    }
  }
  out.sort((a, b) => b.score - a.score || a.slice - b.slice || a.row - b.row || a.column - b.column);
  return out;
}

function isLocalMax(scores: Float32Array, columns: number, i: number, score: number): boolean {
  for (let dy = -LOCAL_MAX_HALF_WIDTH; dy <= LOCAL_MAX_HALF_WIDTH; dy++)
    for (let dx = -LOCAL_MAX_HALF_WIDTH; dx <= LOCAL_MAX_HALF_WIDTH; dx++) if (scores[i + dy * columns + dx]! > score) return false;
  return true;
}

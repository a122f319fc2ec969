/**
 * A volume-mode segmentation output [1, C, D, H, W] -> one label per voxel on the model's grid,
 * as a Segmentation needs it: 0 for background, else the segment number (1, 2, ... over the
 * non-background channels in channel order). The per-voxel decision is the one
 * segmentation-volumes makes (postprocess/segmentation.ts): argmax over the channels, ties to the
 * lower channel; a single-channel output: its label where the probability (a sigmoid of logits)
 * reaches the threshold. So the SEG holds exactly the voxels the SR's volumes count.
 */
import type { Code } from './findings';
import { backgroundChannels, labelCode } from './postprocess/segmentation';

export interface LabelMap {
  /** Segment number per voxel, i fastest (index = i + W·(j + H·k)). */
  readonly data: Uint8Array;
  /** [D, H, W]. */
  readonly dims: readonly [number, number, number];
  /** Segment n is segments[n - 1]: the manifest label and its code. */
  readonly segments: readonly { label: string; code: Code }[];
}

export function segmentationLabelMap(data: Float32Array, dims: readonly number[], labels: readonly string[], threshold = 0.5): LabelMap {
  if (dims.length !== 5 || dims[0] !== 1) throw new Error(`segmentation output has shape [${dims.join(', ')}]; expected [1, C, D, H, W]`);
  const [, C, D, H, W] = dims as [number, number, number, number, number];
  if (C !== labels.length)
    throw new Error(`segmentation output has ${C} channels but the manifest lists ${labels.length} labels (${labels.join(', ')})`);
  const plane = D * H * W;
  if (data.length !== C * plane) throw new Error(`segmentation output has ${data.length} values, [${dims.join(', ')}] needs ${C * plane}`);
  const background = backgroundChannels(labels);
  const segmentOf = new Int32Array(C);
  const segments: { label: string; code: Code }[] = [];
  labels.forEach((label, c) => {
    if (background[c]) return;
    segments.push({ label, code: labelCode(label) });
    segmentOf[c] = segments.length;
  });
  if (segments.length > 255) throw new Error(`a segmentation holds at most 255 segments; the model has ${segments.length} labels`);
  const out = new Uint8Array(plane);
  if (C === 1) {
    const logits = data.some((v) => v < 0 || v > 1);
    for (let p = 0; p < plane; p++) {
      const v = logits ? 1 / (1 + Math.exp(-data[p]!)) : data[p]!;
      if (v >= threshold) out[p] = segmentOf[0]!;
    }
    return { data: out, dims: [D, H, W], segments };
  }
  for (let p = 0; p < plane; p++) {
    let best = 0;
    let top = data[p]!;
    for (let c = 1; c < C; c++) {
      const v = data[c * plane + p]!;
      if (v > top) {
        top = v;
        best = c;
      }
    }
    out[p] = segmentOf[best]!;
  }
  return { data: out, dims: [D, H, W], segments };
}

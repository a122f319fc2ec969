/**
 * The per-voxel labels of a segmentation model's result on the SOURCE grid: what a DICOM
 * Segmentation (report/segmentation-iod.ts) is written from. Made where the model's output is
 * (the post-processing worker, cpu-worker.ts), so the 256³ argmax and the nearest-neighbour
 * resampling never run on the event loop; only rows·columns bytes per source slice come back.
 *
 * The label per voxel is the one segmentation-volumes counts (label-map.ts), with the same
 * threshold, so the SEG holds the voxels the SR's volumes were measured from.
 */
import type { Code } from './findings';
import { conformGrid } from './conform';
import { segmentationLabelMap } from './label-map';
import { labelsOnSourceGrid } from './label-resample';
import type { Manifest } from './manifest';
import type { PostprocessContext, PostprocessResult } from './postprocess/types';
import { canWriteSegmentation } from './postprocess/index';
import { findingMaskLabels } from './finding-masks';

export interface SourceLabels {
  /** Per source slice (volume.slices order), row by row: segment number, 0 = none. */
  readonly slices: Uint8Array[];
  /**
   * Segment n is segments[n - 1]: the manifest label and its code; `findingId` when the segment is
   * one finding's voxels (one segment per nodule), absent when it is a label's (one per class).
   */
  readonly segments: readonly { readonly label: string; readonly code: Code; readonly findingId?: number }[];
}

/** The post-processor whose output is a label per voxel (the lung-nodule one writes per-finding masks instead). */
export const LABEL_POSTPROCESSOR = 'segmentation-volumes';

/**
 * The post-processor a manifest names, or the one its output kind implies: segmentation-volumes for
 * a segmentation, "(classification)" for a classifier, "(<kind>)" (none) otherwise. run-model.ts
 * picks the one it runs with this and checks it exists.
 */
export function postprocessorOf(manifest: Pick<Manifest, 'output'>): string {
  return manifest.output.postprocess ?? (manifest.output.kind === 'segmentation' ? LABEL_POSTPROCESSOR : `(${manifest.output.kind})`);
}

/**
 * Why a route may not ask this model for a Segmentation, or null when it may: decided from the
 * manifest alone, at start-up, so a site learns it before the first series, not from each job.
 */
export function whyCannotWriteSegmentation(manifest: Pick<Manifest, 'output' | 'preprocessing'>): string | null {
  const postprocessor = postprocessorOf(manifest);
  if (!canWriteSegmentation(postprocessor))
    return `its output (kind "${manifest.output.kind}", post-processing "${postprocessor}") gives neither a label per voxel nor per-finding masks, so there is nothing to write as a DICOM Segmentation`;
  // The label map is read from a volume-mode output (sourceLabelsOf); a post-processor with masks of its own need not be.
  if (postprocessor === LABEL_POSTPROCESSOR && manifest.preprocessing.mode !== 'volume')
    return `it runs slice by slice (preprocessing.mode "${manifest.preprocessing.mode}"); a Segmentation is written from a volume-mode label output`;
  return null;
}

/**
 * Why a model's result gives no Segmentation, or null when it does: a volume-mode label output,
 * or a post-processor whose findings carry their voxels (canWriteSegmentation, postprocess/index.ts).
 */
export function whyNoSourceLabels(postprocessor: string, ctx: Pick<PostprocessContext, 'output' | 'manifest'>): string | null {
  if (!canWriteSegmentation(postprocessor) || (postprocessor === LABEL_POSTPROCESSOR && !ctx.output))
    return `model ${ctx.manifest.name} gives no per-voxel label map (post-processing "${postprocessor}"), so there is no Segmentation to send`;
  return null;
}

export function sourceLabelsOf(ctx: PostprocessContext): SourceLabels {
  const out = ctx.output;
  if (!out) throw new Error(`model ${ctx.manifest.name}: a Segmentation needs a volume-mode output`);
  const { labels, thresholds } = ctx.manifest.output;
  const threshold = thresholds[labels[0] ?? ''] ?? thresholds['*'] ?? 0.5;
  const map = segmentationLabelMap(out.data, out.dims, labels, threshold);
  const grid = conformGrid(ctx.volume, map.dims, Math.cbrt(out.voxelVolumeMm3));
  return { slices: labelsOnSourceGrid(ctx.volume, grid, map.data), segments: map.segments };
}

/**
 * The labels when the model gives them, else why not (a series without a Frame of Reference, a
 * non-label model, no finding with voxels). `result` is the post-processor's: its findings' masks.
 */
export function sourceLabelsOrWhyNot(postprocessor: string, ctx: PostprocessContext, result: PostprocessResult): SourceLabels | string {
  const why = whyNoSourceLabels(postprocessor, ctx);
  if (why) return why;
  try {
    return postprocessor === LABEL_POSTPROCESSOR ? sourceLabelsOf(ctx) : findingMaskLabels(ctx.volume, result.findings);
  } catch (e) {
    return `the Segmentation could not be made: ${(e as Error).message}`;
  }
}

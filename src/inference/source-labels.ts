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
import type { PostprocessContext } from './postprocess/types';

export interface SourceLabels {
  /** Per source slice (volume.slices order), row by row: segment number, 0 = none. */
  readonly slices: Uint8Array[];
  /** Segment n is segments[n - 1]: the manifest label and its code. */
  readonly segments: readonly { readonly label: string; readonly code: Code }[];
}

/** The post-processor whose output is a label per voxel; other models have no mask to write as a SEG yet. */
export const LABEL_POSTPROCESSOR = 'segmentation-volumes';

/**
 * The capability a route's "seg" output needs: post-processors whose result can be written as a
 * DICOM Segmentation (a label per voxel on one volume grid). A post-processor that gains masks
 * (the lung-nodule detector's per-nodule masks) is added here, and routes may then ask it for "seg".
 */
export const SEGMENTATION_POSTPROCESSORS: ReadonlySet<string> = new Set([LABEL_POSTPROCESSOR]);

/** The post-processor a manifest names, or the one its output kind implies (as run-model.ts picks it). */
function postprocessorOf(manifest: Pick<Manifest, 'output'>): string {
  return manifest.output.postprocess ?? (manifest.output.kind === 'segmentation' ? LABEL_POSTPROCESSOR : `(${manifest.output.kind})`);
}

/**
 * Why a route may not ask this model for a Segmentation, or null when it may: decided from the
 * manifest alone, at start-up, so a site learns it before the first series, not from each job.
 */
export function whyCannotWriteSegmentation(manifest: Pick<Manifest, 'output' | 'preprocessing'>): string | null {
  const postprocessor = postprocessorOf(manifest);
  if (!SEGMENTATION_POSTPROCESSORS.has(postprocessor))
    return `its output (kind "${manifest.output.kind}", post-processing "${postprocessor}") is not a label per voxel, so there is nothing to write as a DICOM Segmentation`;
  // The label map is read from a volume-mode output (sourceLabelsOf); a post-processor with masks of its own need not be.
  if (postprocessor === LABEL_POSTPROCESSOR && manifest.preprocessing.mode !== 'volume')
    return `it runs slice by slice (preprocessing.mode "${manifest.preprocessing.mode}"); a Segmentation is written from a volume-mode label output`;
  return null;
}

/** Why a model's result gives no Segmentation, or null when it does (a volume-mode label output). */
export function whyNoSourceLabels(postprocessor: string, ctx: Pick<PostprocessContext, 'output' | 'manifest'>): string | null {
  if (!SEGMENTATION_POSTPROCESSORS.has(postprocessor) || !ctx.output)
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

/** The labels when the model gives them, else why not (a series without a Frame of Reference, a non-label model). */
export function sourceLabelsOrWhyNot(postprocessor: string, ctx: PostprocessContext): SourceLabels | string {
  const why = whyNoSourceLabels(postprocessor, ctx);
  if (why) return why;
  try {
    return sourceLabelsOf(ctx);
  } catch (e) {
    return `the Segmentation could not be made: ${(e as Error).message}`;
  }
}

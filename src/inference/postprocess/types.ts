/**
 * The contract between the runner (preprocess -> model -> activation) and the named
 * post-processors a manifest can ask for (`output.postprocess`). A post-processor turns model
 * outputs into findings; the runner numbers them, words them from the manifest's templates and
 * wraps them into a SeriesResult.
 */
import type { Finding } from '../findings';
import type { Manifest } from '../manifest';
import type { SeriesVolume } from '../series-volume';

export interface PostprocessContext {
  readonly volume: SeriesVolume;
  readonly manifest: Manifest;
  /**
   * Slice mode: the model's outputs after the manifest's activation, resampled back onto the
   * source pixel grid: maps[channel][sliceIndex] = Float32Array(rows * columns), slices in
   * `volume.slices` order.
   */
  readonly maps?: readonly (readonly Float32Array[])[];
  /** Volume mode: the raw output tensor (after activation) on the model's grid. */
  readonly output?: { readonly data: Float32Array; readonly dims: readonly number[]; readonly voxelVolumeMm3: number };
}

/** A finding before the runner gives it its number and its sentence. */
export type FindingDraft = Omit<Finding, 'id' | 'text'> & {
  /** Values for the manifest template's {placeholders} beyond the measurements (e.g. location). */
  readonly templateValues?: Readonly<Record<string, string | number>>;
};

export interface PostprocessResult {
  readonly findings: readonly FindingDraft[];
  /** In [0,1], higher = less certain (e.g. 1 - margin of the decisive scores). */
  readonly uncertainty: number;
}

export type Postprocessor = (ctx: PostprocessContext) => PostprocessResult;

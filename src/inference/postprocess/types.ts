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
  /**
   * What the post-processor's volume preparation (POSTPROCESS_PREPARATIONS) made of the volume
   * while the model ran; absent when nobody prepared it (the post-processor then does it itself).
   */
  readonly prepared?: unknown;
}

/**
 * The part of a post-processor that depends on the CT values alone, not on the model's output
 * (lung-nodules: the lung masks). The node runs it in a worker of its own *while the model runs*:
 * the model stage keeps about one of this machine's cores busy, and this fills the other.
 */
export type VolumePreparation = (volume: SeriesVolume) => unknown;

/**
 * The voxels of one finding on the volume's grid (a nodule as the detector segmented it), compact:
 * the bounding box and one bit per box voxel. Column (x) fastest, then row (y), then slice (z),
 * bit i in byte i >> 3 at (i & 7), least significant first. Small and transferable between threads.
 */
export interface VoxelMask {
  /** Box corner on the volume grid: [column, row, slice] (0-based, volume.slices order). */
  readonly origin: readonly [number, number, number];
  /** Box extent in voxels: [columns, rows, slices]. */
  readonly size: readonly [number, number, number];
  readonly bits: Uint8Array;
}

/** A finding before the runner gives it its number and its sentence. */
export type FindingDraft = Omit<Finding, 'id' | 'text'> & {
  /** Values for the manifest template's {placeholders} beyond the measurements (e.g. location). */
  readonly templateValues?: Readonly<Record<string, string | number>>;
  /** Its voxels, for a Segmentation with one segment per finding (never stored with the result). */
  readonly mask?: VoxelMask;
};

export interface PostprocessResult {
  readonly findings: readonly FindingDraft[];
  /** In [0,1], higher = less certain (e.g. 1 - margin of the decisive scores). */
  readonly uncertainty: number;
}

export type Postprocessor = (ctx: PostprocessContext) => PostprocessResult;

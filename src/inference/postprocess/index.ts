/**
 * The named post-processors a manifest can ask for with `output.postprocess`. A plain object:
 * add an entry per post-processor (manifest validation lists these names).
 */
import type { Postprocessor, VolumePreparation } from './types';
// The folder's index by name: a dist/ built before lung-nodules became a folder still holds a
// lung-nodules.js that Node would resolve first.
import { lungNodules, prepareLungNodules } from './lung-nodules/index';
import { segmentationVolumes } from './segmentation';

export const POSTPROCESSORS: Record<string, Postprocessor> = {
  'lung-nodules': lungNodules,
  'segmentation-volumes': segmentationVolumes,
};

/** Post-processors with a step that needs only the volume: run while the model runs (types.ts). */
export const POSTPROCESS_PREPARATIONS: Readonly<Record<string, VolumePreparation>> = {
  'lung-nodules': prepareLungNodules,
};

/** What a post-processor's result holds beyond findings. */
export interface PostprocessorDescription {
  /**
   * Its result can be written as a DICOM Segmentation: a label per voxel (segmentation-volumes: one
   * segment per label) or a voxel mask per finding (lung-nodules: one segment per nodule).
   */
  readonly canWriteSegmentation: boolean;
}

export const POSTPROCESSOR_DESCRIPTIONS: Readonly<Record<string, PostprocessorDescription>> = {
  'lung-nodules': { canWriteSegmentation: true },
  'segmentation-volumes': { canWriteSegmentation: true },
};

/** Whether the named post-processor (or a built-in one such as classification: no) gives what a SEG needs. */
export function canWriteSegmentation(postprocessor: string): boolean {
  return POSTPROCESSOR_DESCRIPTIONS[postprocessor]?.canWriteSegmentation === true;
}

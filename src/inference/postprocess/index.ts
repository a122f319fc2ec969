/**
 * The named post-processors a manifest can ask for with `output.postprocess`. A plain object:
 * add an entry per post-processor (manifest validation lists these names).
 */
import type { Postprocessor } from './types';
import { lungNodules } from './lung-nodules';
import { segmentationVolumes } from './segmentation';

export const POSTPROCESSORS: Record<string, Postprocessor> = {
  'lung-nodules': lungNodules,
  'segmentation-volumes': segmentationVolumes,
};

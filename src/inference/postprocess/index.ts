/**
 * The named post-processors a manifest can ask for with `output.postprocess`. A plain object:
 * add an entry per post-processor (manifest validation lists these names).
 */
import type { Postprocessor } from './types';
// The folder's index by name: a dist/ built before lung-nodules became a folder still holds a
// lung-nodules.js that Node would resolve first.
import { lungNodules } from './lung-nodules/index';
import { segmentationVolumes } from './segmentation';

export const POSTPROCESSORS: Record<string, Postprocessor> = {
  'lung-nodules': lungNodules,
  'segmentation-volumes': segmentationVolumes,
};

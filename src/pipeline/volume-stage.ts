// Stage 2: the de-identified copies are decoded into the volume the model sees.

import { loadSeriesVolume, frameOfReferenceOf, type SeriesVolume } from '../inference/series-volume';
import type { DeidentifiedSeries } from './deidentify-series';
import type { PixelLimits } from '../dicom/pixel-budget';

/**
 * The volume of a de-identified series, with the ORIGINAL Frame of Reference UID (de-identification
 * replaces it; the report's SCOORD3D must name what PACS has). The de-identified copies are let
 * go once decoded, before the model allocates its tensors.
 */
export async function volumeOfSeries(series: DeidentifiedSeries, limits?: PixelLimits): Promise<SeriesVolume> {
  const volume = await loadSeriesVolume(series.inputs, frameOfReferenceOf(series.firstOriginal, limits), limits ? { limits } : {});
  series.inputs.length = 0;
  return volume;
}

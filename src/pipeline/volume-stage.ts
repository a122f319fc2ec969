// Stage 2: the stored instances, de-identified one at a time, are decoded into the volume the
// model sees. Reading, inflating, de-identifying and decoding a series is seconds of synchronous
// work (and a hostile series is bounded only by the decode limits), so the job runner runs this in
// a worker thread (seriesVolumeInWorker); buildSeriesVolume is the same work in-process.

import { loadSeriesVolume, frameOfReferenceOf, type SeriesVolume, type StackOptions } from '../inference/series-volume';
import { seriesVolumeInWorker } from '../inference/cpu-task';
import type { SourceInstance } from './series-instances';
import type { PixelLimits } from '../dicom/pixel-budget';
import { deidentifiedInstances } from './deidentify-series';

/** What the volume worker needs: file paths and the key, never the series' bytes. */
export interface SeriesVolumeRequest {
  readonly instances: readonly SourceInstance[];
  /** The de-identification secret (a worker receives it as a Uint8Array). */
  readonly secret: Uint8Array;
  /** What the series' pixels may claim (imaging.maxFrameMegabytes / maxSeriesMegabytes). */
  readonly limits: PixelLimits;
  /** The model's manifest: which stack of the series, and what to do with gantry tilt. */
  readonly stackOptions?: StackOptions;
}

/**
 * The volume of a de-identified series, with the ORIGINAL Frame of Reference UID (de-identification
 * replaces it; the report's SCOORD3D must name what PACS has). Each de-identified copy is let go
 * once decoded; only the modality values stay.
 */
export async function buildSeriesVolume(request: SeriesVolumeRequest): Promise<SeriesVolume> {
  const secret = Buffer.from(request.secret);
  let frameOfReferenceUid: string | undefined;
  const inputs = deidentifiedInstances(request.instances, secret, request.limits, (original, index) => {
    if (index === 0) frameOfReferenceUid = frameOfReferenceOf(original, request.limits);
  });
  const volume = await loadSeriesVolume(inputs, undefined, { limits: request.limits, ...request.stackOptions });
  return frameOfReferenceUid ? { ...volume, frameOfReferenceUid } : volume;
}

/** buildSeriesVolume in a worker thread; `signal` ends the worker (the job's time limit). */
export function volumeOfSeries(request: SeriesVolumeRequest, signal?: AbortSignal): Promise<SeriesVolume> {
  return seriesVolumeInWorker(request, signal);
}

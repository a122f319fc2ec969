// Any finding's slice, on request from the dashboard: the ORIGINAL stored instance's frame (the
// signed-in operator may see the patient's images; the view is audited as patient record access),
// decoded by the node's own imaging code, windowed as the route's key image is, and the finding
// outlined the same way. The finding's region is already in the source image's pixels (the result
// is recorded after findingsOnSourcePixels), so no geometry is needed here.

import fs from 'node:fs';
import type { ImageRegion } from '../../inference/findings';
import { markRegion, windowedRgb } from '../../inference/key-image';
import { decodeFrame, openImage } from '../../imaging/decode';
import { frame8, modalityValues } from '../../imaging/render';
import { encodePng } from '../../imaging/png';
import type { PixelLimits } from '../../dicom/pixel-budget';

export interface FindingSliceRequest {
  /** The original instance as stored at ingest. */
  readonly filePath: string;
  readonly region: ImageRegion;
  /** A window option as routes and manifests write it ("lung", "-600,1500", "percentile", ...). */
  readonly window: string;
  readonly limits: PixelLimits;
}

/** The outlined slice as an RGB PNG; throws with the reason when the file cannot be shown. */
export async function renderFindingSlice(r: FindingSliceRequest): Promise<Buffer> {
  const img = openImage(fs.readFileSync(r.filePath), r.limits);
  const index = (r.region.frame ?? 1) - 1;
  const frame = await decodeFrame(img, index);
  const W = frame.columns;
  const H = frame.rows;
  const monochrome = frame.photometric === 'MONOCHROME1' || frame.photometric === 'MONOCHROME2';
  // Monochrome: windowed in modality values (MONOCHROME1 inverted after, bright = dense as on any
  // viewer); colour images (rare under a model) are shown as stored, 8-bit RGB.
  const rgb = monochrome ? windowedRgb(modalityValues(img, frame, index).values, r.window) : frame8(img, frame, index).data;
  if (frame.photometric === 'MONOCHROME1') for (let i = 0; i < rgb.length; i++) rgb[i] = 255 - rgb[i]!;
  markRegion(rgb, W, H, r.region);
  return encodePng({ width: W, height: H, channels: 3, data: rgb });
}

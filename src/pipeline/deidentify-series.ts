// Stage 1: the stored instances are read and DE-IDENTIFIED one by one in memory (PS3.15 Basic
// Profile); only those copies go on to the model. The original SOP Instance UIDs travel beside
// them, so findings point at what PACS has, and the first original stays here for the reports'
// patient and study identity.

import fsp from 'node:fs/promises';
import { setImmediate as turn } from 'node:timers/promises';
import { deidentifyPart10 } from '../deid';
import type { VolumeInput } from '../inference/series-volume';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../version';
import type { SeriesInstances } from './series-instances';
import type { PixelLimits } from '../dicom/pixel-budget';

export const DEID_DESCRIPTION = 'DICOM PS3.15 Basic Application Level Confidentiality Profile (in memory, before the model)';

export interface DeidentifiedSeries {
  /** De-identified copies for the model (emptied by the volume stage once decoded). */
  readonly inputs: VolumeInput[];
  /** The first instance's ORIGINAL bytes: identity for the reports, never given to the model. */
  readonly firstOriginal: Buffer;
}

/** Throws, naming the instance, when one cannot be de-identified: it is not given to the model. */
/** `limits`: what a deflated instance may inflate to, judged from its header (default DEFAULT_PIXEL_LIMITS). */
export async function deidentifySeries(series: SeriesInstances, secret: Buffer, limits?: PixelLimits): Promise<DeidentifiedSeries> {
  const inputs: VolumeInput[] = [];
  let firstOriginal: Buffer | null = null;
  for (const instance of series.instances) {
    const original = await fsp.readFile(instance.filePath);
    firstOriginal ??= original;
    let deidentified: Buffer;
    try {
      deidentified = deidentifyPart10(original, {
        secret,
        implementationClassUid: IMPLEMENTATION_CLASS_UID,
        implementationVersionName: IMPLEMENTATION_VERSION_NAME,
        ...(limits ? { pixelLimits: limits } : {}),
      }).bytes;
    } catch (e) {
      throw new Error(
        `instance ${instance.sopInstanceUid} could not be de-identified, so it is not given to the model: ${(e as Error).message}`,
      );
    }
    inputs.push({ bytes: deidentified, sopInstanceUid: instance.sopInstanceUid, sopClassUid: instance.sopClassUid });
    await turn(); // one instance at a time, then let DICOM traffic through
  }
  if (!firstOriginal) throw new Error('the series has no stored instances');
  return { inputs, firstOriginal };
}

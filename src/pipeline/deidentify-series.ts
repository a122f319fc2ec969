// Stage 1: the stored instances are read and DE-IDENTIFIED one by one in memory (PS3.15 Basic
// Profile); only those copies go on to the model. The original SOP Instance UIDs travel beside
// them, so findings point at what PACS has, and the first original stays here for the reports'
// patient and study identity.

import fsp from 'node:fs/promises';
import { setImmediate as turn } from 'node:timers/promises';
import { deidentifyPart10 } from '../deid';
import { declaredPixelBytes, type VolumeInput } from '../inference/series-volume';
import { checkSeriesBudget, PixelBudgetExceeded } from '../dicom/pixel-budget';
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

/**
 * Throws, naming the instance, when one cannot be de-identified: it is not given to the model.
 * `limits` (default DEFAULT_PIXEL_LIMITS): what the series' pixels may claim, and so how far a
 * deflated instance may inflate; over them the job fails with PixelBudgetExceeded naming the key.
 */
export async function deidentifySeries(series: SeriesInstances, secret: Buffer, limits?: PixelLimits): Promise<DeidentifiedSeries> {
  const inputs: VolumeInput[] = [];
  let firstOriginal: Buffer | null = null;
  let declared = 0;
  for (const [counted, instance] of series.instances.entries()) {
    const original = await fsp.readFile(instance.filePath);
    // The pixel limits, from headers as instances are read: a series over them fails its job
    // before the rest is inflated or de-identified (the volume stage checks the whole series again).
    declared += declaredPixelsOrZero(original, limits);
    checkSeriesBudget(declared, counted + 1, limits);
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

/** An unreadable header counts 0 here: de-identification then says why the instance is unusable. */
function declaredPixelsOrZero(original: Buffer, limits: PixelLimits | undefined): number {
  try {
    return declaredPixelBytes(original, limits);
  } catch (e) {
    if (e instanceof PixelBudgetExceeded) throw e;
    return 0;
  }
}

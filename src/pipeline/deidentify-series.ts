// Stage 1: the stored instances are read and DE-IDENTIFIED one by one in memory (PS3.15 Basic
// Profile); only those copies go on to the model. The original SOP Instance UIDs travel beside
// them, so findings point at what PACS has. This runs inside the volume worker (volume-stage):
// one instance is read, de-identified and handed on before the next is read, so a series is never
// held twice over in memory.

import fsp from 'node:fs/promises';
import { deidentifyPart10 } from '../deid';
import { declaredPixelBytes, type VolumeInput } from '../inference/series-volume';
import { checkSeriesBudget, PixelBudgetExceeded } from '../dicom/pixel-budget';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../version';
import type { SeriesInstances, SourceInstance } from './series-instances';
import type { PixelLimits } from '../dicom/pixel-budget';

export const DEID_DESCRIPTION = 'DICOM PS3.15 Basic Application Level Confidentiality Profile (in memory, before the model)';

/**
 * The de-identified copies of `instances`, one at a time. `onOriginal` sees each ORIGINAL's bytes
 * before they are let go (the volume stage takes the Frame of Reference UID from the first).
 * Throws, naming the instance, when one cannot be de-identified: it is not given to the model.
 * `limits`: what the series' pixels may claim, and so how far a deflated instance may inflate; a
 * series over them fails with PixelBudgetExceeded (naming the key) before the rest is inflated.
 */
export async function* deidentifiedInstances(
  instances: readonly SourceInstance[],
  secret: Buffer,
  limits: PixelLimits,
  onOriginal: (original: Buffer, index: number) => void = () => undefined,
): AsyncGenerator<VolumeInput> {
  let index = 0;
  let declared = 0;
  for (const instance of instances) {
    const original = await fsp.readFile(instance.filePath);
    // The pixel limits, from headers as instances are read: a series over them fails its job
    // before the rest is inflated or de-identified.
    declared += declaredPixelsOrZero(original, limits);
    checkSeriesBudget(declared, index + 1, limits);
    onOriginal(original, index++);
    let deidentified: Buffer;
    try {
      deidentified = deidentifyPart10(original, {
        secret,
        implementationClassUid: IMPLEMENTATION_CLASS_UID,
        implementationVersionName: IMPLEMENTATION_VERSION_NAME,
        pixelLimits: limits,
      }).bytes;
    } catch (e) {
      throw new Error(
        `instance ${instance.sopInstanceUid} could not be de-identified, so it is not given to the model: ${(e as Error).message}`,
      );
    }
    yield { bytes: deidentified, sopInstanceUid: instance.sopInstanceUid, sopClassUid: instance.sopClassUid };
  }
}

/** The first instance's ORIGINAL bytes: patient and study identity for the reports, never given to the model. */
export function firstOriginal(series: SeriesInstances): Promise<Buffer> {
  const first = series.instances[0];
  if (!first) return Promise.reject(new Error('the series has no stored instances'));
  return fsp.readFile(first.filePath);
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

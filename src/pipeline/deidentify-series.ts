// Stage 1: the stored instances are read and DE-IDENTIFIED one by one in memory (PS3.15 Basic
// Profile); only those copies go on to the model. The original SOP Instance UIDs travel beside
// them, so findings point at what PACS has. This runs inside the volume worker (volume-stage):
// one instance is read, de-identified and handed on before the next is read, so a series is never
// held twice over in memory.

import fsp from 'node:fs/promises';
import { deidentifyPart10 } from '../deid';
import type { VolumeInput } from '../inference/series-volume';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../version';
import type { SeriesInstances, SourceInstance } from './series-instances';

export const DEID_DESCRIPTION = 'DICOM PS3.15 Basic Application Level Confidentiality Profile (in memory, before the model)';

/**
 * The de-identified copies of `instances`, one at a time. `onOriginal` sees each ORIGINAL's bytes
 * before they are let go (the volume stage takes the Frame of Reference UID from the first).
 * Throws, naming the instance, when one cannot be de-identified: it is not given to the model.
 */
export async function* deidentifiedInstances(
  instances: readonly SourceInstance[],
  secret: Buffer,
  onOriginal: (original: Buffer, index: number) => void = () => undefined,
): AsyncGenerator<VolumeInput> {
  let index = 0;
  for (const instance of instances) {
    const original = await fsp.readFile(instance.filePath);
    onOriginal(original, index++);
    let deidentified: Buffer;
    try {
      deidentified = deidentifyPart10(original, {
        secret,
        implementationClassUid: IMPLEMENTATION_CLASS_UID,
        implementationVersionName: IMPLEMENTATION_VERSION_NAME,
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

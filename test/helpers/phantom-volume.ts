/**
 * A written chest phantom read back as the series volume the node would build from it (the same
 * decoding path as a job's), for detector tests and benchmarks that run the model without a node.
 */
import fs from 'node:fs';
import type { ChestPhantom } from '../../fixtures/chest-phantom';
import { loadSeriesVolume, type SeriesVolume } from '../../src/inference/series-volume';

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

export function chestPhantomVolume(ph: ChestPhantom): Promise<SeriesVolume> {
  return loadSeriesVolume(
    ph.files.map((f, i) => ({ bytes: fs.readFileSync(f), sopInstanceUid: ph.sopInstanceUids[i]!, sopClassUid: CT_IMAGE_STORAGE })),
    ph.frameOfReferenceUid,
    { allowIdentified: true }, // a synthetic phantom: nothing to de-identify
  );
}

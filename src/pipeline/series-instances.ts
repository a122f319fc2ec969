// What a job works on: the stored instances of its series, and the hash that identifies that set
// (a series with late instances hashes differently, so it gets a new report revision).

import { createHash } from 'node:crypto';
import type { InstanceRecord } from '../store/store';

/** One stored instance, as the stages after it need it. */
export interface SourceInstance {
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
  readonly filePath: string;
}

export interface SeriesInstances {
  readonly seriesInstanceUid: string;
  /** Never empty. */
  readonly instances: readonly SourceInstance[];
  /** sha256 of the sorted SOP Instance UIDs: the same set of instances, the same hash. */
  readonly instancesHash: string;
}

/** Throws when the series has no stored instances: there is nothing to run the model on. */
export function seriesInstances(seriesInstanceUid: string, stored: readonly InstanceRecord[]): SeriesInstances {
  if (stored.length === 0) throw new Error('the series has no stored instances');
  const instances = stored.map(({ sopInstanceUid, sopClassUid, filePath }) => ({ sopInstanceUid, sopClassUid, filePath }));
  return { seriesInstanceUid, instances, instancesHash: instancesHash(instances) };
}

export function instancesHash(instances: readonly Pick<SourceInstance, 'sopInstanceUid'>[]): string {
  return createHash('sha256')
    .update(
      instances
        .map((i) => i.sopInstanceUid)
        .sort()
        .join('\n'),
    )
    .digest('hex');
}

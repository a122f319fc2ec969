/**
 * Retention: a series' stored instances, its report files and key images are deleted N days
 * (housekeeping.retentionDays) after every report of it was delivered — never before, and never
 * while a job of it is queued, running or failed (an operator may still retry it). The index keeps
 * the series, its jobs, results, reports and deliveries as history, with the time of the purge.
 * (De-identified copies are never written to disk: they live in memory during a job.)
 */
import fs from 'node:fs';
import type { Store } from '../store/store';
import type { Logger } from '../log/logger';

export interface RetentionResult {
  series: number;
  files: number;
  bytes: number;
}

export function runRetention(
  store: Store,
  retentionDays: number,
  log: Logger,
  audit: (seriesUid: string, detail: string) => void,
  now = Date.now(),
): RetentionResult {
  const cutoff = now - retentionDays * 86_400_000;
  const out: RetentionResult = { series: 0, files: 0, bytes: 0 };
  // In batches (see Store.retentionCandidates): each selection stays short at any index size.
  for (let batch = store.retentionCandidates(cutoff); batch.length > 0; batch = store.retentionCandidates(cutoff, 500, batch.at(-1))) {
    for (const uid of batch) {
      const gone = purgeFiles(store, uid, log);
      if (!gone) continue;
      const rows = store.markSeriesPurged(uid, now);
      out.series++;
      out.files += gone.files;
      out.bytes += gone.bytes;
      audit(
        uid,
        `retention: ${rows} instance(s), ${gone.files} file(s), ${gone.bytes} bytes deleted ${retentionDays} day(s) after delivery`,
      );
    }
  }
  if (out.series > 0) log.info('retention', { ...out, retentionDays });
  return out;
}

/** Deletes a series' files; null when one could not be deleted (the series stays, tried again next time). */
function purgeFiles(store: Store, uid: string, log: Logger): { files: number; bytes: number } | null {
  const f = store.seriesFiles(uid);
  let files = 0;
  let bytes = 0;
  let problems = 0;
  for (const p of [...f.instances, ...f.reports, ...f.keyImages]) {
    try {
      bytes += fs.statSync(p).size;
      fs.rmSync(p);
      files++;
    } catch (e) {
      // Already gone is fine; anything else leaves the index as it is, to try again next time.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') problems++;
    }
  }
  if (problems > 0) {
    log.error('retention could not delete every file of a series; it is kept in the index and tried again', { files: problems });
    return null;
  }
  return { files, bytes };
}

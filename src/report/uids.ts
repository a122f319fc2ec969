/**
 * Deterministic UIDs for what the report writer creates: the same (source series, model, version,
 * revision) always gives the same SR series and instance, so a resend after a crash replaces
 * rather than duplicates the report in the PACS. 2.25 root (PS3.5 B.2): the decimal form of a
 * 128-bit number, here the first 128 bits of a SHA-256 over the labelled inputs.
 */
import { createHash } from 'node:crypto';

export function hashUid(...parts: readonly (string | number)[]): string {
  // NUL-separated with a label first, so ("a.b", "c") and ("a", "b.c") never collide.
  const digest = createHash('sha256').update(parts.map(String).join('\0'), 'utf8').digest('hex');
  return `2.25.${BigInt('0x' + digest.slice(0, 32)).toString(10)}`;
}

/** SR series UID from (source series, model name, version); SOP instance UID adds the revision. */
export function reportUids(
  sourceSeriesUid: string,
  modelName: string,
  modelVersion: string,
  revision: number,
): { seriesInstanceUid: string; sopInstanceUid: string } {
  if (!Number.isInteger(revision) || revision < 1) throw new Error(`report revision must be an integer >= 1 (got ${revision})`);
  const seriesInstanceUid = hashUid('dicom-ai-node/sr-series', sourceSeriesUid, modelName, modelVersion);
  const sopInstanceUid = hashUid('dicom-ai-node/sr-instance', seriesInstanceUid, revision);
  return { seriesInstanceUid, sopInstanceUid };
}

/** Tracking Unique Identifier of a finding: stable across revisions of the same report series. */
export function trackingUid(reportSeriesUid: string, findingId: number, label: string): string {
  return hashUid('dicom-ai-node/tracking', reportSeriesUid, findingId, label);
}

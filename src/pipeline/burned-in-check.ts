// The routing side of the burned-in annotation policy: judge an instance's risk from its header, and
// turn that risk and a route's policy into the job's state, reason and flag. The judgement itself
// is src/deid/burned-in.ts; this module only reads what it needs and applies the route's choice.

import { burnedInAnnotationRisk } from '../deid/burned-in';
import { readPart10Header } from '../dicom/part10';
import { readFileHead } from '../dicom/file-head';
import { readDatasetHeader } from '../dicom/dataset-reader';
import { tagsByKeyword } from '../dicom/tags';
import type { RouteConfig } from '../config/config';

/** How much of a file is read for its header: enough for any header before the pixels. */
const HEADER_BYTES = 256 * 1024;
const HEADER_TAGS = tagsByKeyword(['BurnedInAnnotation', 'Modality', 'SOPClassUID']);

/** An instance to judge from its file (one indexed before the risk was recorded at ingest). */
export interface JudgedInstance {
  filePath: string;
  sopClassUid: string;
}

/**
 * Burned-in annotation risk of one instance, judged from its header (a bounded head read that
 * stops at Pixel Data). Empty: no known risk. Throws when the header cannot be read.
 */
export function instanceBurnedInRisk(instance: JudgedInstance, seriesModality: string | null): string[] {
  const head = readFileHead(instance.filePath, HEADER_BYTES);
  const meta = readPart10Header(head);
  const header = readDatasetHeader(head.subarray(meta.datasetOffset), meta.transferSyntaxUid, {
    tags: HEADER_TAGS,
    totalLength: Number.MAX_SAFE_INTEGER,
  });
  return burnedInAnnotationRisk({
    burnedInAnnotation: header.attributes.BurnedInAnnotation,
    modality: header.attributes.Modality ?? seriesModality ?? undefined,
    sopClassUid: header.attributes.SOPClassUID ?? instance.sopClassUid,
    hasPixels: header.stoppedAt !== 'end', // a header longer than the head read counts as having pixels
  });
}

/** What a route's burned-in policy makes of a series' risk: the job's state, reason and flag. */
export interface BurnedInDecision {
  state: 'queued' | 'skipped';
  /** Human-readable, shown with the job; null when there is no risk. */
  reason: string | null;
  /** The flag carried into the result ('flag' policy with a risk); null otherwise. */
  burnedInFlag: string | null;
}

/** Pure: the decision is recorded with the job, never silent. */
export function burnedInDecision(risk: readonly string[], policy: RouteConfig['burnedInAnnotation']): BurnedInDecision {
  if (risk.length === 0) return { state: 'queued', reason: null, burnedInFlag: null };
  const why = `burned-in annotation risk (${risk.join('; ')})`;
  if (policy === 'skip') return { state: 'skipped', reason: `skipped: ${why}`, burnedInFlag: null };
  const flag = `flagged: ${why}`;
  return { state: 'queued', reason: flag, burnedInFlag: flag };
}

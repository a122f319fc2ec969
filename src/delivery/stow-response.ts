// Reading a STOW-RS response (PS3.18 §10.5.3): the HTTP status says whether all, some or none of
// the instances were stored, and the Store Instances Response Module, as DICOM JSON (PS3.18
// Annex F.2), lists them: Referenced SOP Sequence (0008,1199) for those stored (with a Warning
// Reason (0008,1196) when they were coerced), Failed SOP Sequence (0008,1198) with a Failure
// Reason (0008,1197) for those refused. Each instance becomes the DIMSE-like status the delivery
// queue already records for C-STORE, so both protocols share states, retries and metrics.

import { isSuccessOrWarning } from '../dimse/command';

/** What the queue records for one instance: a DIMSE status (0, 0xBxxx warning, failure) or null = no answer. */
export interface InstanceOutcome {
  readonly sopInstanceUid: string;
  readonly status: number | null;
  readonly error?: string;
}

/** The whole request failed (no per-instance answer): every instance is tried again later. */
export class StowRequestError extends Error {
  constructor(
    message: string,
    readonly httpStatus: number | null,
  ) {
    super(message);
  }
}

const REFERENCED_SOP_SEQUENCE = '00081199';
const FAILED_SOP_SEQUENCE = '00081198';
const REFERENCED_SOP_INSTANCE_UID = '00081155';
const FAILURE_REASON = '00081197';
const WARNING_REASON = '00081196';

/** Processing failure (PS3.7 C.4.2.1.4): the status used when a failed instance names no reason. */
const PROCESSING_FAILURE = 0x0110;

/** Failure Reason values of PS3.18 Table 10.5.3-2 (and the C-STORE statuses they come from), in words. */
const FAILURE_WORDS: ReadonlyMap<number, string> = new Map([
  [0x0110, 'processing failure'],
  [0x0122, 'SOP class not supported'],
  [0x0124, 'not authorized'],
  [0xa700, 'out of resources'],
  [0xa770, 'out of resources: no space left'],
  [0xa900, 'data set does not match SOP class'],
  [0xc000, 'cannot understand'],
  [0xc122, 'Transfer Syntax not supported'],
]);

const hex4 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

export function describeFailureReason(reason: number): string {
  return `${hex4(reason)} (${FAILURE_WORDS.get(reason) ?? 'failure'})`;
}

/**
 * One outcome per sent SOP Instance UID, in the order sent. Throws StowRequestError when the
 * answer says nothing per instance and the request as a whole was not a success (5xx, 401, ...).
 */
export function parseStowResponse(httpStatus: number, contentType: string, body: Buffer, sent: readonly string[]): InstanceOutcome[] {
  const listed = listedInstances(contentType, body);
  if (listed === null) {
    if (httpStatus === 200) return sent.map((sopInstanceUid) => ({ sopInstanceUid, status: 0 }));
    throw new StowRequestError(describeHttpFailure(httpStatus), httpStatus);
  }
  return sent.map((uid) => {
    const failed = listed.failed.get(uid);
    if (failed !== undefined)
      return {
        sopInstanceUid: uid,
        status: failed,
        error: `the DICOMweb server refused it: Failure Reason ${describeFailureReason(failed)}`,
      };
    const stored = listed.stored.get(uid);
    if (stored !== undefined) return { sopInstanceUid: uid, status: stored };
    // §10.5.3: 200 means every instance was stored, even if the response left one out.
    if (httpStatus === 200) return { sopInstanceUid: uid, status: 0 };
    return { sopInstanceUid: uid, status: null, error: `not listed in the DICOMweb server's answer (HTTP ${httpStatus})` };
  });
}

/** Why a whole request failed, for an operator: the HTTP status, never the server's text (it may echo data). */
export function describeHttpFailure(httpStatus: number): string {
  if (httpStatus === 401) return 'HTTP 401: the DICOMweb server did not accept our credentials (check "auth" and its environment variable)';
  if (httpStatus === 403) return 'HTTP 403: the DICOMweb server does not let this user store instances';
  if (httpStatus === 404) return 'HTTP 404: no STOW-RS service at this url (check "url": it should end where /studies begins)';
  if (httpStatus === 413) return 'HTTP 413: the DICOMweb server refused a request this large';
  if (httpStatus === 415) return 'HTTP 415: the DICOMweb server does not accept application/dicom';
  if (httpStatus >= 500) return `HTTP ${httpStatus}: the DICOMweb server had an error; will try again`;
  return `HTTP ${httpStatus}: the DICOMweb server refused the request`;
}

interface Listed {
  /** SOP Instance UID -> 0 or its Warning Reason. */
  readonly stored: Map<string, number>;
  /** SOP Instance UID -> its Failure Reason. */
  readonly failed: Map<string, number>;
}

/** The instances a DICOM JSON answer lists; null when it is not one (empty, XML, HTML error page). */
function listedInstances(contentType: string, body: Buffer): Listed | null {
  if (body.length === 0 || !/^application\/(dicom\+)?json\b/i.test(contentType.trim())) return null;
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  // A single data set; some servers wrap it in an array of one.
  const ds = Array.isArray(json) ? (json[0] as unknown) : json;
  if (!isObject(ds)) return null;
  const referenced = sequenceItems(ds[REFERENCED_SOP_SEQUENCE]);
  const failedItems = sequenceItems(ds[FAILED_SOP_SEQUENCE]);
  if (referenced === null && failedItems === null) return null;
  const stored = new Map<string, number>();
  const failed = new Map<string, number>();
  for (const item of referenced ?? []) {
    const uid = firstValue(item[REFERENCED_SOP_INSTANCE_UID]);
    // A Warning Reason is a 0xBxxx status; anything else there still means "stored".
    const warning = numberOr(firstValue(item[WARNING_REASON]), 0);
    if (typeof uid === 'string') stored.set(uid, warning === 0 || (warning & 0xf000) === 0xb000 ? warning : 0xb000);
  }
  for (const item of failedItems ?? []) {
    const uid = firstValue(item[REFERENCED_SOP_INSTANCE_UID]);
    // A listed failure is never read as success, whatever number the server put there.
    const reason = numberOr(firstValue(item[FAILURE_REASON]), PROCESSING_FAILURE);
    if (typeof uid === 'string') failed.set(uid, isSuccessOrWarning(reason) ? PROCESSING_FAILURE : reason);
  }
  return { stored, failed };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Items of a DICOM JSON SQ attribute; null when absent. */
function sequenceItems(attr: unknown): Record<string, unknown>[] | null {
  if (!isObject(attr)) return null;
  return Array.isArray(attr.Value) ? attr.Value.filter(isObject) : [];
}

function firstValue(attr: unknown): unknown {
  return isObject(attr) && Array.isArray(attr.Value) ? (attr.Value[0] as unknown) : undefined;
}

function numberOr(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff ? v : fallback;
}

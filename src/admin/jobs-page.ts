// Paging of GET /api/jobs, like /api/series: newest first, `limit` rows (default 100, at most
// 1000), an opaque `cursor` naming where the previous page ended, and optional filters
// `state` (one job state) and `series` (a Series Instance UID). Keyset paging on the job id
// (see Store.listJobsPage): a page costs the same at 10,000 series as on an empty index, and jobs
// created while an operator pages never shift or repeat a later page.

import type { JobFilter, JobState } from '../store/store';
import { SERIES_PAGE_DEFAULT, SERIES_PAGE_MAX } from './series-page';

export const JOB_STATES: readonly JobState[] = ['queued', 'unrouted', 'processing', 'done', 'failed', 'skipped'];

export type JobsPageRequest = { limit: number; filter: JobFilter; afterId?: number } | { error: string };

/** The page a request asks for, or why its parameters are not usable. */
export function jobsPageRequest(params: URLSearchParams): JobsPageRequest {
  const rawLimit = params.get('limit');
  const limit = rawLimit === null ? SERIES_PAGE_DEFAULT : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > SERIES_PAGE_MAX)
    return { error: `limit must be a whole number from 1 to ${SERIES_PAGE_MAX} (got "${rawLimit}")` };
  const filter: JobFilter = {};
  const state = params.get('state');
  if (state !== null && state !== '') {
    if (!(JOB_STATES as readonly string[]).includes(state))
      return { error: `state must be one of ${JOB_STATES.join(', ')} (got "${state}")` };
    filter.state = state as JobState;
  }
  const series = params.get('series');
  if (series !== null && series !== '') {
    // A UID is at most 64 characters of digits and dots (PS3.5 §9.1); anything else matches nothing.
    if (!/^[0-9.]{1,64}$/.test(series)) return { error: `series must be a Series Instance UID (digits and dots, at most 64)` };
    filter.seriesUid = series;
  }
  const rawCursor = params.get('cursor');
  if (rawCursor === null || rawCursor === '') return { limit, filter };
  const afterId = decodeJobCursor(rawCursor);
  return afterId === undefined
    ? { error: 'cursor is not one this node gave out (take it from "next" of the previous page)' }
    : { limit, filter, afterId };
}

export function encodeJobCursor(afterId: number): string {
  return Buffer.from(JSON.stringify(['job', afterId])).toString('base64url');
}

function decodeJobCursor(s: string): number | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && v[0] === 'job' && Number.isSafeInteger(v[1]) && (v[1] as number) > 0) return v[1] as number;
  } catch {
    // not JSON: falls through to "not a cursor"
  }
  return undefined;
}

// Paging of GET /api/series: newest first, `limit` rows (default 100, at most 1000), and an opaque
// `cursor` naming where the previous page ended. Keyset paging (see Store.listSeriesPage) keeps
// every page as fast at a million instances as on an empty index.

import type { SeriesCursor } from '../store/store';

export const SERIES_PAGE_DEFAULT = 100;
export const SERIES_PAGE_MAX = 1000;

export type SeriesPageRequest = { limit: number; after?: SeriesCursor } | { error: string };

/** The page a request asks for, or why its parameters are not usable. */
export function seriesPageRequest(params: URLSearchParams): SeriesPageRequest {
  const rawLimit = params.get('limit');
  const limit = rawLimit === null ? SERIES_PAGE_DEFAULT : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > SERIES_PAGE_MAX)
    return { error: `limit must be a whole number from 1 to ${SERIES_PAGE_MAX} (got "${rawLimit}")` };
  const rawCursor = params.get('cursor');
  if (rawCursor === null || rawCursor === '') return { limit };
  const after = decodeCursor(rawCursor);
  return after ? { limit, after } : { error: 'cursor is not one this node gave out (take it from "next" of the previous page)' };
}

export function encodeCursor(c: SeriesCursor): string {
  return Buffer.from(JSON.stringify([c.lastReceivedAt, c.seriesInstanceUid])).toString('base64url');
}

function decodeCursor(s: string): SeriesCursor | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === 'string')
      return { lastReceivedAt: v[0] as number, seriesInstanceUid: v[1] };
  } catch {
    // not JSON: falls through to "not a cursor"
  }
  return undefined;
}

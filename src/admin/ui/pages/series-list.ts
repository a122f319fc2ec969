// Studies and series, newest first, paged, filtered by the day received, modality, calling AE
// and state (a series state or any of its jobs' states). Patient names are shown to the signed-in
// operator, escaped; opening a series is what the audit trail records as patient record access.

import type { DashboardSeriesFilter } from '../../../store/store';
import { html, query, when, type Html, tableHead } from '../html';
import { badge } from '../layout';
import type { DashboardSources } from '../sources';

export const PAGE_SIZE = 50;
const STATES = ['receiving', 'stable', 'unrouted', 'queued', 'processing', 'done', 'failed', 'skipped'];

export interface SeriesListParams {
  readonly filter: DashboardSeriesFilter;
  /** As typed, for the form: YYYY-MM-DD. */
  readonly day: string;
  readonly page: number;
}

/** The filters from the query string; a malformed value is ignored, never an error page. */
export function seriesListParams(q: URLSearchParams): SeriesListParams {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(q.get('day') ?? '') ? q.get('day')! : '';
  const from = day ? new Date(`${day}T00:00:00`).getTime() : NaN;
  const state = q.get('state') ?? '';
  return {
    day: Number.isFinite(from) ? day : '',
    page: Math.max(1, Math.min(1_000_000, Math.floor(Number(q.get('page') ?? 1)) || 1)),
    filter: {
      ...(Number.isFinite(from) ? { receivedFrom: from, receivedBefore: from + 86_400_000 } : {}),
      ...(q.get('modality') ? { modality: q.get('modality')!.trim().toUpperCase() } : {}),
      ...(q.get('ae') ? { callingAeTitle: q.get('ae')!.trim() } : {}),
      ...(STATES.includes(state) ? { state } : {}),
    },
  };
}

export function seriesListPage(src: DashboardSources, p: SeriesListParams): Html {
  const { rows, total } = src.store.dashboardSeries(p.filter, PAGE_SIZE, (p.page - 1) * PAGE_SIZE);
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const keep = { day: p.day, modality: p.filter.modality, ae: p.filter.callingAeTitle, state: p.filter.state };
  return html`<form class="filters" method="get" action="/ui/series" role="search" aria-label="Filter series">
      <label for="f-day">Received on<input id="f-day" type="date" name="day" value="${p.day}" /></label>
      <label for="f-mod">Modality<input id="f-mod" name="modality" size="6" value="${p.filter.modality ?? ''}" /></label>
      <label for="f-ae">Calling AE<input id="f-ae" name="ae" size="16" value="${p.filter.callingAeTitle ?? ''}" /></label>
      <label for="f-state"
        >State<select id="f-state" name="state">
          <option value="">any</option>
          ${STATES.map((s) => html`<option${s === p.filter.state ? html` selected` : ''}>${s}</option>`)}
        </select></label
      >
      <button type="submit">Filter</button> <a href="/ui/series">Clear</a>
    </form>
    <p>${total.toLocaleString('en')} series; page ${p.page} of ${pages}.</p>
    <table>
      <caption class="muted">
        Newest first
      </caption>
      ${tableHead('Last received', 'Patient', 'Study date', 'Series', 'Modality', 'Instances', 'From', 'State', 'Jobs')}
      <tbody>
        ${rows.map(
          (r) =>
            html`<tr>
              <td>${when(r.lastReceivedAt)}</td>
              <td>${r.patientName ?? ''}</td>
              <td>${r.studyDate ?? ''}</td>
              <td>
                <a href="/ui/series/${encodeURIComponent(r.seriesInstanceUid)}">${r.seriesDescription || `#${r.seriesNumber ?? '?'}`}</a>
              </td>
              <td>${r.modality ?? ''}</td>
              <td>${r.instanceCount}</td>
              <td>${r.callingAeTitle ?? ''}</td>
              <td>${badge(r.state)}</td>
              <td>
                ${(r.jobStates ?? '')
                  .split(' ')
                  .filter(Boolean)
                  .map((s) => html`${badge(s)} `)}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    <nav class="pager" aria-label="Pages">
      ${p.page > 1 ? html`<a href="/ui/series${query({ ...keep, page: p.page - 1 })}" rel="prev">Previous page</a>` : ''}
      ${p.page < pages ? html`<a href="/ui/series${query({ ...keep, page: p.page + 1 })}" rel="next">Next page</a>` : ''}
    </nav>`;
}

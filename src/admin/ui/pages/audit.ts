// The audit trail, newest first, filtered by event, AE title (calling or called) and day.

import { html, when, type Html, tableHead } from '../html';
import { badge } from '../layout';
import type { DashboardSources } from '../sources';

const LIMIT = 500;

export function auditPage(src: DashboardSources, q: URLSearchParams): Html {
  const event = (q.get('event') ?? '').trim();
  const ae = (q.get('ae') ?? '').trim();
  const dayText = q.get('day') ?? '';
  const from = /^\d{4}-\d{2}-\d{2}$/.test(dayText) ? new Date(`${dayText}T00:00:00`).getTime() : NaN;
  const day = Number.isFinite(from) ? dayText : '';
  const events = src.store.queryAudit(
    {
      ...(event ? { event } : {}),
      ...(ae ? { aeTitle: ae } : {}),
      ...(day ? { from, before: from + 86_400_000 } : {}),
    },
    LIMIT,
  );
  return html`<form class="filters" method="get" action="/ui/audit" role="search" aria-label="Filter audit events">
      <label for="a-event">Event<input id="a-event" name="event" value="${event}" placeholder="e.g. association-rejected" /></label>
      <label for="a-ae">AE title<input id="a-ae" name="ae" value="${ae}" /></label>
      <label for="a-day">Day<input id="a-day" type="date" name="day" value="${day}" /></label>
      <button type="submit">Filter</button> <a href="/ui/audit">Clear</a>
    </form>
    <p>${events.length === LIMIT ? `The newest ${LIMIT} matching events.` : `${events.length} matching event(s).`}</p>
    <table>
      ${tableHead('When', 'Event', 'Outcome', 'Calling AE', 'Called AE', 'Address', 'Instances', 'Detail')}
      <tbody>
        ${events.map(
          (e) =>
            html`<tr>
              <td>${when(e.at)}</td>
              <td>${e.event}</td>
              <td>${badge(e.outcome)}</td>
              <td>${e.callingAeTitle ?? ''}</td>
              <td>${e.calledAeTitle ?? ''}</td>
              <td>${e.remoteAddress ?? ''}</td>
              <td>${e.instances ?? ''}</td>
              <td>
                ${e.detail ?? ''}${
                  e.seriesInstanceUid ? html` <a href="/ui/series/${encodeURIComponent(e.seriesInstanceUid)}">series</a>` : ''
                }
              </td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}

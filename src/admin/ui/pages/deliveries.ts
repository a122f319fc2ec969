// Deliveries in one state (failed by default): what did not reach a destination, and why, with a
// retry for each and a link to its series.

import type { DeliveryState } from '../../../store/store';
import { html, when, type Html, tableHead } from '../html';
import { badge, deliveryAction, deliveryStatus, type PostContext } from '../layout';
import type { DashboardSources } from '../sources';

const STATES: readonly DeliveryState[] = ['failed', 'queued', 'sending', 'delivered'];
const LIMIT = 200;

export function deliveriesPage(src: DashboardSources, q: URLSearchParams, post: PostContext): Html {
  const asked = q.get('state') as DeliveryState | null;
  const state: DeliveryState = asked && STATES.includes(asked) ? asked : 'failed';
  const rows = src.store.deliveriesInState(state, LIMIT);
  return html`<p>
      ${STATES.map((s) => (s === state ? html`<strong>${s}</strong> ` : html`<a href="/ui/deliveries?state=${s}">${s}</a> `))}
    </p>
    <table>
      ${tableHead('#', 'To', 'Object', 'State', 'Attempts', 'Last status', 'Updated', 'Series', 'Action')}
      <tbody>
        ${rows.map(
          (d) =>
            html`<tr>
              <td>${d.id}</td>
              <td>${d.destination}</td>
              <td>${d.form ?? ''}</td>
              <td>${badge(d.state)}</td>
              <td>${d.attempts}</td>
              <td>${deliveryStatus(d)}</td>
              <td>${when(d.updatedAt)}</td>
              <td>${d.seriesInstanceUid ? html`<a href="/ui/series/${encodeURIComponent(d.seriesInstanceUid)}">open</a>` : ''}</td>
              <td>${deliveryAction(d, post)}</td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}

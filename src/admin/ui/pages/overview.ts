// The overview: is the node healthy (listeners, disk, database, models), how busy is it (queues,
// instances and jobs over the last hour), and what needs an operator (with links).

import { html, type Html, tableHead } from '../html';
import { badge } from '../layout';
import type { DashboardSources } from '../sources';

const HOUR = 3_600_000;
const BUCKET = 5 * 60_000;

export function overviewPage(src: DashboardSources, now: number): Html {
  return html`${health(src)}${queues(src)}${activity(src, now)}${attention(src, now)}`;
}

function health(src: DashboardSources): Html {
  const checks = src.readiness();
  const min = src.config.storage.minFreeMegabytes;
  const freeMb = Math.floor(src.diskFreeBytes() / 1048576);
  const listeners = src.listeners();
  const models = src.models();
  return html`<section aria-labelledby="health">
    <h2 id="health">Health</h2>
    <div class="cards">
      <div class="card">
        <h3>DICOM listener</h3>
        ${
          listeners.length > 0
            ? listeners.map((l) => html`<p>${badge('ok')} ${src.config.node.aeTitle} on ${l.kind} port ${l.port}</p>`)
            : html`<p>${badge('failed')} not listening</p>`
        }
      </div>
      <div class="card">
        <h3>Disk</h3>
        <p>
          ${badge(freeMb >= min ? 'ok' : 'failed')} ${freeMb.toLocaleString('en')} MB free; the guard refuses instances below
          ${min.toLocaleString('en')} MB
        </p>
      </div>
      ${checks
        .filter((c) => c.name === 'database')
        .map(
          (c) =>
            html`<div class="card">
              <h3>Database</h3>
              <p>${badge(c.ok ? 'ok' : 'failed')} ${c.ok ? 'takes writes' : (c.detail ?? '')}</p>
            </div>`,
        )}
    </div>
    <h3>Models</h3>
    <table>
      ${tableHead('Model', 'State', 'Execution provider', 'sha256 / why refused')}
      <tbody>
        ${
          models.length === 0
            ? html`<tr>
                <td colspan="4">No model in ${src.config.inference.modelsDir}</td>
              </tr>`
            : models.map((m) =>
                m.status === 'loaded'
                  ? html`<tr>
                      <td>${m.name} ${m.version}</td>
                      <td>${badge('loaded')}</td>
                      <td>${m.provider}</td>
                      <td class="uid">${m.sha256}</td>
                    </tr>`
                  : html`<tr>
                      <td>${m.folder}</td>
                      <td>${badge('refused')}</td>
                      <td>—</td>
                      <td>${m.reasons.join('; ')}</td>
                    </tr>`,
              )
        }
      </tbody>
    </table>
  </section>`;
}

function counts(rows: { state: string; count: number }[]): Html {
  if (rows.length === 0) return html`<p class="muted">none</p>`;
  return html`<ul>
    ${rows.map((r) => html`<li>${badge(r.state)} ${r.count.toLocaleString('en')}</li>`)}
  </ul>`;
}

function queues(src: DashboardSources): Html {
  const s = src.store;
  return html`<section aria-labelledby="queues">
    <h2 id="queues">Queues</h2>
    <div class="cards">
      <div class="card">
        <h3>Series</h3>
        ${counts(s.seriesCountsByState())}
      </div>
      <div class="card">
        <h3>Jobs</h3>
        ${counts(s.jobCountsByState())}
      </div>
      <div class="card">
        <h3>Deliveries</h3>
        ${counts(s.deliveryCountsByState())}
      </div>
    </div>
  </section>`;
}

/** A bar chart as inline SVG (no script): one bar per 5 minutes of the last hour. */
function chart(label: string, buckets: { bucket: number; n: number }[], unit: (n: number) => string): Html {
  const values = Array.from({ length: HOUR / BUCKET }, (_, i) => buckets.find((b) => b.bucket === i)?.n ?? 0);
  const max = Math.max(1, ...values);
  const w = 40;
  const h = 80;
  const total = values.reduce((a, b) => a + b, 0);
  return html`<figure>
    <figcaption>${label}: ${unit(total)} over the last hour</figcaption>
    <svg class="chart" viewBox="0 0 ${values.length * w} ${h + 14}" role="img" aria-label="${label}, per 5 minutes: ${values.join(', ')}">
      ${values.map((v, i) => {
        const bh = Math.round((v / max) * h);
        return html`<rect x="${i * w + 4}" y="${h - bh}" width="${w - 8}" height="${bh}"><title>${v}</title></rect>`;
      })}
      <line x1="0" y1="${h}" x2="${values.length * w}" y2="${h}" stroke="#4a5562"></line>
    </svg>
  </figure>`;
}

function activity(src: DashboardSources, now: number): Html {
  const since = now - HOUR;
  const a = src.store.activitySince(since, BUCKET);
  return html`<section aria-labelledby="activity">
    <h2 id="activity">Activity</h2>
    <div class="cards">
      <div class="card">${chart('Instances received', a.instances, (n) => `${n.toLocaleString('en')} (${(n / 3600).toFixed(2)}/s)`)}</div>
      <div class="card">${chart('Jobs finished', a.jobs, (n) => `${n.toLocaleString('en')} jobs`)}</div>
    </div>
  </section>`;
}

function attention(src: DashboardSources, now: number): Html {
  const s = src.store;
  const failedJobs = s.jobCountsByState().find((r) => r.state === 'failed')?.count ?? 0;
  const failedDeliveries = s.deliveryCountsByState().find((r) => r.state === 'failed')?.count ?? 0;
  const audit = s.auditCountsSince(now - 24 * HOUR);
  const n = (event: string) => audit.filter((a) => a.event === event).reduce((t, a) => t + a.count, 0);
  const items: { n: number; text: string; href: string }[] = [
    { n: failedJobs, text: 'failed jobs', href: '/ui/series?state=failed' },
    { n: failedDeliveries, text: 'failed deliveries', href: '/ui/deliveries?state=failed' },
    { n: n('instance-refused'), text: 'instances refused (last 24 h)', href: '/ui/audit?event=instance-refused' },
    { n: n('association-rejected'), text: 'associations rejected (last 24 h)', href: '/ui/audit?event=association-rejected' },
    { n: n('delivery-failed'), text: 'deliveries given up (last 24 h)', href: '/ui/audit?event=delivery-failed' },
  ];
  const open = items.filter((i) => i.n > 0);
  return html`<section aria-labelledby="attention">
    <h2 id="attention">Needs attention</h2>
    ${
      open.length === 0
        ? html`<p>${badge('ok')} Nothing failed or refused.</p>`
        : html`<ul>
            ${open.map((i) => html`<li><a href="${i.href}">${i.n.toLocaleString('en')} ${i.text}</a></li>`)}
          </ul>`
    }
  </section>`;
}

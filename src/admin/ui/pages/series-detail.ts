// One series' way through the node, on one page ("where is my report?"): received → stable →
// routed → each job (model, provider, duration, low-confidence flag) → its reports and key image →
// each delivery with its status, then the operator actions and events recorded for the series;
// below, the result to look at: the key image and the SR as a readable report.

import fs from 'node:fs';
import { srContentTree } from '../../../report/sr-dump';
import type { DeliveryRow, JobRow, ReportRecord, SeriesRow, StudyRow } from '../../../store/store';
import type { SeriesResult } from '../../../inference/findings';
import { duration, html, when, type Html, tableHead } from '../html';
import { badge, deliveryAction, postButton, deliveryStatus, type PostContext } from '../layout';
import { srView } from '../sr-view';
import type { DashboardSources } from '../sources';
import { echoLabel } from '../../../delivery/echo-destination';

type Result = NonNullable<ReturnType<DashboardSources['store']['latestResult']>>;

export function seriesDetailPage(src: DashboardSources, series: SeriesRow, study: StudyRow | undefined, post: PostContext): Html {
  const s = src.store;
  const jobs = s.listJobs(series.seriesInstanceUid);
  const reports = s.listReports(series.seriesInstanceUid);
  const deliveries = s.deliveriesOfSeries(series.seriesInstanceUid);
  const events = s.queryAudit({ seriesInstanceUid: series.seriesInstanceUid }, 50);
  const results = new Map(jobs.map((j) => [j.id, s.latestResult(j.id)] as const));
  return html`${studyHeader(series, study)}
    <h2>Timeline</h2>
    <ol class="timeline" aria-label="The series' way through the node">
      <li>
        <h3>Received</h3>
        <p>
          ${series.instanceCount} instance(s), ${(series.totalBytes / 1048576).toFixed(1)} MB from
          <strong>${series.callingAeTitle ?? '?'}</strong>; first ${when(series.firstReceivedAt)}, last ${when(series.lastReceivedAt)}
        </p>
      </li>
      <li>
        <h3>Stable</h3>
        <p>
          ${series.stableAt ? html`${badge('stable')} ${when(series.stableAt)}` : html`${badge('receiving')} waiting ${src.config.series.stableSeconds} s after the last instance`}
        </p>
      </li>
      <li>
        <h3>Routed</h3>
        ${routed(jobs)}
      </li>
      ${jobs.filter((j) => j.route !== '').map((j) => jobStep(j, results.get(j.id), reports, deliveries, post))}
      ${
        events.length > 0
          ? html`<li>
              <h3>Events</h3>
              <ul>
                ${events.map((e) => html`<li>${when(e.at)} ${badge(e.outcome)} ${e.event}${e.detail ? ` — ${e.detail}` : ''}</li>`)}
              </ul>
            </li>`
          : ''
      }
    </ol>
    ${destinationsEcho(src, post)} ${resultView(src, jobs, results, reports)}`;
}

function studyHeader(series: SeriesRow, study: StudyRow | undefined): Html {
  return html`<table class="facts">
    <tbody>
      <tr>
        <th scope="row">Patient</th>
        <td>${study?.patientName ?? ''} <span class="muted">(ID ${study?.patientId ?? ''})</span></td>
      </tr>
      <tr>
        <th scope="row">Study</th>
        <td>
          ${study?.studyDescription ?? ''} ${study?.studyDate ?? ''} <span class="muted">accession ${study?.accessionNumber ?? ''}</span>
        </td>
      </tr>
      <tr>
        <th scope="row">Series</th>
        <td>
          ${series.seriesDescription ?? ''} #${series.seriesNumber ?? '?'} · ${series.modality ?? ''} ${series.bodyPartExamined ?? ''}
        </td>
      </tr>
      <tr>
        <th scope="row">Series UID</th>
        <td class="uid">${series.seriesInstanceUid}</td>
      </tr>
    </tbody>
  </table>`;
}

function routed(jobs: JobRow[]): Html {
  if (jobs.length === 0) return html`<p class="muted">Not routed yet.</p>`;
  const unrouted = jobs.find((j) => j.route === '');
  if (unrouted) return html`<p>${badge('unrouted')} ${unrouted.reason ?? 'no route matched'}</p>`;
  return html`<p>
    ${jobs.map((j) => html`route <strong>${j.route}</strong> → ${j.model ?? ''} ${j.priority === 'urgent' ? badge('urgent') : ''} `)}
  </p>`;
}

function jobStep(
  j: JobRow,
  r: Result | undefined,
  reports: ReportRecord[],
  deliveries: (DeliveryRow & { form: string; revision: number })[],
  post: PostContext,
): Html {
  const mine = reports.filter((x) => x.jobId === j.id);
  const sent = deliveries.filter((d) => mine.some((x) => x.sopInstanceUid === d.sopInstanceUid));
  return html`<li>
    <h3>Job ${j.id}: ${j.model ?? ''} ${badge(j.state)}</h3>
    <p>
      ${j.runs}
      run(s)${j.reason ? html`; <span class="${j.state === 'failed' ? 'error' : ''}">${j.reason}</span>` : ''}${j.burnedInFlag ? `; ${j.burnedInFlag}` : ''}
    </p>
    ${r ? html`<p>${r.model} ${r.modelVersion} on <strong>${r.executionProvider}</strong>, ${duration(r.durationMs)}, ${r.findings} finding(s)${r.lowConfidence ? html` ${badge('low confidence')}` : ''}</p>` : ''}
    ${j.state === 'failed' || j.state === 'skipped' ? postButton(`/ui/jobs/${j.id}/retry`, `Retry job ${j.id}`, post) : ''}
    ${
      mine.length > 0
        ? html`<h4>Reports</h4>
            <ul>
              ${mine.map((x) => html`<li>${x.form} revision ${x.revision}, ${when(x.createdAt)} <span class="uid">${x.sopInstanceUid}</span></li>`)}
            </ul>`
        : ''
    }
    ${sent.length > 0 ? deliveriesTable(sent, post) : ''}
  </li>`;
}

function deliveriesTable(rows: (DeliveryRow & { form: string; revision: number })[], post: PostContext): Html {
  return html`<h4>Deliveries</h4>
    <table>
      ${tableHead('To', 'Object', 'State', 'Attempts', 'Last status', 'When', 'Action')}
      <tbody>
        ${rows.map(
          (d) =>
            html`<tr>
              <td>${d.destination}</td>
              <td>${d.form} r${d.revision}</td>
              <td>${badge(d.state)}</td>
              <td>${d.attempts}</td>
              <td>${deliveryStatus(d)}</td>
              <td>${when(d.deliveredAt ?? d.updatedAt)}</td>
              <td>${deliveryAction(d, post)}</td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}

function destinationsEcho(src: DashboardSources, post: PostContext): Html {
  const names = Object.keys(src.config.destinations);
  if (names.length === 0) return html``;
  return html`<h2>Destinations</h2>
    <p>
      ${names.map((n) => html`${postButton(`/ui/destinations/${encodeURIComponent(n)}/echo`, `${echoLabel(src.config.destinations[n])} ${n}`, post)} `)}
    </p>`;
}

function resultView(src: DashboardSources, jobs: JobRow[], results: Map<number, Result | undefined>, reports: ReportRecord[]): Html {
  const done = jobs.filter((j) => j.state === 'done' && results.get(j.id));
  if (done.length === 0) return html``;
  return html`<h2>Result</h2>
    ${done.map((j) => {
      const r = results.get(j.id)!;
      const parsed = JSON.parse(r.resultJson) as SeriesResult & { keyImage?: string };
      const sr = latestSr(reports.filter((x) => x.jobId === j.id));
      return html`<section aria-label="Result of job ${j.id}">
        <h3>${r.model} ${r.modelVersion}</h3>
        <p>${parsed.impression}</p>
        ${
          parsed.keyImage
            ? html`<figure class="keyimage">
                <img
                  src="/ui/key-image/${j.id}"
                  alt="Key image of job ${j.id}: the slice of finding ${parsed.findings[0]?.id ?? ''}, outlined"
                />
                <figcaption>Key image</figcaption>
              </figure>`
            : ''
        }
        ${findingsTable(j.id, parsed)} ${sr ? srSection(sr, src.config.report.language) : html`<p class="muted">No SR written yet.</p>`}
      </section>`;
    })}`;
}

/** Each finding with a link to its slice (the original image, outlined: /ui/jobs/J/findings/F.png). */
function findingsTable(jobId: number, r: SeriesResult): Html {
  if (r.findings.length === 0) return html`<p>No findings.</p>`;
  return html`<table>
    ${tableHead('#', 'Finding', 'Site', 'Measurements', 'Confidence', 'Image')}
    <tbody>
      ${r.findings.map(
        (f) =>
          html`<tr>
            <td>${f.id}</td>
            <td>${f.code.meaning}</td>
            <td>${f.site?.text ?? ''}</td>
            <td>${f.measurements.map((m) => html`${m.concept.meaning} ${Number(m.value.toPrecision(4))} ${m.unit.value}<br />`)}</td>
            <td>${f.confidence.toFixed(2)}</td>
            <td>
              ${f.region ? html`<a href="/ui/jobs/${jobId}/findings/${f.id}">Slice of finding ${f.id}</a>` : html`<span class="muted">none</span>`}
            </td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

/** The newest revision's most capable SR form (the one a viewer shows best). */
function latestSr(reports: ReportRecord[]): ReportRecord | undefined {
  // SR forms only: not the key image, the SEG or the SR variants without segment references.
  const order = ['comprehensive3d', 'comprehensive', 'basic-text'];
  const srs = reports.filter((x) => order.includes(x.form));
  const top = Math.max(...srs.map((x) => x.revision));
  return srs.filter((x) => x.revision === top).sort((a, b) => order.indexOf(a.form) - order.indexOf(b.form))[0];
}

function srSection(report: ReportRecord, language: string): Html {
  try {
    return html`<h3>Structured report (${report.form}, revision ${report.revision})</h3>
      ${srView(srContentTree(fs.readFileSync(report.filePath)), language)}`;
  } catch (e) {
    return html`<p class="error">The SR file cannot be shown: ${(e as Error).message}</p>`;
  }
}

// `dicom-ai-node status`: totals, and the newest series, jobs and deliveries. Bounded by a limit,
// so that it answers as fast on an index of a million instances as on an empty one (each part is
// one indexed query: see Store.listSeriesPage, listRecentJobs, listRecentDeliveries).

import type { DeliveryRow, JobRow, SeriesRow, Store } from '../store/store';

/** How many of each (series, jobs, deliveries) status shows by default, newest first. */
export const STATUS_LIMIT_DEFAULT = 100;

export interface StatusReport {
  limit: number;
  totals: { series: number; jobs: number; deliveries: number };
  series: SeriesRow[];
  jobs: JobRow[];
  deliveries: DeliveryRow[];
  deliveriesByState: { state: string; count: number }[];
}

const sumCounts = (rows: { count: number }[]) => rows.reduce((n, r) => n + r.count, 0);

export function statusReport(store: Store, limit: number): StatusReport {
  const deliveriesByState = store.deliveryCountsByState();
  return {
    limit,
    totals: {
      series: sumCounts(store.seriesCountsByState()),
      jobs: sumCounts(store.jobCountsByState()),
      deliveries: sumCounts(deliveriesByState),
    },
    series: store.listSeriesPage(limit).series,
    jobs: store.listRecentJobs(limit),
    deliveries: store.listRecentDeliveries(limit),
    deliveriesByState,
  };
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** `status --json`: times as ISO 8601 (UTC). */
export function statusJson(r: StatusReport): unknown {
  return {
    totals: r.totals,
    limit: r.limit,
    series: r.series.map((s) => ({
      seriesInstanceUid: s.seriesInstanceUid,
      studyInstanceUid: s.studyInstanceUid,
      modality: s.modality,
      state: s.state,
      instanceCount: s.instanceCount,
      totalBytes: s.totalBytes,
      callingAeTitle: s.callingAeTitle,
      firstReceivedAt: iso(s.firstReceivedAt),
      lastReceivedAt: iso(s.lastReceivedAt),
      stableAt: iso(s.stableAt),
    })),
    jobs: r.jobs.map((j) => ({ ...j, createdAt: iso(j.createdAt), updatedAt: iso(j.updatedAt) })),
    deliveries: r.deliveries.map((d) => ({
      id: d.id,
      destination: d.destination,
      sopClassUid: d.sopClassUid,
      sopInstanceUid: d.sopInstanceUid,
      state: d.state,
      attempts: d.attempts,
      lastStatus: d.lastStatus,
      lastError: d.lastError,
      nextAttemptAt: iso(d.nextAttemptAt),
      deliveredAt: iso(d.deliveredAt),
    })),
  };
}

/** `status` for a terminal: one line per series and job, and the deliveries by state. */
export function statusText(r: StatusReport): string {
  const shown = (n: number, total: number) => (n < total ? ` (newest ${n} shown; --limit N for more)` : '');
  const lines = [`${r.totals.series} series${shown(r.series.length, r.totals.series)}`];
  for (const s of r.series)
    lines.push(
      `${s.state.padEnd(10)} ${String(s.modality ?? '-').padEnd(4)} ${String(s.instanceCount).padStart(6)} inst  ${s.callingAeTitle ?? '-'}  ${s.seriesInstanceUid}`,
    );
  lines.push(`${r.totals.jobs} jobs${shown(r.jobs.length, r.totals.jobs)}`);
  for (const j of r.jobs)
    lines.push(
      `${String(j.id).padStart(5)} ${j.state.padEnd(10)} ${j.priority.padEnd(6)} ${(j.route || '-').padEnd(16)} ${j.model ?? '-'}  ${j.seriesInstanceUid}${j.reason ? `  (${j.reason})` : ''}`,
    );
  const by = r.deliveriesByState;
  lines.push(`deliveries: ${by.length === 0 ? 'none' : by.map((d) => `${d.count} ${d.state}`).join(', ')}`);
  return lines.join('\n') + '\n';
}

// A stable series takes its routes: a queued (or skipped) job per matching route, or an
// 'unrouted' record saying why nothing matched. Later stages pick queued jobs up; a series with
// late instances is routed again when it is stable again, re-queuing its jobs.

import type { NodeConfig, RouteConfig } from '../config/config';
import type { Logger } from '../log/logger';
import type { JobRow, SeriesRoutingRow, Store } from '../store/store';
import { routesFor } from './router';
import { burnedInDecision, instanceBurnedInRisk } from './burned-in-check';

/** Instances judged from their files between two yields to the event loop. */
const JUDGE_BATCH = 32;

/**
 * Routes one series and records the decision. Returns the series' job rows after routing (its
 * unrouted record when nothing matched), or undefined when the series is not in the index.
 *
 * Burned-in annotation risk is judged over every instance (any at risk puts the series at risk):
 * recorded per instance at ingest, so this is one query. Instances indexed before that (an older
 * install) are judged from their headers first, in batches that yield to the event loop, and
 * their risk recorded; the decision itself is then taken synchronously from the index as it is.
 */
export async function routeSeries(
  seriesInstanceUid: string,
  deps: { store: Store; config: Pick<NodeConfig, 'routes' | 'routing'>; log: Logger },
  now: number,
): Promise<JobRow[] | undefined> {
  const unreadable = wouldRoute(seriesInstanceUid, deps) ? await judgeUnjudged(seriesInstanceUid, deps.store) : [];
  return recordRoutingDecision(seriesInstanceUid, deps, unreadable, now);
}

function wouldRoute(uid: string, deps: { store: Store; config: Pick<NodeConfig, 'routes' | 'routing'> }): boolean {
  const row = deps.store.seriesForRouting(uid);
  return row !== undefined && matchingRoutes(row, deps.config).length > 0;
}

function matchingRoutes(row: SeriesRoutingRow, config: Pick<NodeConfig, 'routes' | 'routing'>): RouteConfig[] {
  const { instanceCount, ...attributes } = row;
  // Routes match on the series' attributes, never on its UID.
  return routesFor({ attributes: { ...attributes, seriesInstanceUid: undefined }, instanceCount }, config.routes, config.routing);
}

/** Judges (and records) the instances of a series indexed without their risk; returns why some could not be. */
async function judgeUnjudged(uid: string, store: Store): Promise<string[]> {
  const { unjudged } = store.seriesBurnedInRisk(uid);
  const modality = store.seriesForRouting(uid)?.Modality ?? null;
  const unreadable: string[] = [];
  for (let i = 0; i < unjudged.length; i++) {
    if (i > 0 && i % JUDGE_BATCH === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const inst = unjudged[i]!;
    try {
      store.setBurnedInRisk(inst.sopInstanceUid, instanceBurnedInRisk(inst, modality));
    } catch (e) {
      unreadable.push(`header could not be read (${(e as Error).message})`);
    }
  }
  return unreadable;
}

function recordRoutingDecision(
  seriesInstanceUid: string,
  deps: { store: Store; config: Pick<NodeConfig, 'routes' | 'routing'>; log: Logger },
  unreadable: readonly string[],
  now: number,
): JobRow[] | undefined {
  const { store, config, log } = deps;
  const row = store.seriesForRouting(seriesInstanceUid);
  if (!row) return undefined;
  const { seriesInstanceUid: uid, instanceCount } = row;
  const hits = matchingRoutes(row, config);
  const unroutedReason = hits.length > 0 ? '' : `no route matched (${config.routes.length} configured)`;
  // Judged once per series, over every instance, then each route applies its own policy.
  const risk = hits.length > 0 ? seriesRisk(store, uid, unreadable) : [];
  const jobs = store.recordRouting(
    uid,
    hits.map((route) => ({
      route: route.name,
      model: route.model,
      priority: route.priority,
      ...burnedInDecision(risk, route.burnedInAnnotation),
    })),
    unroutedReason,
    now,
  );
  if (hits.length > 0)
    log.info('series routed', {
      modality: row.Modality,
      instances: instanceCount,
      routes: hits.map((r) => r.name),
      urgent: hits.some((r) => r.priority === 'urgent'),
    });
  else log.info('series unrouted', { modality: row.Modality, instances: instanceCount, reason: unroutedReason });
  return jobs;
}

/** The series' risk: every instance's reasons; an instance still unjudged (unreadable, or new) counts as a risk. */
function seriesRisk(store: Store, uid: string, unreadable: readonly string[]): string[] {
  const { reasons, unjudged } = store.seriesBurnedInRisk(uid);
  const unknown = unjudged.length > 0 ? [unreadable[0] ?? `${unjudged.length} instance(s) not judged`] : [];
  return [...new Set([...reasons, ...unknown])];
}

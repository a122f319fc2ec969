// A stable series takes its routes: a queued (or skipped) job per matching route, or an
// 'unrouted' record saying why nothing matched. Later stages pick queued jobs up; a series with
// late instances is routed again when it is stable again, re-queuing its jobs.

import type { NodeConfig } from '../config/config';
import type { Logger } from '../log/logger';
import type { JobRow, Store } from '../store/store';
import { routesFor } from './router';
import { burnedInDecision, burnedInRisk } from './burned-in-check';

/**
 * Routes one series and records the decision. Returns the series' job rows after routing (its
 * unrouted record when nothing matched), or undefined when the series is not in the index.
 */
export function routeSeries(
  seriesInstanceUid: string,
  deps: { store: Store; config: Pick<NodeConfig, 'routes' | 'routing'>; log: Logger },
  now: number,
): JobRow[] | undefined {
  const { store, config, log } = deps;
  const row = store.seriesForRouting(seriesInstanceUid);
  if (!row) return undefined;
  const { seriesInstanceUid: uid, instanceCount, ...attributes } = row;
  const hits = routesFor({ attributes, instanceCount }, config.routes, config.routing);
  const unroutedReason = hits.length > 0 ? '' : `no route matched (${config.routes.length} configured)`;
  // Judged once per series (first instance only), then each route applies its own policy.
  const risk = hits.length > 0 ? burnedInRisk(store.listInstances(uid)[0], row.Modality) : [];
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

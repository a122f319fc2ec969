// Which routes a stable series takes. Pure: a series' attributes and the configured routes in,
// the matching routes out (the first one, or all, as `routing.mode` says). A series that matches
// nothing is recorded as unrouted by the caller, never silently dropped.

import type { MatchCondition, RouteConfig, RoutingConfig } from '../config/config';

/** What routing can look at: the series' own attributes, its study's, and who sent it. */
export interface RoutableSeries {
  attributes: Readonly<Record<string, string | null | undefined>>;
  instanceCount: number;
}

export function conditionHolds(c: MatchCondition, value: string | null | undefined): boolean {
  if (value === null || value === undefined) return false;
  if (c.kind === 'equals') return value.trim().toUpperCase() === c.value.toUpperCase();
  return new RegExp(c.source, c.flags).test(value);
}

export function routeMatches(route: RouteConfig, s: RoutableSeries): boolean {
  if (s.instanceCount < route.minInstances) return false;
  if (route.maxInstances !== null && s.instanceCount > route.maxInstances) return false;
  return Object.entries(route.match).every(([keyword, c]) => conditionHolds(c, s.attributes[keyword]));
}

export function routesFor(s: RoutableSeries, routes: readonly RouteConfig[], routing: RoutingConfig): RouteConfig[] {
  const hits = routes.filter((r) => routeMatches(r, s));
  return routing.mode === 'first' ? hits.slice(0, 1) : hits;
}

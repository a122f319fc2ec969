/**
 * The routes against the models they name, once the models are loaded (config validation alone
 * cannot know what a model gives). A route that asks for "seg" from a model whose output cannot
 * be written as a DICOM Segmentation is a configuration mistake: the node refuses to start and
 * says which route, which model and why, instead of every job of that route going without a SEG.
 * A route whose model is not loaded is not judged here (start-up warns about it; its jobs wait).
 */
import { routeOutputs, type RouteConfig } from '../config/types';
import type { Manifest } from '../inference/manifest';
import { whyCannotWriteSegmentation } from '../inference/source-labels';

export function routeModelProblems(
  routes: readonly RouteConfig[],
  manifestOf: (model: string) => Pick<Manifest, 'output' | 'preprocessing'> | undefined,
): string[] {
  return routes.flatMap((route, i) => {
    const manifest = manifestOf(route.model);
    if (!manifest || !routeOutputs(route).has('seg')) return [];
    const why = whyCannotWriteSegmentation(manifest);
    if (!why) return [];
    return [
      `routes[${i}] ("${route.name}"): outputs include "seg", but model "${route.model}" cannot give a Segmentation: ${why}. Remove "seg" from this route's outputs, or route a segmentation model`,
    ];
  });
}

// Stage 5, planned: what the job's closing transaction records. Pure functions of the written
// report set and the configuration: the report rows, and one delivery per (object, destination).
//
// A destination gets its preferred SR form, with its other forms as alternatives in order (for a
// PACS that refuses the first SOP class), plus the key image Secondary Capture when there is one.
// The Segmentation, when there is one, is queued BEFORE the SR (IHE AIR: a viewer that opens the
// SR finds the SEG its groups reference already there); the queue sends a destination's
// deliveries in the order they were recorded.

import type { DestinationConfig } from '../config/config';
import type { DeliveryAlternative, ReportRecord } from '../store/store';
import type { ReportForm } from '../report/forms';
import type { ReportSet, WrittenReport } from './write-report-set';
import { withoutSegmentationForm } from './report-set';

export interface PlannedDelivery {
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
  readonly filePath: string;
  readonly destination: string;
  readonly alternatives: DeliveryAlternative[];
}

type PlanDestination = Pick<DestinationConfig, 'reportForms'> & Partial<Pick<DestinationConfig, 'acceptsSegmentation'>>;
type PlanSet = Pick<ReportSet, 'srs' | 'keyImage'> & Partial<Pick<ReportSet, 'segmentation' | 'srsWithoutSegmentation'>>;

/**
 * Deliveries of a report set to the route's destinations. A destination no longer configured gets
 * nothing; a form a destination asks for that is not in the set is a planning error (the set was
 * made from the same destinations' forms) and throws.
 *
 * With a Segmentation, never an SR pointing at a SEG the destination does not hold:
 *  - a destination configured with acceptsSegmentation false gets no SEG, and the SR forms
 *    without segment references (the variants) as its SR;
 *  - any other destination gets the SEG, then the SR that references it, with the variants as
 *    further alternatives marked `whenSegmentationMissing` (the SEG's UID). The queue sends the
 *    referencing SR only once that destination has stored the SEG, and a variant when the SEG was
 *    refused or failed for good (delivery/queue.ts says how the order is kept).
 */
export function planDeliveries(
  routeDestinations: readonly string[],
  destinations: Readonly<Record<string, PlanDestination>>,
  set: PlanSet,
): PlannedDelivery[] {
  return routeDestinations.flatMap((destination) => {
    const config = destinations[destination];
    if (!config) return [];
    const formsOf = (srs: ReadonlyMap<ReportForm, WrittenReport>) =>
      config.reportForms.map((form) => {
        // Basic Text references no SEG, so it has no variant: the form itself stands in.
        const written = srs.get(form) ?? set.srs.get(form);
        if (!written) throw new Error(`destination ${destination} takes the ${form} form, which this report set does not have`);
        return written;
      });
    const seg = set.segmentation ?? null;
    const withoutSeg = set.srsWithoutSegmentation ?? new Map<ReportForm, WrittenReport>();
    const takesSeg = seg !== null && config.acceptsSegmentation !== false;
    const [preferred, ...others] = formsOf(seg !== null && !takesSeg ? withoutSeg : set.srs);
    if (!preferred) return [];
    const alternatives: DeliveryAlternative[] = others.map(alternative);
    // Basic Text alone never references the SEG: nothing to wait for.
    if (takesSeg && config.reportForms.some((form) => withoutSeg.has(form))) {
      for (const variant of formsOf(withoutSeg))
        alternatives.push({ ...alternative(variant), whenSegmentationMissing: seg.sopInstanceUid });
    }
    return [
      ...(takesSeg ? [delivery(seg, destination, [])] : []),
      delivery(preferred, destination, alternatives),
      ...(set.keyImage ? [delivery(set.keyImage, destination, [])] : []),
    ];
  });
}

/** The route's destinations that get the SR without segment references because they are configured not to take SEG. */
export function destinationsWithoutSegmentation(
  routeDestinations: readonly string[],
  destinations: Readonly<Record<string, PlanDestination>>,
  set: PlanSet,
): string[] {
  if (!set.segmentation) return [];
  return routeDestinations.filter((name) => destinations[name]?.acceptsSegmentation === false);
}

function alternative({ sopInstanceUid, sopClassUid, filePath }: WrittenReport): DeliveryAlternative {
  return { sopInstanceUid, sopClassUid, filePath };
}

function delivery(report: WrittenReport, destination: string, alternatives: DeliveryAlternative[]): PlannedDelivery {
  return { sopInstanceUid: report.sopInstanceUid, sopClassUid: report.sopClassUid, filePath: report.filePath, destination, alternatives };
}

export interface ReportRowContext {
  readonly jobId: number;
  readonly resultId: number;
  readonly seriesInstanceUid: string;
  readonly model: string;
  readonly modelVersion: string;
  readonly instancesHash: string;
}

/**
 * The report rows of a set: its SR forms in order, then the key image ('key-image' form), the
 * Segmentation ('seg') and the SR variants without segment references ('<form>-without-seg').
 */
export function reportRows(set: ReportSet, context: ReportRowContext): Omit<ReportRecord, 'createdAt'>[] {
  const objects: [string, WrittenReport][] = [...set.srs.entries()];
  if (set.keyImage) objects.push(['key-image', set.keyImage]);
  if (set.segmentation) objects.push(['seg', set.segmentation]);
  for (const [form, written] of set.srsWithoutSegmentation) objects.push([withoutSegmentationForm(form), written]);
  return objects.map(([form, written]) => ({
    sopInstanceUid: written.sopInstanceUid,
    sopClassUid: written.sopClassUid,
    form,
    seriesInstanceUid: context.seriesInstanceUid,
    model: context.model,
    modelVersion: context.modelVersion,
    revision: set.revision,
    instancesHash: context.instancesHash,
    srSeriesInstanceUid: set.srSeriesInstanceUid,
    jobId: context.jobId,
    resultId: context.resultId,
    filePath: written.filePath,
  }));
}

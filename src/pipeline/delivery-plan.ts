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
import type { ReportSet, WrittenReport } from './write-report-set';

export interface PlannedDelivery {
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
  readonly filePath: string;
  readonly destination: string;
  readonly alternatives: DeliveryAlternative[];
}

/**
 * Deliveries of a report set to the route's destinations. A destination no longer configured gets
 * nothing; a form a destination asks for that is not in the set is a planning error (the set was
 * made from the same destinations' forms) and throws.
 */
export function planDeliveries(
  routeDestinations: readonly string[],
  destinations: Readonly<Record<string, Pick<DestinationConfig, 'reportForms'>>>,
  set: Pick<ReportSet, 'srs' | 'keyImage'> & Partial<Pick<ReportSet, 'segmentation'>>,
): PlannedDelivery[] {
  return routeDestinations.flatMap((destination) => {
    const config = destinations[destination];
    if (!config) return [];
    const [preferred, ...others] = config.reportForms.map((form) => {
      const written = set.srs.get(form);
      if (!written) throw new Error(`destination ${destination} takes the ${form} form, which this report set does not have`);
      return written;
    });
    if (!preferred) return [];
    const alternatives = others.map(({ sopInstanceUid, sopClassUid, filePath }) => ({ sopInstanceUid, sopClassUid, filePath }));
    return [
      ...(set.segmentation ? [delivery(set.segmentation, destination, [])] : []),
      delivery(preferred, destination, alternatives),
      ...(set.keyImage ? [delivery(set.keyImage, destination, [])] : []),
    ];
  });
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

/** The report rows of a set: its SR forms in order, then the key image ('key-image' form) and the Segmentation ('seg'). */
export function reportRows(set: ReportSet, context: ReportRowContext): Omit<ReportRecord, 'createdAt'>[] {
  const objects: [string, WrittenReport][] = [...set.srs.entries()];
  if (set.keyImage) objects.push(['key-image', set.keyImage]);
  if (set.segmentation) objects.push(['seg', set.segmentation]);
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

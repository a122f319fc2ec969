// Stage 4, planned: which report objects a job makes and under which UIDs. Pure functions of the
// route, the destinations and the reports already made, so a rerun after a crash plans the very
// same objects (a resend then replaces instead of duplicating).
//
// Late instances: a series routed again after new instances has a different set of instances, so
// its job writes revision n+1, each form naming what it supersedes (Predecessor Documents).

import type { DestinationConfig, RouteConfig } from '../config/config';
import { REPORT_FORMS, type ReportForm } from '../report/forms';
import { hashUid, reportUids } from '../report/uids';
import { segmentationUids } from '../report/segmentation-iod';
import type { ReportRecord } from '../store/store';

export interface ObjectUids {
  readonly seriesInstanceUid: string;
  readonly sopInstanceUid: string;
}

/** The report a new revision's form supersedes. */
export interface Predecessor {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly studyInstanceUid: string;
}

export interface PlannedSr {
  readonly form: ReportForm;
  readonly uids: ObjectUids;
  readonly predecessor?: Predecessor;
}

export interface ReportSetPlan {
  readonly revision: number;
  /** The SR series every form of this revision is filed in. */
  readonly srSeriesInstanceUid: string;
  /** The default (Comprehensive 3D) first when it is needed. */
  readonly srs: readonly PlannedSr[];
  /** UIDs of the key image Secondary Capture, in a series of its own; null when the route sends none. */
  readonly keyImage: ObjectUids | null;
  /** UIDs of the DICOM Segmentation (its own series, sent before the SR); null when none is sent. */
  readonly segmentation: ObjectUids | null;
  /**
   * With a Segmentation: each SR form again WITHOUT the segment references, for a destination that
   * does not hold the SEG (acceptsSegmentation false, or it refused the SEG at association). Empty
   * without a Segmentation. Basic Text never references the SEG, so it has no variant.
   */
  readonly srsWithoutSegmentation: readonly PlannedSr[];
}

/** The report row form of an SR variant without segment references (reports.form). */
export function withoutSegmentationForm(form: ReportForm): string {
  return `${form}-without-seg`;
}

/** Forms whose content tree references the SEG's segments (TID 1411 groups, evidence): the TID 1500 forms. */
export function referencesSegmentation(form: ReportForm): boolean {
  return form !== 'basic-text';
}

/**
 * The variant of a form without segment references is another object (other content), so it has
 * its own SOP Instance UID, derived from the form's the way the forms derive theirs from the base:
 * a rerun makes the same variant under the same UID. Same SR series.
 */
export function withoutSegmentationUids(formUid: ObjectUids): ObjectUids {
  return {
    seriesInstanceUid: formUid.seriesInstanceUid,
    sopInstanceUid: hashUid('dicom-ai-node/sr-without-seg', formUid.sopInstanceUid),
  };
}

/** Every form any destination of the route may need, the default (Comprehensive 3D) first. */
export function formsNeeded(
  routeDestinations: RouteConfig['destinations'],
  destinations: Readonly<Record<string, Pick<DestinationConfig, 'reportForms'>>>,
): ReportForm[] {
  const forms = new Set<ReportForm>();
  for (const name of routeDestinations) for (const form of destinations[name]?.reportForms ?? []) forms.add(form);
  if (forms.size === 0) forms.add('comprehensive3d');
  return [...forms];
}

/**
 * The revision a job writes, from the latest revision's reports: the same revision again when
 * they were made from the same instances (a rerun), the next one when the instances changed.
 */
export function reportRevision(latest: readonly Pick<ReportRecord, 'revision' | 'instancesHash'>[], instancesHash: string): number {
  const previous = latest[0];
  if (!previous) return 1;
  return previous.instancesHash === instancesHash ? previous.revision : previous.revision + 1;
}

/**
 * The forms of one report revision are different objects (different SOP classes), so each has its
 * own SOP Instance UID; they share the SR series. Comprehensive 3D keeps the base UID.
 */
export function formUids(base: ObjectUids, form: ReportForm): ObjectUids {
  return form === 'comprehensive3d'
    ? base
    : { seriesInstanceUid: base.seriesInstanceUid, sopInstanceUid: hashUid('dicom-ai-node/sr-form', base.sopInstanceUid, form) };
}

/**
 * The report a form of a new revision supersedes: the same form of the previous revision (what
 * that PACS got), or the most capable form when that one was not made. Never the key image.
 */
export function predecessorFor(previous: readonly ReportRecord[], form: ReportForm, studyInstanceUid: string): Predecessor | undefined {
  const order: readonly string[] = REPORT_FORMS; // most capable first
  const srs = previous.filter((p) => order.includes(p.form));
  const superseded = srs.find((p) => p.form === form) ?? [...srs].sort((a, b) => order.indexOf(a.form) - order.indexOf(b.form))[0];
  if (!superseded) return undefined;
  return {
    sopClassUid: superseded.sopClassUid,
    sopInstanceUid: superseded.sopInstanceUid,
    seriesInstanceUid: superseded.srSeriesInstanceUid,
    studyInstanceUid,
  };
}

export interface ReportSetInput {
  readonly seriesInstanceUid: string;
  readonly model: string;
  readonly modelVersion: string;
  readonly revision: number;
  readonly forms: readonly ReportForm[];
  /** The reports of revision - 1 (empty for revision 1). */
  readonly previousRevision: readonly ReportRecord[];
  readonly studyInstanceUid: string;
  /** A key image exists and the route sends it as a Secondary Capture. */
  readonly withKeyImage: boolean;
  /** The model gave labels on the source grid and the route sends them as a Segmentation. */
  readonly withSegmentation?: boolean;
}

export function planReportSet(input: ReportSetInput): ReportSetPlan {
  const base = reportUids(input.seriesInstanceUid, input.model, input.modelVersion, input.revision);
  return {
    revision: input.revision,
    srSeriesInstanceUid: base.seriesInstanceUid,
    srs: input.forms.map((form) => {
      const predecessor = predecessorFor(input.previousRevision, form, input.studyInstanceUid);
      return { form, uids: formUids(base, form), ...(predecessor ? { predecessor } : {}) };
    }),
    keyImage: input.withKeyImage
      ? {
          seriesInstanceUid: hashUid('dicom-ai-node/key-image-series', base.seriesInstanceUid),
          sopInstanceUid: hashUid('dicom-ai-node/key-image', base.sopInstanceUid),
        }
      : null,
    segmentation: input.withSegmentation
      ? segmentationUids(input.seriesInstanceUid, input.model, input.modelVersion, input.revision)
      : null,
    srsWithoutSegmentation: input.withSegmentation
      ? input.forms.filter(referencesSegmentation).map((form) => {
          // What that destination got last time was the previous variant; else the usual rule.
          const previous = input.previousRevision.find((p) => p.form === withoutSegmentationForm(form));
          const predecessor = previous
            ? {
                sopClassUid: previous.sopClassUid,
                sopInstanceUid: previous.sopInstanceUid,
                seriesInstanceUid: previous.srSeriesInstanceUid,
                studyInstanceUid: input.studyInstanceUid,
              }
            : predecessorFor(input.previousRevision, form, input.studyInstanceUid);
          return { form, uids: withoutSegmentationUids(formUids(base, form)), ...(predecessor ? { predecessor } : {}) };
        })
      : [],
  };
}

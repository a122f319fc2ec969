/**
 * The DICOM Structured Report writer: one SeriesResult -> one Part 10 SR document, sent back to the
 * PACS beside the images it describes.
 *
 * Forms:
 *  - comprehensive3d: Comprehensive 3D SR with root TID 1500 "Imaging Measurement Report": one
 *    Measurement Group (TID 1410, or TID 1501 without a region) per finding, with the image
 *    region as SCOORD and the finding's centre as SCOORD3D in the source's frame of reference;
 *  - comprehensive: the same tree without SCOORD3D (Comprehensive SR does not allow it);
 *  - basic-text: Basic Text SR with a TID 2000-style report (Findings and Impressions sections of
 *    TEXT items, image references as IMAGE items) for PACS that only take Basic Text.
 *
 * Identity (patient, study) comes from an ORIGINAL source instance, never from the de-identified
 * copy the model saw: the report must file under the real patient. Everything is re-encoded as
 * UTF-8 (ISO_IR 192). The output is a pure function of the input: same input (including
 * contentDateTime) -> same bytes, and UIDs are derived, not random (uids.ts).
 */
import { Finding, SeriesResult } from '../inference/findings';
import { C, LANGUAGES, procedureReported, UCUM_PERCENT } from './codes';
import { CreatingDevice, dicomDateTime, equipmentNodes, part10Bytes, patientStudyNodes, sopCommonNodes, truncate } from './common-modules';
import { ContentItem, encodeItem, ImageRef } from './content';
import { Node, seq, text, uid } from './elements';
import { readSourceIdentity, SourceIdentity } from './source';
import { reportUids, trackingUid } from './uids';
import { segmentTrackingUid } from './segmentation-iod';
import { wording } from './wording';
import { isReportLanguage, ReportForm, ReportLanguage } from './forms';
import { TAG } from '../dicom/tags';
import type { NarrativeOutcome } from '../narrative/outcome';
import { narrativeFindingsItems, narrativeImpressionItems } from './narrative-items';

export { reportUids } from './uids';

export interface ReportInput {
  form: ReportForm;
  language: ReportLanguage;
  /** One ORIGINAL (not de-identified) source instance, Part 10 bytes: patient + study identity are taken from it. */
  sourceFile: Buffer;
  /** Every source instance of the series, for Current Requested Procedure Evidence Sequence and the Image Library. */
  sourceInstances: { sopClassUid: string; sopInstanceUid: string }[];
  sourceSeriesInstanceUid: string;
  result: SeriesResult;
  device: CreatingDevice;
  /** 1 for the first report of (series, model, version); 2, 3... for amended reports after late instances. */
  revision: number;
  /**
   * SOP Instance UID + class of the report this one supersedes (revision > 1): Predecessor
   * Documents Sequence. When absent for revision > 1, revision - 1 of the same form is assumed
   * (its UIDs are derived, so they are known).
   */
  predecessor?: { sopClassUid: string; sopInstanceUid: string; seriesInstanceUid: string; studyInstanceUid: string };
  contentDateTime: Date;
  /**
   * UIDs to use instead of reportUids(...): the node gives each form of one revision its own SOP
   * Instance UID (different SOP classes must not share one), all in the same SR series.
   */
  uids?: { seriesInstanceUid: string; sopInstanceUid: string };
  /** Draft text of a vision-language model (or why there is none); absent = no narrative configured. */
  narrative?: NarrativeOutcome;
  /**
   * The Segmentation sent with this report (same study): each finding whose label is one of its
   * segments gets a TID 1411 Volumetric ROI group referencing that segment (TID 1500 forms only).
   */
  segmentation?: ReportSegmentation;
}

export interface ReportSegmentation {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly seriesInstanceUid: string;
  /** Segment n is segments[n - 1]; matched to findings by label unless segmentOfFinding is given. */
  readonly segmentLabels: readonly string[];
  /** One segment per finding (nodules): finding id -> its segment number. */
  readonly segmentOfFinding?: Readonly<Record<number, number>>;
}

export interface BuiltReport {
  bytes: Buffer;
  sopClassUid: string;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
}

export const SR_SOP_CLASSES: Readonly<Record<ReportForm, string>> = {
  comprehensive3d: '1.2.840.10008.5.1.4.1.1.88.34',
  comprehensive: '1.2.840.10008.5.1.4.1.1.88.33',
  'basic-text': '1.2.840.10008.5.1.4.1.1.88.11',
};

/** Series Number of our reports: high, so PACS viewers list them after the acquired series. */
export const REPORT_SERIES_NUMBER = '9901';

export function buildReport(input: ReportInput): BuiltReport {
  const sopClassUid = SR_SOP_CLASSES[input.form];
  if (sopClassUid === undefined) throw new Error(`unknown SR form "${String(input.form)}" (comprehensive3d, comprehensive or basic-text)`);
  if (!isReportLanguage(input.language)) throw new Error(`unknown report language "${String(input.language)}" (en or zh-CN)`);
  if (Number.isNaN(input.contentDateTime.getTime())) throw new Error('report contentDateTime is not a valid date');
  const prov = input.result.provenance;
  const { seriesInstanceUid, sopInstanceUid } =
    input.uids ?? reportUids(input.sourceSeriesInstanceUid, prov.modelName, prov.modelVersion, input.revision);
  const id = readSourceIdentity(input.sourceFile);
  const studyInstanceUid = id.StudyInstanceUID as string;
  if (id.SeriesInstanceUID !== undefined && id.SeriesInstanceUID !== input.sourceSeriesInstanceUid) {
    throw new Error('report source instance belongs to another series than sourceSeriesInstanceUid');
  }

  // Sorted and unique: the evidence list must not depend on the order instances arrived in.
  const byUid = new Map<string, string>();
  for (const s of input.sourceInstances) byUid.set(s.sopInstanceUid, s.sopClassUid);
  const instances = [...byUid]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([sopInstanceUid, cls]) => ({ sopInstanceUid, sopClassUid: cls }));
  if (instances.length === 0) throw new Error('report needs at least one source instance (sourceInstances is empty)');
  for (const f of input.result.findings) {
    if (f.region && byUid.get(f.region.sopInstanceUid) !== f.region.sopClassUid) {
      throw new Error(
        `finding ${f.id}: its image region references an instance that is not among sourceInstances (or with another SOP class)`,
      );
    }
  }

  const ctx: Ctx = { input, id, words: wording(input.language), lang: input.language, srSeriesUid: seriesInstanceUid, instances };
  const root = input.form === 'basic-text' ? basicTextTree(ctx) : tid1500Tree(ctx, input.form === 'comprehensive3d');

  const { date, time } = dicomDateTime(input.contentDateTime);
  const dev = input.device;
  const words = ctx.words;
  const nodes: (Node | undefined)[] = [
    ...sopCommonNodes(sopClassUid, sopInstanceUid, date, time),
    // Patient, General Study
    ...patientStudyNodes(id),
    // SR Document Series
    text(TAG.Modality, 'CS', 'SR'),
    uid(TAG.SeriesInstanceUID, seriesInstanceUid),
    text(TAG.SeriesNumber, 'IS', REPORT_SERIES_NUMBER),
    text(TAG.SeriesDescription, 'LO', truncate(words.seriesDescription(prov.modelName, prov.modelVersion), 64)),
    seq(TAG.ReferencedPerformedProcedureStepSequence, []),
    // General Equipment
    ...equipmentNodes(dev),
    // SR Document General
    text(TAG.InstanceNumber, 'IS', String(input.revision)),
    text(TAG.ContentDate, 'DA', date),
    text(TAG.ContentTime, 'TM', time),
    text(TAG.PreliminaryFlag, 'CS', 'PRELIMINARY'),
    text(TAG.CompletionFlag, 'CS', 'PARTIAL'),
    text(TAG.CompletionFlagDescription, 'LO', words.completionDescription),
    text(TAG.VerificationFlag, 'CS', 'UNVERIFIED'),
    seq(TAG.PerformedProcedureCodeSequence, []),
    seq(TAG.CurrentRequestedProcedureEvidenceSequence, [evidence(input, studyInstanceUid, instances)]),
    predecessorSequence(input, sopClassUid, seriesInstanceUid, studyInstanceUid),
    // SR Document Content: the root content item's attributes sit in the top-level data set.
    ...encodeItem(root),
  ];
  return { bytes: part10Bytes(sopClassUid, sopInstanceUid, nodes, dev), sopClassUid, sopInstanceUid, seriesInstanceUid, studyInstanceUid };
}

interface Ctx {
  input: ReportInput;
  id: SourceIdentity;
  words: ReturnType<typeof wording>;
  lang: ReportLanguage;
  srSeriesUid: string;
  instances: { sopClassUid: string; sopInstanceUid: string }[];
}

// ---------------------------------------------------------------------------
// Content trees
// ---------------------------------------------------------------------------

/** TID 1204 language of content, with the country (CID 5001) as its modifier. */
function languageItem(lang: ReportLanguage): ContentItem {
  const l = LANGUAGES[lang];
  return {
    rel: 'HAS CONCEPT MOD',
    type: 'CODE',
    name: C.language,
    value: l.language,
    children: [{ rel: 'HAS CONCEPT MOD', type: 'CODE', name: C.countryOfLanguage, value: l.country }],
  };
}

/** TID 1002 observer context with a Device observer (TID 1004): the node is the author. */
function deviceObserver(ctx: Ctx): ContentItem[] {
  const d = ctx.input.device;
  return [
    { rel: 'HAS OBS CONTEXT', type: 'CODE', name: C.observerType, value: C.device },
    { rel: 'HAS OBS CONTEXT', type: 'UIDREF', name: C.deviceObserverUid, value: d.deviceUid },
    { rel: 'HAS OBS CONTEXT', type: 'TEXT', name: C.deviceObserverName, value: d.aeTitle.trim() },
    { rel: 'HAS OBS CONTEXT', type: 'TEXT', name: C.deviceObserverManufacturer, value: d.manufacturer },
    { rel: 'HAS OBS CONTEXT', type: 'TEXT', name: C.deviceObserverModelName, value: d.modelName },
  ];
}

/** TID 4019 Algorithm Identification, with the preprocessing as the algorithm's parameters. */
function algorithmItems(ctx: Ctx, rel: 'HAS CONCEPT MOD' | 'CONTAINS'): ContentItem[] {
  const p = ctx.input.result.provenance;
  return [
    { rel, type: 'TEXT', name: C.algorithmName, value: p.modelName },
    { rel, type: 'TEXT', name: C.algorithmVersion, value: p.modelVersion },
    { rel, type: 'TEXT', name: C.algorithmParameters, value: p.preprocessing },
  ];
}

/**
 * Where the result came from, as labelled Comment text a reader can trace (no standard concepts
 * exist for these; private codes would make every validator flag an unknown coding scheme).
 */
function provenanceItems(ctx: Ctx): ContentItem[] {
  const r = ctx.input.result;
  const p = r.provenance;
  const w = ctx.words;
  const values: Record<keyof typeof w.provenance, string> = {
    modelSha256: p.modelSha256,
    executionProvider: p.executionProvider,
    preprocessing: p.preprocessing,
    deidentification: p.deidentification,
    nodeVersion: p.nodeVersion,
    duration: w.durationText(p.durationMs),
    uncertainty: r.uncertainty.toFixed(3),
  };
  const items = (Object.keys(values) as (keyof typeof values)[]).map((k): ContentItem => ({
    rel: 'CONTAINS',
    type: 'TEXT',
    name: C.comment,
    value: w.labelled(w.provenance[k], values[k]),
  }));
  // Which stack of the series the model saw (a localizer, echoes or planes filed together).
  if (p.stack) items.push({ rel: 'CONTAINS', type: 'TEXT', name: C.comment, value: w.stackUsed(p.stack) });
  return items;
}

/**
 * The statements every report carries: not verified, and low confidence when flagged, with each
 * thing outside the model's plausibility contract (what, value, expected range, age band) said
 * on its own, so no form shows a flagged number as a plain confident one (issue 17).
 */
function noticeItems(ctx: Ctx): ContentItem[] {
  const r = ctx.input.result;
  const comment = (value: string): ContentItem => ({ rel: 'CONTAINS', type: 'TEXT', name: C.comment, value });
  const out: ContentItem[] = [comment(ctx.words.disclaimer)];
  if (r.lowConfidence) out.push(comment(ctx.words.lowConfidence));
  for (const issue of r.plausibility?.issues ?? []) out.push(comment(ctx.words.outsideRange(issue)));
  return out;
}

function impressionText(ctx: Ctx): string {
  const s = ctx.words.impression(ctx.input.result);
  return s !== '' ? s : ctx.words.noFindings;
}

function imageRef(f: Finding): ImageRef | undefined {
  const r = f.region;
  if (!r) return undefined;
  return { sopClassUid: r.sopClassUid, sopInstanceUid: r.sopInstanceUid, ...(r.frame !== undefined ? { frame: r.frame } : {}) };
}

function tid1500Tree(ctx: Ctx, threeD: boolean): ContentItem {
  const { input, words } = ctx;
  const children: ContentItem[] = [
    languageItem(ctx.lang),
    ...deviceObserver(ctx),
    { rel: 'HAS CONCEPT MOD', type: 'CODE', name: C.procedureReported, value: procedureReported(ctx.id.Modality, ctx.id.BodyPartExamined) },
    {
      rel: 'CONTAINS',
      type: 'CONTAINER',
      name: C.imageLibrary,
      children: [
        {
          rel: 'CONTAINS',
          type: 'CONTAINER',
          name: C.imageLibraryGroup,
          children: ctx.instances.map((s): ContentItem => ({ rel: 'CONTAINS', type: 'IMAGE', ref: s })),
        },
      ],
    },
  ];
  // TID 1500: at least one of Imaging Measurements / Qualitative Evaluations; an empty
  // measurements container says nothing, so a result without findings has only the latter.
  if (input.result.findings.length > 0) {
    children.push({
      rel: 'CONTAINS',
      type: 'CONTAINER',
      name: C.imagingMeasurements,
      children: input.result.findings.map((f) => measurementGroup(ctx, f, threeD)),
    });
  }
  children.push({
    rel: 'CONTAINS',
    type: 'CONTAINER',
    name: C.qualitativeEvaluations,
    children: [
      ...noticeItems(ctx),
      ...(input.result.findings.length === 0
        ? [{ rel: 'CONTAINS', type: 'TEXT', name: C.finding, value: words.noFindings } as ContentItem]
        : input.result.findings.map((f): ContentItem => ({
            rel: 'CONTAINS',
            type: 'TEXT',
            name: C.finding,
            value: words.findingSentence(f),
          }))),
      { rel: 'CONTAINS', type: 'TEXT', name: C.impression, value: impressionText(ctx) },
      ...narrativeFindingsItems(input.narrative, ctx.lang),
      ...narrativeImpressionItems(input.narrative),
      ...provenanceItems(ctx),
      ...(input.segmentation
        ? [
            {
              rel: 'CONTAINS',
              type: 'TEXT',
              name: C.comment,
              value: words.volumeGrid(input.result.provenance.preprocessing),
            } as ContentItem,
          ]
        : []),
    ],
  });
  return { type: 'CONTAINER', name: C.imagingMeasurementReport, template: '1500', children };
}

/**
 * TID 1411 Volumetric ROI Measurements when the finding is a segment of the Segmentation sent with
 * the report (Referenced Segment, Source series, the SEG segment's own Tracking Identifier/UID);
 * else TID 1410 Planar ROI Measurements when it has an image region, TID 1501 otherwise.
 */
function measurementGroup(ctx: Ctx, f: Finding, threeD: boolean): ContentItem {
  const seg = ctx.input.segmentation;
  const segmentNumber = seg ? segmentNumberOf(seg, f) : 0;
  // The SEG segment's own Tracking ID (its label) and UID, so a viewer pairs the group with the segment.
  const segmentLabel = seg?.segmentLabels[segmentNumber - 1] ?? f.label;
  const tracking: [string, string] =
    seg && segmentNumber > 0
      ? [segmentLabel, segmentTrackingUid(seg.seriesInstanceUid, segmentNumber, segmentLabel)]
      : [ctx.words.trackingIdentifier(f), trackingUid(ctx.srSeriesUid, f.id, f.label)];
  const items: ContentItem[] = [
    { rel: 'HAS OBS CONTEXT', type: 'TEXT', name: C.trackingIdentifier, value: tracking[0] },
    { rel: 'HAS OBS CONTEXT', type: 'UIDREF', name: C.trackingUid, value: tracking[1] },
    { rel: 'CONTAINS', type: 'CODE', name: C.finding, value: f.code },
  ];
  if (f.site) {
    const lat = f.site.laterality === 'right' ? C.right : f.site.laterality === 'left' ? C.left : undefined;
    items.push({
      rel: 'HAS CONCEPT MOD',
      type: 'CODE',
      name: C.findingSite,
      value: f.site.code,
      ...(lat ? { children: [{ rel: 'HAS CONCEPT MOD', type: 'CODE', name: C.laterality, value: lat }] } : {}),
    });
  }
  items.push(...algorithmItems(ctx, 'HAS CONCEPT MOD'));
  const ref = imageRef(f);
  if (seg && segmentNumber > 0) {
    items.push(
      {
        rel: 'CONTAINS',
        type: 'IMAGE',
        name: C.referencedSegment,
        ref: { sopClassUid: seg.sopClassUid, sopInstanceUid: seg.sopInstanceUid, segmentNumber },
      },
      { rel: 'CONTAINS', type: 'UIDREF', name: C.sourceSeriesForSegmentation, value: ctx.input.sourceSeriesInstanceUid },
    );
  } else if (f.region && ref) {
    validateGraphic(f);
    items.push({
      rel: 'CONTAINS',
      type: 'SCOORD',
      name: C.imageRegion,
      graphicType: f.region.graphicType,
      data: f.region.graphicData,
      children: [{ rel: 'SELECTED FROM', type: 'IMAGE', ref }],
    });
  }
  for (const m of f.measurements) items.push({ rel: 'CONTAINS', type: 'NUM', name: m.concept, value: m.value, unit: m.unit });
  items.push({ rel: 'CONTAINS', type: 'NUM', name: C.certaintyOfFinding, value: round(f.confidence * 100, 1), unit: UCUM_PERCENT });
  if (threeD && f.centre?.frameOfReferenceUid) {
    items.push({
      rel: 'CONTAINS',
      type: 'SCOORD3D',
      name: C.center,
      graphicType: 'POINT',
      data: [f.centre.x, f.centre.y, f.centre.z],
      frameOfReferenceUid: f.centre.frameOfReferenceUid,
    });
  }
  const template = seg && segmentNumber > 0 ? '1411' : f.region ? '1410' : '1501';
  return { rel: 'CONTAINS', type: 'CONTAINER', name: C.measurementGroup, template, children: items };
}

/** The segment a finding's group references: its own (one per finding), else its label's; 0 for none. */
function segmentNumberOf(seg: ReportSegmentation, f: Finding): number {
  if (seg.segmentOfFinding) return seg.segmentOfFinding[f.id] ?? 0;
  return seg.segmentLabels.indexOf(f.label) + 1;
}

function basicTextTree(ctx: Ctx): ContentItem {
  const { input, words } = ctx;
  const findings: ContentItem[] =
    input.result.findings.length === 0
      ? [{ rel: 'CONTAINS', type: 'TEXT', name: C.finding, value: words.noFindings }]
      : input.result.findings.map((f): ContentItem => {
          const ref = imageRef(f);
          return {
            rel: 'CONTAINS',
            type: 'TEXT',
            name: C.finding,
            value: words.findingSentence(f),
            ...(ref ? { children: [{ rel: 'INFERRED FROM', type: 'IMAGE', name: C.sourceOfMeasurement, ref }] } : {}),
          };
        });
  return {
    type: 'CONTAINER',
    name: C.diagnosticImagingReport,
    template: '2000',
    children: [
      languageItem(ctx.lang),
      ...deviceObserver(ctx),
      {
        rel: 'CONTAINS',
        type: 'CONTAINER',
        name: C.findings,
        children: [
          ...findings,
          ...narrativeFindingsItems(input.narrative, ctx.lang),
          ...algorithmItems(ctx, 'CONTAINS'),
          ...provenanceItems(ctx),
        ],
      },
      {
        rel: 'CONTAINS',
        type: 'CONTAINER',
        name: C.impressions,
        children: [
          { rel: 'CONTAINS', type: 'TEXT', name: C.impression, value: impressionText(ctx) },
          ...narrativeImpressionItems(input.narrative),
          ...noticeItems(ctx),
        ],
      },
    ],
  };
}

// ---------------------------------------------------------------------------
// Module helpers
// ---------------------------------------------------------------------------

type InstanceRef = { sopClassUid: string; sopInstanceUid: string };

/** Hierarchical SOP Instance Reference Macro (Table C.17-3): one study, one series and its instances (and further series of the study). */
function hierarchicalReference(
  study: string,
  series: string,
  instances: readonly InstanceRef[],
  moreSeries: readonly { uid: string; instances: readonly InstanceRef[] }[] = [],
): Node[] {
  return [
    uid(TAG.StudyInstanceUID, study),
    seq(
      TAG.ReferencedSeriesSequence,
      [{ uid: series, instances }, ...moreSeries].map((s) => [
        uid(TAG.SeriesInstanceUID, s.uid),
        seq(
          TAG.ReferencedSOPSequence,
          s.instances.map((i) => [uid(TAG.ReferencedSOPClassUID, i.sopClassUid), uid(TAG.ReferencedSOPInstanceUID, i.sopInstanceUid)]),
        ),
      ]),
    ),
  ];
}

/** Evidence: the source series, and the Segmentation's when the content tree references its segments. */
function evidence(input: ReportInput, study: string, instances: { sopClassUid: string; sopInstanceUid: string }[]): Node[] {
  const seg = input.form !== 'basic-text' ? input.segmentation : undefined;
  return hierarchicalReference(
    study,
    input.sourceSeriesInstanceUid,
    instances,
    seg ? [{ uid: seg.seriesInstanceUid, instances: [seg] }] : [],
  );
}

function predecessorSequence(input: ReportInput, sopClassUid: string, seriesUid: string, studyUid: string): Node | undefined {
  if (input.revision <= 1) return undefined;
  const prov = input.result.provenance;
  const p = input.predecessor ?? {
    sopClassUid,
    sopInstanceUid: reportUids(input.sourceSeriesInstanceUid, prov.modelName, prov.modelVersion, input.revision - 1).sopInstanceUid,
    seriesInstanceUid: seriesUid,
    studyInstanceUid: studyUid,
  };
  return seq(TAG.PredecessorDocumentsSequence, [hierarchicalReference(p.studyInstanceUid, p.seriesInstanceUid, [p])]);
}

/** Graphic Data must match its Graphic Type (PS3.3 C.18.6.1.2), or viewers draw nonsense. */
function validateGraphic(f: Finding): void {
  const r = f.region!;
  const n = r.graphicData.length;
  const ok =
    n % 2 === 0 &&
    r.graphicData.every(Number.isFinite) &&
    (r.graphicType === 'POINT' ? n === 2 : r.graphicType === 'CIRCLE' ? n === 4 : r.graphicType === 'ELLIPSE' ? n === 8 : n >= 4);
  if (!ok) throw new Error(`finding ${f.id}: ${n} graphic data values do not make a ${r.graphicType}`);
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

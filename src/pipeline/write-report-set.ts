// Stage 4, done: every planned SR form, and the key image Secondary Capture when planned, built
// from the ORIGINAL patient and study identity and written durably under the reports folder.
// (The database learns of them only afterwards, in the job's closing transaction.)

import path from 'node:path';
import type { NodeConfig } from '../config/config';
import type { SeriesResult } from '../inference/findings';
import { buildReport, type BuiltReport, type ReportSegmentation } from '../report/build-sr';
import type { CreatingDevice } from '../report/common-modules';
import type { ReportForm } from '../report/forms';
import { buildKeyImageSc } from '../report/key-image-sc';
import { anatomicalSegment, noduleSegment, type SegmentationGeometry, type SegmentDefinition } from '../report/segmentation-iod';
import { segmentationInWorker } from '../inference/cpu-task';
import type { SourceLabels } from '../inference/source-labels';
import { hashUid } from '../report/uids';
import { IMPLEMENTATION_CLASS_UID, VERSION } from '../version';
import { writeFileDurably } from './durable-file';
import type { JobKeyImage } from './key-image-stage';
import type { ObjectUids, PlannedSr, ReportSetPlan } from './report-set';
import type { SeriesInstances } from './series-instances';
import type { NarrativeOutcome } from '../narrative/outcome';

/** One report object on disk. */
export interface WrittenReport {
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
  readonly filePath: string;
  readonly studyInstanceUid: string;
}

export interface ReportSet {
  readonly revision: number;
  readonly srSeriesInstanceUid: string;
  /** One per form, in the plan's order. */
  readonly srs: ReadonlyMap<ReportForm, WrittenReport>;
  readonly keyImage: WrittenReport | null;
  /** The DICOM Segmentation the SR's regions come from; delivered before the SR. */
  readonly segmentation: WrittenReport | null;
  /** With a Segmentation: the forms that reference it, written again without the references (plan.srsWithoutSegmentation). */
  readonly srsWithoutSegmentation: ReadonlyMap<ReportForm, WrittenReport>;
}

/** What a Segmentation is written from: the model's labels on the source grid, and that grid. */
export interface SegmentationSource {
  readonly geometry: SegmentationGeometry;
  readonly labels: SourceLabels;
}

export interface ReportSetSource {
  readonly series: SeriesInstances;
  /** One ORIGINAL instance of the series: patient and study identity. */
  readonly firstOriginal: Buffer;
  readonly result: SeriesResult;
  readonly model: { readonly name: string; readonly version: string };
  /** Needed when the plan has a key image. */
  readonly keyImage: JobKeyImage | null;
  /** Needed when the plan has a segmentation. */
  readonly segmentation?: SegmentationSource | null;
  /** Draft text of the narrative model, or why there is none; absent = not configured for the route. */
  readonly narrative?: NarrativeOutcome;
}

type ReportSettings = Pick<NodeConfig, 'report' | 'storage'> & { readonly node: Pick<NodeConfig['node'], 'aeTitle' | 'fsync'> };

/** The node as the Device observer of its reports. */
export function reportDevice(config: ReportSettings): CreatingDevice {
  return {
    aeTitle: config.node.aeTitle,
    deviceUid: hashUid('dicom-ai-node/device', config.node.aeTitle, IMPLEMENTATION_CLASS_UID),
    manufacturer: config.report.manufacturer,
    modelName: config.report.modelName,
    softwareVersion: VERSION,
  };
}

export async function writeReportSet(plan: ReportSetPlan, source: ReportSetSource, config: ReportSettings): Promise<ReportSet> {
  // The SEG first: the SR's volumetric groups name its SOP Instance UID and segment numbers.
  const segments = source.segmentation ? segmentDefinitions(source.segmentation.labels) : [];
  const segmentation =
    plan.segmentation && source.segmentation
      ? await writeSegmentation(plan.segmentation, plan.revision, source.segmentation, segments, source, config)
      : null;
  const referenced: ReportSegmentation | null =
    segmentation && plan.segmentation && source.segmentation
      ? {
          sopClassUid: segmentation.sopClassUid,
          sopInstanceUid: segmentation.sopInstanceUid,
          seriesInstanceUid: plan.segmentation.seriesInstanceUid,
          segmentLabels: segments.map((s) => s.label),
          ...findingSegments(source.segmentation.labels),
        }
      : null;
  const srs = await writeSrs(plan.srs, referenced, plan.revision, source, config);
  // The same forms without the segment references, for destinations that do not hold the SEG.
  const srsWithoutSegmentation = segmentation
    ? await writeSrs(plan.srsWithoutSegmentation, null, plan.revision, source, config)
    : new Map<ReportForm, WrittenReport>();
  const keyImage =
    plan.keyImage && source.keyImage ? await writeKeyImage(plan.keyImage, plan.revision, source.keyImage, source, config) : null;
  return { revision: plan.revision, srSeriesInstanceUid: plan.srSeriesInstanceUid, srs, srsWithoutSegmentation, keyImage, segmentation };
}

/** The planned SR forms, each referencing the Segmentation's segments when `referenced` is given. */
async function writeSrs(
  planned: readonly PlannedSr[],
  referenced: ReportSegmentation | null,
  revision: number,
  source: ReportSetSource,
  config: ReportSettings,
): Promise<Map<ReportForm, WrittenReport>> {
  const device = reportDevice(config);
  const sourceInstances = source.series.instances.map(({ sopClassUid, sopInstanceUid }) => ({ sopClassUid, sopInstanceUid }));
  const srs = new Map<ReportForm, WrittenReport>();
  for (const p of planned) {
    const built = buildReport({
      form: p.form,
      language: config.report.language,
      sourceFile: source.firstOriginal,
      sourceInstances,
      sourceSeriesInstanceUid: source.series.seriesInstanceUid,
      result: source.result,
      device,
      revision,
      ...(p.predecessor ? { predecessor: p.predecessor } : {}),
      contentDateTime: new Date(),
      uids: p.uids,
      ...(source.narrative ? { narrative: source.narrative } : {}),
      ...(referenced ? { segmentation: referenced } : {}),
    });
    srs.set(p.form, await writeReport(built, config));
  }
  return srs;
}

/** One segment per label (an anatomical structure), or per finding ("Nodule 3": a morphologically abnormal structure). */
function segmentDefinitions(labels: SourceLabels): SegmentDefinition[] {
  return labels.segments.map((s) => (s.findingId !== undefined ? noduleSegment(s.findingId) : anatomicalSegment(s.label, s.code)));
}

/** Per-finding segments: which segment each finding's SR group references (by finding id, not by label). */
function findingSegments(labels: SourceLabels): { segmentOfFinding?: Readonly<Record<number, number>> } {
  const pairs = labels.segments.flatMap((s, i) => (s.findingId !== undefined ? [[s.findingId, i + 1] as const] : []));
  return pairs.length > 0 ? { segmentOfFinding: Object.fromEntries(pairs) } : {};
}

/** The model's regions as a BINARY Segmentation on the source slices (one segment per label or per finding), in a series of its own. */
async function writeSegmentation(
  uids: ObjectUids,
  revision: number,
  seg: SegmentationSource,
  segments: readonly SegmentDefinition[],
  source: ReportSetSource,
  config: ReportSettings,
): Promise<WrittenReport> {
  // Off the event loop: frame planning and bit packing take hundreds of ms for a brain volume.
  // The label slices are lent to the worker for good; nothing reads them after this.
  const built = await segmentationInWorker({
    sourceFile: source.firstOriginal,
    sourceSeriesInstanceUid: source.series.seriesInstanceUid,
    geometry: seg.geometry,
    labels: seg.labels.slices,
    segments,
    algorithm: { name: source.model.name, version: source.model.version },
    device: reportDevice(config),
    uids,
    contentDateTime: new Date(),
    revision,
  });
  return writeReport(built, config);
}

/** The key image as a Secondary Capture, in a series of its own, sent with the SR. */
async function writeKeyImage(
  uids: ObjectUids,
  revision: number,
  key: JobKeyImage,
  source: ReportSetSource,
  config: ReportSettings,
): Promise<WrittenReport> {
  const { finding, image } = key;
  const built = buildKeyImageSc({
    sourceFile: source.firstOriginal,
    sourceSeriesInstanceUid: source.series.seriesInstanceUid,
    referenced: {
      sopClassUid: finding.region.sopClassUid,
      sopInstanceUid: finding.region.sopInstanceUid,
      ...(finding.region.frame !== undefined ? { frame: finding.region.frame } : {}),
    },
    rgb: image.rgb,
    width: image.width,
    height: image.height,
    caption: `${source.model.name} ${source.model.version}, finding ${finding.id}: ${finding.text} (AI-generated, unverified)`,
    language: config.report.language,
    device: reportDevice(config),
    uids,
    contentDateTime: new Date(),
    revision,
  });
  return writeReport(built, config);
}

async function writeReport(built: BuiltReport, config: ReportSettings): Promise<WrittenReport> {
  const filePath = path.join(config.storage.dataDir, 'reports', built.seriesInstanceUid, `${built.sopInstanceUid}.dcm`);
  await writeFileDurably(filePath, built.bytes, config.node.fsync);
  return { sopInstanceUid: built.sopInstanceUid, sopClassUid: built.sopClassUid, filePath, studyInstanceUid: built.studyInstanceUid };
}

/**
 * A label map on the source grid -> a DICOM Segmentation (PS3.3 A.51 Segmentation IOD, C.8.20
 * Segmentation Series and Image modules), BINARY, one segment per label, Explicit VR Little
 * Endian Part 10, filed under the real patient and study (the SR's identity rules: source.ts,
 * common-modules.ts) in a series of its own.
 *
 * Frames: one per (segment, source slice) that holds at least one voxel of the segment; slices
 * where a segment is empty get no frame for it (the same rule for every segment, so a viewer that
 * walks the source slices finds a frame exactly where the label map has voxels). Each frame lies
 * on its source slice: the same Image Position/Orientation (Patient), Pixel Spacing, rows and
 * columns, in the source's Frame of Reference, and its Derivation Image Sequence names the
 * ORIGINAL source instance (and Referenced Frame Number for a frame of a multi-frame source).
 *
 * Multi-frame Dimension module (C.7.6.17): two dimensions, Referenced Segment Number (Segment
 * Identification Sequence) then Image Position (Patient) (Plane Position Sequence), the position
 * given as the 1-based index of the source slice along the slice normal. Frames are stored in
 * that order.
 *
 * Pixel data: 1 bit per pixel, the frames one continuous bit stream without padding between
 * them, first pixel in the least significant bit (PS3.5 8.1.1 / 8.2), the whole padded to even.
 */
import { TAG } from '../dicom/tags';
import type { Code } from '../inference/findings';
import type { BuiltReport } from './build-sr';
import { CreatingDevice, dicomDateTime, equipmentNodes, part10Bytes, patientStudyNodes, sopCommonNodes, truncate } from './common-modules';
import { formatDs, Node, seq, text, uid, us } from './elements';
import { readSourceIdentity } from './source';
import { hashUid } from './uids';

export const SEGMENTATION_STORAGE = '1.2.840.10008.5.1.4.1.1.66.4';

/** Series Number of our segmentations: after the SR (9901) and key image (9902) series. */
export const SEGMENTATION_SERIES_NUMBER = '9903';

/** CID 7150 Segmentation Property Categories; the types come from CID 7153 (brain) and CID 7159 (Nodule). */
export const SEGMENT_CATEGORY = {
  anatomicalStructure: { value: '91723000', scheme: 'SCT', meaning: 'Anatomical Structure' },
  morphologicallyAbnormalStructure: { value: '49755003', scheme: 'SCT', meaning: 'Morphologically Abnormal Structure' },
} as const satisfies Record<string, Code>;
export const NODULE_TYPE: Code = { value: '27925004', scheme: 'SCT', meaning: 'Nodule' };

/** CID 7202 Source Image Purposes of Reference; CID 7203 Image Derivation. */
const SOURCE_IMAGE_FOR_PROCESSING: Code = { value: '121322', scheme: 'DCM', meaning: 'Source image for image processing operation' };
const SEGMENTATION_DERIVATION: Code = { value: '113076', scheme: 'DCM', meaning: 'Segmentation' };

export interface SegmentDefinition {
  /** Segment Label (LO): the manifest's label, or "Nodule 1". */
  label: string;
  category: Code;
  type: Code;
}

/** A segment of an anatomical structure (a brain model's class): its code is the Segmented Property Type. */
export function anatomicalSegment(label: string, type: Code): SegmentDefinition {
  return { label, category: SEGMENT_CATEGORY.anatomicalStructure, type };
}

/** The n-th nodule (1-based) of a nodule model: one segment per nodule. */
export function noduleSegment(n: number): SegmentDefinition {
  return { label: `Nodule ${n}`, category: SEGMENT_CATEGORY.morphologicallyAbnormalStructure, type: NODULE_TYPE };
}

/** One source slice: the original instance (and frame) the frame on it derives from. */
export interface SegmentationSourceSlice {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  /** 1-based frame of a multi-frame source. */
  readonly frameNumber?: number;
  /** Image Position (Patient) of the source slice's first pixel, mm. */
  readonly position: readonly [number, number, number];
}

/** The source grid the label map lies on: what the SEG frames must repeat. */
export interface SegmentationGeometry {
  readonly rows: number;
  readonly columns: number;
  /** [row spacing, column spacing] mm, as Pixel Spacing. */
  readonly pixelSpacing: readonly [number, number];
  readonly orientation: readonly [number, number, number, number, number, number];
  /** Distance between slice centres along the normal, mm (also the Slice Thickness written). */
  readonly sliceSpacing: number;
  readonly frameOfReferenceUid: string;
  /** Ordered along the slice normal. */
  readonly slices: readonly SegmentationSourceSlice[];
}

export interface SegmentationInput {
  /** One ORIGINAL (not de-identified) source instance, Part 10 bytes: patient + study identity. */
  sourceFile: Buffer;
  sourceSeriesInstanceUid: string;
  geometry: SegmentationGeometry;
  /** Per source slice (same order as geometry.slices), row by row: segment number, 0 = none. */
  labels: readonly Uint8Array[];
  /** Segment n is segments[n - 1]. */
  segments: readonly SegmentDefinition[];
  algorithm: { name: string; version: string };
  device: CreatingDevice;
  /** Given by the caller (deterministic: segmentationUids). */
  uids: { seriesInstanceUid: string; sopInstanceUid: string };
  contentDateTime: Date;
  /** Instance Number. */
  revision: number;
}

/** SEG series UID from (source series, model, version); SOP instance UID adds the revision. */
export function segmentationUids(
  sourceSeriesUid: string,
  modelName: string,
  modelVersion: string,
  revision: number,
): { seriesInstanceUid: string; sopInstanceUid: string } {
  if (!Number.isInteger(revision) || revision < 1) throw new Error(`segmentation revision must be an integer >= 1 (got ${revision})`);
  const seriesInstanceUid = hashUid('dicom-ai-node/seg-series', sourceSeriesUid, modelName, modelVersion);
  return { seriesInstanceUid, sopInstanceUid: hashUid('dicom-ai-node/seg-instance', seriesInstanceUid, revision) };
}

/** Tracking UID of segment n (1-based) of a SEG series: the SR's TID 1411 group of that region repeats it. */
export function segmentTrackingUid(segSeriesUid: string, segmentNumber: number, label: string): string {
  return hashUid('dicom-ai-node/seg-tracking', segSeriesUid, segmentNumber, label);
}

/** One frame of the SEG: segment `segment` on source slice `slice` (both as in the input). */
export interface PlannedFrame {
  segment: number;
  slice: number;
}

function checkInput(input: SegmentationInput): void {
  const g = input.geometry;
  for (const [name, v] of [
    ['rows', g.rows],
    ['columns', g.columns],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 0xffff) throw new Error(`segmentation ${name} must be an integer from 1 to 65535 (got ${v})`);
  }
  if (g.slices.length === 0) throw new Error('segmentation source has no slices');
  if (input.labels.length !== g.slices.length)
    throw new Error(`segmentation label map has ${input.labels.length} slices; the source has ${g.slices.length}`);
  const plane = g.rows * g.columns;
  input.labels.forEach((l, k) => {
    if (l.length !== plane)
      throw new Error(`segmentation label map slice ${k + 1} has ${l.length} pixels; ${g.columns}x${g.rows} needs ${plane}`);
  });
  if (input.segments.length < 1 || input.segments.length > 255)
    throw new Error(`a segmentation needs 1 to 255 segments (got ${input.segments.length})`);
  if (!Number.isInteger(input.revision) || input.revision < 1)
    throw new Error(`segmentation revision must be an integer >= 1 (got ${input.revision})`);
  if (Number.isNaN(input.contentDateTime.getTime())) throw new Error('segmentation contentDateTime is not a valid date');
  if (input.uids.seriesInstanceUid === input.sourceSeriesInstanceUid)
    throw new Error('segmentation must have a series UID of its own (it reuses the source series UID)');
}

/** Frames in dimension order (segment, then slice along the normal); empty (segment, slice) pairs omitted. */
export function planFrames(labels: readonly Uint8Array[], segmentCount: number): PlannedFrame[] {
  const present = labels.map((l) => {
    const seen = new Set<number>();
    for (let p = 0; p < l.length; p++) if (l[p] !== 0) seen.add(l[p]!);
    return seen;
  });
  const frames: PlannedFrame[] = [];
  for (let segment = 1; segment <= segmentCount; segment++) {
    present.forEach((seen, slice) => {
      if (seen.has(segment)) frames.push({ segment, slice });
    });
  }
  const stray = present.flatMap((s) => [...s]).find((v) => v > segmentCount);
  if (stray !== undefined) throw new Error(`segmentation label map holds label ${stray}, but only ${segmentCount} segments are defined`);
  return frames;
}

/** The frames' bits, one continuous stream (PS3.5 8.1.1: no padding between frames), padded to even. */
export function packFrames(frames: readonly PlannedFrame[], labels: readonly Uint8Array[], plane: number): Buffer {
  const bits = frames.length * plane;
  const out = Buffer.alloc(Math.ceil(bits / 16) * 2);
  frames.forEach((f, n) => {
    const l = labels[f.slice]!;
    const base = n * plane;
    for (let p = 0; p < plane; p++) {
      if (l[p] === f.segment) {
        const bit = base + p;
        out[bit >> 3] = out[bit >> 3]! | (1 << (bit & 7));
      }
    }
  });
  return out;
}

function codeItem(c: Code): Node[] {
  return [text(TAG.CodeValue, 'SH', c.value), text(TAG.CodingSchemeDesignator, 'SH', c.scheme), text(TAG.CodeMeaning, 'LO', c.meaning)];
}

function ul(tag: number, values: readonly number[]): Node {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32LE(v, i * 4));
  return { kind: 'value', tag, vr: 'UL', value: b };
}

/** Attribute Tag value (AT): group then element, each little-endian 16-bit. */
function at(tag: number, pointer: number): Node {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(pointer >>> 16, 0);
  b.writeUInt16LE(pointer & 0xffff, 2);
  return { kind: 'value', tag, vr: 'AT', value: b };
}

const ds = (values: readonly number[]): string[] => values.map(formatDs);

function segmentItem(n: number, s: SegmentDefinition, input: SegmentationInput): (Node | undefined)[] {
  const algorithm = truncate(`${input.algorithm.name} ${input.algorithm.version}`.trim(), 64);
  return [
    us(TAG.SegmentNumber, n),
    text(TAG.SegmentLabel, 'LO', truncate(s.label, 64)),
    seq(TAG.SegmentedPropertyCategoryCodeSequence, [codeItem(s.category)]),
    seq(TAG.SegmentedPropertyTypeCodeSequence, [codeItem(s.type)]),
    text(TAG.SegmentAlgorithmType, 'CS', 'AUTOMATIC'),
    text(TAG.SegmentAlgorithmName, 'LO', algorithm),
    // Tracking ID/UID (C.8.20.2): stable per (SEG series, segment), for the SR's TID 1411 groups.
    text(TAG.TrackingID, 'UT', s.label),
    uid(TAG.TrackingUID, segmentTrackingUid(input.uids.seriesInstanceUid, n, s.label)),
  ];
}

function frameItem(f: PlannedFrame, input: SegmentationInput): Node[] {
  const src = input.geometry.slices[f.slice]!;
  return [
    seq(TAG.DerivationImageSequence, [
      [
        seq(TAG.SourceImageSequence, [
          [
            uid(TAG.ReferencedSOPClassUID, src.sopClassUid),
            uid(TAG.ReferencedSOPInstanceUID, src.sopInstanceUid),
            src.frameNumber !== undefined ? text(TAG.ReferencedFrameNumber, 'IS', String(src.frameNumber)) : undefined,
            seq(TAG.PurposeOfReferenceCodeSequence, [codeItem(SOURCE_IMAGE_FOR_PROCESSING)]),
          ],
        ]),
        seq(TAG.DerivationCodeSequence, [codeItem(SEGMENTATION_DERIVATION)]),
      ],
    ]),
    seq(TAG.FrameContentSequence, [[ul(TAG.DimensionIndexValues, [f.segment, f.slice + 1])]]),
    seq(TAG.PlanePositionSequence, [[text(TAG.ImagePositionPatient, 'DS', ds(src.position))]]),
    seq(TAG.SegmentIdentificationSequence, [[us(TAG.ReferencedSegmentNumber, f.segment)]]),
  ];
}

/** Common Instance Reference (C.12.2): every source instance a frame derives from, once. */
function referencedSeries(input: SegmentationInput, frames: readonly PlannedFrame[]): Node {
  const seen = new Map<string, string>();
  for (const f of frames) {
    const s = input.geometry.slices[f.slice]!;
    seen.set(s.sopInstanceUid, s.sopClassUid);
  }
  return seq(TAG.ReferencedSeriesSequence, [
    [
      uid(TAG.SeriesInstanceUID, input.sourceSeriesInstanceUid),
      seq(
        TAG.ReferencedInstanceSequence,
        [...seen].map(([sop, cls]) => [uid(TAG.ReferencedSOPClassUID, cls), uid(TAG.ReferencedSOPInstanceUID, sop)]),
      ),
    ],
  ]);
}

function dimensionNodes(organizationUid: string): Node[] {
  const index = (pointer: number, group: number, label: string): Node[] => [
    at(TAG.DimensionIndexPointer, pointer),
    at(TAG.FunctionalGroupPointer, group),
    uid(TAG.DimensionOrganizationUID, organizationUid),
    text(TAG.DimensionDescriptionLabel, 'LO', label),
  ];
  return [
    seq(TAG.DimensionOrganizationSequence, [[uid(TAG.DimensionOrganizationUID, organizationUid)]]),
    seq(TAG.DimensionIndexSequence, [
      index(TAG.ReferencedSegmentNumber, TAG.SegmentIdentificationSequence, 'Segment Number'),
      index(TAG.ImagePositionPatient, TAG.PlanePositionSequence, 'Image Position (Patient)'),
    ]),
  ];
}

export type BuiltSegmentation = BuiltReport & { numberOfFrames: number };

/** The Segmentation instance; throws with a reason when the label map holds no voxel at all. */
export function buildSegmentation(input: SegmentationInput): BuiltSegmentation {
  checkInput(input);
  const g = input.geometry;
  const frames = planFrames(input.labels, input.segments.length);
  if (frames.length === 0) throw new Error('the label map holds no segmented voxel: there is nothing to write as a Segmentation');
  const id = readSourceIdentity(input.sourceFile);
  const studyInstanceUid = id.StudyInstanceUID as string;
  if (id.SeriesInstanceUID !== undefined && id.SeriesInstanceUID !== input.sourceSeriesInstanceUid)
    throw new Error('segmentation source instance belongs to another series than sourceSeriesInstanceUid');
  const { seriesInstanceUid, sopInstanceUid } = input.uids;
  const { date, time } = dicomDateTime(input.contentDateTime);
  const dev = input.device;
  const organizationUid = hashUid('dicom-ai-node/seg-dimensions', sopInstanceUid);

  const nodes: (Node | undefined)[] = [
    ...sopCommonNodes(SEGMENTATION_STORAGE, sopInstanceUid, date, time),
    ...patientStudyNodes(id),
    // General Series + Segmentation Series (C.8.20.1)
    text(TAG.Modality, 'CS', 'SEG'),
    uid(TAG.SeriesInstanceUID, seriesInstanceUid),
    text(TAG.SeriesNumber, 'IS', SEGMENTATION_SERIES_NUMBER),
    text(TAG.SeriesDate, 'DA', date),
    text(TAG.SeriesTime, 'TM', time),
    text(TAG.SeriesDescription, 'LO', truncate(`AI segmentation (unverified): ${input.algorithm.name}`, 64)),
    // Frame of Reference: the source's (PS3.3 A.51.3)
    uid(TAG.FrameOfReferenceUID, g.frameOfReferenceUid),
    text(TAG.PositionReferenceIndicator, 'LO', ''),
    // General Equipment + Enhanced General Equipment (the node's Device UID as its serial number)
    ...equipmentNodes(dev),
    text(TAG.DeviceSerialNumber, 'LO', truncate(dev.deviceUid, 64)),
    // General Image, Segmentation Image (C.8.20.2), Content Identification
    text(TAG.InstanceNumber, 'IS', String(input.revision)),
    text(TAG.ContentDate, 'DA', date),
    text(TAG.ContentTime, 'TM', time),
    text(TAG.ImageType, 'CS', ['DERIVED', 'PRIMARY']),
    text(TAG.ContentLabel, 'CS', 'SEGMENTATION'),
    text(TAG.ContentDescription, 'LO', truncate(`${input.algorithm.name} ${input.algorithm.version}; not verified by a physician`, 64)),
    text(TAG.ContentCreatorName, 'PN', ''),
    text(TAG.SegmentationType, 'CS', 'BINARY'),
    text(TAG.SegmentsOverlap, 'CS', 'NO'),
    seq(
      TAG.SegmentSequence,
      input.segments.map((s, i) => segmentItem(i + 1, s, input)),
    ),
    text(TAG.LossyImageCompression, 'CS', '00'),
    // Multi-frame Functional Groups (C.7.6.16) and Dimensions (C.7.6.17)
    text(TAG.NumberOfFrames, 'IS', String(frames.length)),
    seq(TAG.SharedFunctionalGroupsSequence, [
      [
        seq(TAG.PixelMeasuresSequence, [
          [
            text(TAG.PixelSpacing, 'DS', ds(g.pixelSpacing)),
            text(TAG.SliceThickness, 'DS', formatDs(g.sliceSpacing)),
            text(TAG.SpacingBetweenSlices, 'DS', formatDs(g.sliceSpacing)),
          ],
        ]),
        seq(TAG.PlaneOrientationSequence, [[text(TAG.ImageOrientationPatient, 'DS', ds(g.orientation))]]),
      ],
    ]),
    seq(
      TAG.PerFrameFunctionalGroupsSequence,
      frames.map((f) => frameItem(f, input)),
    ),
    ...dimensionNodes(organizationUid),
    // Common Instance Reference
    referencedSeries(input, frames),
    // Image Pixel
    us(TAG.SamplesPerPixel, 1),
    text(TAG.PhotometricInterpretation, 'CS', 'MONOCHROME2'),
    us(TAG.Rows, g.rows),
    us(TAG.Columns, g.columns),
    us(TAG.BitsAllocated, 1),
    us(TAG.BitsStored, 1),
    us(TAG.HighBit, 0),
    us(TAG.PixelRepresentation, 0),
    { kind: 'value', tag: TAG.PixelData, vr: 'OB', value: packFrames(frames, input.labels, g.rows * g.columns) },
  ];
  return {
    bytes: part10Bytes(SEGMENTATION_STORAGE, sopInstanceUid, nodes, dev),
    sopClassUid: SEGMENTATION_STORAGE,
    sopInstanceUid,
    seriesInstanceUid,
    studyInstanceUid,
    numberOfFrames: frames.length,
  };
}

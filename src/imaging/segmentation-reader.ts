/**
 * Reads a BINARY DICOM Segmentation (PS3.3 A.51) back: its segments and, per frame, the segment
 * it belongs to (Segment Identification Sequence), where it lies (Plane Position/Orientation
 * through functional-groups.ts), the source image it derives from (Derivation Image Sequence)
 * and its pixels unpacked from the 1-bit stream (PS3.5 8.1.1: frames contiguous, LSB first).
 * Used to check what the node writes; refuses FRACTIONAL segmentations with a reason.
 */
import { TAG } from '../dicom/tags';
import { parsePart10 } from './dataset';
import { frameMacro } from './frame-attributes';
import { readFrameGeometries, type FrameGeometry } from './functional-groups';

export interface SegmentRead {
  number: number;
  label: string;
  category?: string;
  type?: string;
  algorithmType?: string;
  /** Tracking UID (C.8.20.2): what an SR's TID 1411 group of this region repeats. */
  trackingUid?: string;
}

export interface SegmentationFrame extends FrameGeometry {
  segmentNumber: number;
  source?: { sopInstanceUid: string; frameNumber?: number };
  /** 0/1 per pixel, row by row. */
  pixels: Uint8Array;
}

export interface SegmentationRead {
  rows: number;
  columns: number;
  frameOfReferenceUid?: string;
  studyInstanceUid?: string;
  segments: SegmentRead[];
  frames: SegmentationFrame[];
}

export function readSegmentation(file: Buffer): SegmentationRead {
  const { dataSet: ds } = parsePart10(file);
  if (ds.string(TAG.SOPClassUID) !== '1.2.840.10008.5.1.4.1.1.66.4') throw new Error('not a Segmentation Storage instance');
  const type = ds.string(TAG.SegmentationType);
  if (type !== 'BINARY') throw new Error(`Segmentation Type is "${type ?? ''}"; only BINARY is read`);
  const rows = ds.number(TAG.Rows) ?? 0;
  const columns = ds.number(TAG.Columns) ?? 0;
  const count = ds.number(TAG.NumberOfFrames) ?? 0;
  const pixelData = ds.get(TAG.PixelData)?.value ?? Buffer.alloc(0);
  const plane = rows * columns;
  if (pixelData.length * 8 < count * plane)
    throw new Error(`Pixel Data holds ${pixelData.length * 8} bits; ${count} frames of ${columns}x${rows} need ${count * plane}`);
  const segments = ds.items(TAG.SegmentSequence).map((s) => ({
    number: s.number(TAG.SegmentNumber) ?? 0,
    label: s.string(TAG.SegmentLabel) ?? '',
    category: s.items(TAG.SegmentedPropertyCategoryCodeSequence)[0]?.string(TAG.CodeValue),
    type: s.items(TAG.SegmentedPropertyTypeCodeSequence)[0]?.string(TAG.CodeValue),
    algorithmType: s.string(TAG.SegmentAlgorithmType),
    trackingUid: s.string(TAG.TrackingUID),
  }));
  const frames = readFrameGeometries(ds, count).map((g, n): SegmentationFrame => {
    const id = frameMacro(ds, n, TAG.SegmentIdentificationSequence);
    const src = frameMacro(ds, n, TAG.DerivationImageSequence).items(TAG.SourceImageSequence)[0];
    const pixels = new Uint8Array(plane);
    for (let p = 0; p < plane; p++) {
      const bit = n * plane + p;
      pixels[p] = (pixelData[bit >> 3]! >> (bit & 7)) & 1;
    }
    const sop = src?.string(TAG.ReferencedSOPInstanceUID);
    const frameNumber = src?.number(TAG.ReferencedFrameNumber);
    return {
      ...g,
      segmentNumber: id === ds ? 0 : (id.number(TAG.ReferencedSegmentNumber) ?? 0),
      ...(sop ? { source: { sopInstanceUid: sop, ...(frameNumber !== undefined ? { frameNumber } : {}) } } : {}),
      pixels,
    };
  });
  return {
    rows,
    columns,
    frameOfReferenceUid: ds.string(TAG.FrameOfReferenceUID),
    studyInstanceUid: ds.string(TAG.StudyInstanceUID),
    segments,
    frames,
  };
}

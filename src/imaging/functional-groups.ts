/**
 * The geometry of every frame of an enhanced multi-frame object (Enhanced CT/MR/PET, Legacy
 * Converted Enhanced CT/MR/PET, multi-frame Secondary Capture that carries functional groups),
 * read from the Multi-frame Functional Groups module (PS3.3 C.7.6.16): each functional group macro
 * is looked up in the frame's item of the Per-frame Functional Groups Sequence (5200,9230) first,
 * then in the Shared Functional Groups Sequence (5200,9229) (frame-attributes.ts, frameMacro).
 *
 *   Plane Position (Patient) Macro    C.7.6.16.2.3   (0020,9113) > Image Position (Patient)
 *   Plane Orientation (Patient) Macro C.7.6.16.2.4   (0020,9116) > Image Orientation (Patient)
 *   Pixel Measures Macro              C.7.6.16.2.1   (0028,9110) > Pixel Spacing, Slice Thickness
 *   Frame Content Macro               C.7.6.16.2.2   (0020,9111) > Stack ID, In-Stack Position
 *                                                    Number, Temporal Position Index, Dimension
 *                                                    Index Values, Frame Acquisition Number
 *   MR Echo Macro                     C.8.13.5.9     (0018,9114) > Effective Echo Time
 *   CT / MR Image Frame Type Macros   C.8.15.3.1, C.8.13.5.1  > Frame Type
 *   Real World Value Mapping Macro    C.7.6.16.2.11  (0040,9096) > slope / intercept, units
 *
 * Modality values come from the Pixel Value Transformation (rescale) alone, never from the Real
 * World Value Mapping: PS3.3 C.7.6.16.2.11 makes RWVM a separate quantity mapped from the stored
 * values (an MR's ADC in mm2/s, a vendor's scaled intensity), not the modality transformation,
 * and a single-frame MR of the same scan (no rescale) gives the model its stored values. A frame
 * with RWVM but no Pixel Value Transformation and no Rescale therefore has its stored values as
 * modality values (identity, C.7.6.16.2.9 defaults), and the volume says so in a warning
 * (realWorldValueNotice) rather than applying it silently or dropping it silently.
 *
 * The modality transformation of each frame (Pixel Value Transformation, C.7.6.16.2.9) and its VOI
 * (Frame VOI LUT, C.7.6.16.2.10) are applied per frame by modality-lut.ts and voi.ts through the
 * same frameMacro, so a per-frame rescale turns each frame into modality values of its own.
 *
 * Frames are put in the order of the Multi-frame Dimension Module (C.7.6.17): Dimension Index
 * Values (0020,9157) compared index by index in the order of the Dimension Index Sequence
 * (0020,9222); without it, frames keep their order in the object and the volume sorts them by
 * position along the normal (geometry.ts).
 */
import { TAG } from '../dicom/tags';
import { DataSet } from './dataset';
import { frameMacro } from './frame-attributes';
import type { StackKey } from './geometry';

/** What one frame of a multi-frame object says about where it lies. */
export interface FrameGeometry {
  /** 1-based, as Referenced Frame Number counts (PS3.3 C.7.6.1.1.4 / 10.3). */
  frameNumber: number;
  imagePositionPatient: readonly number[] | null;
  imageOrientationPatient: readonly number[] | null;
  pixelSpacing: readonly number[] | null;
  stackKey: StackKey;
  /** (0020,9157) Dimension Index Values, empty when the frame does not say. */
  dimensionIndexValues: readonly number[];
  /** (0020,9057) In-Stack Position Number. */
  inStackPosition?: number;
  /** Real World Value Mapping of the frame (MR often has one instead of a rescale): kept for reference, never applied. */
  realWorldValue?: { slope: number; intercept: number; units?: string };
  /** True when the frame has a Pixel Value Transformation (0028,9145) or the object a Rescale Slope / Modality LUT. */
  hasModalityTransform: boolean;
  /** (0018,1120) Gantry/Detector Tilt from the CT Acquisition Details macro (0018,9301), degrees. */
  gantryTiltDeg?: number;
}

/** True when the object carries Shared or Per-frame Functional Groups. */
export function hasFunctionalGroups(ds: DataSet): boolean {
  return ds.items(TAG.PerFrameFunctionalGroupsSequence).length > 0 || ds.items(TAG.SharedFunctionalGroupsSequence).length > 0;
}

/** The geometry of frames 1..numberOfFrames, in the object's own order. */
export function readFrameGeometries(ds: DataSet, numberOfFrames: number): FrameGeometry[] {
  const frames: FrameGeometry[] = [];
  for (let i = 0; i < numberOfFrames; i++) frames.push(readFrame(ds, i));
  numberEchoes(frames, ds, numberOfFrames);
  return frames;
}

/**
 * Why the frames cannot be placed in space, or null when every frame has a position, an
 * orientation and a pixel spacing. A multi-frame object without them (emri_small, a cine loop, a
 * multi-frame SC without functional groups) must never be stacked in stored order as if it were a
 * volume: its frames could be anything (phases, echoes, projections).
 */
export function missingFrameGeometry(ds: DataSet, frames: readonly FrameGeometry[]): string | null {
  if (!hasFunctionalGroups(ds)) {
    return 'it has no Shared or Per-frame Functional Groups (5200,9229/9230), so no frame says where it lies (Plane Position/Orientation (Patient), PS3.3 C.7.6.16)';
  }
  const lacking = (pick: (f: FrameGeometry) => unknown): number => frames.filter((f) => pick(f) === null).length;
  const parts: string[] = [];
  const noPosition = lacking((f) => f.imagePositionPatient);
  const noOrientation = lacking((f) => f.imageOrientationPatient);
  const noSpacing = lacking((f) => f.pixelSpacing);
  if (noPosition > 0) parts.push(`${noPosition} of ${frames.length} frame(s) have no Plane Position (Patient) (0020,9113)`);
  if (noOrientation > 0) parts.push(`${noOrientation} have no Plane Orientation (Patient) (0020,9116)`);
  if (noSpacing > 0) parts.push(`${noSpacing} have no Pixel Measures (0028,9110) Pixel Spacing`);
  return parts.length === 0 ? null : parts.join(', ');
}

/**
 * The warning for frames that carry a Real World Value Mapping but no modality transformation
 * (see the module comment: their stored values are used, the mapping is not applied), or null.
 */
export function realWorldValueNotice(sopInstanceUid: string, frames: readonly FrameGeometry[]): string | null {
  const unmapped = frames.filter((f) => f.realWorldValue !== undefined && !f.hasModalityTransform);
  if (unmapped.length === 0) return null;
  const units = [...new Set(unmapped.map((f) => f.realWorldValue!.units ?? 'no units'))].join(', ');
  return (
    `${unmapped.length} frame(s) of instance ${sopInstanceUid} have a Real World Value Mapping (${units}) but no Pixel Value ` +
    'Transformation or Rescale: their stored values are used as modality values; the Real World Value Mapping is not applied'
  );
}

/**
 * Frame indexes (0-based) in the order the Dimension Index Sequence gives, or the object's own
 * order when it has none or a frame lacks its Dimension Index Values. The sort is stable, so
 * frames equal in every dimension keep their stored order.
 */
export function dimensionOrder(ds: DataSet, frames: readonly FrameGeometry[]): number[] {
  const order = frames.map((_, i) => i);
  const dimensions = ds.items(TAG.DimensionIndexSequence).length;
  if (dimensions === 0 || frames.some((f) => f.dimensionIndexValues.length !== dimensions)) return order;
  return order.sort((a, b) => {
    const va = frames[a]!.dimensionIndexValues;
    const vb = frames[b]!.dimensionIndexValues;
    for (let d = 0; d < dimensions; d++) if (va[d] !== vb[d]) return va[d]! - vb[d]!;
    return 0;
  });
}

function readFrame(ds: DataSet, index: number): FrameGeometry {
  const position = frameMacro(ds, index, TAG.PlanePositionSequence);
  const orientation = frameMacro(ds, index, TAG.PlaneOrientationSequence);
  const measures = frameMacro(ds, index, TAG.PixelMeasuresSequence);
  const content = frameMacro(ds, index, TAG.FrameContentSequence);
  // frameMacro falls back to the top level: a position there is the object's, not the frame's,
  // so it only counts when it came from a functional group.
  const ipp = position === ds ? [] : position.numbers(TAG.ImagePositionPatient);
  const iop = orientation === ds ? [] : orientation.numbers(TAG.ImageOrientationPatient);
  const ps = measures.numbers(TAG.PixelSpacing);
  const frame: FrameGeometry = {
    frameNumber: index + 1,
    imagePositionPatient: ipp.length === 3 && ipp.every(Number.isFinite) ? ipp : null,
    imageOrientationPatient: iop.length === 6 && iop.every(Number.isFinite) ? iop : null,
    pixelSpacing: ps.length === 2 && ps.every((v) => v > 0) ? ps : null,
    stackKey: stackKeyOf(ds, index, content, measures),
    dimensionIndexValues: content === ds ? [] : content.numbers(TAG.DimensionIndexValues),
    hasModalityTransform:
      frameMacro(ds, index, TAG.PixelValueTransformationSequence) !== ds ||
      ds.has(TAG.RescaleSlope) ||
      ds.items(TAG.ModalityLUTSequence).length > 0,
  };
  const inStack = content === ds ? undefined : content.number(TAG.InStackPositionNumber);
  if (inStack !== undefined) frame.inStackPosition = inStack;
  const rwv = frameMacro(ds, index, TAG.RealWorldValueMappingSequence);
  const slope = rwv === ds ? undefined : rwv.number(TAG.RealWorldValueSlope);
  if (slope !== undefined) {
    frame.realWorldValue = { slope, intercept: rwv.number(TAG.RealWorldValueIntercept) ?? 0 };
    const units = rwv.items(TAG.MeasurementUnitsCodeSequence)[0]?.string(TAG.CodeValue);
    if (units) frame.realWorldValue.units = units;
  }
  const acquisition = frameMacro(ds, index, TAG.CTAcquisitionDetailsSequence);
  const tilt = acquisition === ds ? undefined : acquisition.number(TAG.GantryDetectorTilt);
  if (tilt !== undefined) frame.gantryTiltDeg = tilt;
  return frame;
}

function stackKeyOf(ds: DataSet, index: number, content: DataSet, measures: DataSet): StackKey {
  const key: StackKey = {};
  const inGroup = content !== ds;
  const stackId = inGroup ? content.string(TAG.StackID) : undefined;
  if (stackId) key.stackId = stackId;
  const temporal = inGroup ? content.number(TAG.TemporalPositionIndex) : undefined;
  if (temporal !== undefined) key.temporalPosition = temporal;
  const acquisition = (inGroup ? content.number(TAG.FrameAcquisitionNumber) : undefined) ?? ds.number(TAG.AcquisitionNumber);
  if (acquisition !== undefined) key.acquisitionNumber = acquisition;
  const frameType = frameTypeOf(ds, index);
  if (frameType) key.imageType = frameType;
  const thickness = measures.number(TAG.SliceThickness);
  if (thickness !== undefined) key.sliceThickness = thickness;
  return key;
}

/** Frame Type from the CT or MR Image Frame Type macro, else the object's Image Type. */
function frameTypeOf(ds: DataSet, index: number): string | undefined {
  for (const macro of [TAG.CTImageFrameTypeSequence, TAG.MRImageFrameTypeSequence]) {
    const item = frameMacro(ds, index, macro);
    if (item !== ds) {
      const t = item.string(TAG.FrameType);
      if (t) return t.toUpperCase();
    }
  }
  return ds.string(TAG.ImageType)?.toUpperCase();
}

/**
 * Echo numbers from the MR Echo macro: frames with the same Effective Echo Time are one echo,
 * numbered 1, 2, ... in increasing echo time (what Echo Numbers means for single-frame MR).
 */
function numberEchoes(frames: FrameGeometry[], ds: DataSet, numberOfFrames: number): void {
  const times: (number | undefined)[] = [];
  for (let i = 0; i < numberOfFrames; i++) {
    const item = frameMacro(ds, i, TAG.MREchoSequence);
    times.push(item === ds ? undefined : item.number(TAG.EffectiveEchoTime));
  }
  const distinct = [...new Set(times.filter((t): t is number => t !== undefined))].sort((a, b) => a - b);
  times.forEach((t, i) => {
    if (t !== undefined) frames[i]!.stackKey.echoNumber = distinct.indexOf(t) + 1;
  });
}

/**
 * A stored series -> one volume of modality values (HU for CT), ordered along the slice normal,
 * with the geometry needed to map model outputs back to source instances and patient millimetres.
 *
 * This is the hand-off between the node's store and the model: the bytes given here are the
 * DE-IDENTIFIED objects (the runner de-identifies each instance in memory first), while `refs`
 * carries the ORIGINAL SOP Instance/Class UIDs the report must point at. Nothing else of the
 * original objects reaches preprocessing or the model, and the loader refuses objects that do not
 * say Patient Identity Removed = YES.
 */
import { setImmediate as turn } from 'node:timers/promises';
import { ImagingError } from '../imaging/pixel-module';
import { decodeFrame, imageFrom, openImage } from '../imaging/decode';
import { parseDicomFile } from '../imaging/dataset';
import { modalityValues } from '../imaging/render';
import { assembleVolume, SliceGeometry } from '../imaging/geometry';
import type { DicomImage } from '../imaging/decode';
import {
  dimensionOrder,
  hasFunctionalGroups,
  missingFrameGeometry,
  readFrameGeometries,
  realWorldValueNotice,
} from '../imaging/functional-groups';
import { chooseStack, describeStack, splitIntoStacks, summaryText, type StackPreference, type StackSummary } from '../imaging/stacks';
import { singleFrameStackKey } from '../imaging/stack-key';
import { resampleTilted, sliceOffsetPixels } from '../imaging/tilt-resample';
import { declaredTiltDisagreement } from '../imaging/tilt-check';
import { TAG } from '../dicom/tags';
import { readPart10Header } from '../dicom/part10';
import { readDatasetHeader } from '../dicom/dataset-reader';
import { PIXEL_GEOMETRY_TAGS } from '../dicom/inflate-data-set';
import { checkPixelBudget, checkSeriesBudget, DEFAULT_PIXEL_LIMITS, geometryFromAttributes, type PixelLimits } from '../dicom/pixel-budget';

export class IdentifiedDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdentifiedDataError';
  }
}

export interface VolumeInput {
  /** De-identified Part 10 bytes. */
  readonly bytes: Buffer;
  /** The original instance this was made from (what findings must reference). */
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
}

export interface VolumeSlice {
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
  readonly instanceNumber: number | null;
  /** 1-based frame of a multi-frame source (what Referenced Frame Number names); absent for single-frame. */
  readonly frameNumber?: number;
  /** Image Position (Patient) of the first transmitted pixel, mm. */
  readonly position: readonly [number, number, number];
  /**
   * Set when the slice was shifted in-plane (gantry tilt resampled onto an orthogonal grid):
   * the volume's pixel (column c, row r) is the source image's pixel (c − offset[0], r − offset[1]).
   */
  readonly sourcePixelOffset?: readonly [number, number];
}

export interface SeriesVolume {
  readonly modality: string;
  readonly rows: number;
  readonly columns: number;
  /** [row spacing, column spacing] mm: distance between rows (down), between columns (across). */
  readonly pixelSpacing: readonly [number, number];
  /** Median distance between neighbouring slices along the normal, mm. */
  readonly sliceSpacing: number;
  /** Row direction cosines, then column direction cosines. */
  readonly orientation: readonly [number, number, number, number, number, number];
  readonly normal: readonly [number, number, number];
  /** Frame of Reference UID of the (de-identified) objects is replaced; this is the ORIGINAL one when known. */
  readonly frameOfReferenceUid?: string;
  /** Ordered along the normal (increasing position). */
  readonly slices: readonly VolumeSlice[];
  /** Modality values per slice, row-major (rows*columns), same order as `slices`. */
  readonly values: readonly Float32Array[];
  readonly warnings: readonly string[];
  /** Which stack of the series this volume is (several in one series), for the log, /api/jobs and the SR. */
  readonly stack?: StackSummary;
}

/** What the model's manifest says about which stack it wants and what to do with gantry tilt. */
export interface StackOptions {
  readonly stack?: StackPreference;
  /** "resample" (default): shift tilted slices onto an orthogonal grid; "skip": refuse the series. */
  readonly gantryTilt?: 'resample' | 'skip';
}

export class NotAVolumeError extends Error {
  constructor(readonly reasons: string[]) {
    super(`the series cannot be read as one volume: ${reasons.join('; ')}`);
    this.name = 'NotAVolumeError';
  }
}

/**
 * Decodes every input (single-frame monochrome images, or every frame of enhanced multi-frame
 * objects placed by their functional groups) and orders them into a volume. Throws
 * NotAVolumeError saying why when the series is not one (localizers mixed in, gaps are only
 * warnings), ImagingError for undecodable pixels.
 */
export async function loadSeriesVolume(
  // An async iterable lets the caller make each input only when it is needed (the volume stage
  // reads and de-identifies one instance at a time), so the series is never all in memory at once.
  inputs: Iterable<VolumeInput> | AsyncIterable<VolumeInput>,
  originalFrameOfReferenceUid?: string,
  options: { allowIdentified?: boolean; limits?: PixelLimits } & StackOptions = {},
): Promise<SeriesVolume> {
  const limits = options.limits ?? DEFAULT_PIXEL_LIMITS;
  const geoms: SliceGeometry[] = [];
  // Only the UIDs of each input are kept, not its bytes: those are let go once decoded.
  // Keyed by sliceKey(instance, frame): one entry per single-frame instance or per frame.
  const decoded = new Map<string, DecodedSlice>();
  let modality = '';
  // Series as PACS forward them can hold objects that are not slices of the volume: a localizer
  // (scout) stored in the same series, a presentation state or SR filed alongside. They are left
  // out and said in the warnings, rather than failing the whole series.
  let skippedNoPixels = 0;
  let skippedLocalizers = 0;
  // Said once per instance: frames whose Real World Value Mapping is not applied (functional-groups.ts).
  const notices: string[] = [];
  let declared = 0;
  let count = 0;
  for await (const input of inputs) {
    // The series limit as inputs come (they may be made one at a time): over it, nothing more is decoded.
    declared += declaredPixelBytes(input.bytes, limits);
    checkSeriesBudget(declared, ++count, limits);
    const ref = { sopInstanceUid: input.sopInstanceUid, sopClassUid: input.sopClassUid };
    const parsed = parseDicomFile(input.bytes, limits);
    const ds0 = parsed.dataSet;
    if (!ds0.has(TAG.PixelData)) {
      skippedNoPixels++;
      continue;
    }
    if ((ds0.string(TAG.ImageType) ?? '').toUpperCase().split('\\').includes('LOCALIZER')) {
      skippedLocalizers++;
      continue;
    }
    const img = imageFrom(ds0, parsed.transferSyntaxUid, limits);
    const ds = img.dataSet;
    // The trust boundary: what reaches a model must have been through de-identification
    // (PS3.15 sets Patient Identity Removed to YES). Only synthetic test data may opt out.
    if (!options.allowIdentified && (ds.string(TAG.PatientIdentityRemoved) ?? '').toUpperCase() !== 'YES') {
      throw new IdentifiedDataError(
        `instance ${ref.sopInstanceUid} is not de-identified (Patient Identity Removed is not YES): refusing to give it to a model`,
      );
    }
    modality ||= ds.string(TAG.Modality) ?? '';
    const instanceNumber = ds.number(TAG.InstanceNumber) ?? null;
    // An enhanced object (even one with a single frame) places each frame by its functional groups.
    const slices =
      img.pixel.numberOfFrames === 1 && !hasFunctionalGroups(ds)
        ? [await singleFrameSlice(img, ref.sopInstanceUid)]
        : await multiFrameSlices(img, ref.sopInstanceUid, notices);
    for (const { geometry, values } of slices) {
      const key = sliceKey(ref.sopInstanceUid, geometry.frameNumber);
      if (decoded.has(key)) throw new NotAVolumeError([`instance ${ref.sopInstanceUid} given twice`]);
      geoms.push({ ...geometry, instanceNumber });
      decoded.set(key, { values, ref, instanceNumber });
    }
    // Decoding is synchronous for native pixel data: give the event loop a turn per instance.
    await turn();
  }
  const skipped: string[] = [...notices];
  if (skippedNoPixels > 0) skipped.push(`${skippedNoPixels} object(s) without pixel data left out`);
  if (skippedLocalizers > 0) skipped.push(`${skippedLocalizers} localizer image(s) left out`);
  if (geoms.length === 0) throw new NotAVolumeError(['no image slices in the series', ...skipped]);
  // Several stacks in one series (localizer, echoes, planes): the manifest's choice, said in words.
  const stacks = splitIntoStacks(geoms);
  const chosen = chooseStack(stacks, options.stack);
  if (!chosen.ok) throw new NotAVolumeError([chosen.reason, ...skipped]);
  const stackText = summaryText(chosen.summary);
  if (stacks.length > 1) {
    const others = stacks.filter((s) => s !== chosen.stack).map((s) => describeStack(s));
    skipped.push(`${others.length} other stack(s) in the series left out (${others.join('; ')})`);
  }
  const v = assembleVolume(chosen.stack.slices, { tilt: options.gantryTilt === 'skip' ? 'refuse' : 'report' });
  if (!v.ok) {
    const why = options.gantryTilt === 'skip' ? ' (the manifest says "gantryTilt": "skip")' : '';
    throw new NotAVolumeError([...v.reasons.map((r) => `${stackText}: ${r}${/gantry tilt/.test(r) ? why : ''}`), ...skipped]);
  }
  const tiltDisagreement = declaredTiltDisagreement(v.slices, v.tilt?.angleDeg ?? 0);
  if (tiltDisagreement !== null) skipped.push(tiltDisagreement);
  const first = v.slices[0]!;
  const iop = first.imageOrientationPatient!;
  const ps = first.pixelSpacing;
  if (ps === null) throw new NotAVolumeError(['no Pixel Spacing: distances in mm cannot be measured']);
  const slices: VolumeSlice[] = [];
  const values: Float32Array[] = [];
  for (const s of v.slices) {
    const d = decoded.get(sliceKey(s.sopInstanceUid, s.frameNumber))!;
    const p = s.imagePositionPatient!;
    slices.push({
      sopInstanceUid: d.ref.sopInstanceUid,
      sopClassUid: d.ref.sopClassUid,
      instanceNumber: d.instanceNumber,
      ...(s.frameNumber !== undefined ? { frameNumber: s.frameNumber } : {}),
      position: [p[0]!, p[1]!, p[2]!],
    });
    values.push(d.values);
  }
  // Gantry tilt: each slice shifted back in-plane onto the first slice's grid (tilt-resample.ts),
  // its position moved onto the straight stack, and the shift kept so findings map back to the
  // source images' pixels.
  const tilt = v.tilt;
  if (tilt) {
    values.splice(0, values.length, ...resampleTilted(values, v.rows, v.columns, [ps[0]!, ps[1]!], tilt));
    const p0 = slices[0]!.position;
    slices.forEach((s, k) => {
      const d = v.positions[k]! - v.positions[0]!;
      slices[k] = {
        ...s,
        position: [p0[0] + d * v.normal[0], p0[1] + d * v.normal[1], p0[2] + d * v.normal[2]],
        sourcePixelOffset: sliceOffsetPixels(tilt, k, [ps[0]!, ps[1]!]),
      };
    });
  }
  const stack: StackSummary = tilt ? { ...chosen.summary, tiltCorrectedDeg: Number(tilt.angleDeg.toFixed(2)) } : chosen.summary;
  return {
    stack,
    modality: modality.toUpperCase(),
    rows: v.rows,
    columns: v.columns,
    pixelSpacing: [ps[0]!, ps[1]!],
    sliceSpacing: v.spacing,
    orientation: [iop[0]!, iop[1]!, iop[2]!, iop[3]!, iop[4]!, iop[5]!],
    normal: v.normal,
    ...(originalFrameOfReferenceUid ? { frameOfReferenceUid: originalFrameOfReferenceUid } : {}),
    slices,
    values,
    warnings: [...v.warnings, ...skipped],
  };
}

interface DecodedSlice {
  values: Float32Array;
  ref: Omit<VolumeInput, 'bytes'>;
  instanceNumber: number | null;
}

interface ReadSlice {
  geometry: SliceGeometry;
  values: Float32Array;
}

/**
 * A slice's values in memory that worker threads can share: the node makes the lung masks in a
 * worker of their own while the model runs (cpu-task.ts prepareInWorker), and a shared volume
 * goes there as it is, where a plain one is copied first (200 slices of 512x512: 210 MB, 0.7 s
 * of the main thread's time at the start of the model stage). Nothing writes a volume's values
 * once it is made.
 */
function sharedSlice(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
}

function sliceKey(sopInstanceUid: string, frameNumber: number | undefined): string {
  return frameNumber === undefined ? sopInstanceUid : `${sopInstanceUid}#${frameNumber}`;
}

/** A classic single-frame image: geometry from its Image Plane module (PS3.3 C.7.6.2). */
async function singleFrameSlice(img: DicomImage, sopInstanceUid: string): Promise<ReadSlice> {
  const ds = img.dataSet;
  const frame = await decodeFrame(img, 0);
  const { values } = modalityValues(img, frame, 0, sharedSlice(frame.data.length));
  const ps = ds.numbers(TAG.PixelSpacing);
  const ips = ds.numbers(TAG.ImagerPixelSpacing);
  const ipp = ds.numbers(TAG.ImagePositionPatient);
  const iop = ds.numbers(TAG.ImageOrientationPatient);
  const geometry: SliceGeometry = {
    sopInstanceUid,
    imagePositionPatient: ipp.length === 3 && ipp.every(Number.isFinite) ? ipp : null,
    imageOrientationPatient: iop.length === 6 && iop.every(Number.isFinite) ? iop : null,
    rows: frame.rows,
    columns: frame.columns,
    pixelSpacing: ps.length === 2 && ps.every((v) => v > 0) ? ps : ips.length === 2 && ips.every((v) => v > 0) ? ips : null,
    stackKey: singleFrameStackKey(ds),
  };
  const tilt = ds.number(TAG.GantryDetectorTilt);
  if (tilt !== undefined) geometry.gantryTiltDeg = tilt;
  return { geometry, values };
}

/**
 * Every frame of an enhanced multi-frame object, placed by its functional groups and put in
 * Dimension Index order (functional-groups.ts); each frame's own rescale gives its modality values.
 * Refused, before any frame is decoded, when the frames do not say where they lie.
 */
async function multiFrameSlices(img: DicomImage, sopInstanceUid: string, notices: string[]): Promise<ReadSlice[]> {
  const ds = img.dataSet;
  const frames = readFrameGeometries(ds, img.pixel.numberOfFrames);
  const missing = missingFrameGeometry(ds, frames);
  if (missing !== null) {
    throw new NotAVolumeError([
      `multi-frame instance ${sopInstanceUid} (${frames.length} frames) cannot be placed in a volume: ${missing}; its frames are not stacked blindly`,
    ]);
  }
  const notice = realWorldValueNotice(sopInstanceUid, frames);
  if (notice !== null) notices.push(notice);
  const out: ReadSlice[] = [];
  for (const index of dimensionOrder(ds, frames)) {
    const f = frames[index]!;
    const frame = await decodeFrame(img, index);
    const { values } = modalityValues(img, frame, index, sharedSlice(frame.data.length));
    out.push({
      geometry: {
        sopInstanceUid,
        imagePositionPatient: f.imagePositionPatient,
        imageOrientationPatient: f.imageOrientationPatient,
        rows: frame.rows,
        columns: frame.columns,
        pixelSpacing: f.pixelSpacing,
        frameNumber: f.frameNumber,
        stackKey: f.stackKey,
        ...(f.gantryTiltDeg !== undefined ? { gantryTiltDeg: f.gantryTiltDeg } : {}),
      },
      values,
    });
    await turn();
  }
  return out;
}

/**
 * The pixel data one Part 10 instance declares in its header, in bytes (0 without pixels), held
 * against the limits for one instance (PixelBudgetExceeded). Only the header is read.
 */
export function declaredPixelBytes(bytes: Buffer, limits: PixelLimits = DEFAULT_PIXEL_LIMITS): number {
  // Inputs from the job are Part 10 (de-identification writes them); a bare data set (tests,
  // tools) is still held to the per-frame limit when decoded.
  if (!isPart10(bytes)) return 0;
  const meta = readPart10Header(bytes);
  const header = readDatasetHeader(bytes.subarray(meta.datasetOffset), meta.transferSyntaxUid, { tags: PIXEL_GEOMETRY_TAGS });
  if (header.stoppedAt !== 'pixel-data') return 0; // no pixels (an SR, a presentation state): nothing to decode
  const geometry = geometryFromAttributes(header.attributes);
  return geometry === undefined ? 0 : checkPixelBudget(geometry, limits);
}

function isPart10(b: Buffer): boolean {
  return [128, 0].some((o) => b.length >= o + 4 && b.toString('latin1', o, o + 4) === 'DICM');
}

/** Reads the Frame of Reference UID of an (original) instance's data set, for the report's SCOORD3D. */
export function frameOfReferenceOf(bytes: Buffer, limits: PixelLimits = DEFAULT_PIXEL_LIMITS): string | undefined {
  try {
    return openImage(bytes, limits).dataSet.string(TAG.FrameOfReferenceUID);
  } catch (e) {
    if (e instanceof ImagingError) return undefined;
    throw e;
  }
}

/**
 * Patient coordinates (mm) of a (fractional) pixel position on slice `k`: column `col`, row `row`.
 * PS3.3 C.7.6.2.1.1: P = S + col·Δc·X + row·Δr·Y with X the row direction, Y the column direction.
 */
export function pixelToPatient(vol: SeriesVolume, k: number, col: number, row: number): [number, number, number] {
  const s = vol.slices[Math.max(0, Math.min(vol.slices.length - 1, Math.round(k)))]!;
  const [rx, ry, rz, cx, cy, cz] = vol.orientation;
  const [dr, dc] = vol.pixelSpacing;
  // A fractional slice index interpolates along the normal from the nearest slice.
  const dk = k - Math.round(k);
  const [nx, ny, nz] = vol.normal;
  const t = dk * vol.sliceSpacing;
  return [
    s.position[0] + col * dc * rx + row * dr * cx + t * nx,
    s.position[1] + col * dc * ry + row * dr * cy + t * ny,
    s.position[2] + col * dc * rz + row * dr * cz + t * nz,
  ];
}

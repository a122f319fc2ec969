/**
 * A small element-level reader for the parts of a data set that imaging needs: the Image Pixel
 * module, the modality and VOI transformations (including their sequences and the functional
 * groups of enhanced multi-frame objects), palettes, and the Pixel Data itself, native or
 * encapsulated.
 *
 * Why not src/dicom/dataset-reader.ts: that reader is built for ingest (top level only, stops at
 * Pixel Data, first value of binary elements only). Rendering needs sequences (VOI LUT Sequence,
 * Modality LUT Sequence, Shared/Per-frame Functional Groups), LUT data, and the fragments of
 * encapsulated pixel data, so this module walks the whole data set. Values stay views into the
 * input buffer (no copies), so pixel data of a large multi-frame object is not duplicated.
 *
 * Errors carry structure only (tags, offsets), never values, like DicomParseError elsewhere.
 */
import { DicomParseError } from '../dicom/errors';
import { inflateDeflatedDataset, isDeflatedTransferSyntax } from '../dicom/dataset-reader';
import { readPart10Header } from '../dicom/part10';

export const TS_IMPLICIT_LE = '1.2.840.10008.1.2';
export const TS_EXPLICIT_LE = '1.2.840.10008.1.2.1';
export const TS_EXPLICIT_BE = '1.2.840.10008.1.2.2';

export const TAG = {
  PhotometricInterpretation: 0x00280004,
  SamplesPerPixel: 0x00280002,
  PlanarConfiguration: 0x00280006,
  NumberOfFrames: 0x00280008,
  Rows: 0x00280010,
  Columns: 0x00280011,
  BitsAllocated: 0x00280100,
  BitsStored: 0x00280101,
  HighBit: 0x00280102,
  PixelRepresentation: 0x00280103,
  WindowCenter: 0x00281050,
  WindowWidth: 0x00281051,
  RescaleIntercept: 0x00281052,
  RescaleSlope: 0x00281053,
  RescaleType: 0x00281054,
  WindowCenterWidthExplanation: 0x00281055,
  VOILUTFunction: 0x00281056,
  RedPaletteLUTDescriptor: 0x00281101,
  GreenPaletteLUTDescriptor: 0x00281102,
  BluePaletteLUTDescriptor: 0x00281103,
  RedPaletteLUTData: 0x00281201,
  GreenPaletteLUTData: 0x00281202,
  BluePaletteLUTData: 0x00281203,
  SegmentedRedPaletteLUTData: 0x00281221,
  ModalityLUTSequence: 0x00283000,
  LUTDescriptor: 0x00283002,
  LUTExplanation: 0x00283003,
  ModalityLUTType: 0x00283004,
  LUTData: 0x00283006,
  VOILUTSequence: 0x00283010,
  PixelValueTransformationSequence: 0x00289145,
  FrameVOILUTSequence: 0x00289132,
  SharedFunctionalGroupsSequence: 0x52009229,
  PerFrameFunctionalGroupsSequence: 0x52009230,
  Modality: 0x00080060,
  SOPClassUID: 0x00080016,
  PixelSpacing: 0x00280030,
  ExtendedOffsetTable: 0x7fe00001,
  ExtendedOffsetTableLengths: 0x7fe00002,
  PixelData: 0x7fe00010,
} as const;

/**
 * VRs for implicit VR data sets (the stream carries none). Only tags imaging reads need to be
 * here; everything else is kept as raw bytes and never interpreted.
 */
const IMPLICIT_VR: ReadonlyMap<number, string> = new Map<number, string>([
  [TAG.PhotometricInterpretation, 'CS'], [TAG.SamplesPerPixel, 'US'], [TAG.PlanarConfiguration, 'US'],
  [TAG.NumberOfFrames, 'IS'], [TAG.Rows, 'US'], [TAG.Columns, 'US'], [TAG.BitsAllocated, 'US'],
  [TAG.BitsStored, 'US'], [TAG.HighBit, 'US'], [TAG.PixelRepresentation, 'US'],
  [TAG.WindowCenter, 'DS'], [TAG.WindowWidth, 'DS'], [TAG.RescaleIntercept, 'DS'], [TAG.RescaleSlope, 'DS'],
  [TAG.RescaleType, 'LO'], [TAG.WindowCenterWidthExplanation, 'LO'], [TAG.VOILUTFunction, 'CS'],
  // LUT descriptors are "US or SS"; read as US, the caller decides about the sign of value 2.
  [TAG.RedPaletteLUTDescriptor, 'US'], [TAG.GreenPaletteLUTDescriptor, 'US'], [TAG.BluePaletteLUTDescriptor, 'US'],
  [TAG.RedPaletteLUTData, 'OW'], [TAG.GreenPaletteLUTData, 'OW'], [TAG.BluePaletteLUTData, 'OW'],
  [TAG.ModalityLUTSequence, 'SQ'], [TAG.LUTDescriptor, 'US'], [TAG.LUTExplanation, 'LO'],
  [TAG.ModalityLUTType, 'LO'], [TAG.LUTData, 'OW'], [TAG.VOILUTSequence, 'SQ'],
  [TAG.PixelValueTransformationSequence, 'SQ'], [TAG.FrameVOILUTSequence, 'SQ'],
  [TAG.SharedFunctionalGroupsSequence, 'SQ'], [TAG.PerFrameFunctionalGroupsSequence, 'SQ'],
  [TAG.Modality, 'CS'], [TAG.SOPClassUID, 'UI'], [TAG.PixelSpacing, 'DS'],
  [TAG.ExtendedOffsetTable, 'OV'], [TAG.ExtendedOffsetTableLengths, 'OV'],
  // Implicit VR LE pixel data is OW whatever Bits Allocated is; bytes are little endian anyway.
  [TAG.PixelData, 'OW'],
]);

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const SHORT_VRS = new Set([
  'AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FD', 'FL', 'IS', 'LO', 'LT',
  'PN', 'SH', 'SL', 'SS', 'ST', 'TM', 'UI', 'UL', 'US',
]);

const TAG_ITEM = 0xfffee000;
const TAG_ITEM_DELIMITATION = 0xfffee00d;
const TAG_SEQUENCE_DELIMITATION = 0xfffee0dd;
const UNDEFINED_LENGTH = 0xffffffff;
const MAX_DEPTH = 32;

export interface Element {
  tag: number;
  /** From the stream (explicit VR) or IMPLICIT_VR; undefined for unknown implicit elements. */
  vr: string | undefined;
  /** The value bytes (empty for sequences and encapsulated pixel data). */
  value: Buffer;
  littleEndian: boolean;
  /** Items of a sequence. */
  items?: DataSet[];
  /** Encapsulated pixel data: the item values, Basic Offset Table first. */
  fragments?: Buffer[];
}

/** One data set (top level or a sequence item): tag -> element. */
export class DataSet {
  readonly elements = new Map<number, Element>();

  constructor(readonly littleEndian: boolean) {}

  get(tag: number): Element | undefined {
    return this.elements.get(tag);
  }

  has(tag: number): boolean {
    return this.elements.has(tag);
  }

  /** Text value with trailing padding removed; undefined when absent. */
  string(tag: number): string | undefined {
    const e = this.elements.get(tag);
    if (e === undefined) return undefined;
    return e.value.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
  }

  /**
   * All numeric values of an element: binary VRs (US, SS, UL, SL, FL, FD) decoded in the data
   * set's byte order, text VRs (DS, IS) split at backslashes. Empty/invalid text values -> NaN.
   */
  numbers(tag: number): number[] {
    const e = this.elements.get(tag);
    if (e === undefined) return [];
    return numericValues(e);
  }

  /** First numeric value, or undefined when absent, empty or not a number. */
  number(tag: number): number | undefined {
    const v = this.numbers(tag)[0];
    return v === undefined || Number.isNaN(v) ? undefined : v;
  }

  /** Items of a sequence (empty when absent or not a sequence). */
  items(tag: number): DataSet[] {
    return this.elements.get(tag)?.items ?? [];
  }
}

export function numericValues(e: Element): number[] {
  const b = e.value;
  const le = e.littleEndian;
  const out: number[] = [];
  switch (e.vr) {
    case 'US':
    case 'OW':
      for (let i = 0; i + 2 <= b.length; i += 2) out.push(le ? b.readUInt16LE(i) : b.readUInt16BE(i));
      return out;
    case 'SS':
      for (let i = 0; i + 2 <= b.length; i += 2) out.push(le ? b.readInt16LE(i) : b.readInt16BE(i));
      return out;
    case 'UL':
      for (let i = 0; i + 4 <= b.length; i += 4) out.push(le ? b.readUInt32LE(i) : b.readUInt32BE(i));
      return out;
    case 'SL':
      for (let i = 0; i + 4 <= b.length; i += 4) out.push(le ? b.readInt32LE(i) : b.readInt32BE(i));
      return out;
    case 'FL':
    case 'OF':
      for (let i = 0; i + 4 <= b.length; i += 4) out.push(le ? b.readFloatLE(i) : b.readFloatBE(i));
      return out;
    case 'FD':
    case 'OD':
      for (let i = 0; i + 8 <= b.length; i += 8) out.push(le ? b.readDoubleLE(i) : b.readDoubleBE(i));
      return out;
    case 'UV':
    case 'OV':
      for (let i = 0; i + 8 <= b.length; i += 8) out.push(Number(le ? b.readBigUInt64LE(i) : b.readBigUInt64BE(i)));
      return out;
    default: {
      const s = b.toString('latin1').replace(/[\0 ]+$/, '');
      if (s.trim() === '') return [];
      return s.split('\\').map((v) => (v.trim() === '' ? NaN : Number(v.trim())));
    }
  }
}

interface Syntax {
  explicit: boolean;
  littleEndian: boolean;
}

export interface ParsedObject {
  transferSyntaxUid: string;
  dataSet: DataSet;
}

/**
 * Parses a Part 10 file (preamble + DICM + meta + data set). Deflated data sets are inflated.
 * Files without a Part 10 header are not accepted: without the meta group the transfer syntax
 * (and so whether pixel data is compressed) is a guess.
 */
export function parsePart10(file: Buffer): ParsedObject {
  const h = readPart10Header(file);
  const ts = h.transferSyntaxUid.replace(/[\0 ]+$/, '');
  return { transferSyntaxUid: ts, dataSet: parseDataSet(file.subarray(h.datasetOffset), ts) };
}

/**
 * Parses a Part 10 file, or - for files written without the meta group (ACR-NEMA style dumps,
 * some old archives) - a bare data set whose transfer syntax is recognised from its first
 * element, the way DCMTK does: big-endian group numbers mean Explicit VR Big Endian, two VR
 * letters after the tag mean Explicit VR Little Endian, anything else Implicit VR Little Endian.
 */
export function parseDicomFile(file: Buffer): ParsedObject {
  const magicAt = (o: number): boolean => file.length >= o + 4 && file.toString('latin1', o, o + 4) === 'DICM';
  if (magicAt(128) || magicAt(0)) return parsePart10(file);
  if (file.length < 8) throw new DicomParseError('too short to be a DICOM data set');
  let ts = TS_IMPLICIT_LE;
  const vr = file.toString('latin1', 4, 6);
  if (file.readUInt16LE(0) > 0x00ff && file.readUInt16BE(0) <= 0x00ff && (LONG_VRS.has(vr) || SHORT_VRS.has(vr))) {
    ts = TS_EXPLICIT_BE;
  } else if (LONG_VRS.has(vr) || SHORT_VRS.has(vr)) {
    ts = TS_EXPLICIT_LE;
  }
  return { transferSyntaxUid: ts, dataSet: parseDataSet(file, ts) };
}

/** Parses raw data set bytes (as stored by the SCP after the meta group) in `transferSyntaxUid`. */
export function parseDataSet(bytes: Buffer, transferSyntaxUid: string): DataSet {
  let data = bytes;
  if (isDeflatedTransferSyntax(transferSyntaxUid)) data = inflateDeflatedDataset(bytes);
  const syntax: Syntax =
    transferSyntaxUid === TS_IMPLICIT_LE
      ? { explicit: false, littleEndian: true }
      : transferSyntaxUid === TS_EXPLICIT_BE
        ? { explicit: true, littleEndian: false }
        : { explicit: true, littleEndian: true };
  const ds = new DataSet(syntax.littleEndian);
  readElements(data, 0, data.length, syntax, ds, 0, false);
  return ds;
}

/**
 * Reads elements from `start` to `end` into `ds`. With `untilItemDelimiter`, stops after an
 * Item Delimitation Item and returns the offset after it. Returns the end offset otherwise.
 */
function readElements(
  buf: Buffer,
  start: number,
  end: number,
  syntax: Syntax,
  ds: DataSet,
  depth: number,
  untilItemDelimiter: boolean,
): number {
  if (depth > MAX_DEPTH) throw new DicomParseError(`sequences nested deeper than ${MAX_DEPTH}`, { offset: start });
  let pos = start;
  while (pos < end) {
    // Trailing padding shorter than an element header: ignore (seen in the wild).
    if (pos + 8 > end) {
      if (untilItemDelimiter) throw new DicomParseError('data ends inside an item', { offset: pos });
      break;
    }
    const group = syntax.littleEndian ? buf.readUInt16LE(pos) : buf.readUInt16BE(pos);
    const elem = syntax.littleEndian ? buf.readUInt16LE(pos + 2) : buf.readUInt16BE(pos + 2);
    const tag = ((group << 16) | elem) >>> 0;
    if (tag === TAG_ITEM_DELIMITATION) {
      if (untilItemDelimiter) return pos + 8;
      throw new DicomParseError('item delimiter outside an item', { tag, offset: pos });
    }
    if (group === 0xfffe) throw new DicomParseError('unexpected item tag in a data set', { tag, offset: pos });

    let vr: string | undefined;
    let length: number;
    let valueOffset: number;
    if (syntax.explicit) {
      vr = buf.toString('latin1', pos + 4, pos + 6);
      if (LONG_VRS.has(vr)) {
        if (pos + 12 > end) throw new DicomParseError('data ends inside an element header', { tag, offset: pos });
        length = syntax.littleEndian ? buf.readUInt32LE(pos + 8) : buf.readUInt32BE(pos + 8);
        valueOffset = pos + 12;
      } else if (SHORT_VRS.has(vr)) {
        length = syntax.littleEndian ? buf.readUInt16LE(pos + 6) : buf.readUInt16BE(pos + 6);
        valueOffset = pos + 8;
      } else {
        throw new DicomParseError('invalid VR in explicit VR data set', { tag, offset: pos });
      }
    } else {
      vr = IMPLICIT_VR.get(tag);
      length = buf.readUInt32LE(pos + 4);
      valueOffset = pos + 8;
    }

    const element: Element = { tag, vr, value: buf.subarray(valueOffset, valueOffset), littleEndian: syntax.littleEndian };
    if (length === UNDEFINED_LENGTH) {
      if (tag === TAG.PixelData && vr !== 'SQ' && vr !== 'UN' && (syntax.explicit || vr === 'OW')) {
        const r = readFragments(buf, valueOffset, end, syntax);
        element.fragments = r.fragments;
        pos = r.next;
      } else {
        // SQ, undefined-length UN (CP-246: implicit VR LE inside), or any implicit undefined length.
        const inner: Syntax = vr === 'UN' ? { explicit: false, littleEndian: true } : syntax;
        const r = readItems(buf, valueOffset, end, inner, depth, true);
        element.items = r.items;
        pos = r.next;
      }
    } else {
      if (valueOffset + length > end) {
        throw new DicomParseError(`value of ${length} bytes runs past the end of the data`, { tag, offset: pos });
      }
      element.value = buf.subarray(valueOffset, valueOffset + length);
      // Defined-length sequences: parse the items of SQ (and of the sequences we need when they
      // arrive as UN or implicit), leave all other values as bytes.
      const knownSq = IMPLICIT_VR.get(tag) === 'SQ';
      if (vr === 'SQ' || (knownSq && (vr === 'UN' || vr === undefined))) {
        const inner: Syntax = vr === 'UN' ? { explicit: false, littleEndian: true } : syntax;
        element.items = readItems(buf, valueOffset, valueOffset + length, inner, depth, false).items;
        element.value = buf.subarray(valueOffset, valueOffset);
        if (vr === 'UN') element.vr = 'SQ';
      }
      pos = valueOffset + length;
    }
    if (!ds.elements.has(tag)) ds.elements.set(tag, element);
  }
  if (untilItemDelimiter) throw new DicomParseError('data ends inside an item', { offset: pos });
  return pos;
}

function readItems(
  buf: Buffer,
  start: number,
  end: number,
  syntax: Syntax,
  depth: number,
  undefinedLength: boolean,
): { items: DataSet[]; next: number } {
  const items: DataSet[] = [];
  let pos = start;
  for (;;) {
    if (!undefinedLength && pos >= end) return { items, next: pos };
    if (pos + 8 > end) throw new DicomParseError('data ends inside a sequence', { offset: pos });
    const tag = readTag(buf, pos, syntax.littleEndian);
    const length = syntax.littleEndian ? buf.readUInt32LE(pos + 4) : buf.readUInt32BE(pos + 4);
    if (tag === TAG_SEQUENCE_DELIMITATION) return { items, next: pos + 8 };
    if (tag !== TAG_ITEM) throw new DicomParseError('expected an item in a sequence', { tag, offset: pos });
    const item = new DataSet(syntax.littleEndian);
    if (length === UNDEFINED_LENGTH) {
      pos = readElements(buf, pos + 8, end, syntax, item, depth + 1, true);
    } else {
      if (pos + 8 + length > end) throw new DicomParseError('item runs past the end of its sequence', { offset: pos });
      readElements(buf, pos + 8, pos + 8 + length, syntax, item, depth + 1, false);
      pos = pos + 8 + length;
    }
    items.push(item);
  }
}

/**
 * Encapsulated pixel data: items up to the Sequence Delimitation Item. Item lengths are trusted
 * (not a search for the delimiter bytes), so a fragment whose compressed bytes happen to contain
 * FFFE,E0DD is read whole.
 */
function readFragments(buf: Buffer, start: number, end: number, syntax: Syntax): { fragments: Buffer[]; next: number } {
  const fragments: Buffer[] = [];
  let pos = start;
  while (pos + 8 <= end) {
    const tag = readTag(buf, pos, syntax.littleEndian);
    const length = syntax.littleEndian ? buf.readUInt32LE(pos + 4) : buf.readUInt32BE(pos + 4);
    if (tag === TAG_SEQUENCE_DELIMITATION) return { fragments, next: pos + 8 };
    if (tag !== TAG_ITEM) throw new DicomParseError('expected a fragment item in encapsulated pixel data', { tag, offset: pos });
    if (length === UNDEFINED_LENGTH || pos + 8 + length > end) {
      throw new DicomParseError('pixel data fragment runs past the end of the data', { tag, offset: pos });
    }
    fragments.push(buf.subarray(pos + 8, pos + 8 + length));
    pos += 8 + length;
  }
  // A missing sequence delimiter at the very end of the file: keep what was read.
  return { fragments, next: end };
}

function readTag(buf: Buffer, pos: number, le: boolean): number {
  const g = le ? buf.readUInt16LE(pos) : buf.readUInt16BE(pos);
  const e = le ? buf.readUInt16LE(pos + 2) : buf.readUInt16BE(pos + 2);
  return ((g << 16) | e) >>> 0;
}

/**
 * The element-level view of a data set that imaging needs: the Image Pixel module, the modality
 * and VOI transformations (including their sequences and the functional groups of enhanced
 * multi-frame objects), palettes, and the Pixel Data itself, native or encapsulated.
 *
 * Why not src/dicom/dataset-reader.ts: that reader is built for ingest (top level only, stops at
 * Pixel Data, first value of binary elements only). Rendering needs sequences (VOI LUT Sequence,
 * Modality LUT Sequence, Shared/Per-frame Functional Groups), LUT data, and the fragments of
 * encapsulated pixel data, so the whole data set is parsed by the structural parser
 * (src/dicom/dataset-parser.ts) and indexed by tag here. Values stay views into the input buffer
 * (no copies), so pixel data of a large multi-frame object is not duplicated.
 *
 * Errors carry structure only (tags, offsets), never values, like DicomParseError elsewhere.
 */
import { ParsedElement, parseDataSet as parseStructure, valueBytes } from '../dicom/dataset-parser';
import { inflateDataSet } from '../dicom/inflate-data-set';
import { DEFAULT_PIXEL_LIMITS, type PixelLimits } from '../dicom/pixel-budget';
import { isKnownVr, UNDEFINED_LENGTH } from '../dicom/element-header';
import { DicomParseError } from '../dicom/errors';
import { readPart10Header } from '../dicom/part10';
import { TAG } from '../dicom/tags';
import { isDeflatedTransferSyntax, syntaxFor, TRANSFER_SYNTAX } from '../dicom/transfer-syntax';

/**
 * VRs for implicit VR data sets (the stream carries none). Only tags imaging reads need to be
 * here; everything else is kept as raw bytes and never interpreted.
 */
const IMPLICIT_VR: ReadonlyMap<number, string> = new Map<number, string>([
  [TAG.PhotometricInterpretation, 'CS'],
  [TAG.SamplesPerPixel, 'US'],
  [TAG.PlanarConfiguration, 'US'],
  [TAG.NumberOfFrames, 'IS'],
  [TAG.Rows, 'US'],
  [TAG.Columns, 'US'],
  [TAG.BitsAllocated, 'US'],
  [TAG.BitsStored, 'US'],
  [TAG.HighBit, 'US'],
  [TAG.PixelRepresentation, 'US'],
  [TAG.WindowCenter, 'DS'],
  [TAG.WindowWidth, 'DS'],
  [TAG.RescaleIntercept, 'DS'],
  [TAG.RescaleSlope, 'DS'],
  [TAG.RescaleType, 'LO'],
  [TAG.WindowCenterWidthExplanation, 'LO'],
  [TAG.VOILUTFunction, 'CS'],
  // LUT descriptors are "US or SS"; read as US, the caller decides about the sign of value 2.
  [TAG.RedPaletteColorLookupTableDescriptor, 'US'],
  [TAG.GreenPaletteColorLookupTableDescriptor, 'US'],
  [TAG.BluePaletteColorLookupTableDescriptor, 'US'],
  [TAG.RedPaletteColorLookupTableData, 'OW'],
  [TAG.GreenPaletteColorLookupTableData, 'OW'],
  [TAG.BluePaletteColorLookupTableData, 'OW'],
  [TAG.ModalityLUTSequence, 'SQ'],
  [TAG.LUTDescriptor, 'US'],
  [TAG.LUTExplanation, 'LO'],
  [TAG.ModalityLUTType, 'LO'],
  [TAG.LUTData, 'OW'],
  [TAG.VOILUTSequence, 'SQ'],
  [TAG.PixelValueTransformationSequence, 'SQ'],
  [TAG.FrameVOILUTSequence, 'SQ'],
  [TAG.SharedFunctionalGroupsSequence, 'SQ'],
  [TAG.PerFrameFunctionalGroupsSequence, 'SQ'],
  // Frame geometry of enhanced multi-frame objects (functional-groups.ts): the macros' sequences
  // and the binary values in them, which an implicit VR stream cannot otherwise be read as.
  [TAG.PlanePositionSequence, 'SQ'],
  [TAG.PlaneOrientationSequence, 'SQ'],
  [TAG.PixelMeasuresSequence, 'SQ'],
  [TAG.FrameContentSequence, 'SQ'],
  [TAG.MREchoSequence, 'SQ'],
  [TAG.CTImageFrameTypeSequence, 'SQ'],
  [TAG.MRImageFrameTypeSequence, 'SQ'],
  [TAG.RealWorldValueMappingSequence, 'SQ'],
  [TAG.CTAcquisitionDetailsSequence, 'SQ'],
  [TAG.DimensionIndexSequence, 'SQ'],
  [TAG.DimensionIndexValues, 'UL'],
  [TAG.InStackPositionNumber, 'UL'],
  [TAG.TemporalPositionIndex, 'UL'],
  [TAG.FrameAcquisitionNumber, 'US'],
  [TAG.EffectiveEchoTime, 'FD'],
  [TAG.RealWorldValueSlope, 'FD'],
  [TAG.RealWorldValueIntercept, 'FD'],
  [TAG.Modality, 'CS'],
  [TAG.SOPClassUID, 'UI'],
  [TAG.PixelSpacing, 'DS'],
  [TAG.ExtendedOffsetTable, 'OV'],
  [TAG.ExtendedOffsetTableLengths, 'OV'],
  // Implicit VR LE pixel data is OW whatever Bits Allocated is; bytes are little endian anyway.
  [TAG.PixelData, 'OW'],
]);

const isImagingSequence = (tag: number): boolean => IMPLICIT_VR.get(tag) === 'SQ';

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
    return e.value
      .toString('latin1')
      .replace(/[\0 ]+$/, '')
      .replace(/^ +/, '');
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

export interface ParsedObject {
  transferSyntaxUid: string;
  dataSet: DataSet;
}

/**
 * Parses a Part 10 file (preamble + DICM + meta + data set). Deflated data sets are inflated.
 * Files without a Part 10 header are not accepted: without the meta group the transfer syntax
 * (and so whether pixel data is compressed) is a guess.
 */
export function parsePart10(file: Buffer, limits: PixelLimits = DEFAULT_PIXEL_LIMITS): ParsedObject {
  const h = readPart10Header(file);
  const ts = h.transferSyntaxUid.replace(/[\0 ]+$/, '');
  return { transferSyntaxUid: ts, dataSet: parseDataSet(file.subarray(h.datasetOffset), ts, limits) };
}

/**
 * Parses a Part 10 file, or - for files written without the meta group (ACR-NEMA style dumps,
 * some old archives) - a bare data set whose transfer syntax is recognised from its first
 * element, the way DCMTK does: big-endian group numbers mean Explicit VR Big Endian, two VR
 * letters after the tag mean Explicit VR Little Endian, anything else Implicit VR Little Endian.
 */
export function parseDicomFile(file: Buffer, limits: PixelLimits = DEFAULT_PIXEL_LIMITS): ParsedObject {
  const magicAt = (o: number): boolean => file.length >= o + 4 && file.toString('latin1', o, o + 4) === 'DICM';
  if (magicAt(128) || magicAt(0)) return parsePart10(file, limits);
  if (file.length < 8) throw new DicomParseError('too short to be a DICOM data set');
  let ts = TRANSFER_SYNTAX.ImplicitVRLittleEndian;
  const vr = file.toString('latin1', 4, 6);
  if (file.readUInt16LE(0) > 0x00ff && file.readUInt16BE(0) <= 0x00ff && isKnownVr(vr)) {
    ts = TRANSFER_SYNTAX.ExplicitVRBigEndian;
  } else if (isKnownVr(vr)) {
    ts = TRANSFER_SYNTAX.ExplicitVRLittleEndian;
  }
  return { transferSyntaxUid: ts, dataSet: parseDataSet(file, ts, limits) };
}

/**
 * Parses raw data set bytes (as stored by the SCP after the meta group) in `transferSyntaxUid`.
 * A deflated data set is inflated only as far as its header allows (`limits`, inflate-data-set.ts).
 */
export function parseDataSet(bytes: Buffer, transferSyntaxUid: string, limits: PixelLimits = DEFAULT_PIXEL_LIMITS): DataSet {
  let data = bytes;
  // Lenient like the parse below: a truncated stream yields what it holds.
  if (isDeflatedTransferSyntax(transferSyntaxUid)) data = inflateDataSet(bytes, transferSyntaxUid, limits, true);
  const syntax = syntaxFor(transferSyntaxUid);
  // Lenient: a renderer can live with trailing padding or a missing final delimiter.
  const parsed = parseStructure(data, syntax, { isSequenceTag: isImagingSequence, lenient: true });
  return toDataSet(data, parsed.elements, syntax.littleEndian);
}

/** Indexes parsed elements by tag; the first occurrence wins if a (broken) data set repeats one. */
function toDataSet(buf: Buffer, elements: readonly ParsedElement[], littleEndian: boolean): DataSet {
  const ds = new DataSet(littleEndian);
  for (const el of elements) {
    if (!ds.elements.has(el.tag)) ds.elements.set(el.tag, toElement(buf, el, littleEndian));
  }
  return ds;
}

function toElement(buf: Buffer, el: ParsedElement, littleEndian: boolean): Element {
  const known = IMPLICIT_VR.get(el.tag);
  const vr = el.vr ?? known;
  const empty = buf.subarray(el.valueOffset, el.valueOffset);
  if (el.fragments !== undefined) return { tag: el.tag, vr, value: empty, littleEndian, fragments: el.fragments };
  // Items are used where the stream or the dictionary says sequence; other values that merely
  // look like items (the parser tries those too) stay bytes.
  const sequence = el.length === UNDEFINED_LENGTH || el.vr === 'SQ' || known === 'SQ';
  if (sequence && el.items !== undefined) {
    const itemLe = el.itemSyntax?.littleEndian ?? littleEndian;
    return {
      tag: el.tag,
      // A sequence we need that arrived as a defined-length UN is one.
      vr: el.vr === 'UN' && el.length !== UNDEFINED_LENGTH ? 'SQ' : vr,
      value: empty,
      littleEndian,
      items: el.items.map((item) => toDataSet(buf, item.elements, itemLe)),
    };
  }
  return { tag: el.tag, vr, value: valueBytes(buf, el), littleEndian };
}

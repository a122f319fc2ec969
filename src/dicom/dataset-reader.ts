/**
 * Minimal, allocation-light reader for selected top-level attributes of a raw
 * DICOM dataset (the bytes after the File Meta Information, exactly as they
 * arrive in C-STORE P-DATA fragments).
 *
 * Design constraints:
 *  - never re-encodes anything and never touches pixel data: the walk stops at
 *    (7FE0,0010) and only reports where the pixel data value starts;
 *  - works on a *head* of the dataset (first N bytes) so ingest can index an
 *    object before the whole thing has been received/written;
 *  - errors carry only structure (tags, offsets, lengths, VRs), never values,
 *    because error messages end up in logs and values may be patient data.
 */
import { inflate, InflateBudgetExceeded, inflatePrefix } from './deflate';
import { formatBytes } from './pixel-budget';
import {
  ElementHeader,
  isItemOrDelimiter,
  MAX_SEQUENCE_DEPTH,
  readElementHeader as readElementHeaderAt,
  readTag as readTagAt,
  readU32,
  UNDEFINED_LENGTH,
} from './element-header';
import { decodeText, parseCharsetTerms, trimPadding } from './charset';
import { DicomParseError, formatTag } from './errors';
import { TAG, TagKeyword, tagsByKeyword } from './tags';
import { IMPLICIT_LE, isDeflatedTransferSyntax, Syntax, syntaxFor } from './transfer-syntax';

export { DicomParseError } from './errors';
export { inflateDeflatedDataset, InflateBudgetExceeded } from './deflate';
export { isDeflatedTransferSyntax } from './transfer-syntax';

export interface HeaderReadResult {
  /** keyword -> decoded value. Present-but-empty attributes map to ''. */
  attributes: Record<string, string>;
  stoppedAt: 'pixel-data' | 'end' | 'truncated';
  /**
   * Where the Pixel Data value starts (offset of the first value byte, relative
   * to the start of the dataset) and its length; 'undefined' for encapsulated
   * pixel data. For deflated transfer syntaxes the offset is relative to the
   * *inflated* dataset, since the deflated bytes have no usable offsets.
   */
  pixelData?: { offset: number; length: number | 'undefined' };
  /** Raw (trimmed) value of (0008,0005), backslashes kept, when present. */
  specificCharacterSet?: string;
}

export interface ReadDatasetOptions {
  /** keyword -> tag (group << 16 | element). Defaults to DEFAULT_HEADER_TAGS. */
  tags?: Record<string, number>;
  /**
   * Full length of the dataset when `bytes` is only its head. For deflated
   * transfer syntaxes this is the length of the deflated stream.
   */
  totalLength?: number;
  /**
   * Deflated transfer syntaxes: the most inflated bytes the header (everything before Pixel Data,
   * or the whole data set when it has none) may take. Beyond it the read throws
   * InflateBudgetExceeded instead of inflating further. Defaults to DEFLATED_HEADER_MAX_BYTES.
   */
  maxHeaderBytes?: number;
}

/**
 * The most a deflated data set's header may inflate to. Deflated data sets in practice are SRs,
 * presentation states and small images whose headers are kilobytes; enhanced multi-frame headers
 * reach megabytes. A stream that needs more before its Pixel Data is refused rather than inflated.
 */
export const DEFLATED_HEADER_MAX_BYTES = 32 * 1024 * 1024;

/**
 * First compressed prefix tried for a deflated header; grown four-fold until the header is
 * complete. A compressed byte inflates to at most ~1032 bytes, so a small prefix cannot cost much
 * even when the bytes after the header are a bomb of zeros.
 */
const FIRST_DEFLATED_PREFIX = 2048;

/** Attributes extracted when the caller does not ask for specific tags. */
export const DEFAULT_HEADER_TAGS: Readonly<Record<string, number>> = tagsByKeyword([
  'SpecificCharacterSet',
  'SOPClassUID',
  'SOPInstanceUID',
  'StudyDate',
  'StudyTime',
  'AccessionNumber',
  'Modality',
  'Manufacturer',
  'StudyDescription',
  'SeriesDescription',
  'PatientName',
  'PatientID',
  'PatientBirthDate',
  'PatientSex',
  'BodyPartExamined',
  'BurnedInAnnotation',
  'StudyInstanceUID',
  'SeriesInstanceUID',
  'SeriesNumber',
  'InstanceNumber',
  'NumberOfFrames',
  'Rows',
  'Columns',
  'BitsAllocated',
]);

/** VRs whose values are subject to (0008,0005); the rest are plain ASCII. */
const CHARSET_VRS = new Set(['PN', 'LO', 'SH', 'ST', 'LT', 'UT', 'UC']);
/** Binary VRs we never turn into a string. */
const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UN', 'AT']);

/**
 * VRs of the tags we are likely to be asked for, used for implicit VR (where
 * the stream carries no VR) and for explicit 'UN' elements.
 */
export const HEADER_TAG_VRS: Readonly<Partial<Record<TagKeyword, string>>> = {
  SpecificCharacterSet: 'CS',
  ImageType: 'CS',
  InstanceCreationDate: 'DA',
  InstanceCreationTime: 'TM',
  SOPClassUID: 'UI',
  SOPInstanceUID: 'UI',
  StudyDate: 'DA',
  SeriesDate: 'DA',
  AcquisitionDate: 'DA',
  ContentDate: 'DA',
  StudyTime: 'TM',
  SeriesTime: 'TM',
  AcquisitionTime: 'TM',
  ContentTime: 'TM',
  AccessionNumber: 'SH',
  Modality: 'CS',
  Manufacturer: 'LO',
  InstitutionName: 'LO',
  ReferringPhysicianName: 'PN',
  StationName: 'SH',
  StudyDescription: 'LO',
  SeriesDescription: 'LO',
  ManufacturerModelName: 'LO',
  PatientName: 'PN',
  PatientID: 'LO',
  PatientBirthDate: 'DA',
  PatientSex: 'CS',
  PatientAge: 'AS',
  BodyPartExamined: 'CS',
  SliceThickness: 'DS',
  ProtocolName: 'LO',
  StudyInstanceUID: 'UI',
  SeriesInstanceUID: 'UI',
  StudyID: 'SH',
  SeriesNumber: 'IS',
  AcquisitionNumber: 'IS',
  InstanceNumber: 'IS',
  ImagePositionPatient: 'DS',
  ImageOrientationPatient: 'DS',
  FrameOfReferenceUID: 'UI',
  SamplesPerPixel: 'US',
  PhotometricInterpretation: 'CS',
  NumberOfFrames: 'IS',
  Rows: 'US',
  Columns: 'US',
  PixelSpacing: 'DS',
  BitsAllocated: 'US',
  BitsStored: 'US',
  HighBit: 'US',
  PixelRepresentation: 'US',
  BurnedInAnnotation: 'CS',
};

const DICTIONARY_VR: ReadonlyMap<number, string> = new Map(
  Object.entries(HEADER_TAG_VRS).map(([keyword, vr]) => [TAG[keyword as TagKeyword], vr]),
);

/**
 * Internal signal: the data we need lies beyond `bytes` but within the dataset. It never leaves
 * this module (walkTopLevel turns it into stoppedAt 'truncated'); one shared instance, since a
 * head of a dataset is the normal case during ingest and needs no stack trace of its own.
 */
class TruncatedSignal extends Error {}
const TRUNCATED = new TruncatedSignal('dataset head ends before the data needed');

/**
 * Bounds-checked view over the dataset bytes. `limit` is the real dataset
 * length: reading past `buf.length` but not past `limit` means "we only have a
 * head" (truncated), reading past `limit` means the encoding is impossible.
 */
class Cursor {
  /** How far into the data set the last truncated read needed bytes. */
  neededUpTo = 0;

  constructor(
    readonly buf: Buffer,
    readonly limit: number,
  ) {}

  /** Throws unless [pos, pos + n) is available in `buf`. */
  need(pos: number, n: number, what: string, tag?: number): void {
    if (pos + n <= this.buf.length) return;
    if (pos + n > this.limit) {
      throw new DicomParseError(`${what} of ${n} bytes extends past the end of the dataset (dataset length ${this.limit})`, {
        tag,
        offset: pos,
      });
    }
    this.neededUpTo = pos + n;
    throw TRUNCATED;
  }

  /** Throws if a value of `length` bytes at `pos` would end past the dataset. */
  checkWithinLimit(pos: number, length: number, tag: number): void {
    if (pos + length > this.limit) {
      throw new DicomParseError(`value length ${length} extends past the end of the dataset (dataset length ${this.limit})`, {
        tag,
        offset: pos,
      });
    }
  }
}

function readTag(c: Cursor, pos: number, syntax: Syntax): number {
  return readTagAt(c.buf, pos, syntax.littleEndian);
}

/** Parses the element header at `pos` (tag, VR when explicit, length). */
function readElementHeader(c: Cursor, pos: number, syntax: Syntax): ElementHeader {
  return readElementHeaderAt(c.buf, pos, syntax, (n, tag) => c.need(pos, n, 'element header', tag));
}

/**
 * Skips the value of an undefined-length element (a sequence, an implicitly
 * encoded UN sequence, or an encapsulated OB/OW value) and returns the offset
 * just after its Sequence Delimitation Item.
 */
function skipUndefinedLengthValue(c: Cursor, h: ElementHeader, syntax: Syntax, depth: number): number {
  let inner = syntax;
  if (syntax.explicit) {
    if (h.vr === 'UN') {
      // CP-246: an undefined-length UN is a sequence encoded in implicit VR LE.
      inner = IMPLICIT_LE;
    } else if (h.vr !== 'SQ' && h.vr !== 'OB' && h.vr !== 'OW') {
      // OB/OW are tolerated: encapsulated fragments are items too.
      throw new DicomParseError(`undefined length is not allowed for VR ${h.vr ?? '??'}`, {
        tag: h.tag,
        offset: h.offset,
      });
    }
  }
  // In implicit VR any undefined-length element can only be a sequence.
  return skipSequenceItems(c, h.valueOffset, inner, depth + 1);
}

/** Walks items until (FFFE,E0DD); returns the offset after the delimiter. */
function skipSequenceItems(c: Cursor, start: number, syntax: Syntax, depth: number): number {
  if (depth > MAX_SEQUENCE_DEPTH) {
    throw new DicomParseError(`sequences nested deeper than ${MAX_SEQUENCE_DEPTH} levels`, { offset: start });
  }
  let pos = start;
  for (;;) {
    c.need(pos, 8, 'item header');
    const tag = readTag(c, pos, syntax);
    const length = readU32(c.buf, pos + 4, syntax.littleEndian);
    if (tag === TAG.SequenceDelimitationItem) return pos + 8;
    if (tag !== TAG.Item) {
      throw new DicomParseError('expected an item or sequence delimitation item inside a sequence', {
        tag,
        offset: pos,
      });
    }
    if (length === UNDEFINED_LENGTH) {
      pos = skipItemDataset(c, pos + 8, syntax, depth);
    } else {
      c.checkWithinLimit(pos + 8, length, tag);
      pos = pos + 8 + length;
    }
  }
}

/** Walks the elements of an undefined-length item until (FFFE,E00D). */
function skipItemDataset(c: Cursor, start: number, syntax: Syntax, depth: number): number {
  let pos = start;
  for (;;) {
    const h = readElementHeader(c, pos, syntax);
    if (h.tag === TAG.ItemDelimitationItem) return h.valueOffset;
    if (isItemOrDelimiter(h.tag)) {
      throw new DicomParseError('unexpected item tag inside an item', { tag: h.tag, offset: pos });
    }
    pos = skipElementValue(c, h, syntax, depth);
  }
}

/** Returns the offset after the element's value, walking it if undefined length. */
function skipElementValue(c: Cursor, h: ElementHeader, syntax: Syntax, depth: number): number {
  if (h.length === UNDEFINED_LENGTH) return skipUndefinedLengthValue(c, h, syntax, depth);
  c.checkWithinLimit(h.valueOffset, h.length, h.tag);
  return h.valueOffset + h.length;
}

interface RawValue {
  keyword: string;
  tag: number;
  vr: string | undefined;
  bytes: Buffer;
}

interface WalkOutcome {
  stoppedAt: HeaderReadResult['stoppedAt'];
  pixelData?: HeaderReadResult['pixelData'];
}

/**
 * Walks the top-level elements, collecting raw values of the wanted tags into
 * `found`. Values are decoded later, once the character set is known.
 */
function walkTopLevel(c: Cursor, syntax: Syntax, wanted: ReadonlyMap<number, string>, found: RawValue[]): WalkOutcome {
  let pos = 0;
  try {
    while (pos < c.limit) {
      const h = readElementHeader(c, pos, syntax);
      if (h.tag === TAG.PixelData) return { stoppedAt: 'pixel-data', pixelData: pixelDataLocation(c, h) };
      if (isItemOrDelimiter(h.tag)) {
        throw new DicomParseError('item or delimiter tag at the top level of a dataset', { tag: h.tag, offset: pos });
      }
      const keyword = wanted.get(h.tag);
      if (keyword !== undefined && h.length !== UNDEFINED_LENGTH) {
        c.checkWithinLimit(h.valueOffset, h.length, h.tag);
        c.need(h.valueOffset, h.length, 'value', h.tag);
        const bytes = c.buf.subarray(h.valueOffset, h.valueOffset + h.length);
        // First occurrence wins if a (broken) dataset repeats a tag.
        if (!found.some((f) => f.tag === h.tag)) found.push({ keyword, tag: h.tag, vr: h.vr, bytes });
      }
      pos = skipElementValue(c, h, syntax, 0);
    }
  } catch (e) {
    if (e instanceof TruncatedSignal) return { stoppedAt: 'truncated' };
    throw e;
  }
  return { stoppedAt: 'end' };
}

function pixelDataLocation(c: Cursor, h: ElementHeader): NonNullable<HeaderReadResult['pixelData']> {
  if (h.length === UNDEFINED_LENGTH) return { offset: h.valueOffset, length: 'undefined' };
  c.checkWithinLimit(h.valueOffset, h.length, h.tag);
  return { offset: h.valueOffset, length: h.length };
}

/**
 * Reads selected top-level attributes from raw dataset bytes.
 *
 * `bytes` may be a head of the dataset: pass `totalLength` so that an element
 * crossing the end of `bytes` yields stoppedAt 'truncated' rather than an error.
 * Without `totalLength`, `bytes` is taken to be the whole dataset.
 */
export function readDatasetHeader(bytes: Buffer, transferSyntaxUid: string, opts: ReadDatasetOptions = {}): HeaderReadResult {
  const ts = transferSyntaxUid.replace(/[\0 ]+$/, '');
  const isHead = opts.totalLength !== undefined && opts.totalLength > bytes.length;
  if (opts.totalLength !== undefined && opts.totalLength < bytes.length) {
    throw new DicomParseError(`totalLength ${opts.totalLength} is smaller than the ${bytes.length} bytes given`);
  }

  const syntax = syntaxFor(ts);
  const tags = opts.tags ?? DEFAULT_HEADER_TAGS;
  const wanted = new Map<number, string>();
  for (const [keyword, tag] of Object.entries(tags)) wanted.set(tag >>> 0, keyword);
  // Always collect the character set: text values cannot be decoded without it.
  if (!wanted.has(TAG.SpecificCharacterSet)) wanted.set(TAG.SpecificCharacterSet, '');

  if (isDeflatedTransferSyntax(ts)) {
    return readDeflatedHeader(bytes, isHead, syntax, wanted, opts.maxHeaderBytes ?? DEFLATED_HEADER_MAX_BYTES);
  }
  const found: RawValue[] = [];
  const outcome = walkTopLevel(new Cursor(bytes, opts.totalLength ?? bytes.length), syntax, wanted, found);
  return buildResult(found, outcome, syntax);
}

/**
 * A deflated header is inflated from a growing prefix of the stream, and only as far as the
 * header: the walk stops at Pixel Data, so the pixels of a bomb are never inflated here. An
 * element whose end lies beyond `maxHeaderBytes` (a length of 0xFFFFFFF0, say) is refused at
 * once, without inflating up to it.
 */
function readDeflatedHeader(
  bytes: Buffer,
  isHead: boolean,
  syntax: Syntax,
  wanted: ReadonlyMap<number, string>,
  maxHeaderBytes: number,
): HeaderReadResult {
  let prefix = Math.min(bytes.length, FIRST_DEFLATED_PREFIX);
  for (;;) {
    const whole = prefix === bytes.length;
    const inflated = inflateHeaderPrefix(bytes.subarray(0, prefix), whole, isHead, maxHeaderBytes);
    // The inflated length of a partial stream is unknown, so anything past what
    // we could inflate is "not received yet".
    const cursor = new Cursor(inflated.data, inflated.complete ? inflated.data.length : Number.POSITIVE_INFINITY);
    const found: RawValue[] = [];
    const outcome = walkTopLevel(cursor, syntax, wanted, found);
    if (outcome.stoppedAt !== 'truncated') return buildResult(found, outcome, syntax);
    if (cursor.neededUpTo > maxHeaderBytes) {
      throw new InflateBudgetExceeded(
        `deflated data set header needs ${cursor.neededUpTo} inflated bytes, more than the ${formatBytes(maxHeaderBytes)} a header may take`,
        maxHeaderBytes,
      );
    }
    if (whole) return buildResult(found, outcome, syntax);
    prefix = Math.min(bytes.length, prefix * 4);
  }
}

function inflateHeaderPrefix(bytes: Buffer, whole: boolean, isHead: boolean, maxHeaderBytes: number) {
  try {
    return whole ? inflate(bytes, isHead, maxHeaderBytes) : inflatePrefix(bytes, maxHeaderBytes);
  } catch (e) {
    if (e instanceof InflateBudgetExceeded) {
      throw new InflateBudgetExceeded(
        `deflated data set header not complete within the first ${formatBytes(maxHeaderBytes)} inflated`,
        maxHeaderBytes,
      );
    }
    if (whole) throw e;
    // A prefix that is not deflate data: let the whole stream say why.
    return inflate(bytes, true, maxHeaderBytes);
  }
}

function buildResult(found: RawValue[], outcome: WalkOutcome, syntax: Syntax): HeaderReadResult {
  const charsetRaw = found.find((f) => f.tag === TAG.SpecificCharacterSet);
  const specificCharacterSet = charsetRaw ? trimPadding(charsetRaw.bytes.toString('latin1')) : undefined;
  const terms = specificCharacterSet !== undefined ? parseCharsetTerms(specificCharacterSet) : [];

  const attributes: Record<string, string> = {};
  for (const f of found) {
    if (f.keyword === '') continue; // collected only for decoding
    const value = decodeValue(f, syntax.littleEndian, terms);
    if (value !== undefined) attributes[f.keyword] = value;
  }
  const result: HeaderReadResult = { attributes, stoppedAt: outcome.stoppedAt };
  if (outcome.pixelData) result.pixelData = outcome.pixelData;
  if (specificCharacterSet !== undefined) result.specificCharacterSet = specificCharacterSet;
  return result;
}

// ---------------------------------------------------------------------------
// Value decoding
// ---------------------------------------------------------------------------

/** Picks the VR to decode with: the stream's, unless it is absent or UN. */
function effectiveVr(f: RawValue): string | undefined {
  if (f.vr !== undefined && f.vr !== 'UN') return f.vr;
  if ((f.tag & 0xffff) === 0) return 'UL'; // group length
  return DICTIONARY_VR.get(f.tag) ?? (f.vr === 'UN' ? 'UN' : undefined);
}

/** Decodes one collected value; undefined for binary VRs we do not render. */
function decodeValue(f: RawValue, littleEndian: boolean, charsetTerms: string[]): string | undefined {
  const vr = effectiveVr(f);
  const b = f.bytes;
  switch (vr) {
    case 'US':
      return b.length >= 2 ? String(littleEndian ? b.readUInt16LE(0) : b.readUInt16BE(0)) : '';
    case 'SS':
      return b.length >= 2 ? String(littleEndian ? b.readInt16LE(0) : b.readInt16BE(0)) : '';
    case 'UL':
      return b.length >= 4 ? String(littleEndian ? b.readUInt32LE(0) : b.readUInt32BE(0)) : '';
    case 'SL':
      return b.length >= 4 ? String(littleEndian ? b.readInt32LE(0) : b.readInt32BE(0)) : '';
    case 'UV':
      return b.length >= 8 ? String(littleEndian ? b.readBigUInt64LE(0) : b.readBigUInt64BE(0)) : '';
    case 'SV':
      return b.length >= 8 ? String(littleEndian ? b.readBigInt64LE(0) : b.readBigInt64BE(0)) : '';
    case 'FL':
      return b.length >= 4 ? String(littleEndian ? b.readFloatLE(0) : b.readFloatBE(0)) : '';
    case 'FD':
      return b.length >= 8 ? String(littleEndian ? b.readDoubleLE(0) : b.readDoubleBE(0)) : '';
    case 'UI':
      // UIDs are padded with NUL (sometimes space) and must not have leading spaces.
      return b.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
    default:
      break;
  }
  if (vr !== undefined && BINARY_VRS.has(vr)) return undefined;
  // Unknown VR (implicit VR, tag not in our dictionary): best guess is text.
  if (vr === undefined || CHARSET_VRS.has(vr)) return trimPadding(decodeText(b, charsetTerms));
  return trimPadding(b.toString('latin1'));
}

/** Exposed for callers that want to log a tag the same way errors do. */
export { formatTag };

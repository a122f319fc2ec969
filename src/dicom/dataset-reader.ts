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
import { TextDecoder } from 'node:util';
import { inflate } from './deflate';
import {
  ElementHeader,
  isItemOrDelimiter,
  MAX_SEQUENCE_DEPTH,
  readElementHeader as readElementHeaderAt,
  readTag as readTagAt,
  readU32,
  TAG_ITEM,
  TAG_ITEM_DELIMITATION,
  TAG_PIXEL_DATA,
  TAG_SEQUENCE_DELIMITATION,
  UNDEFINED_LENGTH,
} from './element-header';
import { DicomParseError, formatTag } from './errors';
import { IMPLICIT_LE, isDeflatedTransferSyntax, Syntax, syntaxFor } from './transfer-syntax';

export { DicomParseError } from './errors';
export { inflateDeflatedDataset } from './deflate';
export {
  isDeflatedTransferSyntax,
  TS_DEFLATED_LE,
  TS_EXPLICIT_BE,
  TS_EXPLICIT_LE,
  TS_IMPLICIT_LE,
  TS_JPIP_REFERENCED_DEFLATE,
} from './transfer-syntax';

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
}

/** Attributes extracted when the caller does not ask for specific tags. */
export const DEFAULT_HEADER_TAGS: Readonly<Record<string, number>> = Object.freeze({
  SpecificCharacterSet: 0x00080005,
  SOPClassUID: 0x00080016,
  SOPInstanceUID: 0x00080018,
  StudyDate: 0x00080020,
  StudyTime: 0x00080030,
  AccessionNumber: 0x00080050,
  Modality: 0x00080060,
  Manufacturer: 0x00080070,
  StudyDescription: 0x00081030,
  SeriesDescription: 0x0008103e,
  PatientName: 0x00100010,
  PatientID: 0x00100020,
  PatientBirthDate: 0x00100030,
  PatientSex: 0x00100040,
  BodyPartExamined: 0x00180015,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
  SeriesNumber: 0x00200011,
  InstanceNumber: 0x00200013,
  NumberOfFrames: 0x00280008,
  Rows: 0x00280010,
  Columns: 0x00280011,
  BitsAllocated: 0x00280100,
});

const TAG_SPECIFIC_CHARACTER_SET = 0x00080005;

/** VRs whose values are subject to (0008,0005); the rest are plain ASCII. */
const CHARSET_VRS = new Set(['PN', 'LO', 'SH', 'ST', 'LT', 'UT', 'UC']);
/** Binary VRs we never turn into a string. */
const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UN', 'AT']);

/**
 * VRs of the tags we are likely to be asked for, used for implicit VR (where
 * the stream carries no VR) and for explicit 'UN' elements.
 */
const DICTIONARY_VR: ReadonlyMap<number, string> = new Map([
  [0x00080005, 'CS'],
  [0x00080008, 'CS'],
  [0x00080012, 'DA'],
  [0x00080013, 'TM'],
  [0x00080016, 'UI'],
  [0x00080018, 'UI'],
  [0x00080020, 'DA'],
  [0x00080021, 'DA'],
  [0x00080022, 'DA'],
  [0x00080023, 'DA'],
  [0x00080030, 'TM'],
  [0x00080031, 'TM'],
  [0x00080032, 'TM'],
  [0x00080033, 'TM'],
  [0x00080050, 'SH'],
  [0x00080060, 'CS'],
  [0x00080070, 'LO'],
  [0x00080080, 'LO'],
  [0x00080090, 'PN'],
  [0x00081010, 'SH'],
  [0x00081030, 'LO'],
  [0x0008103e, 'LO'],
  [0x00081090, 'LO'],
  [0x00100010, 'PN'],
  [0x00100020, 'LO'],
  [0x00100030, 'DA'],
  [0x00100040, 'CS'],
  [0x00101010, 'AS'],
  [0x00180015, 'CS'],
  [0x00180050, 'DS'],
  [0x00181030, 'LO'],
  [0x0020000d, 'UI'],
  [0x0020000e, 'UI'],
  [0x00200010, 'SH'],
  [0x00200011, 'IS'],
  [0x00200012, 'IS'],
  [0x00200013, 'IS'],
  [0x00200032, 'DS'],
  [0x00200037, 'DS'],
  [0x00200052, 'UI'],
  [0x00280002, 'US'],
  [0x00280004, 'CS'],
  [0x00280008, 'IS'],
  [0x00280010, 'US'],
  [0x00280011, 'US'],
  [0x00280030, 'DS'],
  [0x00280100, 'US'],
  [0x00280101, 'US'],
  [0x00280102, 'US'],
  [0x00280103, 'US'],
]);

/** Internal signal: the data we need lies beyond `bytes` but within the dataset. */
class TruncatedSignal {}
const TRUNCATED = new TruncatedSignal();

/**
 * Bounds-checked view over the dataset bytes. `limit` is the real dataset
 * length: reading past `buf.length` but not past `limit` means "we only have a
 * head" (truncated), reading past `limit` means the encoding is impossible.
 */
class Cursor {
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
    if (tag === TAG_SEQUENCE_DELIMITATION) return pos + 8;
    if (tag !== TAG_ITEM) {
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
    if (h.tag === TAG_ITEM_DELIMITATION) return h.valueOffset;
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
      if (h.tag === TAG_PIXEL_DATA) return { stoppedAt: 'pixel-data', pixelData: pixelDataLocation(c, h) };
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

  let cursor: Cursor;
  if (isDeflatedTransferSyntax(ts)) {
    const inflated = inflate(bytes, isHead);
    // The inflated length of a partial stream is unknown, so anything past what
    // we could inflate is "not received yet".
    cursor = new Cursor(inflated.data, inflated.complete ? inflated.data.length : Number.POSITIVE_INFINITY);
  } else {
    cursor = new Cursor(bytes, opts.totalLength ?? bytes.length);
  }

  const syntax = syntaxFor(ts);
  const tags = opts.tags ?? DEFAULT_HEADER_TAGS;
  const wanted = new Map<number, string>();
  for (const [keyword, tag] of Object.entries(tags)) wanted.set(tag >>> 0, keyword);
  // Always collect the character set: text values cannot be decoded without it.
  if (!wanted.has(TAG_SPECIFIC_CHARACTER_SET)) wanted.set(TAG_SPECIFIC_CHARACTER_SET, '');

  const found: RawValue[] = [];
  const outcome = walkTopLevel(cursor, syntax, wanted, found);
  return buildResult(found, outcome, syntax);
}

function buildResult(found: RawValue[], outcome: WalkOutcome, syntax: Syntax): HeaderReadResult {
  const charsetRaw = found.find((f) => f.tag === TAG_SPECIFIC_CHARACTER_SET);
  const specificCharacterSet = charsetRaw ? trimTrailing(charsetRaw.bytes.toString('latin1')) : undefined;
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

function trimTrailing(s: string): string {
  return s.replace(/[ \0]+$/, '');
}

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
  if (vr === undefined || CHARSET_VRS.has(vr)) return trimTrailing(decodeText(b, charsetTerms));
  return trimTrailing(b.toString('latin1'));
}

// ---------------------------------------------------------------------------
// Specific Character Set handling
// ---------------------------------------------------------------------------

/**
 * Splits (0008,0005) into its values and normalises common misspellings
 * ("ISO-IR 100", "ISO IR 100", "ISO_IR100") to the defined terms.
 */
function parseCharsetTerms(value: string): string[] {
  return value.split('\\').map((term) => {
    const t = term.trim().toUpperCase();
    const m = /^ISO[ _-]?IR[ _-]?(\d+)$/.exec(t);
    return m ? `ISO_IR ${m[1]}` : t;
  });
}

/** Single-byte-per-term (non code-extension) defined terms -> WHATWG labels. */
const DIRECT_ENCODINGS: Readonly<Record<string, string>> = {
  'ISO_IR 6': 'latin1',
  'ISO_IR 100': 'latin1',
  'ISO_IR 101': 'iso-8859-2',
  'ISO_IR 109': 'iso-8859-3',
  'ISO_IR 110': 'iso-8859-4',
  'ISO_IR 144': 'iso-8859-5',
  'ISO_IR 127': 'iso-8859-6',
  'ISO_IR 126': 'iso-8859-7',
  'ISO_IR 138': 'iso-8859-8',
  'ISO_IR 148': 'iso-8859-9',
  'ISO_IR 203': 'iso-8859-15',
  'ISO_IR 166': 'windows-874', // TIS 620-2533; WHATWG maps tis-620 to windows-874
  'ISO_IR 13': 'shift_jis', // JIS X 0201 in both halves: a subset of Shift_JIS
  'ISO_IR 192': 'utf-8',
  GB18030: 'gb18030',
  GBK: 'gbk',
};

const decoderCache = new Map<string, TextDecoder>();

/**
 * Decodes bytes in a WHATWG encoding. 'latin1' is special-cased to true
 * ISO 8859-1 because WHATWG aliases latin1 to windows-1252.
 */
function decodeWith(label: string, bytes: Uint8Array): string {
  if (label === 'latin1') return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  let decoder = decoderCache.get(label);
  if (decoder === undefined) {
    decoder = new TextDecoder(label);
    decoderCache.set(label, decoder);
  }
  return decoder.decode(bytes);
}

/**
 * Decodes a charset-affected text value.
 *
 * Single-valued, non code-extension terms map straight to a decoder. Anything
 * using ISO 2022 code extensions ("ISO 2022 IR nnn", usually multi-valued like
 * "\ISO 2022 IR 87") goes through decodeIso2022, which honours the escape
 * sequences in the value. Unknown terms fall back to latin1 (best effort; we
 * would rather index a slightly wrong name than reject the object).
 */
function decodeText(bytes: Buffer, terms: string[]): string {
  if (bytes.length === 0) return '';
  const first = terms[0] ?? '';
  if (!terms.some((t) => t.startsWith('ISO 2022'))) {
    return decodeWith(DIRECT_ENCODINGS[first] ?? 'latin1', bytes);
  }
  return decodeIso2022(bytes, first);
}

/**
 * One ISO 2022 graphic character set that DICOM allows, designated into G0
 * (7-bit bytes) or G1 (8-bit bytes, invoked into GR).
 */
interface CodeElement {
  plane: 'G0' | 'G1';
  /** Bytes following ESC in the designating escape sequence. */
  escape: string;
  decode: (bytes: Uint8Array) => string;
}

/** JIS X 0208 (ISO IR 87) 7-bit bytes -> EUC-JP by setting the high bit. */
function decodeJisX0208(bytes: Uint8Array): string {
  const euc = Uint8Array.from(bytes, (b) => (b >= 0x21 && b <= 0x7e ? b | 0x80 : b));
  return decodeWith('euc-jp', euc);
}

/** JIS X 0212 (ISO IR 159) 7-bit pairs -> EUC-JP code set 3 (0x8F prefix). */
function decodeJisX0212(bytes: Uint8Array): string {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    const next = bytes[i + 1];
    if (b >= 0x21 && b <= 0x7e && next !== undefined && next >= 0x21 && next <= 0x7e) {
      out.push(0x8f, b | 0x80, next | 0x80);
      i++;
    } else {
      out.push(b);
    }
  }
  return decodeWith('euc-jp', Uint8Array.from(out));
}

const single = (label: string) => (bytes: Uint8Array) => decodeWith(label, bytes);

/** The code elements of PS3.3 C.12.1.1.2 (Tables C.12-3/4/5). */
const CODE_ELEMENTS: Readonly<Record<string, CodeElement>> = {
  'IR 6': { plane: 'G0', escape: '(B', decode: single('latin1') },
  'IR 14': { plane: 'G0', escape: '(J', decode: single('shift_jis') },
  'IR 87': { plane: 'G0', escape: '$B', decode: decodeJisX0208 },
  // Not a DICOM defined term, but older Japanese systems designate JIS X 0208
  // with the 1978 escape "ESC $ @"; the code points are compatible enough.
  'IR 42': { plane: 'G0', escape: '$@', decode: decodeJisX0208 },
  'IR 159': { plane: 'G0', escape: '$(D', decode: decodeJisX0212 },
  'IR 13': { plane: 'G1', escape: ')I', decode: single('shift_jis') },
  'IR 149': { plane: 'G1', escape: '$)C', decode: single('euc-kr') },
  'IR 58': { plane: 'G1', escape: '$)A', decode: single('gb18030') },
  'IR 100': { plane: 'G1', escape: '-A', decode: single('latin1') },
  'IR 101': { plane: 'G1', escape: '-B', decode: single('iso-8859-2') },
  'IR 109': { plane: 'G1', escape: '-C', decode: single('iso-8859-3') },
  'IR 110': { plane: 'G1', escape: '-D', decode: single('iso-8859-4') },
  'IR 144': { plane: 'G1', escape: '-L', decode: single('iso-8859-5') },
  'IR 127': { plane: 'G1', escape: '-G', decode: single('iso-8859-6') },
  'IR 126': { plane: 'G1', escape: '-F', decode: single('iso-8859-7') },
  'IR 138': { plane: 'G1', escape: '-H', decode: single('iso-8859-8') },
  'IR 148': { plane: 'G1', escape: '-M', decode: single('iso-8859-9') },
  'IR 203': { plane: 'G1', escape: '-b', decode: single('iso-8859-15') },
  'IR 166': { plane: 'G1', escape: '-T', decode: single('windows-874') },
};

const ESCAPES: ReadonlyArray<[string, CodeElement]> = Object.values(CODE_ELEMENTS)
  .map((ce): [string, CodeElement] => [ce.escape, ce])
  // Longest first so "$(D" is not mistaken for a shorter sequence.
  .sort((a, b) => b[0].length - a[0].length);

/**
 * Initial G0/G1 designations implied by value 1 of (0008,0005) (PS3.5 6.1.2.5.1):
 * G0 is ASCII except for ISO 2022 IR 13 (JIS X 0201 Romaji); G1 is the
 * 8-bit half of value 1, if any.
 */
function initialDesignations(firstTerm: string): { g0: CodeElement; g1?: CodeElement } {
  const ascii = CODE_ELEMENTS['IR 6'] as CodeElement;
  const m = /^(?:ISO 2022 |ISO_)(IR \d+)$/.exec(firstTerm);
  const ce = m ? CODE_ELEMENTS[m[1] as string] : undefined;
  if (ce === undefined) return { g0: ascii };
  if (m?.[1] === 'IR 13') return { g0: CODE_ELEMENTS['IR 14'] as CodeElement, g1: ce };
  return ce.plane === 'G1' ? { g0: ascii, g1: ce } : { g0: ascii };
}

/**
 * Decodes a value that uses ISO 2022 code extensions: bytes are split into runs
 * by escape sequences and by plane (7-bit -> G0, 8-bit -> G1) and each run is
 * decoded with the currently designated set.
 *
 * Limitations (best effort): designations are not reset at value/component
 * delimiters - conformant writers switch back explicitly before them, as
 * PS3.5 6.1.2.5.3 requires; unknown escape sequences are dropped; 8-bit bytes
 * with no G1 designation are read as latin1.
 */
function decodeIso2022(bytes: Buffer, firstTerm: string): string {
  const initial = initialDesignations(firstTerm);
  let g0 = initial.g0;
  let g1 = initial.g1;
  let out = '';
  let runStart = 0;
  let runHigh = false;

  const flush = (end: number): void => {
    if (end <= runStart) return;
    const run = bytes.subarray(runStart, end);
    if (!runHigh) out += g0.decode(run);
    else out += g1 ? g1.decode(run) : decodeWith('latin1', run);
  };

  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    if (b === 0x1b) {
      flush(i);
      const match = ESCAPES.find(([esc]) => bytes.toString('latin1', i + 1, i + 1 + esc.length) === esc);
      if (match) {
        if (match[1].plane === 'G0') g0 = match[1];
        else g1 = match[1];
        i += 1 + match[0].length;
      } else {
        i = skipUnknownEscape(bytes, i);
      }
      runStart = i;
      continue;
    }
    const high = b >= 0x80;
    if (high !== runHigh) {
      flush(i);
      runStart = i;
      runHigh = high;
    }
    i++;
  }
  flush(bytes.length);
  return out;
}

/**
 * Skips an unrecognised ISO 2022 escape sequence (ESC, intermediate bytes
 * 0x20-0x2F, one final byte 0x30-0x7E) so its bytes do not show up as text.
 */
function skipUnknownEscape(bytes: Buffer, escOffset: number): number {
  let j = escOffset + 1;
  while (j < bytes.length && (bytes[j] as number) >= 0x20 && (bytes[j] as number) <= 0x2f) j++;
  if (j < bytes.length && (bytes[j] as number) >= 0x30 && (bytes[j] as number) <= 0x7e) j++;
  return j;
}

/** Exposed for callers that want to log a tag the same way errors do. */
export { formatTag };

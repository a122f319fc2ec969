/**
 * The low-level part of reading a data set that every reader shares: tags, VR tables, the
 * item/delimiter tags and the element header (tag, VR when explicit, length) of PS3.5 7.1.
 *
 * How a reader reacts to bytes that are not there differs (the header reader of ingest works on
 * a head of a data set and stops quietly, the structural parser throws), so bounds checks are the
 * caller's, through the `ensure` callback.
 */
import { DicomParseError } from './errors';
import { Syntax } from './transfer-syntax';

export const UNDEFINED_LENGTH = 0xffffffff;
/** Nesting bound so hostile input cannot exhaust the stack. */
export const MAX_SEQUENCE_DEPTH = 64;

/** VRs whose explicit-VR header has 2 reserved bytes and a 32-bit length (PS3.5 7.1.2). */
export const LONG_VRS: ReadonlySet<string> = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
/** VRs whose explicit-VR header has a 16-bit length. */
export const SHORT_VRS: ReadonlySet<string> = new Set([
  'AE',
  'AS',
  'AT',
  'CS',
  'DA',
  'DS',
  'DT',
  'FD',
  'FL',
  'IS',
  'LO',
  'LT',
  'PN',
  'SH',
  'SL',
  'SS',
  'ST',
  'TM',
  'UI',
  'UL',
  'US',
]);

export function isKnownVr(vr: string): boolean {
  return LONG_VRS.has(vr) || SHORT_VRS.has(vr);
}

/** Reads a tag (group << 16 | element) at `pos`. */
export function readTag(buf: Buffer, pos: number, littleEndian: boolean): number {
  const group = littleEndian ? buf.readUInt16LE(pos) : buf.readUInt16BE(pos);
  const element = littleEndian ? buf.readUInt16LE(pos + 2) : buf.readUInt16BE(pos + 2);
  return ((group << 16) | element) >>> 0;
}

export function readU32(buf: Buffer, pos: number, littleEndian: boolean): number {
  return littleEndian ? buf.readUInt32LE(pos) : buf.readUInt32BE(pos);
}

export function isItemOrDelimiter(tag: number): boolean {
  return tag >>> 16 === 0xfffe;
}

export interface ElementHeader {
  tag: number;
  /** VR from the stream (explicit VR only; never for item/delimiter tags). */
  vr?: string;
  /** Value length as written; UNDEFINED_LENGTH for undefined length. */
  length: number;
  /** Offset of the element's first byte. */
  offset: number;
  valueOffset: number;
}

/**
 * Parses the element header at `pos`. `ensure(n, tag)` must throw (or signal) unless bytes
 * [pos, pos + n) are available; it is called with 8 before anything is read and with 12 before
 * the length of a long-VR header. Throws DicomParseError on a VR that is not one of PS3.5.
 */
export function readElementHeader(buf: Buffer, pos: number, syntax: Syntax, ensure: (n: number, tag?: number) => void): ElementHeader {
  ensure(8);
  const le = syntax.littleEndian;
  const tag = readTag(buf, pos, le);
  // Items and delimiters never carry a VR, whatever the transfer syntax.
  if (!syntax.explicit || isItemOrDelimiter(tag)) {
    return { tag, length: readU32(buf, pos + 4, le), offset: pos, valueOffset: pos + 8 };
  }
  const b0 = buf[pos + 4] as number;
  const b1 = buf[pos + 5] as number;
  const vr = String.fromCharCode(b0, b1);
  if (LONG_VRS.has(vr)) {
    ensure(12, tag);
    return { tag, vr, length: readU32(buf, pos + 8, le), offset: pos, valueOffset: pos + 12 };
  }
  if (SHORT_VRS.has(vr)) {
    return { tag, vr, length: le ? buf.readUInt16LE(pos + 6) : buf.readUInt16BE(pos + 6), offset: pos, valueOffset: pos + 8 };
  }
  const hex = (b: number): string => `0x${b.toString(16).padStart(2, '0')}`;
  throw new DicomParseError(`invalid VR bytes ${hex(b0)} ${hex(b1)} in explicit VR dataset`, { tag, offset: pos });
}

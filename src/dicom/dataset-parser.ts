/**
 * Structural parser for a whole DICOM data set (the bytes after the File Meta Information), used
 * by the de-identifier to edit at element level.
 *
 * It records, for every element, where its bytes lie in the source buffer instead of decoding
 * values: the writer re-emits untouched elements from those byte ranges, which is what keeps
 * character sets, DS/IS spellings, padding and pixel data exactly as they came.
 *
 * Supported encodings: implicit VR LE, explicit VR LE, explicit VR BE (deflate is undone by the
 * caller). Sequences of defined and undefined length with items of either kind are walked;
 * undefined-length UN elements are read as implicit VR LE sequences (CP-246); encapsulated pixel
 * data is skipped over (its fragments are never looked at) and copied as is.
 *
 * Errors are DicomParseError and carry tags, offsets and lengths only, never values.
 */
import { DicomParseError } from '../dicom/errors';
import { isSequenceTag } from './profile-table';

export interface Syntax {
  explicit: boolean;
  littleEndian: boolean;
}

export const IMPLICIT_LE: Syntax = { explicit: false, littleEndian: true };
export const EXPLICIT_LE: Syntax = { explicit: true, littleEndian: true };
export const EXPLICIT_BE: Syntax = { explicit: true, littleEndian: false };

export const TAG_ITEM = 0xfffee000;
export const TAG_ITEM_DELIMITATION = 0xfffee00d;
export const TAG_SEQUENCE_DELIMITATION = 0xfffee0dd;
export const UNDEFINED_LENGTH = 0xffffffff;
const TAG_PIXEL_DATA = 0x7fe00010;
/** Nesting bound so hostile input cannot exhaust the stack. */
const MAX_DEPTH = 64;

/** VRs whose explicit-VR header has 2 reserved bytes and a 32-bit length (PS3.5 7.1.2). */
export const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const SHORT_VRS = new Set([
  'AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FD', 'FL', 'IS', 'LO', 'LT',
  'PN', 'SH', 'SL', 'SS', 'ST', 'TM', 'UI', 'UL', 'US',
]);

export interface ParsedElement {
  tag: number;
  /** VR as written in the stream; undefined in implicit VR. */
  vr: string | undefined;
  /** Byte range of the whole element (header, value, and delimiters) in the parsed buffer. */
  start: number;
  end: number;
  valueOffset: number;
  /** Value length as written; UNDEFINED_LENGTH for undefined length. */
  length: number;
  /** Present when the value was parsed as a sequence. */
  items?: ParsedItem[];
  /** Encoding of the items (implicit VR LE for UN-wrapped sequences). */
  itemSyntax?: Syntax;
  /** Encapsulated (fragmented) value, copied as raw bytes. */
  encapsulated?: boolean;
}

export interface ParsedItem {
  /** From the item tag to the end of its delimiter (if any). */
  start: number;
  end: number;
  undefinedLength: boolean;
  elements: ParsedElement[];
}

export interface ParsedDataSet {
  buf: Buffer;
  syntax: Syntax;
  elements: ParsedElement[];
}

/** Parses a complete data set. Throws DicomParseError on any structural problem. */
export function parseDataSet(buf: Buffer, syntax: Syntax): ParsedDataSet {
  const p = new Parser(buf);
  const { elements, end } = p.elements(0, buf.length, syntax, 0, false);
  if (end !== buf.length) throw new DicomParseError('data set ends inside an element', { offset: end });
  return { buf, syntax, elements };
}

/** Reads a tag (group, element) at `pos`. */
export function readTag(buf: Buffer, pos: number, le: boolean): number {
  const g = le ? buf.readUInt16LE(pos) : buf.readUInt16BE(pos);
  const e = le ? buf.readUInt16LE(pos + 2) : buf.readUInt16BE(pos + 2);
  return ((g << 16) | e) >>> 0;
}

class Parser {
  constructor(private readonly buf: Buffer) {}

  private need(pos: number, n: number, limit: number, what: string, tag?: number): void {
    if (pos + n > limit || pos + n > this.buf.length) {
      throw new DicomParseError(`${what} of ${n} bytes runs past the end of its container (ends at ${limit})`, {
        tag,
        offset: pos,
      });
    }
  }

  private u32(pos: number, le: boolean): number {
    return le ? this.buf.readUInt32LE(pos) : this.buf.readUInt32BE(pos);
  }

  /**
   * Parses elements from `pos` up to `limit`, or - when `untilItemDelimiter` - up to and including
   * an Item Delimitation Item. Returns the elements and the offset after the last byte consumed.
   */
  elements(
    pos: number,
    limit: number,
    syntax: Syntax,
    depth: number,
    untilItemDelimiter: boolean,
  ): { elements: ParsedElement[]; end: number } {
    const out: ParsedElement[] = [];
    while (pos < limit) {
      this.need(pos, 8, limit, 'element header');
      const tag = readTag(this.buf, pos, syntax.littleEndian);
      if (tag === TAG_ITEM_DELIMITATION) {
        if (!untilItemDelimiter) throw new DicomParseError('item delimiter outside an item of undefined length', { tag, offset: pos });
        return { elements: out, end: pos + 8 };
      }
      if (tag >>> 16 === 0xfffe) {
        throw new DicomParseError('item or sequence delimiter where an element was expected', { tag, offset: pos });
      }
      const el = this.element(pos, limit, tag, syntax, depth);
      out.push(el);
      pos = el.end;
    }
    if (untilItemDelimiter) throw new DicomParseError('item of undefined length has no item delimiter', { offset: pos });
    return { elements: out, end: pos };
  }

  private element(pos: number, limit: number, tag: number, syntax: Syntax, depth: number): ParsedElement {
    const le = syntax.littleEndian;
    let vr: string | undefined;
    let length: number;
    let valueOffset: number;
    if (syntax.explicit) {
      vr = String.fromCharCode(this.buf[pos + 4] as number, this.buf[pos + 5] as number);
      if (LONG_VRS.has(vr)) {
        this.need(pos, 12, limit, 'element header', tag);
        length = this.u32(pos + 8, le);
        valueOffset = pos + 12;
      } else if (SHORT_VRS.has(vr)) {
        length = le ? this.buf.readUInt16LE(pos + 6) : this.buf.readUInt16BE(pos + 6);
        valueOffset = pos + 8;
      } else {
        throw new DicomParseError('invalid VR bytes in explicit VR data set', { tag, offset: pos });
      }
    } else {
      length = this.u32(pos + 4, le);
      valueOffset = pos + 8;
    }
    const el: ParsedElement = { tag, vr, start: pos, end: 0, valueOffset, length };

    if (length === UNDEFINED_LENGTH) {
      const encapsulated =
        (syntax.explicit && (vr === 'OB' || vr === 'OW')) || (!syntax.explicit && tag === TAG_PIXEL_DATA);
      if (encapsulated) {
        el.encapsulated = true;
        el.end = this.skipFragments(valueOffset, limit, syntax, tag);
        return el;
      }
      if (syntax.explicit && vr !== 'SQ' && vr !== 'UN') {
        throw new DicomParseError('undefined length on an element that cannot be a sequence', { tag, offset: pos });
      }
      // CP-246: an undefined-length UN is a sequence encoded in implicit VR LE.
      const itemSyntax = vr === 'UN' ? IMPLICIT_LE : syntax;
      const r = this.items(valueOffset, limit, itemSyntax, depth + 1, true, tag);
      el.items = r.items;
      el.itemSyntax = itemSyntax;
      el.end = r.end;
      return el;
    }

    if (valueOffset + length > limit) {
      throw new DicomParseError(`value length ${length} runs past the end of its container (ends at ${limit})`, {
        tag,
        offset: pos,
      });
    }
    el.end = valueOffset + length;
    if (vr === 'SQ') {
      const r = this.items(valueOffset, el.end, syntax, depth + 1, false, tag);
      el.items = r.items;
      el.itemSyntax = syntax;
      return el;
    }
    // Implicit VR (or a standard sequence that a sender wrote as UN): the dictionary tells us it is
    // a sequence; a value that merely starts like an item is tried too, because an unknown
    // sequence left opaque could hide identifying attributes. Only the heuristic case may fail
    // back to opaque bytes.
    // Pixel, overlay and waveform data are never sequences, whatever their first bytes look like.
    const group = tag >>> 16;
    const bulk = group === 0x7fe0 || (group & 0xff00) === 0x6000 || group === 0x5400;
    const maybeSequence = (vr === undefined || vr === 'UN') && !bulk;
    if (maybeSequence && length > 0) {
      const itemSyntax = vr === 'UN' ? IMPLICIT_LE : syntax;
      const known = isSequenceTag(tag);
      const looksLikeItem =
        length >= 8 && readTag(this.buf, valueOffset, itemSyntax.littleEndian) === TAG_ITEM;
      if (known || looksLikeItem) {
        try {
          const r = this.items(valueOffset, el.end, itemSyntax, depth + 1, false, tag);
          el.items = r.items;
          el.itemSyntax = itemSyntax;
        } catch (e) {
          if (known && vr === undefined) throw e;
        }
      }
    }
    return el;
  }

  /** Parses the items of a sequence value. */
  private items(
    pos: number,
    limit: number,
    syntax: Syntax,
    depth: number,
    undefinedLength: boolean,
    seqTag: number,
  ): { items: ParsedItem[]; end: number } {
    if (depth > MAX_DEPTH) throw new DicomParseError(`sequences nested deeper than ${MAX_DEPTH} levels`, { tag: seqTag, offset: pos });
    const items: ParsedItem[] = [];
    for (;;) {
      if (!undefinedLength && pos === limit) return { items, end: pos };
      this.need(pos, 8, limit, 'item header', seqTag);
      const tag = readTag(this.buf, pos, syntax.littleEndian);
      const length = this.u32(pos + 4, syntax.littleEndian);
      if (tag === TAG_SEQUENCE_DELIMITATION) {
        if (!undefinedLength) throw new DicomParseError('sequence delimiter in a sequence of defined length', { tag: seqTag, offset: pos });
        return { items, end: pos + 8 };
      }
      if (tag !== TAG_ITEM) throw new DicomParseError('expected an item inside a sequence', { tag: seqTag, offset: pos });
      if (length === UNDEFINED_LENGTH) {
        const r = this.elements(pos + 8, limit, syntax, depth, true);
        items.push({ start: pos, end: r.end, undefinedLength: true, elements: r.elements });
        pos = r.end;
      } else {
        const itemEnd = pos + 8 + length;
        if (itemEnd > limit) throw new DicomParseError(`item length ${length} runs past the end of its sequence`, { tag: seqTag, offset: pos });
        const r = this.elements(pos + 8, itemEnd, syntax, depth, false);
        items.push({ start: pos, end: itemEnd, undefinedLength: false, elements: r.elements });
        pos = itemEnd;
      }
    }
  }

  /** Walks encapsulated fragments (defined-length items) to the sequence delimiter. */
  private skipFragments(pos: number, limit: number, syntax: Syntax, tag: number): number {
    for (;;) {
      this.need(pos, 8, limit, 'fragment header', tag);
      const itemTag = readTag(this.buf, pos, syntax.littleEndian);
      const length = this.u32(pos + 4, syntax.littleEndian);
      if (itemTag === TAG_SEQUENCE_DELIMITATION) return pos + 8;
      if (itemTag !== TAG_ITEM || length === UNDEFINED_LENGTH) {
        throw new DicomParseError('malformed encapsulated pixel data fragment', { tag, offset: pos });
      }
      if (pos + 8 + length > limit) throw new DicomParseError(`fragment length ${length} runs past the end of the data`, { tag, offset: pos });
      pos += 8 + length;
    }
  }
}

/** The raw value bytes of a defined-length element. */
export function valueBytes(buf: Buffer, el: ParsedElement): Buffer {
  if (el.length === UNDEFINED_LENGTH) return buf.subarray(el.valueOffset, el.end);
  return buf.subarray(el.valueOffset, el.valueOffset + el.length);
}

/**
 * Structural parser for a whole DICOM data set (the bytes after the File Meta Information): the
 * one tree parser of the project. De-identification edits at element level on its tree, pixel
 * decoding (src/imaging/dataset.ts) builds its tag -> element view from it.
 *
 * It records, for every element, where its bytes lie in the source buffer instead of decoding
 * values: the de-identifier's writer re-emits untouched elements from those byte ranges, which is
 * what keeps character sets, DS/IS spellings, padding and pixel data exactly as they came.
 *
 * Supported encodings: implicit VR LE, explicit VR LE, explicit VR BE (deflate is undone by the
 * caller, see deflate.ts). Sequences of defined and undefined length with items of either kind are
 * walked; undefined-length UN elements are read as implicit VR LE sequences (CP-246); the
 * fragments of encapsulated pixel data are located (by item length) but never looked into.
 *
 * Errors are DicomParseError and carry tags, offsets and lengths only, never values.
 *
 * Why ingest's header reader (dataset-reader.ts) is not built on this: it must work on a head of a
 * data set and stop quietly where the bytes end; it shares the element header reading instead.
 */
import { DicomParseError } from './errors';
import { MAX_SEQUENCE_DEPTH, readElementHeader, readTag, readU32, UNDEFINED_LENGTH } from './element-header';
import { IMPLICIT_LE, Syntax } from './transfer-syntax';
import { TAG } from './tags';

export { EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE, Syntax } from './transfer-syntax';
export { LONG_VRS, UNDEFINED_LENGTH, readTag } from './element-header';

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
  /** Encapsulated (fragmented) value; copied as raw bytes by the de-identifier. */
  encapsulated?: boolean;
  /** With `encapsulated`: the item values (views into the buffer), Basic Offset Table first. */
  fragments?: Buffer[];
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

export interface ParseOptions {
  /**
   * True for tags the dictionary defines as sequences: in implicit VR (or sent as UN) their
   * values are parsed as items, and in implicit VR a value that does not parse is an error.
   */
  isSequenceTag?: (tag: number) => boolean;
  /**
   * Tolerate what pixel decoding can live with and de-identification cannot (it must re-emit
   * every byte): trailing bytes shorter than an element header, encapsulated pixel data whose
   * delimiter is missing at the end of the data, and undefined length on an explicit VR that is
   * not SQ/UN/OB/OW (read as a sequence).
   */
  lenient?: boolean;
}

/** Parses a complete data set. Throws DicomParseError on any structural problem. */
export function parseDataSet(buf: Buffer, syntax: Syntax, opts: ParseOptions = {}): ParsedDataSet {
  const p = new Parser(buf, opts);
  const { elements, end } = p.elements(0, buf.length, syntax, 0, false);
  if (end !== buf.length) throw new DicomParseError('data set ends inside an element', { offset: end });
  return { buf, syntax, elements };
}

class Parser {
  private readonly isSequenceTag: (tag: number) => boolean;
  private readonly lenient: boolean;

  constructor(
    private readonly buf: Buffer,
    opts: ParseOptions,
  ) {
    this.isSequenceTag = opts.isSequenceTag ?? (() => false);
    this.lenient = opts.lenient ?? false;
  }

  private need(pos: number, n: number, limit: number, what: string, tag?: number): void {
    if (pos + n > limit || pos + n > this.buf.length) {
      throw new DicomParseError(`${what} of ${n} bytes runs past the end of its container (ends at ${limit})`, {
        tag,
        offset: pos,
      });
    }
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
      // Trailing padding shorter than an element header (seen in the wild).
      if (this.lenient && !untilItemDelimiter && pos + 8 > limit) return { elements: out, end: limit };
      const start = pos;
      const h = readElementHeader(this.buf, pos, syntax, (n, t) => this.need(start, n, limit, 'element header', t));
      if (h.tag === TAG.ItemDelimitationItem) {
        if (!untilItemDelimiter)
          throw new DicomParseError('item delimiter outside an item of undefined length', { tag: h.tag, offset: pos });
        return { elements: out, end: pos + 8 };
      }
      if (h.tag >>> 16 === 0xfffe) {
        throw new DicomParseError('item or sequence delimiter where an element was expected', { tag: h.tag, offset: pos });
      }
      const el = this.element(h.tag, h.vr, h.length, pos, h.valueOffset, limit, syntax, depth);
      out.push(el);
      pos = el.end;
    }
    if (untilItemDelimiter) throw new DicomParseError('item of undefined length has no item delimiter', { offset: pos });
    return { elements: out, end: pos };
  }

  private element(
    tag: number,
    vr: string | undefined,
    length: number,
    pos: number,
    valueOffset: number,
    limit: number,
    syntax: Syntax,
    depth: number,
  ): ParsedElement {
    const el: ParsedElement = { tag, vr, start: pos, end: 0, valueOffset, length };

    if (length === UNDEFINED_LENGTH) {
      const encapsulated = (syntax.explicit && (vr === 'OB' || vr === 'OW')) || (!syntax.explicit && tag === TAG.PixelData);
      if (encapsulated) {
        el.encapsulated = true;
        const r = this.fragments(valueOffset, limit, syntax, tag);
        el.fragments = r.fragments;
        el.end = r.end;
        return el;
      }
      if (syntax.explicit && vr !== 'SQ' && vr !== 'UN' && !this.lenient) {
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
      const known = this.isSequenceTag(tag);
      const looksLikeItem = length >= 8 && readTag(this.buf, valueOffset, itemSyntax.littleEndian) === TAG.Item;
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
    if (depth > MAX_SEQUENCE_DEPTH) {
      throw new DicomParseError(`sequences nested deeper than ${MAX_SEQUENCE_DEPTH} levels`, { tag: seqTag, offset: pos });
    }
    const items: ParsedItem[] = [];
    for (;;) {
      if (!undefinedLength && pos === limit) return { items, end: pos };
      this.need(pos, 8, limit, 'item header', seqTag);
      const tag = readTag(this.buf, pos, syntax.littleEndian);
      const length = readU32(this.buf, pos + 4, syntax.littleEndian);
      if (tag === TAG.SequenceDelimitationItem) {
        if (!undefinedLength) throw new DicomParseError('sequence delimiter in a sequence of defined length', { tag: seqTag, offset: pos });
        return { items, end: pos + 8 };
      }
      if (tag !== TAG.Item) throw new DicomParseError('expected an item inside a sequence', { tag: seqTag, offset: pos });
      if (length === UNDEFINED_LENGTH) {
        const r = this.elements(pos + 8, limit, syntax, depth, true);
        items.push({ start: pos, end: r.end, undefinedLength: true, elements: r.elements });
        pos = r.end;
      } else {
        const itemEnd = pos + 8 + length;
        if (itemEnd > limit)
          throw new DicomParseError(`item length ${length} runs past the end of its sequence`, { tag: seqTag, offset: pos });
        const r = this.elements(pos + 8, itemEnd, syntax, depth, false);
        items.push({ start: pos, end: itemEnd, undefinedLength: false, elements: r.elements });
        pos = itemEnd;
      }
    }
  }

  /**
   * Walks encapsulated fragments (defined-length items) to the sequence delimiter. Item lengths
   * are trusted (not a search for the delimiter bytes), so a fragment whose compressed bytes
   * happen to contain FFFE,E0DD is read whole.
   */
  private fragments(pos: number, limit: number, syntax: Syntax, tag: number): { fragments: Buffer[]; end: number } {
    const fragments: Buffer[] = [];
    for (;;) {
      // Lenient: a missing sequence delimiter at the very end of the data keeps what was read.
      if (this.lenient && pos + 8 > limit) return { fragments, end: limit };
      this.need(pos, 8, limit, 'fragment header', tag);
      const itemTag = readTag(this.buf, pos, syntax.littleEndian);
      const length = readU32(this.buf, pos + 4, syntax.littleEndian);
      if (itemTag === TAG.SequenceDelimitationItem) return { fragments, end: pos + 8 };
      if (itemTag !== TAG.Item || length === UNDEFINED_LENGTH) {
        throw new DicomParseError('malformed encapsulated pixel data fragment', { tag, offset: pos });
      }
      if (pos + 8 + length > limit)
        throw new DicomParseError(`fragment length ${length} runs past the end of the data`, { tag, offset: pos });
      fragments.push(this.buf.subarray(pos + 8, pos + 8 + length));
      pos += 8 + length;
    }
  }
}

/** The raw value bytes of a defined-length element. */
export function valueBytes(buf: Buffer, el: ParsedElement): Buffer {
  if (el.length === UNDEFINED_LENGTH) return buf.subarray(el.valueOffset, el.end);
  return buf.subarray(el.valueOffset, el.valueOffset + el.length);
}

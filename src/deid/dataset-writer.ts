/**
 * Writes an edited data set: untouched elements are copied from the source bytes, edited ones are
 * encoded in the data set's own transfer syntax. Lengths of defined-length sequences and items
 * are recomputed from what is written; undefined-length ones stay undefined (with their
 * delimiters). Group length elements (gggg,0000), retired but still seen, are recomputed so that
 * they stay true after removals.
 */
import { LONG_VRS, UNDEFINED_LENGTH } from '../dicom/element-header';
import { Syntax } from '../dicom/transfer-syntax';
import { TAG } from '../dicom/tags';

export type OutNode =
  /** An element copied byte for byte (header, value, delimiters). */
  | { kind: 'raw'; tag: number; bytes: Buffer }
  /** An element with a new value; `vr` is written in explicit VR and ignored in implicit VR. */
  | { kind: 'value'; tag: number; vr: string; value: Buffer }
  /** A sequence whose items were edited (or that is new). */
  | { kind: 'sequence'; tag: number; vr: string; undefinedLength: boolean; itemSyntax: Syntax; items: OutItem[] };

export interface OutItem {
  undefinedLength: boolean;
  nodes: OutNode[];
}

interface Chunk {
  tag: number;
  bytes: Buffer;
  /** Offset of the 4-byte value of a group length element, to patch it. */
  groupLengthValueAt?: number;
}

/** Encodes a list of nodes (one data set or item content) in `syntax`. */
export function encodeNodes(nodes: readonly OutNode[], syntax: Syntax): Buffer {
  const chunks: Chunk[] = nodes.map((n) => encodeNode(n, syntax));
  fixGroupLengths(chunks, syntax);
  return Buffer.concat(chunks.map((c) => c.bytes));
}

function encodeNode(n: OutNode, syntax: Syntax): Chunk {
  switch (n.kind) {
    case 'raw': {
      const isGroupLength = (n.tag & 0xffff) === 0 && n.bytes.length >= 4;
      return isGroupLength
        ? { tag: n.tag, bytes: Buffer.from(n.bytes), groupLengthValueAt: n.bytes.length - 4 }
        : { tag: n.tag, bytes: n.bytes };
    }
    case 'value':
      return { tag: n.tag, bytes: Buffer.concat([elementHeader(n.tag, n.vr, n.value.length, syntax), n.value]) };
    case 'sequence': {
      const items = n.items.map((it) => encodeItem(it, n.itemSyntax));
      const body = Buffer.concat(items);
      if (n.undefinedLength) {
        return {
          tag: n.tag,
          bytes: Buffer.concat([
            elementHeader(n.tag, n.vr, UNDEFINED_LENGTH, syntax),
            body,
            tagHeader(TAG.SequenceDelimitationItem, 0, n.itemSyntax),
          ]),
        };
      }
      return { tag: n.tag, bytes: Buffer.concat([elementHeader(n.tag, n.vr, body.length, syntax), body]) };
    }
  }
}

function encodeItem(item: OutItem, syntax: Syntax): Buffer {
  const content = encodeNodes(item.nodes, syntax);
  if (item.undefinedLength) {
    return Buffer.concat([tagHeader(TAG.Item, UNDEFINED_LENGTH, syntax), content, tagHeader(TAG.ItemDelimitationItem, 0, syntax)]);
  }
  return Buffer.concat([tagHeader(TAG.Item, content.length, syntax), content]);
}

/** Item / delimiter header: tag + 32-bit length, never a VR. */
function tagHeader(tag: number, length: number, syntax: Syntax): Buffer {
  const b = Buffer.alloc(8);
  writeTag(b, tag, syntax.littleEndian);
  if (syntax.littleEndian) b.writeUInt32LE(length >>> 0, 4);
  else b.writeUInt32BE(length >>> 0, 4);
  return b;
}

function writeTag(b: Buffer, tag: number, le: boolean): void {
  if (le) {
    b.writeUInt16LE(tag >>> 16, 0);
    b.writeUInt16LE(tag & 0xffff, 2);
  } else {
    b.writeUInt16BE(tag >>> 16, 0);
    b.writeUInt16BE(tag & 0xffff, 2);
  }
}

/** Element header in `syntax` (PS3.5 7.1). */
export function elementHeader(tag: number, vr: string, length: number, syntax: Syntax): Buffer {
  const le = syntax.littleEndian;
  if (!syntax.explicit) return tagHeader(tag, length, syntax);
  if (LONG_VRS.has(vr)) {
    const b = Buffer.alloc(12);
    writeTag(b, tag, le);
    b.write(vr, 4, 'latin1');
    if (le) b.writeUInt32LE(length >>> 0, 8);
    else b.writeUInt32BE(length >>> 0, 8);
    return b;
  }
  if (length > 0xffff) throw new Error(`value of ${length} bytes does not fit a ${vr} element`);
  const b = Buffer.alloc(8);
  writeTag(b, tag, le);
  b.write(vr, 4, 'latin1');
  if (le) b.writeUInt16LE(length, 6);
  else b.writeUInt16BE(length, 6);
  return b;
}

/** Sets every group length element to the byte count of the following elements of its group. */
function fixGroupLengths(chunks: Chunk[], syntax: Syntax): void {
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i] as Chunk;
    if (c.groupLengthValueAt === undefined) continue;
    const group = c.tag >>> 16;
    let sum = 0;
    for (let j = i + 1; j < chunks.length && (chunks[j] as Chunk).tag >>> 16 === group; j++) sum += (chunks[j] as Chunk).bytes.length;
    if (syntax.littleEndian) c.bytes.writeUInt32LE(sum, c.groupLengthValueAt);
    else c.bytes.writeUInt32BE(sum, c.groupLengthValueAt);
  }
}

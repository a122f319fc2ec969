/**
 * Small element builders for the data sets the report writer creates from scratch, on top of the
 * de-identifier's encoder (src/deid/dataset-writer.ts encodeNodes). Everything we write is
 * Explicit VR Little Endian and Specific Character Set ISO_IR 192, so text values are UTF-8.
 *
 * Padding per PS3.5 6.2: UI with a single NUL, every other text VR with a space; binary VRs are
 * always even already. Elements of one data set are sorted by tag here, so builders can list them
 * in the order that reads best.
 */
import { OutItem, OutNode } from '../deid/dataset-writer';
import { EXPLICIT_LE } from '../dicom/transfer-syntax';

/** Text VRs whose values are affected by the character set (written as UTF-8). */
const CHARSET_VRS = new Set(['PN', 'LO', 'SH', 'ST', 'LT', 'UT', 'UC']);
/** Maximum lengths in characters (PS3.5 Table 6.2-1); UT has none worth checking here. */
const MAX_CHARS: Readonly<Record<string, number>> = {
  AE: 16,
  CS: 16,
  DA: 8,
  DS: 16,
  IS: 12,
  LO: 64,
  SH: 16,
  TM: 16,
  UI: 64,
  DT: 26,
  ST: 1024,
  LT: 10240,
};

export type Node = OutNode;

function padded(bytes: Buffer, vr: string): Buffer {
  if (bytes.length % 2 === 0) return bytes;
  return Buffer.concat([bytes, Buffer.from(vr === 'UI' ? [0x00] : [0x20])]);
}

/**
 * A text element. `values` are joined with backslash (multi-valued); an empty string or an empty
 * list gives a zero-length value (type 2 "present but empty").
 */
export function text(tag: number, vr: string, values: string | readonly string[], opts: { checkLength?: boolean } = {}): Node {
  const list = typeof values === 'string' ? [values] : values;
  const max = MAX_CHARS[vr];
  if (max !== undefined && opts.checkLength !== false) {
    for (const v of list) {
      // PN is limited per component group, not per value; checked loosely by its own limit (64).
      if ([...v].length > max) throw new Error(`value for ${tagName(tag)} (${vr}) is ${[...v].length} characters; the limit is ${max}`);
    }
  }
  for (const v of list) {
    if (vr !== 'UT' && vr !== 'LT' && vr !== 'ST' && v.includes('\\'))
      throw new Error(`value for ${tagName(tag)} (${vr}) contains a backslash`);
    if (!CHARSET_VRS.has(vr) && !/^[\x20-\x7e]*$/.test(v)) throw new Error(`value for ${tagName(tag)} (${vr}) must be ASCII`);
  }
  const joined = list.join('\\');
  return { kind: 'value', tag, vr, value: padded(Buffer.from(joined, CHARSET_VRS.has(vr) ? 'utf8' : 'latin1'), vr) };
}

/**
 * A value copied from the source instance: multi-values kept, lengths not re-checked (a source
 * with an over-long value still gets its report; the value is carried as it came).
 */
export function copied(tag: number, vr: string, value: string | undefined): Node {
  return text(tag, vr, (value ?? '').split('\\'), { checkLength: false });
}

export function uid(tag: number, value: string): Node {
  if (!/^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/.test(value) || value.length > 64) {
    throw new Error(`${tagName(tag)} is not a valid UID (${value.length} characters)`);
  }
  return text(tag, 'UI', value);
}

export function us(tag: number, value: number): Node {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(value);
  return { kind: 'value', tag, vr: 'US', value: b };
}

export function fl(tag: number, values: readonly number[]): Node {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return { kind: 'value', tag, vr: 'FL', value: b };
}

export function fd(tag: number, values: readonly number[]): Node {
  const b = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => b.writeDoubleLE(v, i * 8));
  return { kind: 'value', tag, vr: 'FD', value: b };
}

/** A sequence of items (defined length); each item is a list of nodes, sorted here. */
export function seq(tag: number, items: readonly (readonly (Node | undefined)[])[]): Node {
  const out: OutItem[] = items.map((nodes) => ({ undefinedLength: false, nodes: sorted(nodes) }));
  return { kind: 'sequence', tag, vr: 'SQ', undefinedLength: false, itemSyntax: EXPLICIT_LE, items: out };
}

/** Drops absent elements and orders by tag; a tag given twice is a bug in the builder. */
export function sorted(nodes: readonly (Node | undefined)[]): Node[] {
  const list = nodes.filter((n): n is Node => n !== undefined).sort((a, b) => a.tag - b.tag);
  for (let i = 1; i < list.length; i++) {
    if (list[i]!.tag === list[i - 1]!.tag) throw new Error(`element ${tagName(list[i]!.tag)} written twice in one data set`);
  }
  return list;
}

/**
 * Decimal String for a number (PS3.5: at most 16 characters). Uses the shortest round-trip
 * spelling that fits, so 8.25 stays "8.25" and 1/3 becomes "0.33333333333333".
 */
export function formatDs(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`cannot write ${n} as a DICOM Decimal String`);
  const plain = String(n);
  if (plain.length <= 16 && !/e/i.test(plain)) return plain;
  for (let p = 15; p >= 1; p--) {
    const s = String(Number(n.toPrecision(p)));
    if (s.length <= 16) return s;
  }
  throw new Error(`cannot fit ${n} in a 16-character Decimal String`);
}

export function tagName(tag: number): string {
  const hex = (tag >>> 0).toString(16).toUpperCase().padStart(8, '0');
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

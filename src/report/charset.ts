/**
 * Text decoding through a data set's Specific Character Set, for reading SR documents (sr-dump).
 *
 * The project's decoders (ISO 8859 sets, GB18030, UTF-8, ISO 2022 code extensions with their
 * escape sequences) live inside the header reader (src/dicom/dataset-reader.ts) and are reached
 * through readDatasetHeader only. Rather than keep a second copy of them, a value is decoded by
 * handing the reader a two-element data set: (0008,0005) and the value as an UT element.
 */
import { readDatasetHeader } from '../dicom/dataset-reader';
import { TS_EXPLICIT_LE } from '../dicom/transfer-syntax';

const SPECIFIC_CHARACTER_SET = 0x00080005;
const CARRIER = 0x0040a160; // Text Value, UT: any length, charset-affected

function explicitLe(tag: number, vr: string, value: Buffer, long: boolean): Buffer {
  const h = Buffer.alloc(long ? 12 : 8);
  h.writeUInt16LE(tag >>> 16, 0);
  h.writeUInt16LE(tag & 0xffff, 2);
  h.write(vr, 4, 'latin1');
  if (long) h.writeUInt32LE(value.length, 8);
  else h.writeUInt16LE(value.length, 6);
  return Buffer.concat([h, value]);
}

/** Decodes `bytes` (one text value, possibly multi-valued) in `specificCharacterSet` (raw (0008,0005), backslashes kept). */
export function decodeText(bytes: Buffer, specificCharacterSet: string | undefined): string {
  if (bytes.length === 0) return '';
  const parts: Buffer[] = [];
  if (specificCharacterSet) {
    const cs = Buffer.from(specificCharacterSet.length % 2 ? specificCharacterSet + ' ' : specificCharacterSet, 'latin1');
    parts.push(explicitLe(SPECIFIC_CHARACTER_SET, 'CS', cs, false));
  }
  parts.push(explicitLe(CARRIER, 'UT', bytes, true));
  const r = readDatasetHeader(Buffer.concat(parts), TS_EXPLICIT_LE, { tags: { v: CARRIER } });
  return r.attributes.v ?? '';
}

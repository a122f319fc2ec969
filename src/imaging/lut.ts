/**
 * Lookup tables as DICOM encodes them (PS3.3 C.11.1.1.1): a descriptor (number of entries, first
 * mapped input value, bits per entry) and the entries. Used by the Modality LUT, the VOI LUT and
 * the palette colour LUTs.
 */
import { Element } from './dataset';
import { ImagingError } from './pixel-module';

export interface Lut {
  entries: number;
  /** The input value mapped to entry 0; inputs below/above the table clamp to its ends. */
  firstMapped: number;
  /** Bits per entry, as the data shows them (descriptors are not always right). */
  bits: number;
  data: Uint16Array;
}

/**
 * A LUT from its descriptor and data elements. 0 entries means 65536. The first mapped value is
 * signed when the LUT's input is (`signedInput`, or the descriptor's VR is SS). 8-bit entries may
 * be packed two per 16-bit word (palette LUTs with descriptor bits 8, PS3.3 C.7.6.3.1.6).
 */
export function lutFrom(desc: Element, data: Element, signedInput: boolean): Lut {
  const d = desc.value;
  if (d.length < 6) throw new ImagingError('LUT descriptor with fewer than 3 values');
  const rd16 = (i: number, signed: boolean): number =>
    desc.littleEndian ? (signed ? d.readInt16LE(i) : d.readUInt16LE(i)) : signed ? d.readInt16BE(i) : d.readUInt16BE(i);
  const entries = rd16(0, false) || 65536;
  const firstMapped = rd16(2, signedInput || desc.vr === 'SS');
  let bits = rd16(4, false);
  const b = data.value;
  const values = new Uint16Array(entries);
  if (b.length === entries || (bits === 8 && b.length === entries + (entries & 1))) {
    // One byte per entry: OB, or 8-bit entries packed in OW words (low byte first in LE).
    for (let i = 0; i < entries; i++) values[i] = b[data.littleEndian ? i : i ^ 1] as number;
    bits = 8;
  } else if (b.length >= entries * 2) {
    for (let i = 0; i < entries; i++) values[i] = data.littleEndian ? b.readUInt16LE(2 * i) : b.readUInt16BE(2 * i);
  } else {
    throw new ImagingError(`LUT data of ${b.length} bytes for ${entries} entries`);
  }
  // Trust the data over the descriptor's third value when they disagree (DCMTK's +Mc).
  let max = 0;
  for (const v of values) if (v > max) max = v;
  if (max >= 1 << bits || bits < 1 || bits > 16) bits = max > 255 ? 16 : 8;
  return { entries, firstMapped, bits, data: values };
}

export function lookup(lut: Lut, x: number): number {
  const i = Math.round(x) - lut.firstMapped;
  return lut.data[i <= 0 ? 0 : i >= lut.entries ? lut.entries - 1 : i] as number;
}

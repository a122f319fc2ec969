/**
 * Encapsulated Pixel Data (PS3.5 A.4): from fragments to one compressed bit stream per frame.
 *
 * Order of evidence: the Extended Offset Table (7FE0,0001) when present, then a non-empty Basic
 * Offset Table, then, with an empty Basic Offset Table, the fragment contents: one frame per
 * fragment when the counts agree, all fragments when there is one frame, otherwise a new frame at
 * each fragment that starts with a codestream start marker (JPEG SOI, JPEG 2000 SOC or a JP2
 * signature box) - which is how DCMTK and pydicom split such data too.
 */
import { ImagingError } from './pixel-module';

export interface EncapsulatedInput {
  /** Item values; the first one is the Basic Offset Table (possibly empty). */
  fragments: Buffer[];
  numberOfFrames: number;
  /** Extended Offset Table offsets (to the item tag of each frame's first fragment), if present. */
  extendedOffsets?: number[];
}

/** The compressed bytes of frame `index` (0-based). Single-fragment frames are not copied. */
export function encapsulatedFrame(input: EncapsulatedInput, index: number): Buffer {
  const groups = frameFragmentGroups(input);
  const group = groups[index];
  if (group === undefined) {
    throw new ImagingError(`frame ${index + 1} requested but the pixel data holds ${groups.length} frame(s)`);
  }
  return group.length === 1 ? (group[0] as Buffer) : Buffer.concat(group);
}

/** Fragments grouped per frame. */
export function frameFragmentGroups(input: EncapsulatedInput): Buffer[][] {
  const [bot, ...data] = input.fragments;
  if (bot === undefined) throw new ImagingError('encapsulated pixel data has no Basic Offset Table item');
  if (data.length === 0) throw new ImagingError('encapsulated pixel data has no fragments');
  const n = input.numberOfFrames;

  if (input.extendedOffsets !== undefined && input.extendedOffsets.length > 0) {
    return groupByOffsets(data, input.extendedOffsets);
  }
  if (bot.length >= 4) {
    const offsets: number[] = [];
    for (let i = 0; i + 4 <= bot.length; i += 4) offsets.push(bot.readUInt32LE(i));
    return groupByOffsets(data, offsets);
  }
  if (n === 1) return [data];
  if (data.length === n) return data.map((f) => [f]);
  if (data.length < n) {
    throw new ImagingError(`${n} frames but only ${data.length} fragment(s) and no offset table`);
  }
  const groups: Buffer[][] = [];
  for (const f of data) {
    if (groups.length === 0 || startsCodestream(f)) groups.push([f]);
    else (groups[groups.length - 1] as Buffer[]).push(f);
  }
  if (groups.length !== n) {
    throw new ImagingError(`cannot split ${data.length} fragments into ${n} frames without an offset table`);
  }
  return groups;
}

/** Offsets are measured from the first byte of the first fragment's item tag (PS3.5 A.4). */
function groupByOffsets(data: Buffer[], offsets: number[]): Buffer[][] {
  const positions: number[] = [];
  let pos = 0;
  for (const f of data) {
    positions.push(pos);
    pos += 8 + f.length;
  }
  const groups: Buffer[][] = [];
  for (let i = 0; i < offsets.length; i++) {
    const start = offsets[i] as number;
    const end = i + 1 < offsets.length ? (offsets[i + 1] as number) : Infinity;
    const first = positions.indexOf(start);
    if (first < 0 || end <= start) throw new ImagingError(`offset table entry ${i} does not point at a fragment`);
    const group: Buffer[] = [];
    for (let k = first; k < data.length && (positions[k] as number) < end; k++) group.push(data[k] as Buffer);
    groups.push(group);
  }
  return groups;
}

function startsCodestream(f: Buffer): boolean {
  if (f.length < 4) return false;
  if (f[0] === 0xff && f[1] === 0xd8) return true; // JPEG / JPEG-LS SOI
  if (f[0] === 0xff && f[1] === 0x4f && f[2] === 0xff && f[3] === 0x51) return true; // J2K SOC+SIZ
  return f.length >= 12 && f.readUInt32BE(0) === 12 && f.toString('latin1', 4, 8) === 'jP  '; // JP2
}

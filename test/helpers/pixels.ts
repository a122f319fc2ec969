// Reading Part 10 files back in tests: the data set after the file meta information (inflated
// when deflated) and the raw bytes of its Pixel Data element, for byte-for-byte comparisons.
import fs from 'node:fs';
import { readPart10Header } from '../../src/dicom/part10';
import { inflateDeflatedDataset, readDatasetHeader } from '../../src/dicom/dataset-reader';

const DEFLATED = '1.2.840.10008.1.2.1.99';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

/** The data set of a Part 10 file (a path or its bytes), inflated when deflated. */
export function dataSetOf(file: string | Buffer): { ts: string; ds: Buffer } {
  const buf = typeof file === 'string' ? fs.readFileSync(file) : file;
  const h = readPart10Header(buf);
  let ds: Buffer = buf.subarray(h.datasetOffset);
  if (h.transferSyntaxUid === DEFLATED) ds = inflateDeflatedDataset(ds);
  return { ts: h.transferSyntaxUid, ds };
}

/** The Pixel Data element's value (all fragments when encapsulated); null when the object has none. */
export function pixelBytes(file: string | Buffer): Buffer | null {
  const { ts, ds } = dataSetOf(file);
  const r = readDatasetHeader(ds, ts === DEFLATED ? EXPLICIT_LE : ts);
  if (!r.pixelData) return null;
  const { offset, length } = r.pixelData;
  if (length !== 'undefined') return ds.subarray(offset, offset + length);
  // Encapsulated: items (FFFE,E000) up to the sequence delimiter (FFFE,E0DD). Anything after it
  // (e.g. Data Set Trailing Padding, which DCMTK drops when sending) is not pixel data.
  let p = offset;
  while (p + 8 <= ds.length) {
    const g = ds.readUInt16LE(p);
    const e = ds.readUInt16LE(p + 2);
    const len = ds.readUInt32LE(p + 4);
    if (g === 0xfffe && e === 0xe0dd) return ds.subarray(offset, p + 8);
    p += 8 + len;
  }
  return ds.subarray(offset);
}

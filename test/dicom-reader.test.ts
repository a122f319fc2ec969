/**
 * Tests for src/dicom/part10.ts and src/dicom/dataset-reader.ts.
 *
 * File-based tests use the public test files under shared/data/dicom (see its
 * PROVENANCE.md); expected values were checked with DCMTK's dcmdump (and
 * `dcmconv +U8` + dcmdump for character sets; pydicom's documented values for
 * the ISO 2022 Japanese files, which the system iconv cannot convert).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

import { DicomParseError, HeaderReadResult, inflateDeflatedDataset, readDatasetHeader } from '../src/dicom/dataset-reader';
import { buildFileMetaInformation, FileMetaInput, readPart10Header } from '../src/dicom/part10';
import { mulberry32 } from '../fixtures/chest-phantom';

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/**
 * Finds shared/data/dicom: $DICOM_AI_SHARED (the shared folder or the dicom
 * folder itself), else the first ancestor of __dirname or the cwd that has a
 * shared/data/dicom child. Works from dist/test and from an ad-hoc build dir.
 */
function findDicomDataDir(): string | undefined {
  const env = process.env.DICOM_AI_SHARED;
  if (env) {
    for (const candidate of [path.join(env, 'data', 'dicom'), env]) {
      if (fs.existsSync(path.join(candidate, 'PROVENANCE.md'))) return candidate;
    }
  }
  for (const start of [__dirname, process.cwd()]) {
    let dir = path.resolve(start);
    for (;;) {
      const candidate = path.join(dir, 'shared', 'data', 'dicom');
      if (fs.existsSync(candidate)) return candidate;
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return undefined;
}

const DATA_DIR = findDicomDataDir();
const needsData = DATA_DIR ? false : 'shared/data/dicom not found (set DICOM_AI_SHARED)';

/** True when `name` can be executed (dcmftest has no --version, so only spawnability is checked). */
function hasTool(name: string): boolean {
  return spawnSync(name, [], { stdio: 'ignore' }).error === undefined;
}
const needsDcmtk = needsData || (hasTool('dcmdump') && hasTool('dcmftest') ? false : 'DCMTK not installed');

function dataFile(rel: string): Buffer {
  assert.ok(DATA_DIR, 'data dir');
  return fs.readFileSync(path.join(DATA_DIR, rel));
}

/** Reads a Part 10 file and its dataset header in one go. */
function readFile(
  rel: string,
  totalLength?: number,
): { header: ReturnType<typeof readPart10Header>; dataset: Buffer; result: HeaderReadResult } {
  const buf = dataFile(rel);
  const header = readPart10Header(buf);
  const dataset = buf.subarray(header.datasetOffset);
  const result = readDatasetHeader(dataset, header.transferSyntaxUid, totalLength === undefined ? {} : { totalLength });
  return { header, dataset, result };
}

// ---------------------------------------------------------------------------
// Tiny encoders for synthetic datasets
// ---------------------------------------------------------------------------

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const UNDEFINED = 0xffffffff;

function tagBytes(tag: number, little = true): Buffer {
  const b = Buffer.alloc(4);
  if (little) {
    b.writeUInt16LE(tag >>> 16, 0);
    b.writeUInt16LE(tag & 0xffff, 2);
  } else {
    b.writeUInt16BE(tag >>> 16, 0);
    b.writeUInt16BE(tag & 0xffff, 2);
  }
  return b;
}

/** Explicit VR element; `length` overrides the value length (e.g. undefined). */
function ex(tag: number, vr: string, value: Buffer | string = Buffer.alloc(0), length?: number, little = true): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const len = length ?? v.length;
  const long = LONG_VRS.has(vr);
  const h = Buffer.alloc(long ? 8 : 4);
  h.write(vr, 0, 'latin1');
  if (long) {
    if (little) h.writeUInt32LE(len, 4);
    else h.writeUInt32BE(len, 4);
  } else if (little) {
    h.writeUInt16LE(len, 2);
  } else {
    h.writeUInt16BE(len, 2);
  }
  return Buffer.concat([tagBytes(tag, little), h, v]);
}

/** Implicit VR LE element (also used for items and delimiters). */
function im(tag: number, value: Buffer | string = Buffer.alloc(0), length?: number): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const len = Buffer.alloc(4);
  len.writeUInt32LE(length ?? v.length, 0);
  return Buffer.concat([tagBytes(tag), len, v]);
}

const item = (content: Buffer, undefinedLength = false): Buffer =>
  undefinedLength ? Buffer.concat([im(0xfffee000, content, UNDEFINED), im(0xfffee00d)]) : im(0xfffee000, content);
const seqDelim = (): Buffer => im(0xfffee0dd);

function us(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n, 0);
  return b;
}

// ---------------------------------------------------------------------------
// cornerstone3D CTImage.dcm in every transfer syntax
// ---------------------------------------------------------------------------

const CT_STUDY_UID = '1.2.840.113619.2.30.1.1762295590.1623.978668949.886';
const CT_SOP_UID = '1.2.840.113619.2.30.1.1762295590.1623.978668950.109';

/**
 * Per file: transfer syntax and SOP Instance UID as shown by dcmdump. The
 * lossy conversions were given new SOP Instance UIDs by the tools that made
 * them, so the UID is not the same across the set.
 */
const CT_FILES: Record<string, { ts: string; sop: string; bits?: string }> = {
  'CTImage.dcm': { ts: '1.2.840.10008.1.2', sop: CT_SOP_UID },
  'CTImage.dcm_BigEndianExplicitTransferSyntax_1.2.840.10008.1.2.2.dcm': { ts: '1.2.840.10008.1.2.2', sop: CT_SOP_UID },
  'CTImage.dcm_DeflatedExplicitVRLittleEndianTransferSyntax_1.2.840.10008.1.2.1.99.dcm': {
    ts: '1.2.840.10008.1.2.1.99',
    sop: CT_SOP_UID,
  },
  'CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm': { ts: '1.2.840.10008.1.2.4.90', sop: CT_SOP_UID },
  'CTImage.dcm_JPEG2000TransferSyntax_1.2.840.10008.1.2.4.91.dcm': {
    ts: '1.2.840.10008.1.2.4.91',
    sop: '1.2.826.0.1.3680043.2.1143.4125370814499755226971558133553910467',
  },
  'CTImage.dcm_JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm': { ts: '1.2.840.10008.1.2.4.80', sop: CT_SOP_UID },
  'CTImage.dcm_JPEGLSLossyTransferSyntax_1.2.840.10008.1.2.4.81.dcm': {
    ts: '1.2.840.10008.1.2.4.81',
    sop: '1.2.826.0.1.3680043.2.1143.9856094484110805525796666806741274699',
  },
  'CTImage.dcm_JPEGProcess10_12TransferSyntax_1.2.840.10008.1.2.4.55.dcm': {
    ts: '1.2.840.10008.1.2.4.55',
    sop: '1.2.276.0.7230010.3.1.4.8323329.29256.1531935570.345368',
  },
  'CTImage.dcm_JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70.dcm': { ts: '1.2.840.10008.1.2.4.70', sop: CT_SOP_UID },
  'CTImage.dcm_JPEGProcess14TransferSyntax_1.2.840.10008.1.2.4.57.dcm': { ts: '1.2.840.10008.1.2.4.57', sop: CT_SOP_UID },
  'CTImage.dcm_JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm': {
    ts: '1.2.840.10008.1.2.4.50',
    sop: '1.2.276.0.7230010.3.1.4.0.13710.1630658018.416119',
    bits: '8', // baseline JPEG is 8-bit only: the converter rescaled the CT
  },
  'CTImage.dcm_JPEGProcess2_4TransferSyntax_1.2.840.10008.1.2.4.51.dcm': {
    ts: '1.2.840.10008.1.2.4.51',
    sop: '1.2.276.0.7230010.3.1.4.8323329.29254.1531935570.276939',
  },
  'CTImage.dcm_JPEGProcess6_8TransferSyntax_1.2.840.10008.1.2.4.53.dcm': {
    ts: '1.2.840.10008.1.2.4.53',
    sop: '1.2.276.0.7230010.3.1.4.8323329.29255.1531935570.306951',
  },
  'CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm': { ts: '1.2.840.10008.1.2.1', sop: CT_SOP_UID },
  'CTImage.dcm_LittleEndianImplicitTransferSyntax_1.2.840.10008.1.2.dcm': { ts: '1.2.840.10008.1.2', sop: CT_SOP_UID },
  'CTImage.dcm_RLELosslessTransferSyntax_1.2.840.10008.1.2.5.dcm': { ts: '1.2.840.10008.1.2.5', sop: CT_SOP_UID },
};

const NATIVE_TS = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1.99']);

test('every CTImage.dcm transfer syntax variant is covered by the expectations', { skip: needsData }, () => {
  const onDisk = fs
    .readdirSync(path.join(DATA_DIR as string, 'cornerstone3D'))
    .filter((f) => f.startsWith('CTImage.dcm'))
    .sort();
  assert.deepEqual(onDisk, Object.keys(CT_FILES).sort());
});

for (const [file, expected] of Object.entries(CT_FILES)) {
  test(`CTImage ${expected.ts}: header and pixel data location (${file})`, { skip: needsData }, () => {
    const { header, dataset, result } = readFile(`cornerstone3D/${file}`);
    assert.equal(header.transferSyntaxUid, expected.ts);
    assert.equal(header.sopInstanceUid, expected.sop);
    assert.equal(header.sopClassUid, '1.2.840.10008.5.1.4.1.1.2');

    const a = result.attributes;
    assert.equal(result.stoppedAt, 'pixel-data');
    assert.equal(a.SOPInstanceUID, expected.sop);
    assert.equal(a.SOPClassUID, '1.2.840.10008.5.1.4.1.1.2');
    assert.equal(a.StudyInstanceUID, CT_STUDY_UID);
    assert.equal(a.SeriesInstanceUID, '1.2.840.113619.2.30.1.1762295590.1623.978668949.890');
    assert.equal(a.Rows, '512');
    assert.equal(a.Columns, '512');
    assert.equal(a.BitsAllocated, expected.bits ?? '16');
    assert.equal(a.Modality, 'CT');
    assert.equal(a.PatientName, 'MISTER^CT');
    assert.equal(a.SpecificCharacterSet, 'ISO_IR 100');
    assert.equal(result.specificCharacterSet, 'ISO_IR 100');

    const px = result.pixelData;
    assert.ok(px, 'pixel data located');
    if (NATIVE_TS.has(expected.ts)) {
      // dcmdump: "(7fe0,0010) OW f830\f830..." # 524288
      assert.equal(px.length, 524288);
      const plain = expected.ts === '1.2.840.10008.1.2.1.99' ? inflateDeflatedDataset(dataset) : dataset;
      assert.equal(px.offset + 524288, plain.length, 'pixel data is the last element');
      const first = expected.ts === '1.2.840.10008.1.2.2' ? plain.readUInt16BE(px.offset) : plain.readUInt16LE(px.offset);
      assert.equal(first, 0xf830);
    } else {
      assert.equal(px.length, 'undefined');
      // Encapsulated pixel data starts with the Basic Offset Table item.
      assert.equal(dataset.readUInt16LE(px.offset), 0xfffe);
      assert.equal(dataset.readUInt16LE(px.offset + 2), 0xe000);
    }
  });
}

// ---------------------------------------------------------------------------
// Character sets (pydicom charset_files)
// ---------------------------------------------------------------------------

/** PatientName per file: dcmconv +U8 output, or pydicom's values for ISO 2022 JP. */
const CHARSET_NAMES: Record<string, { charset: string; name: string }> = {
  'chrArab.dcm': { charset: 'ISO_IR 127', name: 'قباني^لنزار' },
  'chrFren.dcm': { charset: 'ISO_IR 100', name: 'Buc^Jérôme' },
  'chrFrenMulti.dcm': { charset: 'ISO_IR 100', name: 'Buc^Jérôme' },
  'chrGerm.dcm': { charset: 'ISO_IR 100', name: 'Äneas^Rüdiger' },
  'chrGreek.dcm': { charset: 'ISO_IR 126', name: 'Διονυσιος' },
  'chrHbrw.dcm': { charset: 'ISO_IR 138', name: 'שרון^דבורה' },
  // Note the Latin c, e, y, p in the middle: that is what the file contains.
  'chrRuss.dcm': { charset: 'ISO_IR 144', name: 'Люкceмбypг' },
  'chrX1.dcm': { charset: 'ISO_IR 192', name: 'Wang^XiaoDong=王^小東=' },
  'chrX2.dcm': { charset: 'GB18030', name: 'Wang^XiaoDong=王^小东=' },
  'chrI2.dcm': { charset: '\\ISO 2022 IR 149', name: 'Hong^Gildong=洪^吉洞=홍^길동' },
  'chrKoreanMulti.dcm': { charset: '\\ISO 2022 IR 149', name: '김희중' },
  'chrH31.dcm': { charset: '\\ISO 2022 IR 87', name: 'Yamada^Tarou=山田^太郎=やまだ^たろう' },
  'chrH32.dcm': { charset: 'ISO 2022 IR 13\\ISO 2022 IR 87', name: 'ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう' },
  'chrJapMulti.dcm': { charset: '\\ISO 2022 IR 87', name: 'やまだ^たろう' },
  'chrJapMultiExplicitIR6.dcm': { charset: 'ISO 2022 IR 6\\ISO 2022 IR 87', name: 'やまだ^たろう' },
};

for (const [file, expected] of Object.entries(CHARSET_NAMES)) {
  test(`charset ${expected.charset}: PatientName of ${file}`, { skip: needsData }, () => {
    const { result } = readFile(`pydicom/charset_files/${file}`);
    assert.equal(result.specificCharacterSet, expected.charset);
    assert.equal(result.attributes.PatientName, expected.name);
  });
}

test('charset: ISO 2022 values in other text VRs and multi-valued PN (chrKoreanMulti)', { skip: needsData }, () => {
  const buf = dataFile('pydicom/charset_files/chrKoreanMulti.dcm');
  const h = readPart10Header(buf);
  const r = readDatasetHeader(buf.subarray(h.datasetOffset), h.transferSyntaxUid, {
    tags: { OtherPatientNames: 0x00101001, AdditionalPatientHistory: 0x001021b0, Rows: 0x00280010 },
  });
  assert.equal(r.attributes.OtherPatientNames, '김희중\\김희중');
  assert.equal(r.attributes.AdditionalPatientHistory, '김희중');
  assert.equal(r.attributes.Rows, '32');
  // Not requested, but still reported so callers can see how text was decoded.
  assert.equal(r.attributes.SpecificCharacterSet, undefined);
  assert.equal(r.specificCharacterSet, '\\ISO 2022 IR 149');
});

test('charset: (0008,0005) inside a sequence item does not leak to the top level (chrSQEncoding)', { skip: needsData }, () => {
  const { result } = readFile('pydicom/charset_files/chrSQEncoding.dcm');
  assert.equal(result.stoppedAt, 'end');
  assert.equal(result.specificCharacterSet, 'ISO_IR 192');
  // The only PatientName lives inside RequestedProcedureCodeSequence.
  assert.equal(result.attributes.PatientName, undefined);
});

test('charset: ISO 2022 escapes in synthetic values (JIS X 0212, Latin-1 G1, unknown escapes, multi-value)', () => {
  const pn = (cs: string, value: Buffer): string | undefined =>
    readDatasetHeader(Buffer.concat([ex(0x00080005, 'CS', cs), ex(0x00100010, 'PN', value)]), '1.2.840.10008.1.2.1').attributes.PatientName;
  const b = (...parts: Array<string | number[]>): Buffer =>
    Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
  // JIS X 0212 0x3021 is U+4E02 (丂).
  assert.equal(pn('\\ISO 2022 IR 159', b('A', [0x1b], '$(D', [0x30, 0x21], [0x1b], '(BZ')), 'A丂Z');
  // ISO 2022 IR 100 as the initial set: 8-bit bytes are Latin-1 without any escape.
  assert.equal(pn('ISO 2022 IR 100', b('Jos', [0xe9])), 'José');
  // Switching G1 between Cyrillic and Greek with escapes.
  assert.equal(pn('ISO 2022 IR 144\\ISO 2022 IR 126', b([0xbb], [0x1b], '-F', [0xc4])), 'ЛΔ');
  // Unknown escape sequences are dropped entirely.
  assert.equal(pn('\\ISO 2022 IR 87', b('X', [0x1b], '%GY')), 'XY');
  // Multi-valued PN keeps the backslash between values.
  assert.equal(pn('\\ISO 2022 IR 87', b([0x1b], '$B$d', [0x1b], '(B\\', [0x1b], '$B$?', [0x1b], '(B')), 'や\\た');
});

test('charset: absent or empty Specific Character Set decodes as latin1', () => {
  const ds = Buffer.concat([ex(0x00100010, 'PN', 'Caf\xe9^Jos\xe9 '), ex(0x00100020, 'LO', '  ID42 ')]);
  const r = readDatasetHeader(ds, '1.2.840.10008.1.2.1');
  assert.equal(r.attributes.PatientName, 'Café^José');
  assert.equal(r.attributes.PatientID, '  ID42', 'leading spaces kept, trailing trimmed');
  assert.equal(r.specificCharacterSet, undefined);

  const withEmpty = Buffer.concat([ex(0x00080005, 'CS'), ex(0x00100010, 'PN', 'Caf\xe9')]);
  const r2 = readDatasetHeader(withEmpty, '1.2.840.10008.1.2.1');
  assert.equal(r2.attributes.PatientName, 'Café');
  assert.equal(r2.attributes.SpecificCharacterSet, '');
});

test('charset: PN decoded after the fact even if (0008,0005) appears later (out-of-order dataset)', () => {
  const ds = Buffer.concat([ex(0x00080005, 'CS', 'ISO_IR 192'), ex(0x00100010, 'PN', Buffer.from('Müller^Jürgen', 'utf8'))]);
  const reordered = Buffer.concat([ex(0x00100010, 'PN', Buffer.from('Müller^Jürgen', 'utf8')), ex(0x00080005, 'CS', 'ISO_IR 192')]);
  assert.equal(readDatasetHeader(ds, '1.2.840.10008.1.2.1').attributes.PatientName, 'Müller^Jürgen');
  assert.equal(readDatasetHeader(reordered, '1.2.840.10008.1.2.1').attributes.PatientName, 'Müller^Jürgen');
});

// ---------------------------------------------------------------------------
// Other syntaxes: big endian, implicit, deflate
// ---------------------------------------------------------------------------

const MR_SOP = '1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457';

for (const file of ['MR_small.dcm', 'MR_small_bigendian.dcm', 'MR_small_implicit.dcm', 'MR_small_expb.dcm']) {
  test(`MR_small variant ${file} parses identically`, { skip: needsData }, () => {
    const { result } = readFile(`pydicom/${file}`);
    assert.equal(result.stoppedAt, 'pixel-data');
    assert.deepEqual(
      {
        SOPClassUID: result.attributes.SOPClassUID,
        SOPInstanceUID: result.attributes.SOPInstanceUID,
        StudyInstanceUID: result.attributes.StudyInstanceUID,
        SeriesInstanceUID: result.attributes.SeriesInstanceUID,
        Modality: result.attributes.Modality,
        PatientName: result.attributes.PatientName,
        PatientID: result.attributes.PatientID,
        StudyDate: result.attributes.StudyDate,
        InstanceNumber: result.attributes.InstanceNumber,
        Rows: result.attributes.Rows,
        Columns: result.attributes.Columns,
        BitsAllocated: result.attributes.BitsAllocated,
      },
      {
        SOPClassUID: '1.2.840.10008.5.1.4.1.1.4',
        SOPInstanceUID: MR_SOP,
        StudyInstanceUID: '1.3.6.1.4.1.5962.1.2.4.20040826185059.5457',
        SeriesInstanceUID: '1.3.6.1.4.1.5962.1.3.4.1.20040826185059.5457',
        Modality: 'MR',
        PatientName: 'CompressedSamples^MR1',
        PatientID: '4MR1',
        StudyDate: '20040826',
        InstanceNumber: '1',
        Rows: '64',
        Columns: '64',
        BitsAllocated: '16',
      },
    );
    assert.equal(result.pixelData?.length, 8192);
  });
}

test('image_dfl.dcm (deflated explicit VR LE) parses', { skip: needsData }, () => {
  const { result, dataset } = readFile('pydicom/image_dfl.dcm');
  assert.equal(result.stoppedAt, 'pixel-data');
  assert.equal(result.attributes.SOPInstanceUID, '1.3.6.1.4.1.5962.1.1.0.0.0.977067309.6001.0');
  assert.equal(result.attributes.StudyInstanceUID, '1.3.6.1.4.1.5962.1.2.0.977067310.6001.0');
  assert.equal(result.attributes.Modality, 'OT');
  assert.equal(result.attributes.Rows, '512');
  assert.equal(result.attributes.Columns, '512');
  assert.equal(result.attributes.BitsAllocated, '8');
  assert.equal(result.attributes.PatientName, '^^^^');
  assert.equal(result.attributes.PatientID, '', 'present but empty');
  assert.deepEqual(result.pixelData, { offset: 538, length: 262144 });
  assert.equal(inflateDeflatedDataset(dataset).length, 538 + 262144);
});

test('raw datasets without any file meta (as carried in C-STORE) parse with the negotiated syntax', { skip: needsData }, () => {
  const cases: Array<[string, string, string]> = [
    ['pydicom/ExplVR_LitEndNoMeta.dcm', '1.2.840.10008.1.2.1', '1.2.333.4444.5.6.7.8'],
    ['pydicom/ExplVR_BigEndNoMeta.dcm', '1.2.840.10008.1.2.2', '1.2.333.4444.5.6.7.8'],
    ['pydicom/rtstruct.dcm', '1.2.840.10008.1.2', '1.2.826.0.1.3680043.8.498.2010020400001'],
  ];
  for (const [file, ts, sop] of cases) {
    const r = readDatasetHeader(dataFile(file), ts);
    assert.equal(r.stoppedAt, 'end', file);
    assert.equal(r.attributes.SOPInstanceUID, sop, file);
  }
});

test('undefined-length UN (CP-246) sequence is skipped; nested UIDs do not leak (UN_sequence.dcm)', { skip: needsData }, () => {
  const { result } = readFile('pydicom/UN_sequence.dcm');
  assert.equal(result.stoppedAt, 'end');
  assert.equal(result.attributes.StudyInstanceUID, undefined);
  assert.equal(result.attributes.SeriesInstanceUID, undefined);
});

test('implicit VR nested undefined-length private sequences (nested_priv_SQ.dcm)', { skip: needsData }, () => {
  const { result } = readFile('pydicom/nested_priv_SQ.dcm');
  assert.equal(result.stoppedAt, 'pixel-data');
  assert.equal(result.pixelData?.length, 2);
});

// ---------------------------------------------------------------------------
// Heads (partial datasets), truncation and garbage
// ---------------------------------------------------------------------------

test('a 300-byte head with totalLength returns truncated without throwing', { skip: needsData }, () => {
  for (const file of [
    'CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm',
    'CTImage.dcm_LittleEndianImplicitTransferSyntax_1.2.840.10008.1.2.dcm',
    'CTImage.dcm_BigEndianExplicitTransferSyntax_1.2.840.10008.1.2.2.dcm',
    'CTImage.dcm_DeflatedExplicitVRLittleEndianTransferSyntax_1.2.840.10008.1.2.1.99.dcm',
    'CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm',
  ]) {
    const buf = dataFile(`cornerstone3D/${file}`);
    const h = readPart10Header(buf);
    const dataset = buf.subarray(h.datasetOffset);
    const r = readDatasetHeader(dataset.subarray(0, 300), h.transferSyntaxUid, { totalLength: dataset.length });
    assert.equal(r.stoppedAt, 'truncated', file);
    assert.equal(r.pixelData, undefined);
    assert.equal(r.specificCharacterSet, 'ISO_IR 100', `${file}: early attributes are still read`);
  }
});

test('every head length yields truncated or pixel-data, with values consistent with the full read', { skip: needsData }, () => {
  for (const file of [
    'cornerstone3D/CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm',
    'cornerstone3D/CTImage.dcm_LittleEndianImplicitTransferSyntax_1.2.840.10008.1.2.dcm',
    'cornerstone3D/CTImage.dcm_BigEndianExplicitTransferSyntax_1.2.840.10008.1.2.2.dcm',
    'cornerstone3D/CTImage.dcm_RLELosslessTransferSyntax_1.2.840.10008.1.2.5.dcm',
    'cornerstone3D/CTImage.dcm_DeflatedExplicitVRLittleEndianTransferSyntax_1.2.840.10008.1.2.1.99.dcm',
    'pydicom/charset_files/chrH32.dcm',
  ]) {
    const buf = dataFile(file);
    const h = readPart10Header(buf);
    const dataset = buf.subarray(h.datasetOffset);
    const full = readDatasetHeader(dataset, h.transferSyntaxUid);
    assert.equal(full.stoppedAt, 'pixel-data');
    const step = h.transferSyntaxUid.endsWith('.99') ? 7 : 13;
    const maxHead = Math.min(dataset.length, 8000);
    let sawComplete = false;
    for (let n = 0; n <= maxHead; n += step) {
      const r = readDatasetHeader(dataset.subarray(0, n), h.transferSyntaxUid, { totalLength: dataset.length });
      assert.ok(r.stoppedAt === 'truncated' || r.stoppedAt === 'pixel-data', `${file} head ${n}: ${r.stoppedAt}`);
      for (const [k, v] of Object.entries(r.attributes)) {
        assert.equal(v, full.attributes[k], `${file} head ${n}: ${k}`);
      }
      if (r.stoppedAt === 'pixel-data') {
        sawComplete = true;
        assert.deepEqual(r, full, `${file} head ${n}`);
      }
    }
    assert.ok(sawComplete, `${file}: some head within ${maxHead} bytes reaches pixel data`);
  }
});

test('MR_truncated.dcm: pixel data longer than the file', { skip: needsData }, () => {
  const buf = dataFile('pydicom/MR_truncated.dcm');
  const h = readPart10Header(buf);
  const dataset = buf.subarray(h.datasetOffset);
  // Taken as a complete dataset it is structurally impossible...
  assert.throws(
    () => readDatasetHeader(dataset, h.transferSyntaxUid),
    (e: unknown) => e instanceof DicomParseError && /\(7FE0,0010\)/.test(e.message),
  );
  // ...but as the head of the original MR_small dataset it is fine.
  const original = readFile('pydicom/MR_small.dcm').dataset;
  const r = readDatasetHeader(dataset, h.transferSyntaxUid, { totalLength: original.length });
  assert.equal(r.stoppedAt, 'pixel-data');
  assert.equal(r.attributes.SOPInstanceUID, MR_SOP);
  assert.deepEqual(r.pixelData, { offset: 1166, length: 8192 });
});

test('rtplan_truncated.dcm: sequence cut off mid-way', { skip: needsData }, () => {
  const buf = dataFile('pydicom/rtplan_truncated.dcm');
  const h = readPart10Header(buf);
  assert.equal(h.transferSyntaxUid, '1.2.840.10008.1.2');
  const dataset = buf.subarray(h.datasetOffset);
  assert.throws(
    () => readDatasetHeader(dataset, h.transferSyntaxUid),
    (e: unknown) => e instanceof DicomParseError && /\(300A,00B0\)/.test(e.message),
  );
  const original = readFile('pydicom/rtplan.dcm');
  assert.equal(original.result.stoppedAt, 'end');
  const r = readDatasetHeader(dataset, h.transferSyntaxUid, { totalLength: original.dataset.length });
  assert.equal(r.stoppedAt, 'truncated');
  assert.equal(r.attributes.SOPInstanceUID, '1.2.777.777.77.7.7777.7777.20030903150023');
  assert.equal(r.attributes.PatientName, 'Last^First^mid^pre');
  assert.deepEqual(r.attributes, original.result.attributes);
});

test('garbage bytes only ever produce DicomParseError (never RangeError etc.)', () => {
  const rand = mulberry32(12345);
  const syntaxes = ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.1.99'];
  let threw = 0;
  for (let i = 0; i < 400; i++) {
    const bytes = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 600) }, () => Math.floor(rand() * 256)));
    const ts = syntaxes[i % syntaxes.length] as string;
    for (const totalLength of [undefined, bytes.length * 3]) {
      try {
        const r = readDatasetHeader(bytes, ts, totalLength === undefined ? {} : { totalLength });
        assert.ok(['end', 'truncated', 'pixel-data'].includes(r.stoppedAt));
      } catch (e) {
        assert.ok(e instanceof DicomParseError, `unexpected ${String(e)}`);
        threw++;
      }
    }
  }
  assert.ok(threw > 0);
});

test('garbage: explicit VR with an invalid VR throws DicomParseError naming tag and offset', () => {
  const ds = Buffer.concat([
    ex(0x00100010, 'PN', 'SECRET^PATIENT'),
    tagBytes(0x00100020),
    Buffer.from([0x7a, 0x01, 4, 0]),
    Buffer.from('X123'),
  ]);
  assert.throws(
    () => readDatasetHeader(ds, '1.2.840.10008.1.2.1'),
    (e: unknown) =>
      e instanceof DicomParseError &&
      e.tag === '(0010,0020)' &&
      e.offset === 22 &&
      /invalid VR/.test(e.message) &&
      !e.message.includes('SECRET') &&
      !e.message.includes('X123'),
  );
});

test('errors never include attribute values', () => {
  const secret = 'SECRET^PATIENT';
  const cases: Array<[Buffer, string]> = [
    // value length past the end
    [Buffer.concat([ex(0x00100010, 'PN', secret), ex(0x00100020, 'LO', secret, 200)]), '1.2.840.10008.1.2.1'],
    // undefined-length sequence never delimited, followed by text
    [Buffer.concat([ex(0x00081115, 'SQ', Buffer.alloc(0), UNDEFINED), item(ex(0x00100010, 'PN', secret))]), '1.2.840.10008.1.2.1'],
    // something that is not an item inside a sequence
    [Buffer.concat([ex(0x00081115, 'SQ', Buffer.alloc(0), UNDEFINED), ex(0x00100010, 'PN', secret)]), '1.2.840.10008.1.2.1'],
    // item at top level
    [Buffer.concat([item(Buffer.from(secret)), ex(0x00100010, 'PN', secret)]), '1.2.840.10008.1.2.1'],
    // undefined length on a VR that cannot have it
    [Buffer.concat([ex(0x00100010, 'UT', secret, UNDEFINED)]), '1.2.840.10008.1.2.1'],
    // deflate garbage
    [Buffer.from(secret), '1.2.840.10008.1.2.1.99'],
  ];
  for (const [ds, ts] of cases) {
    assert.throws(
      () => readDatasetHeader(ds, ts),
      (e: unknown) => e instanceof DicomParseError && !e.message.includes('SECRET') && !e.message.includes('PATIENT'),
    );
  }
});

test('readPart10Header rejects non-Part-10 and malformed input with DicomParseError', { skip: needsData }, () => {
  const isParseError = (e: unknown): boolean => e instanceof DicomParseError;
  assert.throws(() => readPart10Header(Buffer.alloc(0)), isParseError);
  assert.throws(() => readPart10Header(Buffer.alloc(200)), /DICM/);
  assert.throws(() => readPart10Header(dataFile('pydicom/no_meta.dcm')), isParseError);
  assert.throws(() => readPart10Header(dataFile('pydicom/meta_missing_tsyntax.dcm')), /Transfer Syntax UID/);
  // A head that stops inside the file meta.
  const ct = dataFile('pydicom/CT_small.dcm');
  assert.throws(() => readPart10Header(ct.subarray(0, 200)), isParseError);
  // A meta element with an invalid VR.
  const broken = Buffer.from(ct.subarray(0, 400));
  broken.write('zz', 132 + 4, 'latin1');
  assert.throws(() => readPart10Header(broken), isParseError);
});

test('readPart10Header tolerates a missing (0002,0000) group length', { skip: needsData }, () => {
  for (const file of ['pydicom/no_meta_group_length.dcm', 'dcmjs/no-meta-length-test.dcm']) {
    const buf = dataFile(file);
    const h = readPart10Header(buf);
    assert.equal(h.meta.FileMetaInformationGroupLength, undefined);
    const r = readDatasetHeader(buf.subarray(h.datasetOffset), h.transferSyntaxUid);
    assert.equal(r.stoppedAt, 'end', file);
  }
  const h = readPart10Header(dataFile('dcmjs/no-meta-length-test.dcm'));
  assert.equal(h.transferSyntaxUid, '1.2.840.10008.1.2.1');
  assert.equal(h.sopInstanceUid, '1.2.3');
  assert.equal(h.sopClassUid, '1.2.840.10008.5.1.4.1.1.6.1');
});

test('readPart10Header: meta without Media Storage SOP Class UID (CTImageStorage_bad_meta.dcm)', { skip: needsData }, () => {
  const { header, result } = readFile('pynetdicom/CTImageStorage_bad_meta.dcm');
  assert.equal(header.sopClassUid, '');
  assert.equal(header.meta.MediaStorageSOPClassUID, undefined);
  assert.equal(header.sopInstanceUid, '1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322');
  assert.equal(header.meta.SourceApplicationEntityTitle, 'CLUNIE1');
  assert.equal(result.attributes.SOPClassUID, '1.2.840.10008.5.1.4.1.1.2');
});

test('readPart10Header accepts a file without the 128-byte preamble', { skip: needsData }, () => {
  const buf = dataFile('pydicom/CT_small.dcm');
  const withPreamble = readPart10Header(buf);
  const noPreamble = readPart10Header(buf.subarray(128));
  assert.equal(withPreamble.preamble, true);
  assert.equal(noPreamble.preamble, false);
  assert.equal(noPreamble.datasetOffset, withPreamble.datasetOffset - 128);
  assert.deepEqual(noPreamble.meta, withPreamble.meta);
});

// ---------------------------------------------------------------------------
// Synthetic structure tests
// ---------------------------------------------------------------------------

test('sequences: defined/undefined items, nesting, and values inside them are ignored', () => {
  const inner = Buffer.concat([
    ex(0x00081150, 'UI', '1.2.3\0'),
    ex(0x00100010, 'PN', 'INNER^NAME'),
    ex(0x00081199, 'SQ', Buffer.concat([item(ex(0x00100020, 'LO', 'INNERID'), true), seqDelim()]), UNDEFINED),
  ]);
  const ds = Buffer.concat([
    ex(0x00080016, 'UI', '1.2.840.10008.5.1.4.1.1.7\0'),
    ex(0x00081115, 'SQ', Buffer.concat([item(inner, true), item(inner), seqDelim()]), UNDEFINED),
    ex(0x00081140, 'SQ', item(ex(0x00100010, 'PN', 'DEFINED^SQ'))), // defined-length SQ
    ex(0x00100010, 'PN', 'OUTER^NAME'),
    ex(0x00280010, 'US', us(7)),
    ex(0x7fe00010, 'OB', Buffer.concat([item(Buffer.alloc(0)), item(Buffer.alloc(4)), seqDelim()]), UNDEFINED),
    ex(0xfffcfffc, 'OB', Buffer.alloc(8)),
  ]);
  const r = readDatasetHeader(ds, '1.2.840.10008.1.2.4.50');
  assert.equal(r.stoppedAt, 'pixel-data');
  assert.equal(r.attributes.SOPClassUID, '1.2.840.10008.5.1.4.1.1.7');
  assert.equal(r.attributes.PatientName, 'OUTER^NAME');
  assert.equal(r.attributes.PatientID, undefined);
  assert.equal(r.attributes.Rows, '7');
  assert.equal(r.pixelData?.length, 'undefined');
  assert.equal(ds.readUInt32LE((r.pixelData as { offset: number }).offset), 0xe000fffe);
});

test('implicit VR: undefined-length elements are sequences; UN undefined-length in explicit VR is implicit inside', () => {
  const nested = Buffer.concat([
    im(0x00100010, 'INNER'),
    im(0x00540016, Buffer.concat([item(im(0x00100020, 'X'), true), seqDelim()]), UNDEFINED),
  ]);
  const implicitDs = Buffer.concat([
    im(0x00080005, 'ISO_IR 100'),
    im(0x00540012, Buffer.concat([item(nested, true), seqDelim()]), UNDEFINED),
    im(0x00100010, 'Ren\xe9 '),
    im(0x00280010, us(256)),
    im(0x00280008, '3 '),
  ]);
  const r = readDatasetHeader(implicitDs, '1.2.840.10008.1.2');
  assert.equal(r.stoppedAt, 'end');
  assert.equal(r.attributes.PatientName, 'René');
  assert.equal(r.attributes.Rows, '256');
  assert.equal(r.attributes.NumberOfFrames, '3');

  const explicitWithUn = Buffer.concat([
    ex(0x00091010, 'UN', Buffer.concat([item(nested, true), seqDelim()]), UNDEFINED),
    ex(0x00100010, 'PN', 'AFTER^UN'),
    // Rows as UN with a known tag: decoded via the dictionary VR.
    ex(0x00280010, 'UN', us(42)),
  ]);
  const r2 = readDatasetHeader(explicitWithUn, '1.2.840.10008.1.2.1');
  assert.equal(r2.attributes.PatientName, 'AFTER^UN');
  assert.equal(r2.attributes.Rows, '42');
});

test('big endian explicit VR: numbers, sequences and item tags', () => {
  const be = (tag: number, vr: string, v: Buffer | string = Buffer.alloc(0), len?: number): Buffer => ex(tag, vr, v, len, false);
  const beItem = (content: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(content.length, 0);
    return Buffer.concat([tagBytes(0xfffee000, false), len, content]);
  };
  const beDelim = Buffer.concat([tagBytes(0xfffee0dd, false), Buffer.alloc(4)]);
  const rows = Buffer.alloc(2);
  rows.writeUInt16BE(512, 0);
  const ds = Buffer.concat([
    be(0x00081115, 'SQ', Buffer.concat([beItem(be(0x00100010, 'PN', 'IN^SQ')), beDelim]), UNDEFINED),
    be(0x00100010, 'PN', 'BIG^ENDIAN'),
    be(0x00280010, 'US', rows),
    be(0x7fe00010, 'OW', Buffer.alloc(4)),
  ]);
  const r = readDatasetHeader(ds, '1.2.840.10008.1.2.2');
  assert.equal(r.attributes.PatientName, 'BIG^ENDIAN');
  assert.equal(r.attributes.Rows, '512');
  assert.deepEqual(r.pixelData, { offset: ds.length - 4, length: 4 });
});

test('values: trimming rules, multi-values, empty values, signed numbers, custom tags', () => {
  const ss = Buffer.alloc(2);
  ss.writeInt16LE(-5, 0);
  const ul = Buffer.alloc(4);
  ul.writeUInt32LE(4000000000, 0);
  const ds = Buffer.concat([
    ex(0x00080018, 'UI', ' 1.2.3.4\0'),
    ex(0x00080060, 'CS', 'MR'),
    ex(0x00081030, 'LO', ' Head  \0'),
    ex(0x0008103e, 'LO', 'A\\B '),
    ex(0x00100010, 'PN'),
    ex(0x00281041, 'SS', ss),
    ex(0x00281234, 'UL', ul),
  ]);
  const r = readDatasetHeader(ds, '1.2.840.10008.1.2.1', {
    tags: {
      SOPInstanceUID: 0x00080018,
      Modality: 0x00080060,
      StudyDescription: 0x00081030,
      SeriesDescription: 0x0008103e,
      PatientName: 0x00100010,
      PixelIntensityRelationshipSign: 0x00281041,
      SomeUL: 0x00281234,
      Missing: 0x00300030,
    },
  });
  assert.deepEqual(r.attributes, {
    SOPInstanceUID: '1.2.3.4',
    Modality: 'MR',
    StudyDescription: ' Head',
    SeriesDescription: 'A\\B',
    PatientName: '',
    PixelIntensityRelationshipSign: '-5',
    SomeUL: '4000000000',
  });
  assert.equal(r.stoppedAt, 'end');
});

test('structural limits: lengths checked against totalLength, missing delimiters, heads', () => {
  const unterminated = Buffer.concat([ex(0x00081115, 'SQ', item(ex(0x00100010, 'PN', 'A')), UNDEFINED)]);
  assert.throws(() => readDatasetHeader(unterminated, '1.2.840.10008.1.2.1'), DicomParseError);
  // The same bytes as the head of a larger dataset: the delimiter may still come.
  assert.equal(readDatasetHeader(unterminated, '1.2.840.10008.1.2.1', { totalLength: 1000 }).stoppedAt, 'truncated');

  const longValue = ex(0x00100010, 'PN', 'AB', 100);
  assert.equal(readDatasetHeader(longValue, '1.2.840.10008.1.2.1', { totalLength: 108 }).stoppedAt, 'truncated');
  assert.throws(() => readDatasetHeader(longValue, '1.2.840.10008.1.2.1', { totalLength: 107 }), DicomParseError);

  // Partial element header at the very end of a complete dataset.
  assert.throws(
    () => readDatasetHeader(Buffer.concat([ex(0x00080060, 'CS', 'CT'), Buffer.alloc(3)]), '1.2.840.10008.1.2.1'),
    DicomParseError,
  );
  assert.equal(readDatasetHeader(Buffer.alloc(0), '1.2.840.10008.1.2.1').stoppedAt, 'end');
  assert.equal(readDatasetHeader(Buffer.alloc(0), '1.2.840.10008.1.2.1', { totalLength: 10 }).stoppedAt, 'truncated');
  assert.throws(() => readDatasetHeader(Buffer.alloc(10), '1.2.840.10008.1.2.1', { totalLength: 5 }), DicomParseError);

  // Pathological nesting is refused rather than overflowing the stack.
  let deep: Buffer = Buffer.alloc(0);
  for (let i = 0; i < 200; i++) deep = ex(0x00081115, 'SQ', Buffer.concat([item(deep, true), seqDelim()]), UNDEFINED);
  assert.throws(() => readDatasetHeader(deep, '1.2.840.10008.1.2.1'), /nested deeper/);
});

test('deflate: tolerant inflate of a stream prefix; zlib-wrapped streams accepted', () => {
  // Random filler so the deflate stream is long enough to cut in half meaningfully.
  const rand = mulberry32(7);
  const filler = Buffer.from(Array.from({ length: 6000 }, () => Math.floor(rand() * 256)));
  const ds = Buffer.concat([ex(0x00080060, 'CS', 'CT'), ex(0x00100010, 'PN', 'DEFLATE^ME'), ex(0x00091010, 'OB', filler)]);
  const deflated = zlib.deflateRawSync(ds);
  assert.deepEqual(inflateDeflatedDataset(deflated), ds);
  const head = deflated.subarray(0, Math.floor(deflated.length / 2));
  assert.ok(inflateDeflatedDataset(head).length < ds.length);
  const r = readDatasetHeader(head, '1.2.840.10008.1.2.1.99', { totalLength: deflated.length });
  assert.equal(r.attributes.PatientName, 'DEFLATE^ME');
  // A cut stream that claims to be complete is an error.
  assert.throws(() => readDatasetHeader(head, '1.2.840.10008.1.2.1.99'), DicomParseError);
  // Non-conformant zlib wrapper.
  assert.equal(readDatasetHeader(zlib.deflateSync(ds), '1.2.840.10008.1.2.1.99').attributes.PatientName, 'DEFLATE^ME');
});

// ---------------------------------------------------------------------------
// buildFileMetaInformation
// ---------------------------------------------------------------------------

function metaInputFrom(h: ReturnType<typeof readPart10Header>): FileMetaInput {
  const input: FileMetaInput = {
    mediaStorageSopClassUid: h.sopClassUid,
    mediaStorageSopInstanceUid: h.sopInstanceUid,
    transferSyntaxUid: h.transferSyntaxUid,
    implementationClassUid: h.meta.ImplementationClassUID as string,
  };
  if (h.meta.ImplementationVersionName !== undefined) input.implementationVersionName = h.meta.ImplementationVersionName;
  if (h.meta.SourceApplicationEntityTitle !== undefined) input.sourceApplicationEntityTitle = h.meta.SourceApplicationEntityTitle;
  return input;
}

test('buildFileMetaInformation: layout, group length and padding', () => {
  const meta = buildFileMetaInformation({
    mediaStorageSopClassUid: '1.2.840.10008.5.1.4.1.1.7',
    mediaStorageSopInstanceUid: '1.2.3.45',
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    implementationClassUid: '1.2.3.4.5.6',
    implementationVersionName: 'AINODE_1',
    sourceApplicationEntityTitle: 'AI_NODE',
  });
  assert.equal(meta.length % 2, 0);
  assert.ok(meta.subarray(0, 128).every((b) => b === 0));
  assert.equal(meta.toString('latin1', 128, 132), 'DICM');
  assert.equal(meta.toString('latin1', 132, 140), '\x02\x00\x00\x00UL\x04\x00');
  assert.equal(meta.readUInt32LE(140), meta.length - 144);
  const h = readPart10Header(meta);
  assert.equal(h.datasetOffset, meta.length);
  assert.deepEqual(h.meta, {
    FileMetaInformationGroupLength: String(meta.length - 144),
    FileMetaInformationVersion: '00\\01',
    MediaStorageSOPClassUID: '1.2.840.10008.5.1.4.1.1.7',
    MediaStorageSOPInstanceUID: '1.2.3.45',
    TransferSyntaxUID: '1.2.840.10008.1.2.1',
    ImplementationClassUID: '1.2.3.4.5.6',
    ImplementationVersionName: 'AINODE_1',
    SourceApplicationEntityTitle: 'AI_NODE',
  });
  // Odd-length UID padded with NUL, odd-length AE with space.
  assert.ok(meta.includes(Buffer.from('1.2.840.10008.5.1.4.1.1.7\0', 'latin1')));
  assert.ok(meta.includes(Buffer.from('AI_NODE ', 'latin1')));
});

test('buildFileMetaInformation validates input without echoing values', () => {
  const good: FileMetaInput = {
    mediaStorageSopClassUid: '1.2.840.10008.5.1.4.1.1.7',
    mediaStorageSopInstanceUid: '1.2.3',
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    implementationClassUid: '1.2.3.4',
  };
  assert.doesNotThrow(() => buildFileMetaInformation(good));
  const bad: Array<[Partial<FileMetaInput>, RegExp]> = [
    [{ mediaStorageSopInstanceUid: '1.2.3a' }, /mediaStorageSopInstanceUid/],
    [{ mediaStorageSopInstanceUid: '' }, /mediaStorageSopInstanceUid/],
    [{ mediaStorageSopInstanceUid: '1.' + '2'.repeat(63) }, /65 characters/],
    [{ mediaStorageSopInstanceUid: '1..2' }, /empty component/],
    [{ transferSyntaxUid: '1.2.840.10008.1.2.1 ' }, /transferSyntaxUid/],
    [{ implementationClassUid: '1,2' }, /implementationClassUid/],
    [{ mediaStorageSopClassUid: '1.2\u00e9' }, /mediaStorageSopClassUid/],
    [{ sourceApplicationEntityTitle: 'A'.repeat(17) }, /sourceApplicationEntityTitle.*17/],
    [{ sourceApplicationEntityTitle: '   ' }, /sourceApplicationEntityTitle/],
    [{ sourceApplicationEntityTitle: 'A\\B' }, /sourceApplicationEntityTitle/],
    [{ implementationVersionName: 'V'.repeat(17) }, /implementationVersionName/],
    [{ implementationVersionName: 'v\u00e9' }, /implementationVersionName/],
  ];
  for (const [patch, message] of bad) {
    assert.throws(
      () => buildFileMetaInformation({ ...good, ...patch }),
      (e: unknown) => e instanceof Error && message.test(e.message) && !e.message.includes('1.2.3a'),
      JSON.stringify(patch),
    );
  }
});

test('buildFileMetaInformation reproduces DCMTK-written meta byte for byte (CT_small.dcm)', { skip: needsData }, () => {
  const buf = dataFile('pydicom/CT_small.dcm');
  const h = readPart10Header(buf);
  const rebuilt = buildFileMetaInformation(metaInputFrom(h));
  assert.equal(rebuilt.length, h.datasetOffset);
  // Compare from "DICM" on: this file's preamble is not zeros (it holds a TIFF
  // header, "II*\0"), which PS3.10 allows; we always write a zero preamble.
  assert.deepEqual(rebuilt.subarray(128), buf.subarray(128, h.datasetOffset));
});

const ROUND_TRIP_FILES = [
  'pydicom/CT_small.dcm',
  'pydicom/MR_small_implicit.dcm',
  'pydicom/MR_small_bigendian.dcm',
  'pydicom/image_dfl.dcm',
  'pydicom/charset_files/chrH31.dcm',
  'pydicom/no_meta_group_length.dcm',
  'cornerstone3D/CTImage.dcm_JPEG2000TransferSyntax_1.2.840.10008.1.2.4.91.dcm',
];

test('buildFileMetaInformation + original dataset is accepted by dcmftest and dcmdump', { skip: needsDcmtk }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dicom-reader-test-'));
  try {
    for (const rel of ROUND_TRIP_FILES) {
      const buf = dataFile(rel);
      const h = readPart10Header(buf);
      const dataset = buf.subarray(h.datasetOffset);
      const meta = buildFileMetaInformation(metaInputFrom(h));
      const out = path.join(dir, path.basename(rel) + '.dcm');
      fs.writeFileSync(out, Buffer.concat([meta, dataset]));

      const ftest = spawnSync('dcmftest', [out], { encoding: 'utf8' });
      assert.equal(ftest.status, 0, `dcmftest ${rel}: ${ftest.stdout}${ftest.stderr}`);
      assert.match(ftest.stdout, /^yes:/);

      const dump = spawnSync('dcmdump', ['-q', '+P', '0002,0000', '+P', '0002,0003', '+P', '0008,0018', out], { encoding: 'utf8' });
      assert.equal(dump.status, 0, `dcmdump ${rel}: ${dump.stderr}`);
      assert.doesNotMatch(dump.stderr, /^[EF]:/m, `dcmdump ${rel} errors`);
      assert.match(dump.stdout, new RegExp(`\\(0002,0000\\) UL ${meta.length - 144} `));
      assert.ok(dump.stdout.includes(`(0002,0003) UI [${h.sopInstanceUid}]`), `dcmdump ${rel} shows the meta SOP Instance UID`);
      // no_meta_group_length.dcm's dataset has no SOP Instance UID of its own.
      const sop = readDatasetHeader(dataset, h.transferSyntaxUid).attributes.SOPInstanceUID;
      if (sop !== undefined) assert.ok(dump.stdout.includes(`(0008,0018) UI [${sop}]`), `dcmdump ${rel} dataset intact`);

      const back = readPart10Header(fs.readFileSync(out));
      assert.equal(back.preamble, true);
      assert.equal(back.datasetOffset, meta.length);
      assert.equal(back.transferSyntaxUid, h.transferSyntaxUid);
      assert.equal(back.sopClassUid, h.sopClassUid);
      assert.equal(back.sopInstanceUid, h.sopInstanceUid);
      assert.equal(back.meta.ImplementationClassUID, h.meta.ImplementationClassUID);
      assert.equal(back.meta.ImplementationVersionName, h.meta.ImplementationVersionName);
      assert.equal(back.meta.SourceApplicationEntityTitle, h.meta.SourceApplicationEntityTitle);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

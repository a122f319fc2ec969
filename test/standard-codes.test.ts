/**
 * Every SNOMED CT concept the node writes where a receiver matches on it — the SEG's Segmented
 * Property Category/Type (report/segmentation-iod.ts) and the SR's Finding / Finding Site
 * (the post-processors' codes) — checked against the rows of the DICOM standard's PS3.16 context
 * groups (dicom-dictionary/ps3.16-segmentation-codes.json, read at test time): same code value,
 * same scheme, and the Code Meaning spelt exactly as the table writes it. A code that is not in
 * the table, or whose meaning differs ("Morphologically Altered Structure" for 49755003), fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './helpers/env';
import type { Code } from '../src/inference/findings';
import { labelCode } from '../src/inference/postprocess/segmentation';
import { CODES as NODULE_CODES } from '../src/inference/postprocess/lung-nodules/nodule-finding';
import { NODULE_TYPE, SEGMENT_CATEGORY, anatomicalSegment, noduleSegment } from '../src/report/segmentation-iod';

interface StandardTable {
  source: string;
  columns: string[];
  rows: [number, string, string, string][];
}

const TABLE_FILE = path.join(PROJECT_ROOT, 'dicom-dictionary', 'ps3.16-segmentation-codes.json');

function readTable(): Map<string, { cid: number; meaning: string }> {
  const t = JSON.parse(fs.readFileSync(TABLE_FILE, 'utf8')) as StandardTable;
  assert.deepEqual(t.columns, ['cid', 'scheme', 'value', 'meaning']);
  const out = new Map<string, { cid: number; meaning: string }>();
  for (const [cid, scheme, value, meaning] of t.rows) out.set(`${scheme}:${value}`, { cid, meaning });
  return out;
}

/** Labels the shipped manifests declare (models/*\/model.json), each coded as the SR and SEG code it. */
function manifestLabels(): string[] {
  const dir = path.join(PROJECT_ROOT, 'models');
  return fs
    .readdirSync(dir)
    .filter((m) => fs.existsSync(path.join(dir, m, 'model.json')))
    .flatMap(
      (m) => (JSON.parse(fs.readFileSync(path.join(dir, m, 'model.json'), 'utf8')) as { output: { labels: string[] } }).output.labels,
    )
    .filter((l) => l !== 'background');
}

/** What the product emits, by where it goes. */
function emittedCodes(): [string, Code][] {
  const brain = ['white matter', 'grey matter', 'cerebral white matter', 'cerebral cortex', 'cerebellar white matter', 'CSF', 'brain'];
  const brainCodes = [...new Set([...manifestLabels(), ...brain])].map((l) => labelCode(l)).filter((c) => c.scheme === 'SCT');
  return [
    ...Object.entries(SEGMENT_CATEGORY).map(([k, c]): [string, Code] => [`SEG category ${k}`, c]),
    ['SEG type (nodule)', NODULE_TYPE],
    ['SEG category of a nodule segment', noduleSegment(1).category],
    ...brainCodes.map((c): [string, Code] => [`SEG type / SR finding "${c.meaning}"`, anatomicalSegment('x', c).type]),
    ['SEG category of a brain segment', anatomicalSegment('x', brainCodes[0]!).category],
    ['SR finding (nodule)', NODULE_CODES.nodule],
    ['SR finding site (lung)', NODULE_CODES.lung],
  ];
}

test('every SCT code the SEG and SR emit is in the standard table with the same code meaning', () => {
  const table = readTable();
  const emitted = emittedCodes();
  assert.ok(emitted.length >= 10, `only ${emitted.length} codes gathered`);
  const wrong: string[] = [];
  for (const [where, c] of emitted) {
    const row = table.get(`${c.scheme}:${c.value}`);
    if (!row) wrong.push(`${where}: (${c.value}, ${c.scheme}, "${c.meaning}") is in none of the standard's context groups listed`);
    else if (row.meaning !== c.meaning)
      wrong.push(`${where}: (${c.value}, ${c.scheme}) means "${row.meaning}" in CID ${row.cid}, not "${c.meaning}"`);
  }
  assert.deepEqual(wrong, []);
});

test('the MeshNet labels map to the CID 7153 codes (white matter 389080008, grey matter 389081007)', () => {
  assert.deepEqual(labelCode('white matter'), { value: '389080008', scheme: 'SCT', meaning: 'White Matter' });
  assert.deepEqual(labelCode('grey matter'), { value: '389081007', scheme: 'SCT', meaning: 'Gray Matter' });
  assert.deepEqual(SEGMENT_CATEGORY.morphologicallyAbnormalStructure, {
    value: '49755003',
    scheme: 'SCT',
    meaning: 'Morphologically Abnormal Structure',
  });
  // A label the table does not know gets a private code, never a made-up SCT one.
  assert.equal(labelCode('left putamen-ish').scheme, '99DAIN');
});

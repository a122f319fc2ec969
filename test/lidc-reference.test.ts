/**
 * The real-CT reference standard of `bench:nodules -- --real` (bench/lidc-reference): LUNA16 rows,
 * LIDC XML reads put into patient mm, and LUNA16's hit rule. On the shared LIDC-IDRI series'
 * headers and reads only — no pixel decoding, no model run (the bench runs the model).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { scoreDetections, type Detection } from '../bench/lidc-reference';
import { readRealDataset, readScanFolder, referenceOf } from '../bench/nodule-real-scans';
import { SHARED_DICOM } from './helpers/env';

const CT_LIDC = path.join(SHARED_DICOM, '..', 'ct-lidc');
const skip = fs.existsSync(path.join(CT_LIDC, 'luna16-annotations.csv')) ? false : 'shared/data/ct-lidc not found';

test('LIDC-IDRI reference: LUNA16 rows, the reads in patient mm, and LUNA16 hit / irrelevant / false-positive rule', { skip }, () => {
  const { scans, luna } = readRealDataset(CT_LIDC);
  const byName = new Map(scans.map((d) => [path.basename(d), readScanFolder(d)]));
  const s1 = byName.get('LIDC-IDRI-0001')!;
  const s2 = byName.get('LIDC-IDRI-0002')!;
  assert.equal(s1.instances.length, 133);
  assert.equal(s2.instances.length, 261);

  // 0001: one LUNA16 nodule (23.4 mm), and all four readers' outlines of it agree with the row.
  const r1 = referenceOf(s1, luna);
  assert.equal(r1.nodules.length, 1);
  const nodule = r1.nodules[0]!;
  assert.ok(Math.abs(nodule.diameterMm - 23.35) < 0.01);
  assert.equal(r1.lidcOnlyNodules.length, 0, 'its 4 readers outline the LUNA16 nodule: nothing >= 3 mm is LIDC-only');
  assert.ok(r1.irrelevant.length > 0, 'small nodules and non-nodules are irrelevant findings');

  // 0002: no LUNA16 nodule; the nodule 2 of 4 readers outlined is an irrelevant finding.
  const r2 = referenceOf(s2, luna);
  assert.equal(r2.nodules.length, 0);
  assert.equal(r2.lidcOnlyNodules.length, 1);
  const lidcOnly = r2.lidcOnlyNodules[0]!;
  assert.equal(lidcOnly.readers, 2);
  assert.ok(lidcOnly.diameterMm > 20 && lidcOnly.diameterMm < 28, `LIDC-only nodule ~24 mm, got ${lidcOnly.diameterMm.toFixed(1)}`);

  // The hit rule: centre within the radius (distance <= diameter / 2).
  const at = (dx: number, diameterMm = 20): Detection => ({
    centre: { x: nodule.centre.x + dx, y: nodule.centre.y, z: nodule.centre.z },
    diameterMm,
  });
  const radius = nodule.diameterMm / 2;
  const inside = scoreDetections(r1, [at(radius - 0.1, 21), at(1, 22)]);
  assert.equal(inside.nodules[0]!.hit?.diameterMm, 22, 'the detection nearest the centre is the hit');
  assert.deepEqual([inside.falsePositives.length, inside.irrelevant.length], [0, 0], 'a second detection on a nodule is no false positive');
  const outside = scoreDetections(r1, [at(radius + 0.1)]);
  assert.equal(outside.nodules[0]!.hit, undefined);
  // Far from every mark (150 mm across, 300 mm down: beyond every irrelevant zone).
  const far = scoreDetections(r1, [{ centre: { x: nodule.centre.x - 150, y: nodule.centre.y, z: nodule.centre.z + 300 }, diameterMm: 6 }]);
  assert.equal(far.falsePositives.length, 1);
  // On 0002's LIDC-only nodule: neither hit nor false positive.
  const onLidcOnly = scoreDetections(r2, [{ centre: lidcOnly.centre, diameterMm: 24 }]);
  assert.deepEqual([onLidcOnly.falsePositives.length, onLidcOnly.irrelevant.length], [0, 1]);
});

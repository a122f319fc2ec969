// Volume assembly from Image Position/Orientation: shuffled arrival, missing slice, duplicates,
// mixed sizes and orientations, oblique planes, and a series read from real files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { assembleVolume, SliceGeometry } from '../src/imaging/geometry';
import { readPart10Header } from '../src/dicom/part10';
import { readDatasetHeader } from '../src/dicom/dataset-reader';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { tmpDir } from './helpers/env';

const AXIAL = [1, 0, 0, 0, 1, 0];

function slice(i: number, z: number, o: Partial<SliceGeometry> = {}): SliceGeometry {
  return {
    sopInstanceUid: `1.2.3.${i}`,
    imagePositionPatient: [-250, -250, z],
    imageOrientationPatient: AXIAL,
    rows: 512,
    columns: 512,
    pixelSpacing: [0.7, 0.7],
    instanceNumber: i,
    ...o,
  };
}

function shuffled<T>(a: T[]): T[] {
  const out = [...a];
  for (let i = out.length - 1; i > 0; i--) {
    const j = (i * 7919 + 13) % (i + 1); // deterministic shuffle
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

test('shuffled arrival: sorted along the normal, not by Instance Number', () => {
  // Instance numbers run opposite to position, as on scanners that number head-first from the top.
  const slices = Array.from({ length: 40 }, (_, i) => slice(40 - i, i * 1.25));
  const v = assembleVolume(shuffled(slices));
  assert.ok(v.ok, JSON.stringify(v));
  assert.deepEqual(
    v.positions,
    slices.map((s) => s.imagePositionPatient![2]),
  );
  assert.deepEqual(
    v.slices.map((s) => s.instanceNumber),
    slices.map((s) => s.instanceNumber),
  );
  assert.equal(v.spacing, 1.25);
  assert.deepEqual(v.voxelSize, [0.7, 0.7, 1.25]);
  assert.deepEqual(v.warnings, []);
});

test('a missing slice is a gap, with how many are missing', () => {
  const slices = Array.from({ length: 20 }, (_, i) => slice(i, i * 2.5)).filter((_, i) => i !== 7);
  const v = assembleVolume(slices);
  assert.equal(v.ok, false);
  assert.match(
    (v as { reasons: string[] }).reasons[0]!,
    /gap in the series: 1 step\(s\) larger than the 2\.50 mm spacing \(about 1 missing slice/,
  );
});

test('duplicates, mixed sizes, mixed orientations and missing positions are refused with reasons', () => {
  const base = Array.from({ length: 5 }, (_, i) => slice(i, i));
  const dup = assembleVolume([...base, slice(9, 2)]);
  assert.equal(dup.ok, false);
  assert.match((dup as { reasons: string[] }).reasons[0]!, /1 duplicate slice position/);
  const sizes = assembleVolume([...base, slice(9, 9, { rows: 256, columns: 256 })]);
  assert.match((sizes as { reasons: string[] }).reasons.join(), /mixed image sizes: 512x512, 256x256/);
  const localizer = assembleVolume([...base, slice(9, 9, { imageOrientationPatient: [0, 1, 0, 0, 0, -1] })]);
  assert.match((localizer as { reasons: string[] }).reasons.join(), /mixed orientations within one stack: 1 slice/);
  const noPos = assembleVolume([...base, slice(9, 9, { imagePositionPatient: null })]);
  assert.match((noPos as { reasons: string[] }).reasons.join(), /lack Image Position\/Orientation/);
  const one = assembleVolume([base[0]!]);
  assert.match((one as { reasons: string[] }).reasons.join(), /at least 2/);
});

test('oblique plane: positions measured along the true normal', () => {
  const c = Math.SQRT1_2;
  const iop = [1, 0, 0, 0, c, -c]; // tilted about x
  const normal = [0, c, c];
  const slices = Array.from({ length: 10 }, (_, i) =>
    slice(i, 0, { imageOrientationPatient: iop, imagePositionPatient: [0, normal[1]! * i * 3, normal[2]! * i * 3] }),
  );
  const v = assembleVolume(shuffled(slices));
  assert.ok(v.ok);
  assert.ok(Math.abs(v.spacing - 3) < 1e-9);
  assert.ok(Math.abs(v.normal[1] - c) < 1e-9 && Math.abs(v.normal[2] - c) < 1e-9);
});

test('a series read from Part 10 files assembles with the spacing in its headers', () => {
  const files = writeSyntheticCtSeries({ outDir: tmpDir('geom'), count: 12, uidRoot: newUidRoot(), rows: 64, columns: 64 });
  const tags = {
    SOPInstanceUID: 0x00080018,
    ImagePositionPatient: 0x00200032,
    ImageOrientationPatient: 0x00200037,
    PixelSpacing: 0x00280030,
    Rows: 0x00280010,
    Columns: 0x00280011,
    InstanceNumber: 0x00200013,
  };
  const nums = (v: string | undefined) => (v ? v.split('\\').map(Number) : null);
  const slices: SliceGeometry[] = shuffled(files).map((f) => {
    const buf = fs.readFileSync(f);
    const h = readPart10Header(buf);
    const a = readDatasetHeader(buf.subarray(h.datasetOffset), h.transferSyntaxUid, { tags }).attributes;
    return {
      sopInstanceUid: a.SOPInstanceUID!,
      imagePositionPatient: nums(a.ImagePositionPatient),
      imageOrientationPatient: nums(a.ImageOrientationPatient),
      pixelSpacing: nums(a.PixelSpacing),
      rows: Number(a.Rows),
      columns: Number(a.Columns),
      instanceNumber: Number(a.InstanceNumber),
    };
  });
  const v = assembleVolume(slices);
  assert.ok(v.ok, JSON.stringify(v));
  assert.equal(v.spacing, 1.25);
  assert.deepEqual(v.voxelSize, [0.7, 0.7, 1.25]);
  // The synthetic series descends in z with the instance number: ascending position = descending number.
  assert.deepEqual(
    v.slices.map((s) => s.instanceNumber),
    Array.from({ length: 12 }, (_, i) => 12 - i),
  );
});

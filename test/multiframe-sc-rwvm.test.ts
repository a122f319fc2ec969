/**
 * Multi-frame objects outside Enhanced CT/MR/PET (issue 12): a Multi-frame Grayscale Word
 * Secondary Capture carrying Shared/Per-frame Functional Groups with Plane Position/Orientation
 * and Pixel Measures loads as a volume; the same object without them is refused with the reason,
 * never stacked blindly. And a frame with a Real World Value Mapping but no Pixel Value
 * Transformation keeps its stored values as modality values, with a warning saying the mapping is
 * not applied (src/imaging/functional-groups.ts explains why).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { El, monochrome16, patientModule, writePart10 } from '../fixtures/dicom-writer';
import { sq } from '../fixtures/to-enhanced';
import { newUidRoot } from '../fixtures/synthetic-ct';
import { loadFiles } from '../bench/enhanced-equivalence';
import { NotAVolumeError } from '../src/inference/series-volume';
import { TAG } from '../src/dicom/tags';
import { tmpDir } from './helpers/env';

const MF_GRAYSCALE_WORD_SC = '1.2.840.10008.5.1.4.1.1.7.3';
const ENHANCED_MR = '1.2.840.10008.5.1.4.1.1.4.1';
const SIZE = 6;
const FRAMES = 4;

function el(tag: number, vr: string, value: Buffer | string): El {
  return [tag >>> 16, tag & 0xffff, vr, value];
}

/** Stored value of pixel i of the frame lying k-th along the normal. */
const stored = (k: number, i: number): number => 100 * (k + 1) + i;

interface MultiFrameSpec {
  readonly sopClass: string;
  readonly modality: string;
  /** Plane Position/Orientation and Pixel Measures in functional groups. */
  readonly geometry: boolean;
  /** A Real World Value Mapping (shared), with no Pixel Value Transformation anywhere. */
  readonly realWorldValueMapping?: boolean;
}

/** One multi-frame object, frames stored in the order 2, 0, 3, 1 along the normal (so order comes from position). */
function writeMultiFrame(file: string, spec: MultiFrameSpec): void {
  const root = newUidRoot();
  const order = [2, 0, 3, 1];
  const pixels = Buffer.alloc(FRAMES * SIZE * SIZE * 2);
  order.forEach((k, f) => {
    for (let i = 0; i < SIZE * SIZE; i++) pixels.writeUInt16LE(stored(k, i), (f * SIZE * SIZE + i) * 2);
  });
  const shared: El[] = [];
  const perFrame: El[][] = order.map(() => []);
  if (spec.geometry) {
    shared.push(
      sq(TAG.PlaneOrientationSequence, [[el(TAG.ImageOrientationPatient, 'DS', '1\\0\\0\\0\\1\\0')]]),
      sq(TAG.PixelMeasuresSequence, [[el(TAG.PixelSpacing, 'DS', '0.5\\0.5'), el(TAG.SliceThickness, 'DS', '2')]]),
    );
    order.forEach((k, f) => perFrame[f]!.push(sq(TAG.PlanePositionSequence, [[el(TAG.ImagePositionPatient, 'DS', `0\\0\\${k * 2}`)]])));
  }
  if (spec.realWorldValueMapping) {
    shared.push(
      sq(TAG.RealWorldValueMappingSequence, [
        [
          el(0x00409210, 'SH', 'ADC'),
          el(0x00409211, 'US', Buffer.from([0xff, 0xff])),
          el(0x00409216, 'US', Buffer.from([0, 0])),
          el(TAG.RealWorldValueIntercept, 'FD', Buffer.alloc(8)),
          el(TAG.RealWorldValueSlope, 'FD', buf(0.001)),
          sq(TAG.MeasurementUnitsCodeSequence, [
            [el(TAG.CodeValue, 'SH', 'mm2/s'), el(TAG.CodingSchemeDesignator, 'SH', 'UCUM'), el(TAG.CodeMeaning, 'LO', 'mm2/s')],
          ]),
        ],
      ]),
    );
  }
  const groups = shared.length > 0 || perFrame.some((g) => g.length > 0);
  writePart10(file, spec.sopClass, `${root}.3`, [
    ...patientModule({ name: 'SYNTHETIC^MULTIFRAME', id: 'SYN-MF-1', birthDate: '19700101', sex: 'O' }),
    el(TAG.PatientIdentityRemoved, 'CS', 'YES'),
    el(TAG.Modality, 'CS', spec.modality),
    el(TAG.StudyInstanceUID, 'UI', `${root}.1`),
    el(TAG.SeriesInstanceUID, 'UI', `${root}.2`),
    el(TAG.FrameOfReferenceUID, 'UI', `${root}.4`),
    el(TAG.NumberOfFrames, 'IS', String(FRAMES)),
    ...monochrome16(SIZE, SIZE, false),
    ...(groups ? [sq(TAG.SharedFunctionalGroupsSequence, [shared]), sq(TAG.PerFrameFunctionalGroupsSequence, perFrame)] : []),
    el(TAG.PixelData, 'OW', pixels),
  ]);
}

function buf(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return b;
}

test('multi-frame grayscale word SC: with functional groups it loads as a volume ordered by position; without them it is refused with the reason', async () => {
  const dir = tmpDir('mf-sc');
  try {
    const placed = path.join(dir, 'sc-geometry.dcm');
    writeMultiFrame(placed, { sopClass: MF_GRAYSCALE_WORD_SC, modality: 'OT', geometry: true });
    const vol = await loadFiles([placed]);
    assert.equal(vol.slices.length, FRAMES);
    assert.deepEqual(
      vol.slices.map((s) => s.position[2]),
      [0, 2, 4, 6],
    );
    // Frame numbers in stored order 2, 0, 3, 1 along the normal: the k-th slice is frame order.indexOf(k) + 1.
    assert.deepEqual(
      vol.slices.map((s) => s.frameNumber),
      [2, 4, 1, 3],
    );
    vol.values.forEach((v, k) => assert.equal(v[5], stored(k, 5), `slice ${k}: stored values, no rescale`));
    assert.deepEqual([...vol.pixelSpacing, vol.sliceSpacing], [0.5, 0.5, 2]);

    const blind = path.join(dir, 'sc-no-geometry.dcm');
    writeMultiFrame(blind, { sopClass: MF_GRAYSCALE_WORD_SC, modality: 'OT', geometry: false });
    await assert.rejects(loadFiles([blind]), (e: unknown) => {
      assert.ok(e instanceof NotAVolumeError, String(e));
      assert.match(e.message, /4 frames\) cannot be placed in a volume: it has no Shared or Per-frame Functional Groups/);
      assert.match(e.message, /not stacked blindly/);
      return true;
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a frame with a Real World Value Mapping but no Pixel Value Transformation: stored values, and a warning that the mapping is not applied', async () => {
  const dir = tmpDir('mf-rwvm');
  try {
    const file = path.join(dir, 'mr-rwvm.dcm');
    writeMultiFrame(file, { sopClass: ENHANCED_MR, modality: 'MR', geometry: true, realWorldValueMapping: true });
    const vol = await loadFiles([file]);
    vol.values.forEach((v, k) => assert.equal(v[7], stored(k, 7), `slice ${k}: the stored value, not 0.001 x it`));
    const notes = vol.warnings.filter((w) => /Real World Value Mapping/.test(w));
    assert.equal(notes.length, 1, vol.warnings.join(' | '));
    assert.match(
      notes[0]!,
      /^4 frame\(s\) of instance .* have a Real World Value Mapping \(mm2\/s\) but no Pixel Value Transformation or Rescale/,
    );
    assert.match(notes[0]!, /not applied/);

    // With geometry and no mapping, nothing is said.
    const plain = path.join(dir, 'mr-plain.dcm');
    writeMultiFrame(plain, { sopClass: ENHANCED_MR, modality: 'MR', geometry: true });
    assert.deepEqual(
      (await loadFiles([plain])).warnings.filter((w) => /Real World Value/.test(w)),
      [],
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

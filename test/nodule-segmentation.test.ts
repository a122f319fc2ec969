/**
 * One SEG segment per nodule (issue 14 items 1-2): the detector's accepted nodule carries its
 * voxels (nodule-mask.ts) and they agree with its measurements; finding-masks.ts paints them on
 * the source slices in report order (segment n = finding n), through a gantry-tilt shift; the
 * nodule post-processor declares it can write a Segmentation. The whole chain with the real model,
 * dciodvfy, dsrdump and Orthanc is test/e2e-report.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SeriesVolume } from '../src/inference/series-volume';
import { segmentCandidate } from '../src/inference/postprocess/lung-nodules/candidate-segmentation';
import { SegmentedVoxels } from '../src/inference/postprocess/lung-nodules/segmented-voxels';
import { volumeGrid } from '../src/inference/postprocess/lung-nodules/volume-grid';
import { findingMaskLabels, inReportOrder, maskHas } from '../src/inference/finding-masks';
import { canWriteSegmentation } from '../src/inference/postprocess/index';
import type { FindingDraft, VoxelMask } from '../src/inference/postprocess/types';
import { SYNTHETIC_CT, syntheticCt } from './helpers/synthetic-ct';

const LUNG_HU = -850;
const CORE_HU = 0;

/** An axial CT block of lung with a blurred solid sphere (edge ramp one voxel wide: partial volume) at voxel (32, 32, 16). */
function sphereVolume(radiusMm: number): SeriesVolume {
  const { spacing, sliceSpacing } = SYNTHETIC_CT;
  const centre = [32 * spacing, 32 * spacing, 16 * sliceSpacing] as const;
  return syntheticCt((x, y, z) => {
    const d = Math.hypot(x - centre[0], y - centre[1], z - centre[2]);
    const fraction = Math.max(0, Math.min(1, 0.5 - (d - radiusMm) / spacing));
    return LUNG_HU + fraction * (CORE_HU - LUNG_HU);
  }, '2.25.77');
}

function maskVoxels(mask: VoxelMask): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let z = 0; z < mask.size[2]; z++)
    for (let y = 0; y < mask.size[1]; y++)
      for (let x = 0; x < mask.size[0]; x++) {
        const at: [number, number, number] = [mask.origin[0] + x, mask.origin[1] + y, mask.origin[2] + z];
        if (maskHas(mask, ...at)) out.push(at);
      }
  return out;
}

test("an accepted nodule's mask holds its measured volume (within 10 %) and lies within its diameter of its centre", (t) => {
  for (const radiusMm of [3, 5]) {
    const volume = sphereVolume(radiusMm);
    const grid = volumeGrid(volume);
    const lung = volume.values.map(() => new Uint8Array(grid.rows * grid.columns).fill(1));
    const outcome = segmentCandidate(
      volume,
      grid,
      lung,
      { slice: 16, column: 32, row: 32, score: 0.5, radiusMm },
      new SegmentedVoxels(grid),
    );
    assert.equal(outcome.outcome, 'accepted', JSON.stringify(outcome));
    if (outcome.outcome !== 'accepted') return;
    const voxels = maskVoxels(outcome.mask);
    const voxelMm3 = grid.xSpacingMm * grid.ySpacingMm * grid.zSpacingMm;
    const maskMm3 = voxels.length * voxelMm3;
    const { volumeMm3, diameterMm, centre } = outcome.nodule;
    t.diagnostic(
      `r ${radiusMm} mm: mask ${maskMm3.toFixed(1)} mm3, measured ${volumeMm3.toFixed(1)} mm3, true ${((4 / 3) * Math.PI * radiusMm ** 3).toFixed(1)} mm3`,
    );
    assert.ok(
      Math.abs(maskMm3 - volumeMm3) / volumeMm3 < 0.1,
      `r ${radiusMm}: mask ${maskMm3.toFixed(1)} mm3 vs measured ${volumeMm3.toFixed(1)} mm3`,
    );
    for (const [x, y, z] of voxels) {
      const d = Math.hypot((x - centre.column) * grid.xSpacingMm, (y - centre.row) * grid.ySpacingMm, (z - centre.slice) * grid.zSpacingMm);
      assert.ok(
        d <= diameterMm / 2 + grid.zSpacingMm / 2,
        `r ${radiusMm}: voxel (${x}, ${y}, ${z}) lies ${d.toFixed(2)} mm from the centre`,
      );
    }
    // Compact: the box is cropped to the nodule, one bit per voxel.
    assert.ok(outcome.mask.bits.length <= Math.ceil((outcome.mask.size[0] * outcome.mask.size[1] * outcome.mask.size[2]) / 8));
    assert.ok(outcome.mask.size[0] <= Math.ceil((2 * radiusMm) / grid.xSpacingMm) + 2, `mask width ${outcome.mask.size[0]}`);
  }
});

/** A mask of the listed voxels (column, row, slice) in a box at `origin`. */
function maskOf(origin: [number, number, number], size: [number, number, number], voxels: [number, number, number][]): VoxelMask {
  const bits = new Uint8Array(Math.ceil((size[0] * size[1] * size[2]) / 8));
  for (const [c, r, s] of voxels) {
    const bit = ((s - origin[2]) * size[1] + (r - origin[1])) * size[0] + (c - origin[0]);
    bits[bit >> 3] = bits[bit >> 3]! | (1 << (bit & 7));
  }
  return { origin, size, bits };
}

test('finding masks -> source labels: segment n is finding n in report order; tilted slices shifted back; reasons when nothing can be painted', () => {
  const rows = 6;
  const columns = 8;
  const volume: SeriesVolume = {
    ...sphereVolume(1),
    rows,
    columns,
    slices: [0, 1].map((k) => ({
      sopInstanceUid: `2.25.${k + 1}`,
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      instanceNumber: k + 1,
      position: [0, 0, k] as const,
      // The second slice was shifted in-plane: volume pixel (c, r) is source pixel (c - 2, r - 1).
      ...(k === 1 ? { sourcePixelOffset: [2, 1] as const } : {}),
    })),
    values: [new Float32Array(rows * columns), new Float32Array(rows * columns)],
  };
  const draft = (confidence: number, mask?: VoxelMask): FindingDraft => ({
    label: 'nodule',
    code: { value: '27925004', scheme: 'SCT', meaning: 'Nodule' },
    confidence,
    measurements: [],
    ...(mask ? { mask } : {}),
  });
  const weak = draft(
    0.4,
    maskOf(
      [1, 1, 0],
      [2, 2, 2],
      [
        [1, 1, 0],
        [2, 2, 0],
        [2, 2, 1],
      ],
    ),
  );
  const strong = draft(
    0.9,
    maskOf(
      [4, 3, 0],
      [2, 1, 1],
      [
        [4, 3, 0],
        [5, 3, 0],
      ],
    ),
  );
  const unmasked = draft(0.6);
  assert.deepEqual(inReportOrder([weak, strong, unmasked]), [strong, unmasked, weak]);
  const labels = findingMaskLabels(volume, [weak, strong, unmasked]);
  if (typeof labels === 'string') return assert.fail(labels);
  // Finding 1 (strong) is segment 1; finding 3 (weak) segment 2; finding 2 has no voxels and no segment.
  assert.deepEqual(
    labels.segments.map((s) => [s.findingId, s.label]),
    [
      [1, 'nodule'],
      [3, 'nodule'],
    ],
  );
  const at = (slice: number, column: number, row: number): number => labels.slices[slice]![row * columns + column]!;
  assert.equal(at(0, 4, 3), 1);
  assert.equal(at(0, 5, 3), 1);
  assert.equal(at(0, 1, 1), 2);
  assert.equal(at(0, 2, 2), 2);
  // Tilted slice: volume voxel (2, 2) is source pixel (0, 1); nothing at the unshifted place.
  assert.equal(at(1, 0, 1), 2);
  assert.equal(at(1, 2, 2), 0);
  const painted = labels.slices.reduce((n, s) => n + s.filter((v) => v !== 0).length, 0);
  assert.equal(painted, 5, 'each mask voxel lands on exactly one source pixel');

  assert.equal(findingMaskLabels(volume, [unmasked]), 'no finding carries voxels: there is no region to send');
  const withoutFrame: SeriesVolume = { ...volume, frameOfReferenceUid: undefined };
  const why = findingMaskLabels(withoutFrame, [strong]);
  assert.ok(typeof why === 'string' && /no Frame of Reference UID/.test(why), 'a series without a Frame of Reference gets a reason');
});

test('post-processors that can write a Segmentation say so; classification cannot', () => {
  assert.equal(canWriteSegmentation('lung-nodules'), true);
  assert.equal(canWriteSegmentation('segmentation-volumes'), true);
  assert.equal(canWriteSegmentation('(classification)'), false);
  assert.equal(canWriteSegmentation('no-such-thing'), false);
});

test('a subsolid core on the rim of a solid structure is rejected as rim-of-solid; a ground-glass nodule, or a part-solid one seen from its ground glass, is not (issue 17 item 3)', () => {
  const { spacing, sliceSpacing } = SYNTHETIC_CT;
  const radiusMm = 4;
  const centre = [32 * spacing, 32 * spacing, 16 * sliceSpacing] as const;
  // A sphere of the given density whose edge is a ramp one voxel wide (partial volume).
  const sphere = (coreHu: number): SeriesVolume =>
    syntheticCt((x, y, z) => {
      const d = Math.hypot(x - centre[0], y - centre[1], z - centre[2]);
      return LUNG_HU + Math.max(0, Math.min(1, 0.5 - (d - radiusMm) / spacing)) * (coreHu - LUNG_HU);
    }, '2.25.78');
  // The peak on the solid sphere's edge, as a small-scale peak on a vessel's rim lies.
  const edgeColumn = 32 + Math.round(radiusMm / spacing);
  const segmentAt = (volume: SeriesVolume, column: number, blobRadiusMm: number) => {
    const grid = volumeGrid(volume);
    const lung = volume.values.map(() => new Uint8Array(grid.rows * grid.columns).fill(1));
    return segmentCandidate(
      volume,
      grid,
      lung,
      { slice: 16, column, row: 32, score: 0.5, radiusMm: blobRadiusMm },
      new SegmentedVoxels(grid),
    );
  };
  const rim = segmentAt(sphere(CORE_HU), edgeColumn, 1.4);
  assert.equal(rim.outcome, 'rejected', JSON.stringify(rim));
  assert.equal(rim.outcome === 'rejected' && rim.reason, 'rim-of-solid', JSON.stringify(rim));
  // The same solid sphere from its centre is a solid nodule, and a ground-glass sphere from its centre a ground-glass one.
  const solid = segmentAt(sphere(CORE_HU), 32, radiusMm);
  assert.equal(solid.outcome, 'accepted', JSON.stringify(solid));
  const groundGlass = segmentAt(sphere(-550), 32, radiusMm);
  assert.equal(groundGlass.outcome, 'accepted', JSON.stringify(groundGlass));
  assert.ok(groundGlass.outcome === 'accepted' && groundGlass.nodule.coreHu < -300 && groundGlass.nodule.meanHu < -300);
  // A part-solid nodule seen from a peak on its ground glass: the densest voxels (the ones the
  // mean counts) are its solid component's, but most of it is ground glass. It is a nodule.
  const partSolid = syntheticCt((x, y, z) => {
    const inGroundGlass = Math.max(0, Math.min(1, 0.5 - (Math.hypot(x - centre[0], y - centre[1], z - centre[2]) - 6) / spacing));
    const inSolid = Math.max(0, Math.min(1, 0.5 - (Math.hypot(x - centre[0] - 3.5, y - centre[1], z - centre[2]) - 2.4) / spacing));
    return LUNG_HU + inGroundGlass * (-600 - LUNG_HU) + inSolid * (CORE_HU + 600);
  }, '2.25.79');
  const onGroundGlass = segmentAt(partSolid, 32, 6);
  assert.equal(onGroundGlass.outcome, 'accepted', JSON.stringify(onGroundGlass));
  assert.ok(
    onGroundGlass.outcome === 'accepted' && onGroundGlass.nodule.coreHu < -300 && onGroundGlass.nodule.meanHu >= -300,
    JSON.stringify(onGroundGlass),
  );
  assert.ok(onGroundGlass.nodule.solidShare < 0.3, 'mostly ground glass');
});

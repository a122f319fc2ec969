// Frame-by-frame check of a DICOM Segmentation against the model's label map (issue 14 item 3):
// every frame lies on a source slice as its file places it (Image Position (Patient) within
// 0.01 mm, same orientation and pixel spacing), names that slice's ORIGINAL SOP Instance UID in
// its Derivation Image / Source Image Sequence, and every pixel of every source slice carries
// (label == segment) for the conformed voxel nearest to where the pixel lies in the patient.
// The expected labels are found through patient millimetres, not through labelsOnSourceGrid, so a
// mistake in that resampling (axes swapped, a flipped row) would show here.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { ConformGrid } from '../../src/inference/conform';
import type { SegmentationRead } from '../../src/imaging/segmentation-reader';
import { parsePart10 } from '../../src/imaging/dataset';
import { TAG } from '../../src/dicom/tags';

type Vec3 = [number, number, number];

/** One single-frame source image as its file describes it. */
export interface SourceSlice {
  sopInstanceUid: string;
  position: Vec3;
  /** Row direction, column direction. */
  orientation: number[];
  /** [row spacing, column spacing] mm. */
  pixelSpacing: [number, number];
  rows: number;
  columns: number;
}

export function sourceSlicesOnDisk(files: readonly string[]): SourceSlice[] {
  return files.map((f) => {
    const { dataSet: ds } = parsePart10(fs.readFileSync(f));
    const ps = ds.numbers(TAG.PixelSpacing);
    return {
      sopInstanceUid: ds.string(TAG.SOPInstanceUID)!,
      position: ds.numbers(TAG.ImagePositionPatient) as Vec3,
      orientation: ds.numbers(TAG.ImageOrientationPatient),
      pixelSpacing: [ps[0]!, ps[1]!],
      rows: ds.number(TAG.Rows)!,
      columns: ds.number(TAG.Columns)!,
    };
  });
}

/** Label of the conformed voxel nearest to patient point p (0 outside the grid). */
export function labelNear(grid: ConformGrid, labels: Uint8Array, p: Vec3): number {
  const [D, H, W] = grid.size;
  const [a0, a1, a2] = grid.axes;
  const s2 = grid.voxelMm * grid.voxelMm;
  const d0 = p[0] - grid.origin[0];
  const d1 = p[1] - grid.origin[1];
  const d2 = p[2] - grid.origin[2];
  const i = Math.round((d0 * a0[0] + d1 * a0[1] + d2 * a0[2]) / s2);
  const j = Math.round((d0 * a1[0] + d1 * a1[1] + d2 * a1[2]) / s2);
  const k = Math.round((d0 * a2[0] + d1 * a2[1] + d2 * a2[2]) / s2);
  return i < 0 || j < 0 || k < 0 || i >= W || j >= H || k >= D ? 0 : labels[i + W * (j + H * k)]!;
}

export interface SegFrameCheck {
  frames: number;
  pixelsCompared: number;
  /** Set voxels per segment number, counted on the source grid. */
  voxelsBySegment: Map<number, number>;
  /** Voxel volume of the source grid (pixel spacing x slice spacing), ml. */
  voxelMl: number;
}

/**
 * Asserts the SEG against `labels` (the conformed label map, segment numbers) on `grid`, over the
 * single-frame source slices `sources` (originals, as on disk). `sliceSpacingMm`: the source's.
 */
export function checkSegFrames(
  seg: SegmentationRead,
  sources: readonly SourceSlice[],
  grid: ConformGrid,
  labels: Uint8Array,
  sliceSpacingMm: number,
): SegFrameCheck {
  const bySop = new Map(sources.map((s) => [s.sopInstanceUid, s]));
  const frameOf = new Map<string, SegmentationRead['frames'][number]>();
  for (const f of seg.frames) {
    const src = f.source ? bySop.get(f.source.sopInstanceUid) : undefined;
    assert.ok(
      src,
      `frame ${f.frameNumber}: Source Image ${f.source?.sopInstanceUid ?? '(none)'} is not an original instance of the series`,
    );
    for (let x = 0; x < 3; x++)
      assert.ok(
        Math.abs(f.imagePositionPatient![x]! - src.position[x]!) < 0.01,
        `frame ${f.frameNumber}: Plane Position (${f.imagePositionPatient!.join(', ')}) is not its source slice's (${src.position.join(', ')})`,
      );
    for (let x = 0; x < 6; x++)
      assert.ok(Math.abs(f.imageOrientationPatient![x]! - src.orientation[x]!) < 1e-6, `frame ${f.frameNumber}: orientation`);
    assert.deepEqual(f.pixelSpacing, src.pixelSpacing, `frame ${f.frameNumber}: pixel spacing`);
    const key = `${src.sopInstanceUid}#${f.segmentNumber}`;
    assert.ok(!frameOf.has(key), `two frames for segment ${f.segmentNumber} on ${src.sopInstanceUid}`);
    frameOf.set(key, f);
  }
  const segments = seg.segments.map((s) => s.number);
  const voxelsBySegment = new Map(segments.map((n) => [n, 0]));
  let pixelsCompared = 0;
  const p: Vec3 = [0, 0, 0];
  for (const src of sources) {
    assert.equal(src.rows, seg.rows);
    assert.equal(src.columns, seg.columns);
    const frames = segments.map((n) => frameOf.get(`${src.sopInstanceUid}#${n}`));
    // Where each pixel lies: from the frame's own geometry when there is a frame, else the source's.
    const geometry = segments.map((_, s) => {
      const f = frames[s];
      return f
        ? { ipp: f.imagePositionPatient!, iop: f.imageOrientationPatient!, spacing: f.pixelSpacing! }
        : { ipp: src.position, iop: src.orientation, spacing: src.pixelSpacing };
    });
    for (let s = 0; s < segments.length; s++) {
      const n = segments[s]!;
      const f = frames[s];
      const { ipp, iop, spacing } = geometry[s]!;
      const [dr, dc] = spacing;
      let set = 0;
      for (let r = 0; r < seg.rows; r++) {
        for (let c = 0; c < seg.columns; c++) {
          for (let x = 0; x < 3; x++) p[x] = ipp[x]! + c * dc! * iop[x]! + r * dr! * iop[3 + x]!;
          const expected = labelNear(grid, labels, p) === n ? 1 : 0;
          const got = f ? f.pixels[r * seg.columns + c]! : 0;
          if (got !== expected)
            assert.fail(
              `${src.sopInstanceUid} pixel (column ${c}, row ${r}) at (${p.map((v) => v.toFixed(2)).join(', ')}) mm: SEG segment ${n} bit ${got}, label map says ${expected}` +
                (f ? '' : ' (no frame on this slice)'),
            );
          set += got;
          pixelsCompared++;
        }
      }
      if (f) assert.ok(set > 0, `frame ${f.frameNumber} is empty: empty frames are omitted`);
      voxelsBySegment.set(n, voxelsBySegment.get(n)! + set);
    }
  }
  const [dr, dc] = sources[0]!.pixelSpacing;
  return { frames: seg.frames.length, pixelsCompared, voxelsBySegment, voxelMl: (dr * dc * sliceSpacingMm) / 1000 };
}

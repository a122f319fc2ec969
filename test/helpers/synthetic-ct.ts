/**
 * A small axial CT block for detector tests: 64 × 64 × 32 voxels of 0.7 mm pixels and 1.25 mm
 * slices, each voxel's HU given by a function of its position in millimetres (voxel (0, 0, 0) at
 * the origin). Slices are numbered 2.25.1, 2.25.2, … as a series volume would carry them.
 */
import type { SeriesVolume } from '../../src/inference/series-volume';

export const SYNTHETIC_CT = { rows: 64, columns: 64, slices: 32, spacing: 0.7, sliceSpacing: 1.25 } as const;

export function syntheticCt(huAt: (xMm: number, yMm: number, zMm: number) => number, frameOfReferenceUid?: string): SeriesVolume {
  const { rows, columns, slices, spacing, sliceSpacing } = SYNTHETIC_CT;
  const values: Float32Array[] = [];
  for (let k = 0; k < slices; k++) {
    const slice = new Float32Array(rows * columns);
    for (let row = 0; row < rows; row++)
      for (let column = 0; column < columns; column++)
        slice[row * columns + column] = huAt(column * spacing, row * spacing, k * sliceSpacing);
    values.push(slice);
  }
  return {
    modality: 'CT',
    rows,
    columns,
    pixelSpacing: [spacing, spacing],
    sliceSpacing,
    orientation: [1, 0, 0, 0, 1, 0],
    normal: [0, 0, 1],
    ...(frameOfReferenceUid !== undefined ? { frameOfReferenceUid } : {}),
    slices: values.map((_, k) => ({
      sopInstanceUid: `2.25.${k + 1}`,
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      instanceNumber: k + 1,
      position: [0, 0, k * sliceSpacing],
    })),
    values,
    warnings: [],
  };
}

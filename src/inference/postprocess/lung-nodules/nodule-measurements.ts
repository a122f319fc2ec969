/**
 * Step 4, measurements of a segmented structure from partial-volume-weighted moments: each voxel
 * of the part and its one-voxel shell counts as its fraction between lung and core density.
 * Gives the volume and equivalent-sphere diameter, the weighted centre, the shape (elongation,
 * fill) and the mean HU of the core.
 */
import { dilateFaces } from './box-morphology';
import type { VoxelBox } from './volume-grid';

/** A voxel counts for the mean HU when it is at least this far from lung to core density (no partial-volume edge). */
const MEAN_HU_MIN_WEIGHT = 0.75;
/** Variance floor (mm²): a structure one voxel thin still has a finite shape. */
const MIN_VARIANCE_MM2 = 1e-3;
/** Eigenvalue floor (mm²) for the elongation ratio. */
const MIN_EIGENVALUE_MM2 = 1e-6;
/** Floor of the eigenvalue product for the moment ellipsoid's volume. */
const MIN_EIGENVALUE_PRODUCT = 1e-9;

export interface NoduleMeasurement {
  readonly volumeMm3: number;
  /** Equivalent-sphere diameter, mm. */
  readonly diameterMm: number;
  /** Mean HU of the core voxels (the core density when there are none). */
  readonly meanHu: number;
  /** Share of the structure's voxels that are solid tissue (at least `solidHu`), 0..1. */
  readonly solidShare: number;
  /** Weighted centre on the grid: fractional slice, column and row. */
  readonly centre: { readonly slice: number; readonly column: number; readonly row: number };
  /** Longest / shortest principal axis (sqrt of the covariance's eigenvalue ratio). */
  readonly elongation: number;
  /** Volume over that of the ellipsoid with the same second moments: about 0.7-1 for a blob. */
  readonly fill: number;
  /** The weighted second moments (mm²: xx, yy, zz, xy, xz, yz) about `centre`: the moment ellipsoid has semi-axes sqrt(5 λ). */
  readonly covarianceMm2: readonly [number, number, number, number, number, number];
}

/**
 * @param part the segmented structure on `box`
 * @param lungHu HU on `box` (NaN outside the lung or the volume)
 * @param backgroundHu lung density: weight 0
 * @param coreHu core density: weight 1
 * @returns undefined when nothing in the part is denser than the lung
 */
export function measureNodule(
  box: VoxelBox,
  part: Uint8Array,
  lungHu: Float32Array,
  backgroundHu: number,
  coreHu: number,
  solidHu: number,
): NoduleMeasurement | undefined {
  const { xSpacingMm: dx, ySpacingMm: dy, zSpacingMm: dz } = box.grid;
  const shell = dilateFaces(box, part);
  const contrast = coreHu - backgroundHu;
  const weightOf = (i: number): number => {
    const hu = lungHu[i]!;
    if (!shell[i] || Number.isNaN(hu)) return 0;
    return Math.max(0, Math.min(1, (hu - backgroundHu) / contrast));
  };
  let weightSum = 0;
  let meanX = 0;
  let meanY = 0;
  let meanZ = 0;
  let coreHuSum = 0;
  let coreVoxels = 0;
  let partVoxels = 0;
  let solidVoxels = 0;
  for (let i = 0; i < box.voxelCount; i++) {
    const w = weightOf(i);
    if (w === 0) continue;
    weightSum += w;
    meanX += w * (box.xOf(i) * dx);
    meanY += w * (box.yOf(i) * dy);
    meanZ += w * (box.zOf(i) * dz);
    if (part[i]) {
      partVoxels++;
      if (lungHu[i]! >= solidHu) solidVoxels++;
    }
    if (part[i] && w >= MEAN_HU_MIN_WEIGHT) {
      coreHuSum += lungHu[i]!;
      coreVoxels++;
    }
  }
  if (weightSum <= 0) return undefined;
  meanX /= weightSum;
  meanY /= weightSum;
  meanZ /= weightSum;
  let cxx = 0;
  let cyy = 0;
  let czz = 0;
  let cxy = 0;
  let cxz = 0;
  let cyz = 0;
  for (let i = 0; i < box.voxelCount; i++) {
    const w = weightOf(i);
    if (w === 0) continue;
    const x = box.xOf(i) * dx - meanX;
    const y = box.yOf(i) * dy - meanY;
    const z = box.zOf(i) * dz - meanZ;
    cxx += w * x * x;
    cyy += w * y * y;
    czz += w * z * z;
    cxy += w * x * y;
    cxz += w * x * z;
    cyz += w * y * z;
  }
  // No correction for the slab width: a sphere spreads over neighbouring slices (its z profile
  // is its own extent blurred by the slab), a structure confined to one slice does not.
  const vx = Math.max(MIN_VARIANCE_MM2, cxx / weightSum);
  const vy = Math.max(MIN_VARIANCE_MM2, cyy / weightSum);
  const vz = Math.max(MIN_VARIANCE_MM2, czz / weightSum);
  const eig = symmetricEigenvalues(vx, vy, vz, cxy / weightSum, cxz / weightSum, cyz / weightSum);
  const elongation = Math.sqrt(Math.max(eig[0], MIN_EIGENVALUE_MM2) / Math.max(eig[2], MIN_EIGENVALUE_MM2));
  const volumeMm3 = weightSum * dx * dy * dz;
  // A solid ellipsoid of semi-axes a, b, c has variances a²/5, b²/5, c²/5.
  const fill = volumeMm3 / ((4 / 3) * Math.PI * 5 ** 1.5 * Math.sqrt(Math.max(MIN_EIGENVALUE_PRODUCT, eig[0] * eig[1] * eig[2])));
  const diameterMm = Math.cbrt((6 * volumeMm3) / Math.PI);
  const centre = { slice: box.originZ + meanZ / dz, column: box.originX + meanX / dx, row: box.originY + meanY / dy };
  const meanHu = coreVoxels > 0 ? coreHuSum / coreVoxels : coreHu;
  const covarianceMm2 = [vx, vy, vz, cxy / weightSum, cxz / weightSum, cyz / weightSum] as const;
  const solidShare = partVoxels > 0 ? solidVoxels / partVoxels : 0;
  return { volumeMm3, diameterMm, meanHu, solidShare, centre, elongation, fill, covarianceMm2 };
}

/** Eigenvalues of the symmetric 3x3 matrix [[a d e] [d b f] [e f c]], descending (closed form). */
export function symmetricEigenvalues(a: number, b: number, c: number, d: number, e: number, f: number): [number, number, number] {
  const p1 = d * d + e * e + f * f;
  if (p1 < 1e-12) return [a, b, c].sort((x, y) => y - x) as [number, number, number];
  const q = (a + b + c) / 3;
  const p2 = (a - q) ** 2 + (b - q) ** 2 + (c - q) ** 2 + 2 * p1;
  const p = Math.sqrt(p2 / 6);
  const B = [(a - q) / p, d / p, e / p, d / p, (b - q) / p, f / p, e / p, f / p, (c - q) / p];
  const detB = B[0]! * (B[4]! * B[8]! - B[5]! * B[7]!) - B[1]! * (B[3]! * B[8]! - B[5]! * B[6]!) + B[2]! * (B[3]! * B[7]! - B[4]! * B[6]!);
  const rr = Math.max(-1, Math.min(1, detB / 2));
  const phi = Math.acos(rr) / 3;
  const e1 = q + 2 * p * Math.cos(phi);
  const e3 = q + 2 * p * Math.cos(phi + (2 * Math.PI) / 3);
  return [e1, 3 * q - e1 - e3, e3];
}

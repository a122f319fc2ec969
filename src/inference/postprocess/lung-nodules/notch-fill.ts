/**
 * The shape (fill, elongation) of a ground-glass proposal around a vessel's notch.
 *
 * A proposal of the ground-glass search (ground-glass-candidates.ts) is segmented with solid
 * voxels left out: the vessel it touches is not part of it. Where the vessel runs through the
 * nodule, the nodule's moment ellipsoid (its extent, nodule-measurements.ts) still covers the
 * vessel's voxels, and the plain fill (volume / ellipsoid volume) counts them as a hole — a
 * ground-glass nodule with a vessel through it measures as sparse as a branching structure.
 * The vessel occupies those voxels and the nodule cannot: they are neither nodule nor hole, so
 * here the extent is the moment ellipsoid of the nodule and the solid lung voxels inside it
 * together (a crescent round a vessel is elongated; with its notch it is a disc), and the fill is
 * the nodule's volume against that ellipsoid less the solid voxels in it. Used only for proposals
 * of the notch-aware search (Candidate.besideNotch), held to a stricter elongation.
 */
import type { SeriesVolume } from '../../series-volume';
import { symmetricEigenvalues, type NoduleMeasurement } from './nodule-measurements';
import { LUNG_NODULE_PARAMS } from './params';
import type { VolumeGrid } from './volume-grid';

/** A voxel lies inside the moment ellipsoid when its Mahalanobis distance² is at most 5 (semi-axes sqrt(5 λ)). */
const ELLIPSOID_MAHALANOBIS2 = 5;
/**
 * At most this share of the ellipsoid may be notch: a structure mostly beside solid tissue is the
 * partial-volume sleeve of a vessel, not a nodule the vessel passes through.
 */
const MAX_NOTCH_SHARE = 0.35;
/** Floors (mm², mm⁶) as in nodule-measurements.ts: a flat extent still has a finite shape. */
const MIN_EIGENVALUE_MM2 = 1e-6;
const MIN_DETERMINANT = 1e-9;

/** Second moments of a weighted point set: total weight (mm³), centre (grid column, row, slice) and covariance (mm²). */
interface Moments {
  readonly volumeMm3: number;
  readonly centre: { readonly column: number; readonly row: number; readonly slice: number };
  readonly covarianceMm2: Symmetric3;
}

/**
 * The nodule's shape measured against its own extent with the vessel's notch in it: the moment
 * ellipsoid of the nodule and the solid lung voxels inside that ellipsoid together (found
 * three times: the notch moves the ellipsoid towards the vessel), its elongation, and the fill of the
 * nodule against that ellipsoid less the notch (neither nodule nor hole). The plain shape when
 * the notch is more than MAX_NOTCH_SHARE of the extent.
 */
export function notchAwareShape(
  volume: SeriesVolume,
  grid: VolumeGrid,
  lung: readonly Uint8Array[],
  nodule: NoduleMeasurement,
): { elongation: number; fill: number; notchShare: number } {
  let extent: Moments = nodule;
  let notch = solidInside(volume, grid, lung, extent);
  for (let pass = 0; pass < 2; pass++) {
    extent = merged(nodule, notch, grid);
    notch = solidInside(volume, grid, lung, extent);
  }
  const ellipsoidMm3 = (4 / 3) * Math.PI * 5 ** 1.5 * Math.sqrt(Math.max(MIN_DETERMINANT, determinant3(extent.covarianceMm2)));
  const notchShare = notch.volumeMm3 / ellipsoidMm3;
  if (!(notchShare <= MAX_NOTCH_SHARE) || notch.volumeMm3 === 0) return { elongation: nodule.elongation, fill: nodule.fill, notchShare };
  const [a, b, c, d, e, f] = extent.covarianceMm2;
  const eig = symmetricEigenvalues(a, b, c, d, e, f);
  const elongation = Math.sqrt(Math.max(eig[0], MIN_EIGENVALUE_MM2) / Math.max(eig[2], MIN_EIGENVALUE_MM2));
  return { elongation, fill: nodule.volumeMm3 / (ellipsoidMm3 - notch.volumeMm3), notchShare };
}

/** Solid lung voxels inside the moment ellipsoid of `extent`, as moments (weight 1 each). */
function solidInside(volume: SeriesVolume, grid: VolumeGrid, lung: readonly Uint8Array[], extent: Moments): Moments {
  const { xSpacingMm: dx, ySpacingMm: dy, zSpacingMm: dz } = grid;
  const inverse = inverseSymmetric3(extent.covarianceMm2);
  const [cxx, cyy, czz] = extent.covarianceMm2;
  // The ellipsoid lies within sqrt(5 σ²) of the centre along each axis.
  const reach = (variance: number, spacing: number): number => Math.ceil(Math.sqrt(ELLIPSOID_MAHALANOBIS2 * variance) / spacing);
  const { column, row, slice } = extent.centre;
  const [hx, hy, hz] = [reach(cxx, dx), reach(cyy, dy), reach(czz, dz)];
  const solidHu = LUNG_NODULE_PARAMS.solidHu;
  const points: [number, number, number][] = [];
  for (let z = Math.max(0, Math.floor(slice - hz)); z <= Math.min(grid.slices - 1, Math.ceil(slice + hz)); z++) {
    const values = volume.values[z]!;
    const inLung = lung[z]!;
    for (let y = Math.max(0, Math.floor(row - hy)); y <= Math.min(grid.rows - 1, Math.ceil(row + hy)); y++)
      for (let x = Math.max(0, Math.floor(column - hx)); x <= Math.min(grid.columns - 1, Math.ceil(column + hx)); x++) {
        const pixel = y * grid.columns + x;
        if (!inLung[pixel] || values[pixel]! < solidHu) continue;
        if (mahalanobis2(inverse, (x - column) * dx, (y - row) * dy, (z - slice) * dz) <= ELLIPSOID_MAHALANOBIS2) points.push([x, y, z]);
      }
  }
  return momentsOf(points, grid);
}

function momentsOf(points: readonly [number, number, number][], grid: VolumeGrid): Moments {
  const { xSpacingMm: dx, ySpacingMm: dy, zSpacingMm: dz } = grid;
  const n = points.length;
  if (n === 0) return { volumeMm3: 0, centre: { column: 0, row: 0, slice: 0 }, covarianceMm2: [0, 0, 0, 0, 0, 0] };
  let [mx, my, mz] = [0, 0, 0];
  for (const [x, y, z] of points) [mx, my, mz] = [mx + x / n, my + y / n, mz + z / n];
  let [cxx, cyy, czz, cxy, cxz, cyz] = [0, 0, 0, 0, 0, 0];
  for (const [x, y, z] of points) {
    const [rx, ry, rz] = [(x - mx) * dx, (y - my) * dy, (z - mz) * dz];
    [cxx, cyy, czz] = [cxx + (rx * rx) / n, cyy + (ry * ry) / n, czz + (rz * rz) / n];
    [cxy, cxz, cyz] = [cxy + (rx * ry) / n, cxz + (rx * rz) / n, cyz + (ry * rz) / n];
  }
  return { volumeMm3: n * dx * dy * dz, centre: { column: mx, row: my, slice: mz }, covarianceMm2: [cxx, cyy, czz, cxy, cxz, cyz] };
}

/** Moments of two weighted sets together (parallel-axis theorem: each set's covariance plus its centre's offset). */
function merged(p: Moments, q: Moments, grid: VolumeGrid): Moments {
  if (q.volumeMm3 === 0) return p;
  const w = p.volumeMm3 + q.volumeMm3;
  const mm = (m: Moments): [number, number, number] => [
    m.centre.column * grid.xSpacingMm,
    m.centre.row * grid.ySpacingMm,
    m.centre.slice * grid.zSpacingMm,
  ];
  const [pc, qc] = [mm(p), mm(q)];
  const centre = [0, 1, 2].map((k) => (p.volumeMm3 * pc[k]! + q.volumeMm3 * qc[k]!) / w) as [number, number, number];
  const pairs = [
    [0, 0],
    [1, 1],
    [2, 2],
    [0, 1],
    [0, 2],
    [1, 2],
  ] as const;
  const covariance = pairs.map(([i, j], k) => {
    const part = (m: Moments, c: [number, number, number]): number =>
      m.volumeMm3 * (m.covarianceMm2[k]! + (c[i] - centre[i]) * (c[j] - centre[j]));
    return (part(p, pc) + part(q, qc)) / w;
  }) as unknown as Symmetric3;
  return {
    volumeMm3: w,
    centre: { column: centre[0] / grid.xSpacingMm, row: centre[1] / grid.ySpacingMm, slice: centre[2] / grid.zSpacingMm },
    covarianceMm2: covariance,
  };
}

type Symmetric3 = readonly [number, number, number, number, number, number];

/** The determinant of the symmetric 3x3 matrix (xx, yy, zz, xy, xz, yz). */
function determinant3(m: Symmetric3): number {
  const [a, b, c, d, e, f] = m;
  return a * (b * c - f * f) + d * (e * f - c * d) + e * (d * f - b * e);
}

/** The inverse of the symmetric 3x3 matrix (xx, yy, zz, xy, xz, yz), same layout (adjugate / determinant). */
function inverseSymmetric3(m: Symmetric3): Symmetric3 {
  const [a, b, c, d, e, f] = m;
  const A = b * c - f * f;
  const B = a * c - e * e;
  const C = a * b - d * d;
  const D = e * f - c * d;
  const E = d * f - b * e;
  const F = d * e - a * f;
  const det = a * A + d * D + e * E;
  return [A / det, B / det, C / det, D / det, E / det, F / det];
}

function mahalanobis2(inv: Symmetric3, x: number, y: number, z: number): number {
  const [a, b, c, d, e, f] = inv;
  return a * x * x + b * y * y + c * z * z + 2 * (d * x * y + e * x * z + f * y * z);
}

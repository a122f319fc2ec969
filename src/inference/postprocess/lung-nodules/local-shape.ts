/**
 * Local 3-D shape at a candidate's core: blob (nodule) or tube (vessel), from the eigenvalues of
 * the Hessian of the CT values smoothed at the candidate's own scale.
 *
 * Li Q, Sone S, Doi K. "Selective enhancement filters for nodules, vessels, and airway walls in
 * two- and three-dimensional CT scans." Med Phys 2003;30(8):2040-51. With the eigenvalues ordered
 * |λ1| >= |λ2| >= |λ3| and all negative (a bright structure on a dark background), a blob has
 * |λ1| ≈ |λ2| ≈ |λ3| and a tube |λ1| ≈ |λ2| >> |λ3|. Their dot filter answers |λ3|² / |λ1|, their
 * line filter |λ2| (|λ2| - |λ3|) / |λ1|; the core is a blob when the dot filter answers at least
 * as strongly as the line filter, i.e. |λ3| / |λ2| >= (√5 - 1) / 2 ≈ 0.618 — the point where
 * the two filters, each designed to answer only to its own shape, agree.
 *
 * Li et al. note that the dot filter also answers at vessel bifurcations. A bifurcation of thin
 * vessels holds little tissue at the candidate's scale, so the blob must also be strong: its
 * weakest scale-normalised curvature at least half a solid sphere's of the same radius and
 * density (MIN_BLOB_STRENGTH; the sphere's value is in closed form below).
 *
 * This replaces judging a candidate by how much of its surroundings an opening cuts away: a
 * ground-glass nodule beside a vessel tree is a blob at its core even when the vessels it
 * touches make up most of the structure around it. The test is made where the core answers most
 * strongly (strongestLocalShape: over scales and a re-centred position), as Li et al. take the
 * strongest answer over their scales.
 */
import { symmetricEigenvalues } from './nodule-measurements';
import type { VoxelBox } from './volume-grid';

export interface LocalShape {
  /** Dot-filter answer (HU/mm²): |λ3|² / |λ1|, 0 unless all three eigenvalues are negative. */
  readonly dot: number;
  /** Line-filter answer (HU/mm²): |λ2| (|λ2| - |λ3|) / |λ1|, 0 unless λ1 and λ2 are negative. */
  readonly line: number;
  /**
   * Scale-normalised strength of the weakest curvature, σ² |λ3| / contrast, as a share of a
   * solid sphere's at its own scale (1 for a sphere of the candidate's radius and density).
   */
  readonly strength: number;
  /** |λ3| / |λ2| (1 for a sphere, 0 for a straight tube). */
  readonly blobness: number;
  readonly isBlob: boolean;
}

/** Dot answers at least as strongly as line: |λ3|/|λ2| >= the golden-ratio conjugate (see above). */
export const BLOB_RATIO = (Math.sqrt(5) - 1) / 2;
/** A sphere of radius r answers most strongly to a 3-D Gaussian of sigma r / √3 (scale-normalised Laplacian). */
const SIGMA_PER_RADIUS = 1 / Math.sqrt(3);
/**
 * σ² λ / contrast of each eigenvalue at the centre of a solid sphere of radius √3 σ, with a
 * normalised Gaussian: a third of ∫ G (|x|²/σ⁴ - 3/σ²) over the ball
 * = -(1/3) √(2/π) · 3√3 · e^(-3/2) ≈ -0.308 (closed form: d/dρ (ρ³ e^(-ρ²/2)) = -ρ² (ρ² - 3) e^(-ρ²/2)).
 */
const SPHERE_NORMALISED_EIGENVALUE = Math.sqrt(2 / Math.PI) * Math.sqrt(3) * Math.exp(-1.5);
/** A blob weaker than half a sphere of its own scale and density is not a body: a junction of thin vessels. */
export const MIN_BLOB_STRENGTH = 0.5;
/** The Gaussian's derivatives are summed out to this many sigmas. */
const KERNEL_SIGMAS = 3;

/**
 * The Hessian at `centre`, by summing the values against the Gaussian's second derivatives
 * (∂²G/∂xi∂xj = G (xi xj / σ⁴ - δij / σ²)) in millimetres, so anisotropic voxels are handled.
 * Values are taken relative to `backgroundHu` and clipped at `coreHu`: the question is the shape
 * of the structure at the candidate's own density, so a denser vessel beside a ground-glass
 * nodule weighs no more than nodule tissue would. Values outside the volume (NaN) count as background.
 */
export function localShape(
  box: VoxelBox,
  hu: Float32Array,
  centre: number,
  radiusMm: number,
  backgroundHu: number,
  coreHu: number,
): LocalShape {
  const sigma = Math.max(radiusMm * SIGMA_PER_RADIUS, Math.max(box.grid.xSpacingMm, box.grid.ySpacingMm));
  const { xSpacingMm: dx, ySpacingMm: dy, zSpacingMm: dz } = box.grid;
  const reach = KERNEL_SIGMAS * sigma;
  const cx = box.xOf(centre);
  const cy = box.yOf(centre);
  const cz = box.zOf(centre);
  const s2 = sigma * sigma;
  const s4 = s2 * s2;
  let hxx = 0;
  let hyy = 0;
  let hzz = 0;
  let hxy = 0;
  let hxz = 0;
  let hyz = 0;
  const contrast = coreHu - backgroundHu;
  for (let z = Math.max(0, cz - Math.ceil(reach / dz)); z <= Math.min(box.sizeZ - 1, cz + Math.ceil(reach / dz)); z++) {
    const oz = (z - cz) * dz;
    for (let y = Math.max(0, cy - Math.ceil(reach / dy)); y <= Math.min(box.sizeY - 1, cy + Math.ceil(reach / dy)); y++) {
      const oy = (y - cy) * dy;
      for (let x = Math.max(0, cx - Math.ceil(reach / dx)); x <= Math.min(box.sizeX - 1, cx + Math.ceil(reach / dx)); x++) {
        const ox = (x - cx) * dx;
        const r2 = ox * ox + oy * oy + oz * oz;
        if (r2 > reach * reach) continue;
        const value = hu[box.index(x, y, z)]!;
        const v = Number.isNaN(value) ? 0 : Math.max(0, Math.min(contrast, value - backgroundHu));
        if (v === 0) continue;
        const g = v * Math.exp(-r2 / (2 * s2));
        hxx += g * ((ox * ox) / s4 - 1 / s2);
        hyy += g * ((oy * oy) / s4 - 1 / s2);
        hzz += g * ((oz * oz) / s4 - 1 / s2);
        hxy += (g * (ox * oy)) / s4;
        hxz += (g * (ox * oz)) / s4;
        hyz += (g * (oy * oz)) / s4;
      }
    }
  }
  const [l1, l2, l3] = symmetricEigenvalues(hxx, hyy, hzz, hxy, hxz, hyz)
    .slice()
    .sort((a, b) => Math.abs(b) - Math.abs(a)) as [number, number, number];
  const a1 = Math.abs(l1);
  const a2 = Math.abs(l2);
  const a3 = Math.abs(l3);
  const allNegative = l1 < 0 && l2 < 0 && l3 < 0;
  const dot = allNegative && a1 > 0 ? (a3 * a3) / a1 : 0;
  const line = l1 < 0 && l2 < 0 && a1 > 0 ? (a2 * (a2 - a3)) / a1 : 0;
  const blobness = allNegative && a2 > 0 ? a3 / a2 : 0;
  // The sums above used an unnormalised Gaussian on voxels: scale by voxel volume / (2πσ²)^(3/2).
  const normalise = (dx * dy * dz) / (2 * Math.PI * s2) ** 1.5;
  const strength = contrast > 0 ? (normalise * s2 * a3) / contrast / SPHERE_NORMALISED_EIGENVALUE : 0;
  return { dot, line, blobness, strength, isBlob: allNegative && blobness >= BLOB_RATIO && strength >= MIN_BLOB_STRENGTH };
}

/**
 * Scales tried (radius factors, √2 steps as the model's): Li et al. filter at several scales. Not
 * smaller than the candidate's own: a slice's 2-D peak never under-sizes a 3-D blob much, and at
 * 1/√2 the junction of two thin vessels answers as a strong blob (tried: one false positive of
 * 5.1 mm on a default phantom, seed 1003, and no nodule more found).
 */
const SCALE_FACTORS = [1, Math.SQRT2];
/** The core's centre is looked for up to this fraction of the radius from the seed (a peak on an off-centre slice). */
const RECENTRE_RADIUS_FRACTION = 0.5;
/** Hill-climbing steps at most (each moves one voxel). */
const MAX_RECENTRE_STEPS = 8;

/**
 * The local shape at the core's own scale and centre: Li, Sone & Doi apply their dot filter at
 * several scales and take the strongest answer; a candidate's peak on one slice also lies off
 * the blob's 3-D centre (a 2.5 mm slice above it, or pulled towards a vessel beside it), where
 * the weakest curvature is lower than at the centre. So the scale-normalised strength is
 * maximised over √2-spaced scales around the candidate's radius and by hill-climbing over
 * neighbouring voxels within half the radius of the seed; the blob test is made there.
 */
export function strongestLocalShape(
  box: VoxelBox,
  hu: Float32Array,
  seed: number,
  radiusMm: number,
  backgroundHu: number,
  coreHu: number,
): LocalShape {
  let best = localShape(box, hu, seed, radiusMm, backgroundHu, coreHu);
  let bestRadius = radiusMm;
  for (const factor of SCALE_FACTORS) {
    if (factor === 1) continue;
    const shape = localShape(box, hu, seed, radiusMm * factor, backgroundHu, coreHu);
    if (shape.strength > best.strength) [best, bestRadius] = [shape, radiusMm * factor];
  }
  const reachMm = RECENTRE_RADIUS_FRACTION * radiusMm;
  let at = seed;
  for (let step = 0; step < MAX_RECENTRE_STEPS; step++) {
    let moved = false;
    for (const n of box.faceNeighboursOfInterior(at)) {
      if (box.distanceSquaredMm(n, seed) > reachMm * reachMm) continue;
      const shape = localShape(box, hu, n, bestRadius, backgroundHu, coreHu);
      if (shape.strength > best.strength) {
        best = shape;
        at = n;
        moved = true;
      }
    }
    if (!moved) break;
  }
  return best;
}

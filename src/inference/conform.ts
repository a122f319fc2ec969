/**
 * Volume-mode preprocessing: a series volume -> the "conformed" grid FreeSurfer's
 * `mri_convert --conform` produces (and brain models such as brainchop's MeshNet are trained on):
 * isotropic voxels (1 mm), LIA orientation, a fixed size (256³), resampled trilinearly, then
 * windowed (min-max over the whole volume by default) into an NCDHW float32 tensor.
 *
 * Axis conventions, once and for all:
 * - conformed voxel (i, j, k): i steps toward the patient's Left, j toward Inferior, k toward
 *   Anterior (LIA). In DICOM patient coordinates (LPS) the steps are +x, -z and -y.
 * - data is stored i fastest (NIfTI order of the conformed image): index = i + W·(j + H·k).
 * - sizes are given in tensor order [D, H, W] = [k count, j count, i count], as the manifest's
 *   preprocessing.targetSize; the tensor is [N=1, C, D, H, W], so W (innermost) is i.
 * - centring: the centre of the conformed grid (voxel ((W-1)/2, (H-1)/2, (D-1)/2)) is the centre
 *   of the series' bounding box in patient coordinates. FreeSurfer keeps c_ras = vox2ras·(n/2);
 *   for an input that is already conformed (256³ 1 mm) both are the identity, otherwise they
 *   differ by less than half a voxel (FreeSurfer's choice depends on the input's axis order, ours
 *   does not).
 * - outside the series the grid is filled with the series' minimum value (FreeSurfer fills 0;
 *   for MR, whose minimum is 0, the same), so it becomes 0 after min-max windowing.
 */
// The whole (conformed) volume is windowed at once, so 'minmax' and 'percentile' are computed
// over all of it; without a header, 'auto' falls back to percentiles as in slice mode.
import { windowValues } from './preprocess';
import { describeUcharScale, getUcharScale, scaleCropUchar } from './intensity-conform';
import type { Voi } from '../imaging/voi';
import type { VolumeTensor as RunnerVolumeTensor } from './run-model';
import type { Manifest } from './manifest';
import type { SeriesVolume } from './series-volume';

type Vec3 = [number, number, number];

/** The conformed grid in patient coordinates: LPS(i, j, k) = origin + i·axes[0] + j·axes[1] + k·axes[2]. */
export interface ConformGrid {
  /** [D, H, W]: voxel counts along k, j, i. */
  readonly size: readonly [number, number, number];
  readonly voxelMm: number;
  /** LPS mm of voxel (0, 0, 0). */
  readonly origin: Vec3;
  /** Steps of i (Left), j (Inferior), k (Anterior) in LPS mm. */
  readonly axes: readonly [Vec3, Vec3, Vec3];
  /** LPS mm of the grid centre (= the series' bounding-box centre). */
  readonly centre: Vec3;
}

export interface ConformedVolume {
  /** i fastest (index = i + W·(j + H·k)), min-max normalised to [0, 1]. */
  readonly data: Float32Array;
  /** [D, H, W]. */
  readonly dims: readonly [number, number, number];
  readonly voxelVolumeMm3: number;
  readonly grid: ConformGrid;
  /** What was done, in words (for provenance). */
  readonly description: string;
}

/** The runner's volume input (NCDHW float32, dims [1, C, D, H, W]) with the grid it lies on. */
export interface VolumeTensor extends RunnerVolumeTensor {
  readonly dims: number[];
  readonly grid: ConformGrid;
}

/** Source voxel (column, row, slice) -> LPS mm, as a 3x3 matrix (columns = steps) plus origin. */
interface SourceAffine {
  readonly origin: Vec3;
  /** Steps of column, row, slice index (mm). */
  readonly steps: readonly [Vec3, Vec3, Vec3];
}

function sourceAffine(vol: SeriesVolume): SourceAffine {
  const [rx, ry, rz, cx, cy, cz] = vol.orientation;
  const [dr, dc] = vol.pixelSpacing;
  const n = vol.slices.length;
  const first = vol.slices[0]!.position;
  const last = vol.slices[n - 1]!.position;
  // The actual step between slices (also right for a tilted stack, whose positions do not move
  // along the normal); one slice only: along the normal.
  const step: Vec3 =
    n > 1
      ? [(last[0] - first[0]) / (n - 1), (last[1] - first[1]) / (n - 1), (last[2] - first[2]) / (n - 1)]
      : [vol.normal[0] * vol.sliceSpacing, vol.normal[1] * vol.sliceSpacing, vol.normal[2] * vol.sliceSpacing];
  return {
    origin: [first[0], first[1], first[2]],
    steps: [[rx * dc, ry * dc, rz * dc], [cx * dr, cy * dr, cz * dr], step],
  };
}

function apply(a: SourceAffine, c: number, r: number, s: number): Vec3 {
  const [u, v, w] = a.steps;
  return [
    a.origin[0] + c * u[0] + r * v[0] + s * w[0],
    a.origin[1] + c * u[1] + r * v[1] + s * w[1],
    a.origin[2] + c * u[2] + r * v[2] + s * w[2],
  ];
}

/** Inverse of the 3x3 matrix whose columns are u, v, w (row-major result). */
function invert(u: Vec3, v: Vec3, w: Vec3): number[] {
  const m = [u[0], v[0], w[0], u[1], v[1], w[1], u[2], v[2], w[2]] as const;
  const [a, b, c, d, e, f, g, h, i] = m;
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (!(Math.abs(det) > 1e-12)) throw new Error('the series geometry is degenerate (its voxel axes do not span 3D space)');
  return [
    A / det,
    -(b * i - c * h) / det,
    (b * f - c * e) / det,
    B / det,
    (a * i - c * g) / det,
    -(a * f - c * d) / det,
    C / det,
    -(a * h - b * g) / det,
    (a * e - b * d) / det,
  ];
}

/** The conformed grid for a series: LIA, `voxelMm` isotropic, centred on the series' bounding box. */
export function conformGrid(vol: SeriesVolume, size: readonly [number, number, number], voxelMm = 1): ConformGrid {
  const [D, H, W] = size;
  const src = sourceAffine(vol);
  const centre = apply(src, (vol.columns - 1) / 2, (vol.rows - 1) / 2, (vol.slices.length - 1) / 2);
  const s = voxelMm;
  const axes: [Vec3, Vec3, Vec3] = [
    [s, 0, 0], // i: toward Left = +x (LPS)
    [0, 0, -s], // j: toward Inferior = -z
    [0, -s, 0], // k: toward Anterior = -y
  ];
  const ci = (W - 1) / 2;
  const cj = (H - 1) / 2;
  const ck = (D - 1) / 2;
  const origin: Vec3 = [
    centre[0] - ci * axes[0][0] - cj * axes[1][0] - ck * axes[2][0],
    centre[1] - ci * axes[0][1] - cj * axes[1][1] - ck * axes[2][1],
    centre[2] - ci * axes[0][2] - cj * axes[1][2] - ck * axes[2][2],
  ];
  return { size: [D, H, W], voxelMm, origin, axes, centre };
}

/** LPS mm of (fractional) conformed voxel (i, j, k). */
export function conformedToPatient(grid: ConformGrid, i: number, j: number, k: number): Vec3 {
  const [a, b, c] = grid.axes;
  return [
    grid.origin[0] + i * a[0] + j * b[0] + k * c[0],
    grid.origin[1] + i * a[1] + j * b[1] + k * c[1],
    grid.origin[2] + i * a[2] + j * b[2] + k * c[2],
  ];
}

/**
 * Resamples the series onto the conformed grid (trilinear; outside the series: its minimum),
 * WITHOUT windowing: modality values. `size` is [D, H, W].
 */
export function resampleToConformed(
  vol: SeriesVolume,
  size: readonly [number, number, number],
  voxelMm = 1,
): { data: Float32Array; grid: ConformGrid; sourceMin: number; sourceMax: number } {
  const [D, H, W] = size;
  if (![D, H, W].every((n) => Number.isInteger(n) && n >= 1))
    throw new Error(`conformed size ${size.join('x')} is not three whole numbers`);
  if (!(voxelMm > 0)) throw new Error(`voxel size ${voxelMm} mm is not positive`);
  const nc = vol.columns;
  const nr = vol.rows;
  const ns = vol.slices.length;
  const plane = nc * nr;
  const src = new Float32Array(plane * ns);
  let sourceMin = Infinity;
  let sourceMax = -Infinity;
  vol.values.forEach((v, s) => {
    src.set(v, s * plane);
    for (let p = 0; p < v.length; p++) {
      const x = v[p]!;
      if (x < sourceMin) sourceMin = x;
      if (x > sourceMax) sourceMax = x;
    }
  });
  const fill = Number.isFinite(sourceMin) ? sourceMin : 0;

  const aff = sourceAffine(vol);
  const inv = invert(...aff.steps);
  const grid = conformGrid(vol, size, voxelMm);
  // Source (column, row, slice) of a patient point: inv · (P - origin).
  const toSource = (p: Vec3): Vec3 => {
    const d = [p[0] - aff.origin[0], p[1] - aff.origin[1], p[2] - aff.origin[2]];
    return [
      inv[0]! * d[0]! + inv[1]! * d[1]! + inv[2]! * d[2]!,
      inv[3]! * d[0]! + inv[4]! * d[1]! + inv[5]! * d[2]!,
      inv[6]! * d[0]! + inv[7]! * d[1]! + inv[8]! * d[2]!,
    ];
  };
  const o = toSource(grid.origin);
  const stepOf = (axis: Vec3): Vec3 => {
    const q = toSource([aff.origin[0] + axis[0], aff.origin[1] + axis[1], aff.origin[2] + axis[2]]);
    return q;
  };
  // Rounding noise from the geometry must not blur a grid that coincides with the source (an
  // already conformed series, or any 1 mm series whose axes are the grid's): snap steps and row
  // starts that are integers up to noise, so the sums along a row stay exact.
  const SNAP = 1e-6;
  const snap = (v: number): number => (Math.abs(v - Math.round(v)) < SNAP ? Math.round(v) : v);
  const si = stepOf(grid.axes[0]).map(snap) as Vec3;
  const sj = stepOf(grid.axes[1]);
  const sk = stepOf(grid.axes[2]);
  const integerSteps = si.every(Number.isInteger);

  const out = new Float32Array(W * H * D);
  const maxC = nc - 0.5;
  const maxR = nr - 0.5;
  const maxS = ns - 0.5;
  let idx = 0;
  for (let k = 0; k < D; k++) {
    for (let j = 0; j < H; j++) {
      let x = snap(o[0] + j * sj[0] + k * sk[0]);
      let y = snap(o[1] + j * sj[1] + k * sk[1]);
      let z = snap(o[2] + j * sj[2] + k * sk[2]);
      if (integerSteps && Number.isInteger(x) && Number.isInteger(y) && Number.isInteger(z)) {
        // On source voxel centres all along the row: a gather, no interpolation.
        for (let i = 0; i < W; i++, idx++, x += si[0], y += si[1], z += si[2]) {
          out[idx] = x < 0 || y < 0 || z < 0 || x >= nc || y >= nr || z >= ns ? fill : src[z * plane + y * nc + x]!;
        }
        continue;
      }
      for (let i = 0; i < W; i++, idx++, x += si[0], y += si[1], z += si[2]) {
        if (x < -0.5 || y < -0.5 || z < -0.5 || x > maxC || y > maxR || z > maxS) {
          out[idx] = fill;
          continue;
        }
        // Within a voxel's footprint at the edges: clamp to the edge voxel centres.
        const cx = x < 0 ? 0 : x > nc - 1 ? nc - 1 : x;
        const cy = y < 0 ? 0 : y > nr - 1 ? nr - 1 : y;
        const cz = z < 0 ? 0 : z > ns - 1 ? ns - 1 : z;
        const x0 = Math.floor(cx);
        const y0 = Math.floor(cy);
        const z0 = Math.floor(cz);
        const fx = cx - x0;
        const fy = cy - y0;
        const fz = cz - z0;
        const x1 = fx > 0 ? x0 + 1 : x0;
        const y1 = fy > 0 ? y0 + 1 : y0;
        const z1 = fz > 0 ? z0 + 1 : z0;
        const p00 = z0 * plane + y0 * nc;
        const p01 = z0 * plane + y1 * nc;
        const p10 = z1 * plane + y0 * nc;
        const p11 = z1 * plane + y1 * nc;
        const a0 = src[p00 + x0]! + (src[p00 + x1]! - src[p00 + x0]!) * fx;
        const a1 = src[p01 + x0]! + (src[p01 + x1]! - src[p01 + x0]!) * fx;
        const b0 = src[p10 + x0]! + (src[p10 + x1]! - src[p10 + x0]!) * fx;
        const b1 = src[p11 + x0]! + (src[p11 + x1]! - src[p11 + x0]!) * fx;
        const a = a0 + (a1 - a0) * fy;
        const b = b0 + (b1 - b0) * fy;
        out[idx] = a + (b - a) * fz;
      }
    }
  }
  return { data: out, grid, sourceMin: fill, sourceMax: Number.isFinite(sourceMax) ? sourceMax : fill };
}

function fmt(n: number): string {
  return String(Math.round(n * 100) / 100);
}

function describeSource(vol: SeriesVolume): string {
  const [dr, dc] = vol.pixelSpacing;
  return `${vol.columns}x${vol.rows}x${vol.slices.length} series (${fmt(dc)} x ${fmt(dr)} x ${fmt(vol.sliceSpacing)} mm)`;
}

function describeWindow(voi: Voi): string {
  if (voi.kind !== 'window') return `VOI LUT (${voi.source})`;
  if (voi.source === 'minmax') {
    const lo = voi.center - 0.5 - (voi.width - 1) / 2;
    const hi = voi.center - 0.5 + (voi.width - 1) / 2;
    return `min-max over the volume (${fmt(lo)}..${fmt(hi)} -> [0,1])`;
  }
  return `window ${voi.source} over the volume (C ${fmt(voi.center)} / W ${fmt(voi.width)}, ${voi.fn})`;
}

/**
 * The conformed volume, min-max normalised to [0, 1] over the whole conformed volume (what the
 * brainchop/niivue pipeline does after its conform). `size` is [D, H, W] (256³ for FreeSurfer).
 */
export function conformVolume(vol: SeriesVolume, target: { size: readonly [number, number, number]; voxelMm: number }): ConformedVolume {
  const r = resampleToConformed(vol, target.size, target.voxelMm);
  const { data, voi } = windowValues(r.data, 'minmax');
  const [D, H, W] = r.grid.size;
  return {
    data,
    dims: [D, H, W],
    voxelVolumeMm3: target.voxelMm ** 3,
    grid: r.grid,
    description: `${describeSource(vol)} conformed to ${W}x${H}x${D} ${target.voxelMm} mm LIA (trilinear, centred on the series), ${describeWindow(voi)}`,
  };
}

/**
 * The input tensor of a volume-mode manifest: the series conformed to preprocessing.targetSize
 * ([D, H, W]) at 1 mm LIA, with preprocessing.intensity "conform-uchar" mapped to uchar 0..255 as
 * FreeSurfer's conform does (intensity-conform.ts), windowed with preprocessing.window over the whole volume ("minmax":
 * min-max to [0, 1], as MeshNet/brainchop expect; "percentile": 0.5..99.5 % of the volume; a
 * preset or "C/W": that window), then (x - mean) / std when preprocessing.normalization is set,
 * grey repeated into preprocessing.channels. Layout NCDHW, N = 1.
 */
export function volumeTensor(vol: SeriesVolume, m: Manifest): VolumeTensor {
  const pre = m.preprocessing;
  if (pre.mode !== 'volume') throw new Error(`model ${m.name}: preprocessing.mode is "${pre.mode}", not "volume"`);
  if (m.input.layout !== 'NCDHW')
    throw new Error(`model ${m.name}: volume mode builds NCDHW tensors, but input.layout is "${m.input.layout}"`);
  const [D, H, W] = pre.targetSize as [number, number, number];
  const voxelMm = 1;
  // FreeSurfer takes the uchar scale from the ORIGINAL values, before resampling (conform.py).
  const uchar = pre.intensity === 'conform-uchar' ? getUcharScale(vol.values) : null;
  const r = resampleToConformed(vol, [D, H, W], voxelMm);
  if (uchar) scaleCropUchar(r.data, uchar);
  const { data: windowed, voi } = windowValues(r.data, pre.window);
  const C = pre.channels;
  const n = D * H * W;
  let data: Float32Array;
  if (C === 1 && !pre.normalization) data = windowed;
  else {
    data = new Float32Array(C * n);
    for (let c = 0; c < C; c++) {
      const mean = pre.normalization?.mean[c] ?? 0;
      const std = pre.normalization?.std[c] ?? 1;
      const off = c * n;
      if (mean === 0 && std === 1) data.set(windowed, off);
      else for (let p = 0; p < n; p++) data[off + p] = (windowed[p]! - mean) / std;
    }
  }
  const norm = pre.normalization
    ? `, (x - mean) / std with mean ${pre.normalization.mean.join('/')} std ${pre.normalization.std.join('/')}`
    : '';
  return {
    data,
    dims: [1, C, D, H, W],
    voxelVolumeMm3: voxelMm ** 3,
    grid: r.grid,
    description: `${describeSource(vol)} conformed to ${W}x${H}x${D} ${voxelMm} mm LIA (trilinear, centred on the series), ${uchar ? `${describeUcharScale(uchar)}, ` : ''}${describeWindow(voi)}${norm}, NCDHW${C > 1 ? `, ${C} channels` : ''}`,
  };
}

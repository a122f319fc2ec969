/**
 * 'lung-nodules': turns the reference model's slice-wise blob responses (models/lung-nodule-reference,
 * output channels: 0 blob score, 1 score at local maxima, 2 sigma of the best scale in model pixels)
 * into lung-nodule findings, using the CT values of the whole series.
 *
 * 1. Lung mask per slice: air-like voxels (< -400 HU) inside the body and not connected to the
 *    outside air, with holes filled (nodules and vessels inside the lung count as lung), grown
 *    by ~3 mm so juxtapleural nodules are kept.
 * 2. Candidates: local maxima of the blob score at or above the manifest's threshold inside that
 *    mask, strongest first.
 * 3. Each candidate is segmented in 3D around its peak: threshold halfway between the local lung
 *    density and the candidate's core density (so solid nodules are cut at about -400 HU and
 *    ground-glass ones about -680 HU), 6-connected region growing in a box a few radii wide. A
 *    structure that leaves the box is a vessel (or a nodule with something large attached): it is
 *    opened morphologically (ball of ~0.6 x the blob radius) and rejected if it still leaves the
 *    box. What remains must be compact: the ratio of its longest to shortest principal axis (voxel
 *    sampling removed) must stay under MAX_ELONGATION — a vessel seen end-on is a round blob on one
 *    slice but a long tube across slices.
 * 4. Measurements: equivalent-sphere diameter from the partial-volume-weighted volume (each voxel
 *    counts as its fraction between lung and nodule density), mean HU of the core, composition
 *    (solid if the core is denser than -300 HU), weighted centre, zone and side.
 */
import { UCUM_HU, UCUM_MM, UCUM_MM3, type Code, type Measurement } from '../findings';
import { pixelToPatient, type SeriesVolume } from '../series-volume';
import type { FindingDraft, PostprocessContext, PostprocessResult, Postprocessor } from './types';

export const CODES = {
  nodule: { value: '27925004', scheme: 'SCT', meaning: 'Nodule' } as Code,
  lung: { value: '39607008', scheme: 'SCT', meaning: 'Lung' } as Code,
  diameter: { value: '81827009', scheme: 'SCT', meaning: 'Diameter' } as Code,
  volume: { value: '118565006', scheme: 'SCT', meaning: 'Volume' } as Code,
  attenuation: { value: '112031', scheme: 'DCM', meaning: 'Attenuation Coefficient' } as Code,
};

/** Tunables (exported for the benchmark's report). */
export const LUNG_NODULE_PARAMS = {
  /** Blob score threshold when the manifest gives none. */
  defaultThreshold: 0.12,
  /** Air-like (HU) for the lung mask. */
  airHu: -400,
  /** Lung mask growth for juxtapleural nodules (mm). */
  maskGrowMm: 3,
  /** Structures are followed down to this fraction of the lung-to-core contrast. */
  linkFraction: 0.25,
  /** Smallest fill (volume / moment ellipsoid volume): branching and sparse structures fill less. */
  minFill: 0.68,
  /** Largest share of the structure near a candidate that the opening may cut off (attached vessels). */
  maxCutFraction: 0.35,
  /** Core density above which a nodule is solid (HU). */
  solidHu: -300,
  /** Longest / shortest principal axis above which a structure is a vessel. */
  maxElongation: 1.9,
  /** Largest nodule searched for (mm): bounds the segmentation box. */
  maxDiameterMm: 32,
  /** Smallest nodule reported (equivalent diameter, mm): the model is meant for nodules >= 5 mm. */
  minDiameterMm: 4.5,
  /** Findings reported at most per series. */
  maxFindings: 20,
} as const;

/** Diagnostics for the benchmark: called for every candidate evaluated (not used by the node). */
export const lungNodulesDebug: { onCandidate?: (c: Readonly<Candidate>, s: Readonly<Segment> | undefined, why?: string) => void } = {};

export interface Candidate {
  readonly k: number;
  readonly col: number;
  readonly row: number;
  readonly score: number;
  /** Blob radius estimate, mm. */
  readonly radiusMm: number;
}

export interface Segment {
  readonly accepted: boolean;
  readonly reason?: string;
  readonly threshold: number;
  /** Margin of the deciding feature to its cut-off, relative (0 = on the cut-off). */
  readonly margin: number;
  readonly volumeMm3?: number;
  readonly diameterMm?: number;
  readonly meanHu?: number;
  readonly coreHu?: number;
  readonly centre?: { k: number; col: number; row: number };
  readonly elongation?: number;
  readonly fill?: number;
}

interface Geometry {
  readonly rows: number;
  readonly cols: number;
  readonly S: number;
  readonly dr: number;
  readonly dc: number;
  readonly dz: number;
}

export const lungNodules: Postprocessor = (ctx: PostprocessContext): PostprocessResult => {
  const vol = ctx.volume;
  const maps = ctx.maps;
  if (!maps || maps.length < 1)
    throw new Error('lung-nodules: needs slice-mode outputs (maps); the model\'s manifest must use preprocessing.mode "slice"');
  const g: Geometry = {
    rows: vol.rows,
    cols: vol.columns,
    S: vol.slices.length,
    dr: vol.pixelSpacing[0],
    dc: vol.pixelSpacing[1],
    dz: vol.sliceSpacing > 0 ? vol.sliceSpacing : 1,
  };
  const label = ctx.manifest.output.labels[0] ?? 'nodule';
  const threshold = ctx.manifest.output.thresholds[label] ?? ctx.manifest.output.thresholds['*'] ?? LUNG_NODULE_PARAMS.defaultThreshold;
  const [tH, tW] = ctx.manifest.preprocessing.targetSize as [number, number];
  // Source pixel -> model pixel scale (the runner letterboxes the slice into the model's grid).
  const modelScale = Math.min(tW / g.cols, tH / g.rows);

  const masks = lungMasks(vol, g);
  const candidates = findCandidates(maps, masks.search, g, threshold, modelScale);

  // Thresholds already used around each voxel: a candidate inside a structure already segmented
  // at a similar or lower threshold is that structure again.
  const seen = new Int16Array(g.S * g.rows * g.cols).fill(32767);
  const findings: FindingDraft[] = [];
  const margins: number[] = [];
  let rejectedNear = 0;
  let nearMiss = 0;
  const accepted: { x: number; y: number; z: number; d: number }[] = [];
  for (const c of candidates) {
    if (findings.length >= LUNG_NODULE_PARAMS.maxFindings) break;
    const s = segmentCandidate(vol, g, masks.filled, c, seen);
    lungNodulesDebug.onCandidate?.(c, s);
    if (!s) continue;
    if (!s.accepted) {
      // The strongest rejected candidates count for the series' uncertainty too (a missed nodule?).
      if (rejectedNear < 3 && c.score >= 2 * threshold) {
        rejectedNear++;
        nearMiss = Math.max(nearMiss, 1 - clamp01(s.margin));
      }
      continue;
    }
    // The same nodule reached from another candidate (e.g. one the first opening cut differently).
    const [px, py, pz] = pixelToPatient(vol, s.centre!.k, s.centre!.col, s.centre!.row);
    if (accepted.some((a) => Math.hypot(a.x - px, a.y - py, a.z - pz) < Math.max(3, a.d / 2, s.diameterMm! / 2))) continue;
    accepted.push({ x: px, y: py, z: pz, d: s.diameterMm! });
    const conf = confidence(c.score, threshold, s.elongation ?? 1);
    margins.push(Math.min(s.margin, (c.score - threshold) / threshold));
    findings.push(toFinding(vol, g, masks, c, s, conf, label));
  }
  findings.sort((a, b) => b.confidence - a.confidence);
  // Uncertainty: how close the decisive decisions were to their cut-offs (1 = on the cut-off):
  // the least certain reported finding, and at half weight the strongest candidates rejected
  // (vessels often come close to the shape limits, so they alone never make a series uncertain).
  const worstFinding = margins.length > 0 ? 1 - Math.min(...margins.map(clamp01)) : 0;
  return { findings, uncertainty: round(Math.max(worstFinding, 0.5 * nearMiss), 3) };
};

// ---------------------------------------------------------------------------------------------
// Lung mask

interface Masks {
  /** Lung with holes filled. */
  readonly filled: Uint8Array[];
  /** `filled` grown by maskGrowMm: where candidates are looked for. */
  readonly search: Uint8Array[];
  /** Lung area per slice (mm²) and body centroid (column, row) per slice. */
  readonly area: Float64Array;
  readonly bodyCentre: readonly [number, number][];
}

function lungMasks(vol: SeriesVolume, g: Geometry): Masks {
  const { rows, cols } = g;
  const n = rows * cols;
  const filled: Uint8Array[] = [];
  const search: Uint8Array[] = [];
  const area = new Float64Array(g.S);
  const bodyCentre: [number, number][] = [];
  const queue = new Int32Array(n);
  const outside = new Uint8Array(n);
  const grow = Math.max(1, Math.round(LUNG_NODULE_PARAMS.maskGrowMm / Math.min(g.dr, g.dc)));
  for (let k = 0; k < g.S; k++) {
    const hu = vol.values[k]!;
    // Outside air: air-like pixels connected to the image border.
    outside.fill(0);
    floodFromBorder(rows, cols, (i) => hu[i]! < LUNG_NODULE_PARAMS.airHu, outside, queue);
    const lung = new Uint8Array(n);
    let sx = 0;
    let sy = 0;
    let sn = 0;
    for (let i = 0; i < n; i++) {
      if (!outside[i]) {
        sx += i % cols;
        sy += (i / cols) | 0;
        sn++;
        if (hu[i]! < LUNG_NODULE_PARAMS.airHu) lung[i] = 1;
      }
    }
    bodyCentre.push(sn > 0 ? [sx / sn, sy / sn] : [cols / 2, rows / 2]);
    // Fill holes: whatever the border cannot reach without crossing lung is lung.
    const reach = new Uint8Array(n);
    floodFromBorder(rows, cols, (i) => lung[i] === 0, reach, queue);
    let count = 0;
    for (let i = 0; i < n; i++) {
      const v = reach[i] ? 0 : 1;
      lung[i] = v;
      count += v;
    }
    filled.push(lung);
    area[k] = count * g.dr * g.dc;
    search.push(count > 0 ? dilateBox(lung, rows, cols, grow) : lung);
  }
  return { filled, search, area, bodyCentre };
}

function floodFromBorder(rows: number, cols: number, passable: (i: number) => boolean, mark: Uint8Array, queue: Int32Array): void {
  let head = 0;
  let tail = 0;
  const push = (i: number): void => {
    if (!mark[i] && passable(i)) {
      mark[i] = 1;
      queue[tail++] = i;
    }
  };
  for (let c = 0; c < cols; c++) {
    push(c);
    push((rows - 1) * cols + c);
  }
  for (let r = 0; r < rows; r++) {
    push(r * cols);
    push(r * cols + cols - 1);
  }
  while (head < tail) {
    const i = queue[head++]!;
    const r = (i / cols) | 0;
    const c = i - r * cols;
    if (c > 0) push(i - 1);
    if (c < cols - 1) push(i + 1);
    if (r > 0) push(i - cols);
    if (r < rows - 1) push(i + cols);
  }
}

/** Binary dilation by a (2r+1)² square, separable. */
function dilateBox(m: Uint8Array, rows: number, cols: number, r: number): Uint8Array {
  const tmp = new Uint8Array(m.length);
  for (let y = 0; y < rows; y++) {
    // Two sweeps: distance to the nearest set pixel on the left, then on the right.
    let last = -1e9;
    for (let x = 0; x < cols; x++) {
      if (m[y * cols + x]) last = x;
      if (x - last <= r) tmp[y * cols + x] = 1;
    }
    last = 1e9;
    for (let x = cols - 1; x >= 0; x--) {
      if (m[y * cols + x]) last = x;
      if (last - x <= r) tmp[y * cols + x] = 1;
    }
  }
  const out = new Uint8Array(m.length);
  for (let x = 0; x < cols; x++) {
    let last = -1e9;
    for (let y = 0; y < rows; y++) {
      if (tmp[y * cols + x]) last = y;
      if (y - last <= r) out[y * cols + x] = 1;
    }
    last = 1e9;
    for (let y = rows - 1; y >= 0; y--) {
      if (tmp[y * cols + x]) last = y;
      if (last - y <= r) out[y * cols + x] = 1;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Candidates

function findCandidates(
  maps: readonly (readonly Float32Array[])[],
  search: Uint8Array[],
  g: Geometry,
  threshold: number,
  modelScale: number,
): Candidate[] {
  const blob = maps[0]!;
  const peaks = maps[1];
  const sigma = maps[2];
  // The model's own local maxima are exact only on its own grid; resampled maps get ours.
  const sameGrid = modelScale === 1 && peaks !== undefined;
  const out: Candidate[] = [];
  const { rows, cols } = g;
  for (let k = 0; k < g.S; k++) {
    const b = blob[k]!;
    const p = sameGrid ? peaks[k]! : undefined;
    const m = search[k]!;
    for (let row = 2; row < rows - 2; row++) {
      for (let col = 2; col < cols - 2; col++) {
        const i = row * cols + col;
        const v = b[i]!;
        if (v < threshold || !m[i]) continue;
        if (p) {
          if (p[i]! < threshold) continue;
        } else if (!isLocalMax(b, cols, i, v)) continue;
        const sig = sigma ? sigma[k]![i]! / modelScale : 2;
        out.push({ k, col, row, score: v, radiusMm: sig * Math.SQRT2 * g.dc });
      }
    }
  }
  out.sort((a, b) => b.score - a.score || a.k - b.k || a.row - b.row || a.col - b.col);
  return out;
}

function isLocalMax(b: Float32Array, cols: number, i: number, v: number): boolean {
  for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) if (b[i + dy * cols + dx]! > v) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// 3D segmentation of one candidate

function segmentCandidate(vol: SeriesVolume, g: Geometry, lung: Uint8Array[], c: Candidate, seen: Int16Array): Segment | undefined {
  const { rows, cols, S, dr, dc, dz } = g;
  const P = rows * cols;
  const hu = vol.values;
  const r = Math.max(1, Math.min(LUNG_NODULE_PARAMS.maxDiameterMm / 2, c.radiusMm));

  // Core density: the densest small neighbourhood at the peak, on its slice and the next ones.
  const coreR = Math.max(1, Math.round((0.4 * r) / dc));
  let core = -Infinity;
  let seedK = c.k;
  let seedI = c.row * cols + c.col;
  for (let k = Math.max(0, c.k - 1); k <= Math.min(S - 1, c.k + 1); k++) {
    let sum = 0;
    let n = 0;
    for (let y = c.row - coreR; y <= c.row + coreR; y++) {
      for (let x = c.col - coreR; x <= c.col + coreR; x++) {
        if (y < 0 || x < 0 || y >= rows || x >= cols || (x - c.col) ** 2 + (y - c.row) ** 2 > coreR * coreR) continue;
        sum += hu[k]![y * cols + x]!;
        n++;
      }
    }
    const mean = sum / n;
    if (mean > core + (k === c.k ? 0 : 15)) {
      core = mean;
      seedK = k;
    }
  }
  // Background: the median of a ring at 2.5-3.5 radii (mostly lung).
  const ring: number[] = [];
  const r0 = Math.max(3, (2.5 * r) / dc);
  const r1 = Math.max(5, (3.5 * r) / dc);
  const step = Math.max(1, Math.floor(r1 / 12));
  for (let y = Math.floor(c.row - r1); y <= c.row + r1; y += step) {
    for (let x = Math.floor(c.col - r1); x <= c.col + r1; x += step) {
      if (y < 0 || x < 0 || y >= rows || x >= cols) continue;
      const d2 = (x - c.col) ** 2 + (y - c.row) ** 2;
      if (d2 < r0 * r0 || d2 > r1 * r1) continue;
      if (lung[seedK]![y * cols + x]) ring.push(hu[seedK]![y * cols + x]!);
    }
  }
  if (ring.length < 8) return undefined;
  ring.sort((a, b) => a - b);
  const lungHu = Math.min(-650, ring[Math.floor(ring.length / 2)]!);
  if (core - lungHu < 150) return undefined; // too faint to measure
  const T = lungHu + 0.5 * (core - lungHu);
  // Structures are followed at a quarter of the contrast: a thin oblique vessel on thick slices
  // is a chain of short streaks that only touch through their faint partial-volume ends.
  const TL = lungHu + LUNG_NODULE_PARAMS.linkFraction * (core - lungHu);
  // Seed: the voxel at the peak, or the densest next to it.
  let best = -Infinity;
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      const i = (c.row + dy) * cols + c.col + dx;
      if (hu[seedK]![i]! > best) {
        best = hu[seedK]![i]!;
        seedI = i;
      }
    }
  }
  if (best < T) return undefined;
  if (seen[seedK * P + seedI]! <= TL + 50) return undefined;

  // Box around the candidate.
  const halfMm = Math.max(2 * r + 4, 8);
  const hx = Math.ceil(halfMm / dc);
  const hy = Math.ceil(halfMm / dr);
  const hz = Math.ceil(halfMm / dz);
  const sx = seedI % cols;
  const sy = (seedI / cols) | 0;
  const x0 = sx - hx;
  const y0 = sy - hy;
  const z0 = seedK - hz;
  const bx = 2 * hx + 1;
  const by = 2 * hy + 1;
  const bz = 2 * hz + 1;
  const bn = bx * by * bz;
  const inBox = (x: number, y: number, z: number): boolean => x >= 0 && y >= 0 && z >= 0 && x < cols && y < rows && z < S;
  // Local copies: HU (NaN outside the volume or the lung) and component labels.
  const local = new Float32Array(bn);
  const raw = new Float32Array(bn);
  for (let z = 0; z < bz; z++) {
    for (let y = 0; y < by; y++) {
      for (let x = 0; x < bx; x++) {
        const X = x0 + x;
        const Y = y0 + y;
        const Z = z0 + z;
        const li = (z * by + y) * bx + x;
        if (!inBox(X, Y, Z)) {
          local[li] = NaN;
          raw[li] = NaN;
        } else {
          const gi = Y * cols + X;
          raw[li] = hu[Z]![gi]!;
          local[li] = lung[Z]![gi] ? hu[Z]![gi]! : NaN;
        }
      }
    }
  }
  const comp = new Uint8Array(bn);
  const queue = new Int32Array(bn);
  const seedL = (hz * by + hy) * bx + hx;
  regionGrow(local, comp, queue, bx, by, bz, seedL, (v) => v >= TL);
  const touches = leaves(comp, local, raw, bx, by, bz, TL);
  // Remember what was segmented so later (weaker) candidates on the same structure are skipped:
  // all of a compact structure, only the candidate's own neighbourhood of one that leaves its
  // box (a better-centred candidate on a nodule touching a vessel deserves its own try).
  const markR2 = touches ? r * r : Infinity;
  for (let li = 0; li < bn; li++) {
    if (!comp[li]) continue;
    const x = li % bx;
    const y = ((li / bx) | 0) % by;
    const z = (li / (bx * by)) | 0;
    if (((x - hx) * dc) ** 2 + ((y - hy) * dr) ** 2 + ((z - hz) * dz) ** 2 > markR2) continue;
    const gi = (z0 + z) * P + (y0 + y) * cols + (x0 + x);
    if (seen[gi]! > TL) seen[gi] = Math.round(TL);
  }
  let part: Uint8Array = comp;
  if (touches) {
    // A tube leaves the box: open it with a ball of ~0.7 x the structure's inscribed radius at
    // the candidate; a nodule with thinner vessels attached keeps its body, a vessel keeps
    // leaving the box (or is mostly cut away: see below).
    const rIn = inscribedRadius(comp, bx, by, hz, hx, hy, r + 2, dc, dr);
    const e = Math.max(0.6 * r, 0.7 * rIn);
    const opened = openComponent(comp, bx, by, bz, seedL, e, dc, dr, dz);
    if (!opened || leaves(opened, local, raw, bx, by, bz, TL))
      return { accepted: false, reason: 'leaves the box (vessel)', threshold: T, margin: 1 };
    // What the opening cut off near the candidate must be thin stuff (vessels attached to a
    // nodule), not most of it (the junction of two vessels survives an opening, its trunks not).
    const near = 1.5 * r + dz;
    let inNear = 0;
    let cut = 0;
    for (let li = 0; li < bn; li++) {
      if (!comp[li]) continue;
      const ddx = ((li % bx) - hx) * dc;
      const ddy = ((((li / bx) | 0) % by) - hy) * dr;
      const ddz = (((li / (bx * by)) | 0) - hz) * dz;
      if (ddx * ddx + ddy * ddy + ddz * ddz > near * near) continue;
      inNear++;
      if (!opened[li]) cut++;
    }
    const cutFraction = inNear > 0 ? cut / inNear : 1;
    const maxCut = LUNG_NODULE_PARAMS.maxCutFraction;
    if (cutFraction > maxCut)
      return {
        accepted: false,
        reason: `mostly tubes (${cutFraction.toFixed(2)} cut)`,
        threshold: T,
        margin: (cutFraction - maxCut) / maxCut,
      };
    part = opened;
  }

  // Weighted moments: each voxel counts as its fraction between lung and core density, over
  // the part and a one-voxel shell (partial-volume voxels below the threshold).
  const shell = dilate6(part, bx, by, bz);
  const contrast = core - lungHu;
  let wsum = 0;
  let mx = 0;
  let my = 0;
  let mz = 0;
  let hsum = 0;
  let hn = 0;
  for (let li = 0; li < bn; li++) {
    if (!shell[li]) continue;
    const v = local[li]!;
    if (Number.isNaN(v)) continue;
    const w = Math.max(0, Math.min(1, (v - lungHu) / contrast));
    if (w === 0) continue;
    const x = (li % bx) * dc;
    const y = (((li / bx) | 0) % by) * dr;
    const z = ((li / (bx * by)) | 0) * dz;
    wsum += w;
    mx += w * x;
    my += w * y;
    mz += w * z;
    if (part[li] && w >= 0.75) {
      hsum += v;
      hn++;
    }
  }
  if (wsum <= 0) return undefined;
  mx /= wsum;
  my /= wsum;
  mz /= wsum;
  let cxx = 0;
  let cyy = 0;
  let czz = 0;
  let cxy = 0;
  let cxz = 0;
  let cyz = 0;
  for (let li = 0; li < bn; li++) {
    if (!shell[li]) continue;
    const v = local[li]!;
    if (Number.isNaN(v)) continue;
    const w = Math.max(0, Math.min(1, (v - lungHu) / contrast));
    if (w === 0) continue;
    const x = (li % bx) * dc - mx;
    const y = (((li / bx) | 0) % by) * dr - my;
    const z = ((li / (bx * by)) | 0) * dz - mz;
    cxx += w * x * x;
    cyy += w * y * y;
    czz += w * z * z;
    cxy += w * x * y;
    cxz += w * x * z;
    cyz += w * y * z;
  }
  // No correction for the slab width: a sphere spreads over neighbouring slices (its z profile
  // is its own extent blurred by the slab), a structure confined to one slice does not.
  const vx = Math.max(1e-3, cxx / wsum);
  const vy = Math.max(1e-3, cyy / wsum);
  const vz = Math.max(1e-3, czz / wsum);
  const eig = symmetricEigenvalues(vx, vy, vz, cxy / wsum, cxz / wsum, cyz / wsum);
  const elongation = Math.sqrt(Math.max(eig[0], 1e-6) / Math.max(eig[2], 1e-6));
  const volumeMm3 = wsum * dc * dr * dz;
  // Fill: volume over that of the ellipsoid with the same second moments (a solid ellipsoid has
  // variances a²/5, b²/5, c²/5). About 0.7-1 for a blob, low for branching or sparse structures.
  const fill = volumeMm3 / ((4 / 3) * Math.PI * 5 ** 1.5 * Math.sqrt(Math.max(1e-9, eig[0] * eig[1] * eig[2])));
  const diameterMm = Math.cbrt((6 * volumeMm3) / Math.PI);
  const centre = { k: z0 + mz / dz, col: x0 + mx / dc, row: y0 + my / dr };
  const meanHu = hn > 0 ? hsum / hn : core;
  const lim = LUNG_NODULE_PARAMS.maxElongation;
  if (elongation > lim)
    return {
      accepted: false,
      reason: `elongated (${elongation.toFixed(2)})`,
      threshold: T,
      margin: (elongation - lim) / lim,
      elongation,
      fill,
    };
  const minFill = LUNG_NODULE_PARAMS.minFill;
  if (fill < minFill)
    return {
      accepted: false,
      reason: `sparse (fill ${fill.toFixed(2)})`,
      threshold: T,
      margin: (minFill - fill) / minFill,
      elongation,
      fill,
    };
  if (diameterMm < LUNG_NODULE_PARAMS.minDiameterMm) return { accepted: false, reason: 'too small', threshold: T, margin: 1 };
  // Accepted: the whole measured part is this nodule for later candidates.
  for (let li = 0; li < bn; li++) {
    if (!part[li]) continue;
    const gi = (z0 + ((li / (bx * by)) | 0)) * P + (y0 + (((li / bx) | 0) % by)) * cols + (x0 + (li % bx));
    if (seen[gi]! > TL) seen[gi] = Math.round(TL);
  }
  return {
    accepted: true,
    threshold: T,
    margin: (lim - elongation) / (lim - 1),
    volumeMm3,
    diameterMm,
    meanHu,
    coreHu: core,
    centre,
    elongation,
    fill,
  };
}

/** 26-connected region growing from `seed` over voxels where `ok(value)` (NaN never). */
function regionGrow(
  local: Float32Array,
  comp: Uint8Array,
  queue: Int32Array,
  bx: number,
  by: number,
  bz: number,
  seed: number,
  ok: (v: number) => boolean,
): void {
  let head = 0;
  let tail = 0;
  comp[seed] = 1;
  queue[tail++] = seed;
  const plane = bx * by;
  while (head < tail) {
    const li = queue[head++]!;
    const x = li % bx;
    const y = ((li / bx) | 0) % by;
    const z = (li / plane) | 0;
    for (let dz = z > 0 ? -1 : 0; dz <= (z < bz - 1 ? 1 : 0); dz++) {
      for (let dy = y > 0 ? -1 : 0; dy <= (y < by - 1 ? 1 : 0); dy++) {
        for (let dx = x > 0 ? -1 : 0; dx <= (x < bx - 1 ? 1 : 0); dx++) {
          const n = li + dz * plane + dy * bx + dx;
          if (comp[n]) continue;
          const v = local[n]!;
          if (!Number.isNaN(v) && ok(v)) {
            comp[n] = 1;
            queue[tail++] = n;
          }
        }
      }
    }
  }
}

/**
 * Whether a structure leaves its box: a voxel on the box's faces, or one next to dense tissue
 * outside the lung mask (a vessel running into the hilum, anything fused with the chest wall).
 */
function leaves(mask: Uint8Array, local: Float32Array, raw: Float32Array, bx: number, by: number, bz: number, T: number): boolean {
  const plane = bx * by;
  for (let li = 0; li < mask.length; li++) {
    if (!mask[li]) continue;
    const x = li % bx;
    const y = ((li / bx) | 0) % by;
    const z = (li / plane) | 0;
    if (x === 0 || y === 0 || z === 0 || x === bx - 1 || y === by - 1 || z === bz - 1) return true;
    for (const n of [li - 1, li + 1, li - bx, li + bx, li - plane, li + plane]) {
      if (Number.isNaN(local[n]!) && raw[n]! >= T) return true;
    }
  }
  return false;
}

/** Largest in-plane distance (mm) from the component's edge on slice z, within `within` mm of (cx, cy): chamfer 3-4. */
function inscribedRadius(
  comp: Uint8Array,
  bx: number,
  by: number,
  z: number,
  cx: number,
  cy: number,
  within: number,
  dc: number,
  dr: number,
): number {
  const n = bx * by;
  const d = new Float32Array(n);
  const off = z * n;
  const big = 1e9;
  for (let i = 0; i < n; i++) d[i] = comp[off + i] ? big : 0;
  const a = Math.min(dc, dr);
  const diag = Math.hypot(dc, dr);
  for (let y = 0; y < by; y++) {
    for (let x = 0; x < bx; x++) {
      const i = y * bx + x;
      if (d[i] === 0) continue;
      let v = d[i]!;
      // Outside the box counts as inside the structure (it continues there).
      if (x > 0) v = Math.min(v, d[i - 1]! + dc);
      if (y > 0) v = Math.min(v, d[i - bx]! + dr);
      if (x > 0 && y > 0) v = Math.min(v, d[i - bx - 1]! + diag);
      if (x < bx - 1 && y > 0) v = Math.min(v, d[i - bx + 1]! + diag);
      d[i] = v;
    }
  }
  let best = 0;
  for (let y = by - 1; y >= 0; y--) {
    for (let x = bx - 1; x >= 0; x--) {
      const i = y * bx + x;
      if (d[i] === 0) continue;
      let v = d[i]!;
      if (x < bx - 1) v = Math.min(v, d[i + 1]! + dc);
      if (y < by - 1) v = Math.min(v, d[i + bx]! + dr);
      if (x < bx - 1 && y < by - 1) v = Math.min(v, d[i + bx + 1]! + diag);
      if (x > 0 && y < by - 1) v = Math.min(v, d[i + bx - 1]! + diag);
      d[i] = v;
      if (v < big / 2 && ((x - cx) * dc) ** 2 + ((y - cy) * dr) ** 2 <= within * within) best = Math.max(best, v);
    }
  }
  // A pixel next to the edge is at distance ~one pixel; the edge itself lies half a pixel out.
  return Math.max(0, best - a / 2);
}

function ballOffsets(e: number, dc: number, dr: number, dz: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  const ex = Math.floor(e / dc);
  const ey = Math.floor(e / dr);
  const ez = Math.floor(e / dz);
  for (let z = -ez; z <= ez; z++)
    for (let y = -ey; y <= ey; y++)
      for (let x = -ex; x <= ex; x++) if ((x * dc) ** 2 + (y * dr) ** 2 + (z * dz) ** 2 <= e * e) out.push([x, y, z]);
  return out;
}

/** Morphological opening of `comp` with a ball of radius e (mm), keeping the part that holds (or is nearest to) the seed. */
function openComponent(
  comp: Uint8Array,
  bx: number,
  by: number,
  bz: number,
  seed: number,
  e: number,
  dc: number,
  dr: number,
  dz: number,
): Uint8Array | undefined {
  const ball = ballOffsets(e, dc, dr, dz);
  if (ball.length <= 1) return comp;
  const plane = bx * by;
  const bn = comp.length;
  const eroded = new Uint8Array(bn);
  for (let li = 0; li < bn; li++) {
    if (!comp[li]) continue;
    const x = li % bx;
    const y = ((li / bx) | 0) % by;
    const z = (li / plane) | 0;
    let all = true;
    for (const [ox, oy, oz] of ball) {
      const X = x + ox;
      const Y = y + oy;
      const Z = z + oz;
      if (X < 0 || Y < 0 || Z < 0 || X >= bx || Y >= by || Z >= bz) {
        // Outside the box: assume the structure continues (it touched the box).
        continue;
      }
      if (!comp[(Z * by + Y) * bx + X]) {
        all = false;
        break;
      }
    }
    if (all) eroded[li] = 1;
  }
  // The eroded part nearest to the seed.
  let start = -1;
  let bestD = Infinity;
  const sx = seed % bx;
  const sy = ((seed / bx) | 0) % by;
  const sz = (seed / plane) | 0;
  for (let li = 0; li < bn; li++) {
    if (!eroded[li]) continue;
    const d = ((li % bx) - sx) ** 2 * dc * dc + ((((li / bx) | 0) % by) - sy) ** 2 * dr * dr + (((li / plane) | 0) - sz) ** 2 * dz * dz;
    if (d < bestD) {
      bestD = d;
      start = li;
    }
  }
  if (start < 0 || Math.sqrt(bestD) > 2 * e + dz) return undefined;
  const core = new Uint8Array(bn);
  const queue = new Int32Array(bn);
  regionGrow(Float32Array.from(eroded), core, queue, bx, by, bz, start, (v) => v > 0);
  // Dilate back within the component.
  const mask = new Uint8Array(bn);
  for (let li = 0; li < bn; li++) {
    if (!core[li]) continue;
    const x = li % bx;
    const y = ((li / bx) | 0) % by;
    const z = (li / plane) | 0;
    for (const [ox, oy, oz] of ball) {
      const X = x + ox;
      const Y = y + oy;
      const Z = z + oz;
      if (X < 0 || Y < 0 || Z < 0 || X >= bx || Y >= by || Z >= bz) continue;
      const n = (Z * by + Y) * bx + X;
      if (comp[n]) mask[n] = 1;
    }
  }
  return mask;
}

function dilate6(m: Uint8Array, bx: number, by: number, bz: number): Uint8Array {
  const out = Uint8Array.from(m);
  const plane = bx * by;
  for (let li = 0; li < m.length; li++) {
    if (!m[li]) continue;
    const x = li % bx;
    const y = ((li / bx) | 0) % by;
    const z = (li / plane) | 0;
    if (x > 0) out[li - 1] = 1;
    if (x < bx - 1) out[li + 1] = 1;
    if (y > 0) out[li - bx] = 1;
    if (y < by - 1) out[li + bx] = 1;
    if (z > 0) out[li - plane] = 1;
    if (z < bz - 1) out[li + plane] = 1;
  }
  return out;
}

/** Eigenvalues of a symmetric 3x3 matrix, descending (closed form). */
export function symmetricEigenvalues(a: number, b: number, c: number, d: number, e: number, f: number): [number, number, number] {
  // [[a d e] [d b f] [e f c]]
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

// ---------------------------------------------------------------------------------------------
// Findings

function confidence(score: number, threshold: number, elongation: number): number {
  const s = score / (score + threshold); // 0.5 at the threshold, -> 1 for strong blobs
  const lim = LUNG_NODULE_PARAMS.maxElongation;
  const shape = Math.max(0, Math.min(1, (lim - elongation) / (lim - 1)));
  return round(Math.max(0, Math.min(1, s * (0.7 + 0.3 * shape))), 3);
}

function toFinding(vol: SeriesVolume, g: Geometry, masks: Masks, c: Candidate, s: Segment, conf: number, label: string): FindingDraft {
  const ctr = s.centre!;
  const kc = Math.max(0, Math.min(g.S - 1, Math.round(ctr.k)));
  const [x, y, z] = pixelToPatient(vol, ctr.k, ctr.col, ctr.row);
  // Side: patient coordinates relative to the body's centre on that slice (LPS: +x = patient's left).
  const [bcx, bcy] = masks.bodyCentre[kc]!;
  const mid = pixelToPatient(vol, kc, bcx, bcy);
  const laterality: 'right' | 'left' = x < mid[0] ? 'right' : 'left';
  const zone = zoneOf(vol, g, masks, ctr.k);
  const location = `${laterality} ${zone} zone`;
  const slice = vol.slices[kc]!;
  const diameterMm = round(s.diameterMm!, 1);
  const volumeMm3 = round(s.volumeMm3!, 0);
  const meanHu = round(s.meanHu!, 0);
  const composition = (s.coreHu ?? s.meanHu!) >= LUNG_NODULE_PARAMS.solidHu ? 'solid' : 'ground-glass';
  const radiusPx = s.diameterMm! / 2 / g.dc;
  const measurements: Measurement[] = [
    { key: 'diameterMm', concept: CODES.diameter, value: diameterMm, unit: UCUM_MM },
    { key: 'volumeMm3', concept: CODES.volume, value: volumeMm3, unit: UCUM_MM3 },
    { key: 'meanHu', concept: CODES.attenuation, value: meanHu, unit: UCUM_HU },
  ];
  return {
    label,
    code: CODES.nodule,
    confidence: conf,
    measurements,
    site: { code: CODES.lung, laterality, text: location },
    attributes: { composition },
    region: {
      sopClassUid: slice.sopClassUid,
      sopInstanceUid: slice.sopInstanceUid,
      graphicType: 'CIRCLE',
      graphicData: [round(ctr.col, 1), round(ctr.row, 1), round(ctr.col + radiusPx, 1), round(ctr.row, 1)],
    },
    centre: {
      x: round(x, 2),
      y: round(y, 2),
      z: round(z, 2),
      ...(vol.frameOfReferenceUid ? { frameOfReferenceUid: vol.frameOfReferenceUid } : {}),
    },
    templateValues: { diameterMm, volumeMm3, location, composition, meanHu, score: round(c.score, 3) },
  };
}

/** upper / middle / lower third of the lungs' extent along the slice normal. */
function zoneOf(vol: SeriesVolume, g: Geometry, masks: Masks, k: number): 'upper' | 'middle' | 'lower' {
  const minArea = 800; // mm²: less is the trachea or bowel gas, not lung
  let lo = -1;
  let hi = -1;
  for (let i = 0; i < g.S; i++) {
    if (masks.area[i]! >= minArea) {
      if (lo < 0) lo = i;
      hi = i;
    }
  }
  if (lo < 0 || hi <= lo) return 'middle';
  // Slices are ordered by increasing position along the normal; for axial (normal +z) that is
  // foot to head, so the upper zone is at the high end.
  const t = (k - lo) / (hi - lo);
  const headFirst = vol.normal[2] >= 0;
  const up = headFirst ? t : 1 - t;
  return up > 2 / 3 ? 'upper' : up < 1 / 3 ? 'lower' : 'middle';
}

function clamp01(v: number): number {
  return v <= 0 ? 0 : v >= 1 ? 1 : v;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

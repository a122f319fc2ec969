// Series geometry: which slices form a volume, in which order, with which spacing. Slices are
// sorted along the slice normal from Image Position/Orientation (Patient) — never by Instance
// Number, which modalities number in acquisition order, reconstruction order or not at all — and
// every reason a series cannot form a volume is said in words.

export interface SliceGeometry {
  sopInstanceUid: string;
  /** (0020,0032) Image Position (Patient), mm. */
  imagePositionPatient: readonly number[] | null;
  /** (0020,0037) Image Orientation (Patient): row direction cosines, then column. */
  imageOrientationPatient: readonly number[] | null;
  rows: number;
  columns: number;
  /** (0028,0030) Pixel Spacing [row spacing, column spacing] mm, or Imager Pixel Spacing. */
  pixelSpacing: readonly number[] | null;
  instanceNumber?: number | null;
  /**
   * 1-based frame number inside a multi-frame object (Enhanced CT/MR/PET, Legacy Converted
   * Enhanced); absent for a single-frame instance. Several SliceGeometry entries then share one
   * sopInstanceUid, and (sopInstanceUid, frameNumber) names the slice.
   */
  frameNumber?: number;
  /** What tells stacks in one series apart; a key left out means the object did not say. */
  stackKey?: StackKey;
  /**
   * (0018,1120) Gantry/Detector Tilt as the header says, degrees. Only cross-checked against the
   * tilt measured from the positions (tilt-check.ts), never used to place a slice.
   */
  gantryTiltDeg?: number;
}

/**
 * Attributes that separate several stacks filed in one series (a three-plane localizer, echoes,
 * phases, two orientations). Read from the single-frame header or from a multi-frame object's
 * Frame Content / MR Echo / CT Acquisition Details functional groups.
 */
export interface StackKey {
  /** (0020,9056) Stack ID, Frame Content Sequence. */
  stackId?: string;
  /** (0018,0086) Echo Number(s), or the frame's echo from (0018,9082) Effective Echo Time. */
  echoNumber?: number;
  /** (0020,0100) Temporal Position Identifier, or (0020,9128) Temporal Position Index. */
  temporalPosition?: number;
  /** (0020,0012) Acquisition Number. */
  acquisitionNumber?: number;
  /** (0008,0008) Image Type (or the frame's Frame Type), upper case, backslash-joined. */
  imageType?: string;
  /** (0018,0050) Slice Thickness, mm. */
  sliceThickness?: number;
}

export interface VolumeGeometry {
  ok: true;
  /** Slices in order along the normal (increasing position along it). */
  slices: SliceGeometry[];
  /** Unit normal (row × column). */
  normal: [number, number, number];
  /** Position of each slice along the normal, mm. */
  positions: number[];
  /** Median distance between neighbouring slices, mm. */
  spacing: number;
  /** [row spacing, column spacing, slice spacing] mm. */
  voxelSize: [number, number, number];
  rows: number;
  columns: number;
  /** Problems that do not prevent a volume but a reader should know (e.g. no Pixel Spacing). */
  warnings: string[];
  /**
   * Gantry tilt: the slices are stacked along a direction that is not the normal of their plane
   * (each slice shifted in-plane by the same amount per mm along the normal). Null when the
   * slices sit straight on top of each other. Only returned with `tilt: 'report'`; otherwise a
   * tilted stack is refused.
   */
  tilt: GantryTilt | null;
}

/** How a tilted stack is sheared: what resampling onto an orthogonal grid must undo. */
export interface GantryTilt {
  /** Angle between the stacking direction and the slice normal, degrees. */
  angleDeg: number;
  /**
   * In-plane shift of each slice relative to the first, mm, along the row direction (X) and the
   * column direction (Y), in `slices` order: slice k's pixel (c, r) lies where the first slice's
   * pixel (c + shift[k][0] / column spacing, r + shift[k][1] / row spacing) lies, moved along the normal.
   */
  inPlaneShiftMm: [number, number][];
}

export interface AssembleOptions {
  /**
   * Fraction of the median spacing a step may differ by before it counts as a gap (missing
   * slice) or uneven spacing. Default 0.2.
   */
  gapTolerance?: number;
  /** 'refuse' (default): a tilted stack is not a volume. 'report': it is, with `tilt` set for resampling. */
  tilt?: 'refuse' | 'report';
}

export interface NotAVolume {
  ok: false;
  reasons: string[];
}

const EPS_COSINE = 1e-3;

function cross(a: readonly number[], b: readonly number[]): [number, number, number] {
  return [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
}

function dot(a: readonly number[], b: readonly number[]): number {
  return a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Orders a series' slices into a volume, or says why it cannot be one. `gapTolerance` is the
 * fraction of the median spacing a step may differ by before it counts as a gap (missing slice)
 * or uneven spacing.
 */
export function assembleVolume(input: readonly SliceGeometry[], options: AssembleOptions = {}): VolumeGeometry | NotAVolume {
  const gapTolerance = options.gapTolerance ?? 0.2;
  const reasons: string[] = [];
  if (input.length < 2) return { ok: false, reasons: [`${input.length} slice(s): a volume needs at least 2`] };

  const missing = input.filter(
    (s) =>
      !s.imagePositionPatient ||
      s.imagePositionPatient.length !== 3 ||
      !s.imageOrientationPatient ||
      s.imageOrientationPatient.length !== 6,
  );
  if (missing.length > 0) reasons.push(`${missing.length} slice(s) lack Image Position/Orientation (Patient)`);

  const sizes = new Set(input.map((s) => `${s.rows}x${s.columns}`));
  if (sizes.size > 1) reasons.push(`mixed image sizes: ${[...sizes].join(', ')}`);

  const spacings = new Set(input.map((s) => (s.pixelSpacing ? s.pixelSpacing.map((v) => v.toFixed(4)).join('/') : 'none')));
  if (spacings.size > 1) reasons.push(`mixed pixel spacings: ${[...spacings].join(', ')}`);
  if (reasons.length > 0) return { ok: false, reasons };

  const iop0 = input[0]!.imageOrientationPatient!;
  const mixed = input.filter((s) => s.imageOrientationPatient!.some((v, i) => Math.abs(v - iop0[i]!) > EPS_COSINE));
  if (mixed.length > 0)
    return {
      ok: false,
      reasons: [
        `mixed orientations within one stack: ${mixed.length} slice(s) differ in Image Orientation (Patient) from the first (e.g. a localizer or a second plane in the series)`,
      ],
    };

  const n = cross(iop0.slice(0, 3), iop0.slice(3, 6));
  const len = Math.hypot(...n);
  if (len < 0.5) return { ok: false, reasons: ['Image Orientation (Patient) row and column directions are not orthogonal unit vectors'] };
  const normal: [number, number, number] = [n[0] / len, n[1] / len, n[2] / len];

  const withPos = input.map((s) => ({ s, d: dot(s.imagePositionPatient!, normal) }));
  withPos.sort((a, b) => a.d - b.d);

  const steps: number[] = [];
  for (let i = 1; i < withPos.length; i++) steps.push(withPos[i]!.d - withPos[i - 1]!.d);
  const duplicates = steps.filter((st) => Math.abs(st) < 1e-3).length;
  if (duplicates > 0)
    return {
      ok: false,
      reasons: [
        `${duplicates} duplicate slice position(s): two instances at the same place (repeated acquisition or several phases in one series)`,
      ],
    };

  const spacing = median(steps);
  const gaps = steps.map((st, i) => ({ st, i })).filter(({ st }) => st > spacing * (1 + gapTolerance));
  if (gaps.length > 0) {
    const missingSlices = gaps.reduce((acc, g) => acc + Math.round(g.st / spacing) - 1, 0);
    return {
      ok: false,
      reasons: [
        `gap in the series: ${gaps.length} step(s) larger than the ${spacing.toFixed(2)} mm spacing (about ${missingSlices} missing slice(s), first after position ${withPos[gaps[0]!.i]!.d.toFixed(2)} mm)`,
      ],
    };
  }
  const uneven = steps.filter((st) => st < spacing * (1 - gapTolerance));
  if (uneven.length > 0)
    return {
      ok: false,
      reasons: [
        `uneven spacing: ${uneven.length} step(s) smaller than the median spacing of ${spacing.toFixed(2)} mm by more than ${Math.round(gapTolerance * 100)}% (smallest ${Math.min(...uneven).toFixed(2)} mm): overlapping or interleaved slices`,
      ],
    };

  const ps = input[0]!.pixelSpacing;
  const ordered = withPos.map((w) => w.s);
  const positions = withPos.map((w) => w.d);
  const tilt = measureTilt(ordered, positions, iop0, normal, Math.min(ps?.[0] ?? 1, ps?.[1] ?? 1));
  if (typeof tilt === 'string') return { ok: false, reasons: [tilt] };
  if (tilt && options.tilt !== 'report') return { ok: false, reasons: [describeTilt(tilt)] };

  const warnings: string[] = [];
  if (!ps) warnings.push('no Pixel Spacing: measurements in pixels, not millimetres');
  return {
    ok: true,
    slices: ordered,
    normal,
    positions,
    spacing,
    voxelSize: [ps?.[0] ?? 1, ps?.[1] ?? 1, spacing],
    rows: input[0]!.rows,
    columns: input[0]!.columns,
    warnings,
    tilt,
  };
}

/** The reason a tilted stack is refused, in words. */
export function describeTilt(t: GantryTilt): string {
  return `gantry tilt of ${t.angleDeg.toFixed(1)}°: the slices are stacked along a direction that is not perpendicular to their plane (each slice shifted in-plane), so stacking them as they are would shear the anatomy`;
}

/**
 * Gantry tilt from the positions alone (PS3.3 C.7.6.2.1.1: the Image Position of each slice, not
 * Gantry/Detector Tilt (0018,1120), which some scanners leave at 0 after reconstruction). The
 * in-plane residual of each slice's position relative to the first, after removing the step along
 * the normal, must be zero (no tilt) or grow linearly with the distance along the normal (a tilt,
 * as dcm2niix models it). Anything else is an irregular in-plane shift: a string reason.
 * A total shift under half a pixel over the stack is rounding in the positions, not a tilt.
 */
function measureTilt(
  slices: readonly SliceGeometry[],
  positions: readonly number[],
  iop: readonly number[],
  normal: readonly number[],
  pixelMm: number,
): GantryTilt | null | string {
  const p0 = slices[0]!.imagePositionPatient!;
  const rowDir = iop.slice(0, 3);
  const colDir = iop.slice(3, 6);
  const shifts: [number, number][] = slices.map((s, k) => {
    const d = positions[k]! - positions[0]!;
    const r = [0, 1, 2].map((i) => s.imagePositionPatient![i]! - p0[i]! - d * normal[i]!);
    return [dot(r, rowDir), dot(r, colDir)];
  });
  const tolerance = pixelMm / 2;
  if (shifts.every(([u, v]) => Math.hypot(u, v) < tolerance)) return null;
  // Least-squares slope through the origin (the first slice has no shift by definition).
  let sdd = 0;
  let sud = 0;
  let svd = 0;
  shifts.forEach(([u, v], k) => {
    const d = positions[k]! - positions[0]!;
    sdd += d * d;
    sud += u * d;
    svd += v * d;
  });
  const a = sud / sdd;
  const b = svd / sdd;
  const worst = Math.max(
    ...shifts.map(([u, v], k) => Math.hypot(u - a * (positions[k]! - positions[0]!), v - b * (positions[k]! - positions[0]!))),
  );
  if (worst >= tolerance)
    return `slices shifted in-plane irregularly (up to ${worst.toFixed(2)} mm off a straight stack): neither a straight nor a tilted stack`;
  return { angleDeg: (Math.atan(Math.hypot(a, b)) * 180) / Math.PI, inPlaneShiftMm: shifts };
}

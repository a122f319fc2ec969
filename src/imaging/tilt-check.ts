// Gantry/Detector Tilt (0018,1120) against the tilt the slice positions show. The volume is always
// placed by the positions (geometry.ts measureTilt, PS3.3 C.7.6.2.1.1), but a header that
// disagrees with them points at a reconstruction or an export that changed one and not the other
// (some scanners leave the tag at 0 after resampling; some anonymisers rewrite positions), which
// an operator should see in the job log.

import type { SliceGeometry } from './geometry';

/** Header and positions may differ by this much (degrees) before it is worth a warning. */
export const TILT_AGREEMENT_DEG = 1;

/**
 * A warning when the tilt the headers declare differs from `measuredDeg` by more than
 * TILT_AGREEMENT_DEG, else null (also when no slice declares one). The measured angle is
 * unsigned (between the stacking direction and the slice normal) and the header's sign
 * convention varies between vendors, so magnitudes are compared; the slices' median stands for
 * the header.
 */
export function declaredTiltDisagreement(slices: readonly SliceGeometry[], measuredDeg: number): string | null {
  const declared = slices.flatMap((s) =>
    s.gantryTiltDeg !== undefined && Number.isFinite(s.gantryTiltDeg) ? [Math.abs(s.gantryTiltDeg)] : [],
  );
  if (declared.length === 0) return null;
  declared.sort((a, b) => a - b);
  const header = declared[declared.length >> 1]!;
  if (Math.abs(header - measuredDeg) <= TILT_AGREEMENT_DEG) return null;
  return (
    `Gantry/Detector Tilt (0018,1120) says ${header.toFixed(1)}° but the slice positions show ${measuredDeg.toFixed(1)}°: ` +
    `the positions are used; check the scanner's reconstruction or export`
  );
}

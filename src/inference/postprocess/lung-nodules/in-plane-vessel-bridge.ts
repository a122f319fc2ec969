/**
 * Ground glass that bridges an in-plane vessel between two slices, not a nodule.
 *
 * A vessel 2.4-3 mm across lying nearly in plane, its axis near the boundary of two 2.5 mm slices,
 * fills about half of each slab along a stretch: ground glass (about -430 HU) on both slices there,
 * solid where its axis dips into one slab. Seen through the slices it lies on, that ground glass is
 * a piece of the tube: solid tissue continues it beyond BOTH ends of its in-plane long axis (the
 * vessel entering one slab on one side and the other slab on the other). A ground-glass nodule
 * beside a vessel touches it on one side, or lies between vessels that run past it (long, across
 * its axis): a rounded opacity (Fleischner Society glossary, Hansell et al., Radiology 2008).
 */
import type { SeriesVolume } from '../../series-volume';
import type { VoxelMask } from '../types';
import { LUNG_NODULE_PARAMS } from './params';
import type { VolumeGrid } from './volume-grid';

/** Solid pixels touching each end of the long axis for a bridge: a 2.4 mm vessel's end is about 4-5 pixels of 0.7 mm. */
export const MIN_END_CONTACTS = 5;
/** A touching solid piece this elongated (in-plane SD ratio) and this far from the axis runs past the ground glass. */
const PASSING_VESSEL_ELONGATION = 2.5;
const PASSING_VESSEL_MAX_ALIGNMENT = 0.5;
/** How far beyond the ground glass's half-length the touching solid is followed, mm. */
const FOLLOW_MM = 3;

export interface BridgeMeasure {
  /** Solid pixels touching the ground glass beyond each end of its long axis. */
  readonly endContacts: readonly [number, number];
  /** A touching solid piece that runs past it, across its axis. */
  readonly passingVessel: boolean;
}

interface Plane {
  readonly inside: (x: number, y: number) => boolean;
  readonly solid: (x: number, y: number) => boolean;
}

/** The mask seen through its slices, and solid on any of them (mask coordinates). */
function projection(volume: SeriesVolume, grid: VolumeGrid, mask: VoxelMask): Plane {
  const [ox, oy, oz] = mask.origin;
  const [sx, sy, sz] = mask.size;
  const covered = new Uint8Array(sx * sy);
  for (let z = 0; z < sz; z++)
    for (let y = 0; y < sy; y++)
      for (let x = 0; x < sx; x++) {
        const bit = (z * sy + y) * sx + x;
        if ((mask.bits[bit >> 3]! >> (bit & 7)) & 1) covered[y * sx + x] = 1;
      }
  const inside = (x: number, y: number): boolean => x >= 0 && y >= 0 && x < sx && y < sy && covered[y * sx + x] === 1;
  const solid = (x: number, y: number): boolean => {
    const column = ox + x;
    const row = oy + y;
    if (column < 0 || row < 0 || column >= grid.columns || row >= grid.rows) return false;
    for (let z = 0; z < sz; z++)
      if ((volume.values[oz + z]?.[row * grid.columns + column] ?? -Infinity) >= LUNG_NODULE_PARAMS.solidHu) return true;
    return false;
  };
  return { inside, solid };
}

interface Axes {
  readonly cx: number;
  readonly cy: number;
  readonly u: readonly [number, number];
  readonly halfLength: number;
  readonly halfWidth: number;
  /** sqrt of the ratio of the principal variances. */
  readonly elongation: number;
}

/** Principal in-plane axes of points in mm. */
function principalAxes(points: readonly (readonly [number, number])[], pixelMm: number): Axes {
  const n = points.length;
  const cx = points.reduce((a, p) => a + p[0], 0) / n;
  const cy = points.reduce((a, p) => a + p[1], 0) / n;
  let xx = 0;
  let yy = 0;
  let xy = 0;
  for (const [x, y] of points) {
    xx += (x - cx) ** 2;
    yy += (y - cy) ** 2;
    xy += (x - cx) * (y - cy);
  }
  const angle = 0.5 * Math.atan2(2 * xy, xx - yy);
  const u: [number, number] = [Math.cos(angle), Math.sin(angle)];
  let tMin = Infinity;
  let tMax = -Infinity;
  let sMin = Infinity;
  let sMax = -Infinity;
  for (const [x, y] of points) {
    const t = (x - cx) * u[0] + (y - cy) * u[1];
    const s = -(x - cx) * u[1] + (y - cy) * u[0];
    tMin = Math.min(tMin, t);
    tMax = Math.max(tMax, t);
    sMin = Math.min(sMin, s);
    sMax = Math.max(sMax, s);
  }
  const half = (xx + yy) / 2;
  const root = Math.sqrt(Math.max(0, half * half - (xx * yy - xy * xy)));
  const minor = Math.max(half - root, 1e-9);
  return {
    cx,
    cy,
    u,
    halfLength: (tMax - tMin + pixelMm) / 2,
    halfWidth: (sMax - sMin + pixelMm) / 2,
    elongation: Math.sqrt((half + root) / minor),
  };
}

/** How a ground-glass mask meets the solid tissue around it, seen through its slices. */
export function inPlaneVesselBridge(volume: SeriesVolume, grid: VolumeGrid, mask: VoxelMask): BridgeMeasure {
  const [sx, sy] = mask.size;
  const pixelMm = volume.pixelSpacing[1];
  const rowMm = volume.pixelSpacing[0];
  const plane = projection(volume, grid, mask);
  const points: [number, number][] = [];
  for (let y = 0; y < sy; y++) for (let x = 0; x < sx; x++) if (plane.inside(x, y)) points.push([x * pixelMm, y * rowMm]);
  if (points.length < 3) return { endContacts: [0, 0], passingVessel: false };
  const axes = principalAxes(points, pixelMm);
  const along = (x: number, y: number): number => (x * pixelMm - axes.cx) * axes.u[0] + (y * rowMm - axes.cy) * axes.u[1];
  const across = (x: number, y: number): number => -(x * pixelMm - axes.cx) * axes.u[1] + (y * rowMm - axes.cy) * axes.u[0];
  const touches = (x: number, y: number): boolean => {
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (plane.inside(x + dx, y + dy)) return true;
    return false;
  };
  const ends: [number, number] = [0, 0];
  const contacts: [number, number][] = [];
  for (let y = -1; y <= sy; y++)
    for (let x = -1; x <= sx; x++) {
      if (plane.inside(x, y) || !plane.solid(x, y) || !touches(x, y)) continue;
      contacts.push([x, y]);
      const t = along(x, y);
      if (Math.abs(t) / axes.halfLength > Math.abs(across(x, y)) / axes.halfWidth) ends[t > 0 ? 0 : 1]++;
    }
  return { endContacts: ends, passingVessel: anyPassingVessel(plane, contacts, axes, along, across, pixelMm, rowMm) };
}

/** Whether a solid piece touching the mask (followed a little beyond it) is long and runs across its axis. */
function anyPassingVessel(
  plane: Plane,
  contacts: readonly [number, number][],
  axes: Axes,
  along: (x: number, y: number) => number,
  across: (x: number, y: number) => number,
  pixelMm: number,
  rowMm: number,
): boolean {
  const reach = axes.halfLength + FOLLOW_MM;
  const seen = new Set<string>();
  for (const start of contacts) {
    if (seen.has(`${start[0]},${start[1]}`)) continue;
    seen.add(`${start[0]},${start[1]}`);
    const stack: [number, number][] = [start];
    const piece: [number, number][] = [];
    while (stack.length > 0) {
      const [x, y] = stack.pop()!;
      piece.push([x * pixelMm, y * rowMm]);
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          const key = `${nx},${ny}`;
          if (seen.has(key) || plane.inside(nx, ny) || !plane.solid(nx, ny)) continue;
          if (Math.hypot(along(nx, ny), across(nx, ny)) > reach) continue;
          seen.add(key);
          stack.push([nx, ny]);
        }
    }
    if (piece.length < 3) continue;
    const own = principalAxes(piece, pixelMm);
    const alignment = Math.abs(own.u[0] * axes.u[0] + own.u[1] * axes.u[1]);
    if (own.elongation >= PASSING_VESSEL_ELONGATION && alignment <= PASSING_VESSEL_MAX_ALIGNMENT) return true;
  }
  return false;
}

/** A ground-glass piece of an in-plane vessel: solid continues it at both ends, and no vessel runs past it. */
export function isInPlaneVesselBridge(measure: BridgeMeasure): boolean {
  return Math.min(...measure.endContacts) >= MIN_END_CONTACTS && !measure.passingVessel;
}

// Several stacks in one series: a three-plane localizer filed with the axial images, two echoes,
// arterial and venous phases, a sagittal and an axial reconstruction. They are told apart here —
// by orientation (the slice normal), by what the scanner says separates them (Stack ID, echo,
// temporal position, image type, slice thickness, and acquisition number where positions repeat)
// and by in-plane size and pixel spacing — described in words, and one is chosen for the model
// by the manifest's preference. Only the chosen stack is then checked as a volume (geometry.ts).

import type { SliceGeometry, StackKey } from './geometry';

export type PlaneName = 'axial' | 'coronal' | 'sagittal' | 'oblique';
export const PREFERRED_PLANES = ['axial', 'coronal', 'sagittal'] as const;
export type StackPrefer = 'largest' | (typeof PREFERRED_PLANES)[number];

/** Which stack a model wants (manifest "stack"). */
export interface StackPreference {
  /** "largest": the stack with the most slices; a plane: the largest stack in that plane, none = skipped. */
  readonly prefer: StackPrefer;
  /** Only stacks of this Echo Number; none = skipped. */
  readonly echo?: number;
}

export const DEFAULT_STACK_PREFERENCE: StackPreference = { prefer: 'largest' };

/** Fewer slices than this are a localizer or a stray image, never what a model is given. */
export const MIN_STACK_SLICES = 3;

/** Normals closer than this are one orientation; the stack's own check then wants them identical. */
const SAME_ORIENTATION_DEG = 2;
/** A normal within this of a patient axis is named after that plane (an AC-PC-aligned head MR, a head CT with 30° gantry tilt are still "axial"). */
const PLANE_NAMING_DEG = 35;

export interface Stack {
  readonly slices: readonly SliceGeometry[];
  readonly plane: PlaneName;
  readonly normal: readonly [number, number, number] | null;
  /** The stack's key values (those all its slices share). */
  readonly key: StackKey;
  /** Image Type says LOCALIZER/SCOUT, or the stack has fewer than MIN_STACK_SLICES slices. */
  readonly localizer: boolean;
  /** Median distance between neighbouring slices along the normal, mm; null under 2 slices. */
  readonly spacingMm: number | null;
  /** Distance from the first to the last slice along the normal, mm. */
  readonly extentMm: number;
}

/** What the job log, /api/jobs and the SR say about the stack used (no patient data). */
export interface StackSummary {
  /** 1-based place of the stack in the series' list (largest first). */
  readonly number: number;
  readonly of: number;
  readonly plane: PlaneName;
  readonly slices: number;
  readonly spacingMm: number | null;
  readonly extentMm: number;
  readonly echoNumber?: number;
  readonly temporalPosition?: number;
  readonly stackId?: string;
  /** Set when the stack was acquired with gantry tilt and resampled onto an orthogonal grid. */
  readonly tiltCorrectedDeg?: number;
}

export type StackChoice = { ok: true; stack: Stack; summary: StackSummary } | { ok: false; reason: string };

function normalOf(s: SliceGeometry): [number, number, number] | null {
  const o = s.imageOrientationPatient;
  if (!o || o.length !== 6) return null;
  const n: [number, number, number] = [o[1]! * o[5]! - o[2]! * o[4]!, o[2]! * o[3]! - o[0]! * o[5]!, o[0]! * o[4]! - o[1]! * o[3]!];
  const len = Math.hypot(...n);
  return len < 0.5 ? null : [n[0] / len, n[1] / len, n[2] / len];
}

/** DICOM patient axes (PS3.3 C.7.6.2.1.1): x towards the patient's left, y posterior, z head. */
export function planeOf(normal: readonly number[] | null): PlaneName {
  if (!normal) return 'oblique';
  const limit = Math.cos((PLANE_NAMING_DEG * Math.PI) / 180);
  const [x, y, z] = normal.map(Math.abs) as [number, number, number];
  if (z >= limit) return 'axial';
  if (y >= limit) return 'coronal';
  if (x >= limit) return 'sagittal';
  return 'oblique';
}

/** Groups slices whose normals agree within SAME_ORIENTATION_DEG (slices without one form their own group). */
function orientationGroups(slices: readonly SliceGeometry[]): SliceGeometry[][] {
  const limit = Math.cos((SAME_ORIENTATION_DEG * Math.PI) / 180);
  const groups: { normal: [number, number, number] | null; slices: SliceGeometry[] }[] = [];
  for (const s of slices) {
    const n = normalOf(s);
    const g = groups.find((gr) =>
      n && gr.normal ? n[0] * gr.normal[0] + n[1] * gr.normal[1] + n[2] * gr.normal[2] >= limit : !n && !gr.normal,
    );
    if (g) g.slices.push(s);
    else groups.push({ normal: n, slices: [s] });
  }
  return groups.map((g) => g.slices);
}

function keyText(s: SliceGeometry): string {
  const k = s.stackKey ?? {};
  const ps = s.pixelSpacing ? s.pixelSpacing.map((v) => v.toFixed(4)).join('/') : '-';
  return [s.rows, s.columns, ps, k.stackId, k.echoNumber, k.temporalPosition, k.imageType, k.sliceThickness?.toFixed(3)].join('|');
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): T[][] {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = m.get(k);
    if (list) list.push(it);
    else m.set(k, [it]);
  }
  return [...m.values()];
}

function positionAlong(s: SliceGeometry, n: readonly number[] | null): number | null {
  const p = s.imagePositionPatient;
  return p && n ? p[0]! * n[0]! + p[1]! * n[1]! + p[2]! * n[2]! : null;
}

/**
 * Acquisition Number separates stacks only where positions repeat: many CT scanners give every
 * slice of one sequential scan its own acquisition number, which must not shatter the stack.
 */
function splitRepeatedAcquisitions(group: SliceGeometry[]): SliceGeometry[][] {
  const n = normalOf(group[0]!);
  const seen = new Set<string>();
  let repeats = false;
  for (const s of group) {
    const d = positionAlong(s, n);
    const k = d === null ? '' : d.toFixed(2);
    if (d !== null && seen.has(k)) repeats = true;
    seen.add(k);
  }
  if (!repeats) return [group];
  return groupBy(group, (s) => String(s.stackKey?.acquisitionNumber ?? ''));
}

function commonKey(slices: readonly SliceGeometry[]): StackKey {
  const first = slices[0]?.stackKey ?? {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(first)) {
    if (v !== undefined && slices.every((s) => (s.stackKey as Record<string, unknown> | undefined)?.[k] === v)) out[k] = v;
  }
  return out;
}

function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function describeGroup(slices: SliceGeometry[]): Stack {
  const normal = normalOf(slices[0]!);
  const key = commonKey(slices);
  const ds = slices.map((s) => positionAlong(s, normal)).filter((d): d is number => d !== null);
  ds.sort((a, b) => a - b);
  const steps = ds.slice(1).map((d, i) => d - ds[i]!);
  const type = (key.imageType ?? '').toUpperCase().split('\\');
  return {
    slices,
    plane: planeOf(normal),
    normal,
    key,
    localizer: type.includes('LOCALIZER') || type.includes('SCOUT') || slices.length < MIN_STACK_SLICES,
    spacingMm: steps.length > 0 ? median(steps) : null,
    extentMm: ds.length > 1 ? ds[ds.length - 1]! - ds[0]! : 0,
  };
}

/**
 * Splits a series' slices into stacks, largest first (then by echo, temporal position and plane,
 * so the order does not depend on arrival order); localizers last.
 */
export function splitIntoStacks(slices: readonly SliceGeometry[]): Stack[] {
  const groups = orientationGroups(slices)
    .flatMap((g) => groupBy(g, keyText))
    .flatMap(splitRepeatedAcquisitions);
  const stacks = groups.map(describeGroup);
  const num = (v: number | undefined) => v ?? -Infinity;
  return stacks.sort(
    (a, b) =>
      Number(a.localizer) - Number(b.localizer) ||
      b.slices.length - a.slices.length ||
      num(a.key.echoNumber) - num(b.key.echoNumber) ||
      num(a.key.temporalPosition) - num(b.key.temporalPosition) ||
      a.plane.localeCompare(b.plane),
  );
}

/** One stack in words, for logs and skip reasons: "axial, 120 slices 1.25 mm apart, echo 2". */
export function describeStack(s: Stack | StackSummary): string {
  const n = Array.isArray((s as Stack).slices) ? (s as Stack).slices.length : (s as StackSummary).slices;
  const key: StackKey = 'key' in s ? s.key : s;
  const parts = [`${s.plane}, ${n} slice(s)${s.spacingMm !== null ? ` ${s.spacingMm.toFixed(2)} mm apart` : ''}`];
  if (key.echoNumber !== undefined) parts.push(`echo ${key.echoNumber}`);
  if (key.temporalPosition !== undefined) parts.push(`temporal position ${key.temporalPosition}`);
  if (key.stackId !== undefined) parts.push(`stack ID ${key.stackId}`);
  if ('localizer' in s && s.localizer) parts.push('localizer');
  return parts.join(', ');
}

/** The stack used, in words: "stack 1 of 3: axial, 120 slice(s) 1.25 mm apart, echo 2". */
export function summaryText(s: StackSummary): string {
  const tilt = s.tiltCorrectedDeg !== undefined ? `; gantry tilt ${s.tiltCorrectedDeg.toFixed(1)}° resampled onto an orthogonal grid` : '';
  return `stack ${s.number} of ${s.of}: ${describeStack(s)}${tilt}`;
}

function listStacks(stacks: readonly Stack[]): string {
  return stacks.map((s) => describeStack(s)).join('; ');
}

/**
 * The stack a model gets: among the stacks that are not localizers, those in the preferred plane
 * and with the preferred echo, the one with the most slices (ties: the earlier in the list). When
 * none fits, the reason lists what the series has, so an operator sees why it was skipped.
 */
export function chooseStack(stacks: readonly Stack[], pref: StackPreference = DEFAULT_STACK_PREFERENCE): StackChoice {
  if (stacks.length === 0) return { ok: false, reason: 'no image slices in the series' };
  const unplaced = stacks.filter((s) => s.normal === null).reduce((n, s) => n + s.slices.length, 0);
  if (unplaced > 0)
    return {
      ok: false,
      reason: `${unplaced} slice(s) lack Image Position/Orientation (Patient): which stack they belong to, and where, cannot be told`,
    };
  let candidates = stacks.filter((s) => !s.localizer);
  if (candidates.length === 0)
    return {
      ok: false,
      reason: `no usable stack: only localizer images or stacks of fewer than ${MIN_STACK_SLICES} slices (${listStacks(stacks)})`,
    };
  if (pref.prefer !== 'largest') {
    candidates = candidates.filter((s) => s.plane === pref.prefer);
    if (candidates.length === 0)
      return { ok: false, reason: `no ${pref.prefer} stack, which the model's manifest asks for; the series has: ${listStacks(stacks)}` };
  }
  if (pref.echo !== undefined) {
    candidates = candidates.filter((s) => s.key.echoNumber === pref.echo);
    if (candidates.length === 0)
      return {
        ok: false,
        reason: `no stack of echo ${pref.echo}, which the model's manifest asks for; the series has: ${listStacks(stacks)}`,
      };
  }
  const stack = candidates.reduce((best, s) => (s.slices.length > best.slices.length ? s : best));
  return { ok: true, stack, summary: summarize(stack, stacks) };
}

function summarize(stack: Stack, all: readonly Stack[]): StackSummary {
  const k = stack.key;
  return {
    number: all.indexOf(stack) + 1,
    of: all.length,
    plane: stack.plane,
    slices: stack.slices.length,
    spacingMm: stack.spacingMm === null ? null : Number(stack.spacingMm.toFixed(3)),
    extentMm: Number(stack.extentMm.toFixed(2)),
    ...(k.echoNumber !== undefined ? { echoNumber: k.echoNumber } : {}),
    ...(k.temporalPosition !== undefined ? { temporalPosition: k.temporalPosition } : {}),
    ...(k.stackId !== undefined ? { stackId: k.stackId } : {}),
  };
}

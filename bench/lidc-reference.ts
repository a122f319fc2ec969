// bench/lidc-reference: the reference standard for real chest CT (LIDC-IDRI scans, LUNA16 rows),
// and LUNA16's rule for scoring a detector's findings against it.
//
// LUNA16 (Setio et al., Medical Image Analysis 42, 2017) takes as reference the LIDC-IDRI nodules
// >= 3 mm accepted by at least 3 of the 4 readers (annotations.csv: world mm centre, diameter).
// Every other reader mark — a nodule >= 3 mm marked by only 1 or 2 readers, a nodule < 3 mm, a
// non-nodule — is an "irrelevant finding": a detection on it is neither a hit nor a false
// positive. A detection is a hit when its centre lies within the reference nodule's radius.
// The irrelevant marks come from the LIDC XML reads beside each series (one <readingSession> per
// reader; pixel coordinates on the named instance), put into patient mm with that instance's
// geometry (PS3.3 C.7.6.2.1.1).

import type { PatientPoint } from '../src/inference/findings';

export interface Luna16Nodule {
  readonly patientId: string;
  readonly seriesUid: string;
  readonly centre: PatientPoint;
  readonly diameterMm: number;
}

/** luna16-annotations.csv (LUNA16's annotations.csv, with a patient_id column where present). */
export function parseLuna16Csv(text: string): Luna16Nodule[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines.shift() ?? '').split(',').map((h) => h.trim());
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`LUNA16 annotations: no "${name}" column in the header (${header.join(',')})`);
    return i;
  };
  const [uid, x, y, z, d] = ['seriesuid', 'coordX', 'coordY', 'coordZ', 'diameter_mm'].map(col) as [number, number, number, number, number];
  const pid = header.indexOf('patient_id');
  return lines.map((line, n) => {
    const f = line.split(',').map((v) => v.trim());
    const num = (i: number): number => {
      const v = Number(f[i]);
      if (!Number.isFinite(v)) throw new Error(`LUNA16 annotations line ${n + 2}: "${f[i]}" is not a number`);
      return v;
    };
    return {
      patientId: pid >= 0 ? (f[pid] ?? '') : '',
      seriesUid: f[uid] ?? '',
      centre: { x: num(x), y: num(y), z: num(z) },
      diameterMm: num(d),
    };
  });
}

/** One ROI of a reader's mark: points (column, row) on one instance. */
export interface LidcRoi {
  readonly sopInstanceUid: string;
  readonly zMm: number;
  /** false: the contour encloses what is to be excluded (a hole). */
  readonly inclusion: boolean;
  readonly points: readonly (readonly [number, number])[];
}

export type LidcMarkKind = 'nodule' | 'small-nodule' | 'non-nodule';

/** One reader's mark: a nodule >= 3 mm (contours), a nodule < 3 mm (a point), or a non-nodule (a point). */
export interface LidcMark {
  /** Index of the reading session (reader) in the file. */
  readonly reader: number;
  readonly kind: LidcMarkKind;
  readonly id: string;
  readonly rois: readonly LidcRoi[];
}

const tagText = (xml: string, tag: string): string | undefined => new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1]?.trim();
const blocks = (xml: string, tag: string): string[] =>
  [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1]!);

function points(xml: string): [number, number][] {
  return blocks(xml, 'edgeMap')
    .concat(blocks(xml, 'locus'))
    .map((b) => [Number(tagText(b, 'xCoord')), Number(tagText(b, 'yCoord'))] as [number, number])
    .filter(([c, r]) => Number.isFinite(c) && Number.isFinite(r));
}

function roi(xml: string): LidcRoi {
  return {
    sopInstanceUid: tagText(xml, 'imageSOP_UID') ?? '',
    zMm: Number(tagText(xml, 'imageZposition')),
    inclusion: (tagText(xml, 'inclusion') ?? 'TRUE').toUpperCase() === 'TRUE',
    points: points(xml),
  };
}

/**
 * The marks of an LIDC XML read (LidcReadMessage). A nodule >= 3 mm is the one with
 * <characteristics> and an outline; one without is a nodule < 3 mm (its centre only).
 */
export function parseLidcXml(xml: string): LidcMark[] {
  const marks: LidcMark[] = [];
  blocks(xml, 'readingSession').forEach((session, reader) => {
    for (const b of blocks(session, 'unblindedReadNodule')) {
      const kind: LidcMarkKind = b.includes('<characteristics>') ? 'nodule' : 'small-nodule';
      marks.push({ reader, kind, id: tagText(b, 'noduleID') ?? '', rois: blocks(b, 'roi').map(roi) });
    }
    for (const b of blocks(session, 'nonNodule'))
      marks.push({ reader, kind: 'non-nodule', id: tagText(b, 'nonNoduleID') ?? '', rois: [roi(b)] });
  });
  return marks;
}

/** What it takes to put an instance's pixel into patient mm. */
export interface InstanceGeometry {
  readonly position: readonly [number, number, number];
  /** Row direction cosines, then column direction cosines. */
  readonly orientation: readonly [number, number, number, number, number, number];
  /** [row spacing, column spacing] mm. */
  readonly pixelSpacing: readonly [number, number];
}

/** PS3.3 C.7.6.2.1.1: P = S + col·Δc·X + row·Δr·Y. */
function toPatient(g: InstanceGeometry, col: number, row: number): PatientPoint {
  const [rx, ry, rz, cx, cy, cz] = g.orientation;
  const [dr, dc] = g.pixelSpacing;
  return {
    x: g.position[0] + col * dc * rx + row * dr * cx,
    y: g.position[1] + col * dc * ry + row * dr * cy,
    z: g.position[2] + col * dc * rz + row * dr * cz,
  };
}

/** A reader's mark in patient mm. diameterMm: that of the sphere of its outlined volume (nodules >= 3 mm only). */
export interface ReferenceMark {
  readonly reader: number;
  readonly kind: LidcMarkKind;
  readonly centre: PatientPoint;
  readonly diameterMm?: number;
}

const distance = (a: PatientPoint, b: PatientPoint): number => Math.hypot(a.x - b.x, a.y - b.y, a.z - b.z);

/** Area inside an outline (shoelace formula), in pixels². */
function outlineArea(points: readonly (readonly [number, number])[]): number {
  let twice = 0;
  points.forEach(([x1, y1], i) => {
    const [x2, y2] = points[(i + 1) % points.length]!;
    twice += x1 * y2 - x2 * y1;
  });
  return Math.abs(twice) / 2;
}

/** Median distance between neighbouring instances along their normal, mm. */
function sliceSpacing(geometry: ReadonlyMap<string, InstanceGeometry>): number {
  const along = [...geometry.values()]
    .map((g) => {
      const [rx, ry, rz, cx, cy, cz] = g.orientation;
      const n = [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx];
      return g.position[0] * n[0]! + g.position[1] * n[1]! + g.position[2] * n[2]!;
    })
    .sort((a, b) => a - b);
  const gaps = along
    .slice(1)
    .map((v, i) => v - along[i]!)
    .filter((d) => d > 1e-3)
    .sort((a, b) => a - b);
  return gaps[gaps.length >> 1] ?? 1;
}

/**
 * A mark's centre (mean of its outline points over the included ROIs) and, for a nodule >= 3 mm,
 * the diameter of the sphere with the volume its outlines enclose (area per slice × slice
 * spacing, excluded outlines subtracted). On LIDC-IDRI-0001 the four readers' mean comes within
 * 0.4 mm of LUNA16's 23.4 mm, where the longest outline extent would say ~33 mm: LIDC outlines
 * are drawn just outside the nodule. Throws when an ROI names an instance not in `geometry`.
 */
export function markInPatient(mark: LidcMark, geometry: ReadonlyMap<string, InstanceGeometry>): ReferenceMark | undefined {
  const pts: PatientPoint[] = [];
  let volume = 0;
  const dz = mark.kind === 'nodule' ? sliceSpacing(geometry) : 0;
  for (const r of mark.rois.filter((x) => x.points.length > 0)) {
    const g = geometry.get(r.sopInstanceUid);
    if (!g) throw new Error(`LIDC mark ${mark.id} (reader ${mark.reader + 1}) names instance ${r.sopInstanceUid}, not in the series`);
    const area = outlineArea(r.points) * g.pixelSpacing[0] * g.pixelSpacing[1] * dz;
    volume += r.inclusion ? area : -area;
    if (r.inclusion) pts.push(...r.points.map(([c, row]) => toPatient(g, c, row)));
  }
  if (pts.length === 0) return undefined;
  const mean = (k: 'x' | 'y' | 'z'): number => pts.reduce((s, p) => s + p[k], 0) / pts.length;
  const centre = { x: mean('x'), y: mean('y'), z: mean('z') };
  if (mark.kind !== 'nodule') return { reader: mark.reader, kind: mark.kind, centre };
  return { reader: mark.reader, kind: mark.kind, centre, diameterMm: Math.cbrt((6 * Math.max(0, volume)) / Math.PI) };
}

/**
 * Point marks (nodules < 3 mm, non-nodules) have no diameter (LUNA16's annotations_excluded.csv
 * lists them with -1). They get a 10 mm zone: the default recalled from LUNA16's evaluation
 * script, not checked against it here.
 */
export const POINT_MARK_DIAMETER_MM = 10;

/** A zone where a detection counts neither as a hit nor as a false positive. */
export interface IrrelevantZone {
  readonly centre: PatientPoint;
  readonly diameterMm: number;
  readonly kind: LidcMarkKind;
  readonly reader: number;
}

/** A nodule >= 3 mm that fewer than 3 readers marked (reader marks grouped where they overlap). */
export interface LidcOnlyNodule {
  readonly centre: PatientPoint;
  readonly diameterMm: number;
  readonly readers: number;
}

export interface ScanReference {
  readonly nodules: readonly Luna16Nodule[];
  readonly irrelevant: readonly IrrelevantZone[];
  readonly lidcOnlyNodules: readonly LidcOnlyNodule[];
}

/**
 * The reference for one series: its LUNA16 rows, and every reader mark that is not part of one
 * of them (its centre outside every LUNA16 nodule's radius) as an irrelevant zone.
 */
export function scanReference(nodules: readonly Luna16Nodule[], marks: readonly ReferenceMark[]): ScanReference {
  const inLuna = (m: ReferenceMark): boolean => nodules.some((n) => distance(n.centre, m.centre) <= n.diameterMm / 2);
  const others = marks.filter((m) => !inLuna(m));
  const irrelevant = others.map((m) => ({
    centre: m.centre,
    diameterMm: m.diameterMm ?? POINT_MARK_DIAMETER_MM,
    kind: m.kind,
    reader: m.reader,
  }));
  return { nodules, irrelevant, lidcOnlyNodules: groupNodules(others.filter((m) => m.kind === 'nodule')) };
}

/** Marks of different readers are one nodule when either centre lies within the other's radius. */
function groupNodules(marks: readonly ReferenceMark[]): LidcOnlyNodule[] {
  const groups: ReferenceMark[][] = [];
  for (const m of marks) {
    const g = groups.find((grp) =>
      grp.some((o) => o.reader !== m.reader && distance(o.centre, m.centre) <= Math.max(o.diameterMm ?? 0, m.diameterMm ?? 0) / 2),
    );
    if (g && !g.some((o) => o.reader === m.reader)) g.push(m);
    else groups.push([m]);
  }
  return groups.map((g) => {
    const mean = (k: 'x' | 'y' | 'z'): number => g.reduce((s, m) => s + m.centre[k], 0) / g.length;
    return {
      centre: { x: mean('x'), y: mean('y'), z: mean('z') },
      diameterMm: g.reduce((s, m) => s + (m.diameterMm ?? 0), 0) / g.length,
      readers: g.length,
    };
  });
}

/** What a detector reports, as far as scoring goes. */
export interface Detection {
  readonly centre: PatientPoint;
  readonly diameterMm: number;
}

export interface NoduleOutcome {
  readonly nodule: Luna16Nodule;
  /** The detection nearest its centre among those within its radius. */
  readonly hit?: Detection;
  readonly distanceMm?: number;
}

export interface ScanScore {
  readonly nodules: readonly NoduleOutcome[];
  readonly falsePositives: readonly Detection[];
  readonly irrelevant: readonly Detection[];
}

/**
 * LUNA16's rule: a detection whose centre is within a reference nodule's radius is a hit (more
 * than one on the same nodule count once, and the others are not false positives); otherwise one
 * within an irrelevant zone is ignored; anything else is a false positive.
 */
export function scoreDetections(ref: ScanReference, detections: readonly Detection[]): ScanScore {
  const nodules: NoduleOutcome[] = ref.nodules.map((nodule) => {
    const near = detections
      .map((d) => ({ d, dist: distance(d.centre, nodule.centre) }))
      .filter((x) => x.dist <= nodule.diameterMm / 2)
      .sort((a, b) => a.dist - b.dist)[0];
    return near ? { nodule, hit: near.d, distanceMm: near.dist } : { nodule };
  });
  const onNodule = (d: Detection): boolean => ref.nodules.some((n) => distance(d.centre, n.centre) <= n.diameterMm / 2);
  const onIrrelevant = (d: Detection): boolean => ref.irrelevant.some((z) => distance(d.centre, z.centre) <= z.diameterMm / 2);
  const rest = detections.filter((d) => !onNodule(d));
  return { nodules, falsePositives: rest.filter((d) => !onIrrelevant(d)), irrelevant: rest.filter(onIrrelevant) };
}

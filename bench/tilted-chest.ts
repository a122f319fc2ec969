/**
 * bench/tilted-chest: gantry-tilted chest CT through the reference lung-nodule model (issue 12).
 * A chest phantom (fixtures/chest-phantom, thin axial slices) is re-acquired with the gantry
 * tilted by 0°, 15° and 30° (fixtures/stack-series tiltedStack: the image plane tilted about the
 * patient's left-right axis, the table stepping along z), each pixel sampled from the phantom by
 * trilinear interpolation. Each series is loaded as the node loads it (tilt measured from the
 * positions and resampled onto an orthogonal grid, series-volume.ts) and run through the model.
 * For every phantom nodule the model finds, it prints:
 *   - how far the tilted run's centre (patient mm) lies from the 0° run's centre (must be ≤ 1 mm);
 *   - how far the finding's image region, mapped back onto its SOURCE image's pixels (what the
 *     SR's SCOORD says; findingsOnSourcePixels) and placed by that image's own position and
 *     orientation, lies from the centre within the image plane (must be ≤ 1 mm), and whether
 *     that source image is the one nearest the centre.
 *
 * A nodule the 0° run misses is only reported (the model's sensitivity, not geometry; at the time of
 * writing an 8 mm nodule at (-62, 35, -140) is missed at every tilt, and a 7 mm one there was found
 * at 0° and 15° but not at 30°, where sampling and resampling blur it twice).
 *
 *   npm run bench:tilt            (exit status 1 when a check fails)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { writeChestPhantom, type NoduleSpec } from '../fixtures/chest-phantom';
import { tiltedStack, writeStackSeries, type Vec3 } from '../fixtures/stack-series';
import { newUidRoot } from '../fixtures/synthetic-ct';
import { loadFiles, openNoduleModel } from './enhanced-equivalence';
import { findingsOnSourcePixels } from '../src/inference/source-pixels';
import type { SeriesVolume } from '../src/inference/series-volume';
import type { Finding, ImageRegion } from '../src/inference/findings';
import { parseDicomFile } from '../src/imaging/dataset';
import { TAG } from '../src/dicom/tags';

const PIXEL_MM = 0.7;
const SIZE = 512;
const TABLE_STEP_MM = 2.5;
/** Nodules at mid-lung height, away from the heart and the chest wall (patient mm, LPS). */
const NODULES: NoduleSpec[] = [
  { centre: [-72, -10, -125], diameterMm: 12 },
  { centre: [80, -5, -150], diameterMm: 10 },
  { centre: [-62, 35, -140], diameterMm: 8 },
];
/** How far beyond the nodules (mm along z) each series reaches. */
const MARGIN_MM = 35;
const LIMIT_MM = 1;

type Sampler = (p: Vec3) => number;

/** Trilinear HU of an axial volume at a patient point; air beyond its sides, its end slices beyond its ends. */
function samplerOf(vol: SeriesVolume): Sampler {
  const [dr, dc] = vol.pixelSpacing;
  const p0 = vol.slices[0]!.position;
  const n = vol.slices.length;
  const at = (k: number, r: number, c: number): number => vol.values[k]![r * vol.columns + c]!;
  return ([x, y, z]) => {
    const c = (x - p0[0]) / dc;
    const r = (y - p0[1]) / dr;
    if (c < 0 || r < 0 || c > vol.columns - 1 || r > vol.rows - 1) return -1000;
    const k = Math.max(0, Math.min(n - 1, (z - p0[2]) / vol.sliceSpacing));
    const [c0, r0, k0] = [Math.min(vol.columns - 2, Math.floor(c)), Math.min(vol.rows - 2, Math.floor(r)), Math.min(n - 2, Math.floor(k))];
    const [fc, fr, fk] = [c - c0, r - r0, k - k0];
    const plane = (kk: number): number =>
      (at(kk, r0, c0) * (1 - fc) + at(kk, r0, c0 + 1) * fc) * (1 - fr) + (at(kk, r0 + 1, c0) * (1 - fc) + at(kk, r0 + 1, c0 + 1) * fc) * fr;
    return plane(k0) * (1 - fk) + plane(k0 + 1) * fk;
  };
}

/**
 * Table positions so the tilted planes pass through every nodule with MARGIN_MM to spare: a
 * plane at table z0 meets the patient at z = z0 − (y − y0)·tan θ, y0 its first row's y.
 */
function tiltedSeries(tiltDeg: number, dir: string, sample: Sampler): string[] {
  const t = (tiltDeg * Math.PI) / 180;
  const half = ((SIZE - 1) / 2) * PIXEL_MM;
  const y0 = -half * Math.cos(t);
  const z0 = (n: NoduleSpec) => n.centre[2] + (n.centre[1] - y0) * Math.tan(t);
  const lo = Math.min(...NODULES.map(z0)) - MARGIN_MM;
  const hi = Math.max(...NODULES.map(z0)) + MARGIN_MM;
  return writeStackSeries({
    outDir: dir,
    uidRoot: newUidRoot(),
    modality: 'CT',
    rows: SIZE,
    columns: SIZE,
    pixelMm: PIXEL_MM,
    sliceThicknessMm: TABLE_STEP_MM,
    slices: tiltedStack({ count: Math.ceil((hi - lo) / TABLE_STEP_MM) + 1, tiltDeg, tableStepMm: TABLE_STEP_MM, origin: [-half, y0, lo] }),
    sampleHu: sample,
  });
}

const dist = (a: readonly number[], b: readonly number[]): number => Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!);
const xyz = (f: Finding): Vec3 => [f.centre!.x, f.centre!.y, f.centre!.z];

/** The finding nearest a nodule, when within its radius (LUNA16's hit rule). */
function hitOf(findings: readonly Finding[], n: NoduleSpec): Finding | undefined {
  const near = findings.filter((f) => f.centre && dist(xyz(f), n.centre) <= n.diameterMm / 2);
  return near.sort((a, b) => dist(xyz(a), n.centre) - dist(xyz(b), n.centre))[0];
}

interface SourceImage {
  position: Vec3;
  orientation: number[];
  spacing: number[];
}

function readSources(files: readonly string[]): Map<string, SourceImage> {
  return new Map(
    files.map((f) => {
      const ds = parseDicomFile(fs.readFileSync(f)).dataSet;
      const p = ds.numbers(TAG.ImagePositionPatient);
      return [
        ds.string(TAG.SOPInstanceUID)!,
        { position: [p[0]!, p[1]!, p[2]!], orientation: ds.numbers(TAG.ImageOrientationPatient), spacing: ds.numbers(TAG.PixelSpacing) },
      ];
    }),
  );
}

/** The region's centre in pixels (PS3.3 C.18.6.1.2: a CIRCLE's first point is its centre; an ELLIPSE's axes' mean). */
function regionCentre(region: ImageRegion): [number, number] {
  const g = region.graphicData;
  if (region.graphicType === 'POINT' || region.graphicType === 'CIRCLE') return [g[0]!, g[1]!];
  const pts = g.length / 2;
  let [c, r] = [0, 0];
  for (let i = 0; i < pts; i++) [c, r] = [c + g[2 * i]! / pts, r + g[2 * i + 1]! / pts];
  return [c, r];
}

/**
 * Where the finding's region (on its source image's pixels, as the SCOORD says) lies: in-plane
 * distance from the centre to the region's mean point, and the centre's distance from that plane.
 */
function regionCheck(f: Finding, sources: Map<string, SourceImage>): { inPlaneMm: number; offPlaneMm: number; nearest: boolean } {
  const src = sources.get(f.region!.sopInstanceUid)!;
  const [c, r] = regionCentre(f.region!);
  const [rx, ry, rz, cx, cy, cz] = src.orientation as [number, number, number, number, number, number];
  const [dr, dc] = src.spacing as [number, number];
  const onImage: Vec3 = [
    src.position[0] + c * dc * rx + r * dr * cx,
    src.position[1] + c * dc * ry + r * dr * cy,
    src.position[2] + c * dc * rz + r * dr * cz,
  ];
  const normal: Vec3 = [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx];
  const centre = xyz(f);
  const along = (p: readonly number[]): number => p[0]! * normal[0] + p[1]! * normal[1] + p[2]! * normal[2];
  const d = [centre[0] - onImage[0], centre[1] - onImage[1], centre[2] - onImage[2]];
  const off = along(d);
  const inPlane = Math.hypot(d[0]! - off * normal[0], d[1]! - off * normal[1], d[2]! - off * normal[2]);
  const offs = [...sources.values()].map((s) => Math.abs(along(centre) - along(s.position)));
  return { inPlaneMm: inPlane, offPlaneMm: Math.abs(off), nearest: Math.abs(off) <= Math.min(...offs) + 1e-6 };
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-tilt-'));
  const model = await openNoduleModel(Number(process.env.THREADS ?? 2));
  let failures = 0;
  try {
    let t0 = Date.now();
    const phantom = writeChestPhantom({
      outDir: path.join(tmp, 'phantom'),
      seed: 12,
      uidRoot: newUidRoot(),
      sliceThicknessMm: 1.25,
      slices: 200,
      nodules: NODULES,
    });
    const sample = samplerOf(await loadFiles(phantom.files));
    console.log(
      `phantom: ${phantom.files.length} axial slices of 1.25 mm, ${NODULES.length} nodules, made in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    let truth: (Finding | undefined)[] = [];
    for (const tiltDeg of [0, 15, 30]) {
      t0 = Date.now();
      const files = tiltedSeries(tiltDeg, path.join(tmp, `tilt-${tiltDeg}`), sample);
      const vol = await loadFiles(files);
      const onVolume = await model.run(vol);
      // As the job runner does: regions moved back onto the source images' pixels for the SR.
      const result = findingsOnSourcePixels(onVolume, vol);
      const sources = readSources(files);
      console.log(
        `tilt ${String(tiltDeg).padStart(2)}°: ${files.length} slices, measured tilt ${vol.stack?.tiltCorrectedDeg ?? 0}°, ` +
          `${result.findings.length} finding(s), ${((Date.now() - t0) / 1000).toFixed(1)} s` +
          (vol.warnings.length > 0 ? `; warnings: ${vol.warnings.join('; ')}` : ''),
      );
      const hits = NODULES.map((n) => hitOf(result.findings, n));
      if (tiltDeg === 0) truth = hits;
      NODULES.forEach((n, i) => {
        const hit = hits[i];
        const label = `  nodule ${n.diameterMm} mm at ${n.centre.join(', ')}:`;
        if (!hit) {
          console.log(`${label} not found`);
          if (truth[i]) failures++;
          return;
        }
        const diameter = hit.measurements.find((m) => m.key === 'diameterMm')?.value;
        const fromTruth = truth[i] ? dist(xyz(hit), xyz(truth[i])) : NaN;
        const region = regionCheck(hit, sources);
        // Without a 0° finding there is no untilted centre to compare with; the SCOORD is still checked.
        const ok = (!truth[i] || tiltDeg === 0 || fromTruth <= LIMIT_MM) && region.inPlaneMm <= LIMIT_MM && region.nearest;
        if (!ok) failures++;
        console.log(
          `${label} ${diameter} mm, centre ${xyz(hit)
            .map((v) => v.toFixed(2))
            .join(', ')}` +
            (tiltDeg === 0
              ? ' (the truth for the tilted runs)'
              : truth[i]
                ? `, ${fromTruth.toFixed(2)} mm from the 0° centre`
                : ', not found at 0°') +
            `; SCOORD on its source image ${region.inPlaneMm.toFixed(2)} mm in-plane, ${region.offPlaneMm.toFixed(2)} mm off-plane` +
            `${region.nearest ? ' (the nearest image)' : ' (NOT the nearest image)'}${ok ? '' : '  FAIL'}`,
        );
      });
    }
  } finally {
    await model.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(
    failures === 0
      ? `every nodule within ${LIMIT_MM} mm of the untilted centre, SCOORD on the right source pixels`
      : `${failures} check(s) failed`,
  );
  process.exitCode = failures === 0 ? 0 : 1;
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}

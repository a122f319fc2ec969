// bench/nodule-inserted-scans: the reference lung-nodule model on real chest CT with synthetic
// nodules of known size, type and place inserted (issue 17 item 3: a check on real anatomy).
//
// Each shared LIDC series is loaded the node's way (bench/nodule-real-scans: de-identified,
// buildSeriesVolume); per seed, N nodules are planned (fixtures/nodule-placement: an independent
// lung mask, places inside / juxtapleural / juxtavascular, kept radii + 10 mm from each other and
// from the scan's own reference nodules and reader marks) and blended into a copy of the HU volume
// (fixtures/nodule-insertion) before the model runs. Scoring is LUNA16's (bench/lidc-reference):
// a hit is a finding whose centre lies within the inserted nodule's radius; a finding on neither
// an inserted nodule nor the scan's own LUNA16 nodules or reader marks is a false positive.
//
// node dist/bench/nodule-sensitivity.js --real [FOLDER] --insert [--per-scan 8] [--seed 1] [--seeds 1] [--edge-blur 0]
//   --edge-blur SD: blur the inserted edges in-plane by a Gaussian of that SD (mm), an assumed stand-in for the scanner's PSF

import { randomBytes } from 'node:crypto';
import type * as ort from 'onnxruntime-node';

import { DEFAULT_PIXEL_LIMITS } from '../src/dicom/pixel-budget';
import { buildSeriesVolume } from '../src/pipeline/volume-stage';
import type { Manifest } from '../src/inference/manifest';
import { pixelToPatient, type SeriesVolume } from '../src/inference/series-volume';
import {
  findLungNodules,
  prepareLungNodules,
  type Candidate,
  type CandidateOutcome,
} from '../src/inference/postprocess/lung-nodules/index';
import type { NoduleTruth } from '../fixtures/chest-phantom';
import { insertNodule, measureInsertedNodule, type InsertedProfile } from '../fixtures/nodule-insertion';
import {
  DENSE_GROUND_GLASS_HU,
  FAINT_GROUND_GLASS_HU,
  lungMap,
  planNodules,
  type KeepAway,
  type PlacedNodule,
} from '../fixtures/nodule-placement';
import { describeMiss, measurement, runSliceModel } from './nodule-sensitivity';
import { readRealDataset, readScanFolder, referenceOf } from './nodule-real-scans';
import { scoreDetections, type Detection, type ScanReference } from './lidc-reference';
import type { PatientPoint } from '../src/inference/findings';
import type { PostprocessResult } from '../src/inference/postprocess/types';

export interface InsertOptions {
  readonly perScan: number;
  readonly seed: number;
  readonly seeds: number;
  /** In-plane blur (SD, mm) of the inserted nodules' edges; 0: partial volume only. */
  readonly edgeBlurMm: number;
  /** Ground glass drawn from DENSE_GROUND_GLASS_HU instead of the phantoms' range. */
  readonly denseGroundGlass?: boolean;
  /** Ground glass drawn from FAINT_GROUND_GLASS_HU instead of the phantoms' range. */
  readonly faintGroundGlass?: boolean;
}

/** One inserted nodule's outcome. */
interface Outcome {
  readonly scan: string;
  readonly seed: number;
  readonly nodule: PlacedNodule;
  readonly centre: PatientPoint;
  readonly profile: InsertedProfile;
  readonly hit?: Detection;
  readonly distanceMm?: number;
  readonly why?: string;
}

interface Run {
  readonly scan: string;
  readonly seed: number;
  readonly falsePositives: number;
  /** False positives not found on the scan without the inserted nodules. */
  readonly newFalsePositives: number;
  readonly seconds: number;
}

const fmt = (v: number, d = 1): string => v.toFixed(d);
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Patient mm -> fractional voxel (k, row, column), for a volume of parallel, evenly spaced slices. */
function patientToVoxel(vol: SeriesVolume, p: PatientPoint): { k: number; row: number; column: number } {
  const o = vol.slices[0]!.position;
  const d = [p.x - o[0], p.y - o[1], p.z - o[2]] as const;
  const [rx, ry, rz, cx, cy, cz] = vol.orientation;
  const [nx, ny, nz] = vol.normal;
  return {
    column: (d[0] * rx + d[1] * ry + d[2] * rz) / vol.pixelSpacing[1],
    row: (d[0] * cx + d[1] * cy + d[2] * cz) / vol.pixelSpacing[0],
    k: (d[0] * nx + d[1] * ny + d[2] * nz) / vol.sliceSpacing,
  };
}

/** The scan's own nodules and reader marks, for placement to keep away from. */
function keepAwayFrom(vol: SeriesVolume, ref: ScanReference): KeepAway[] {
  return [
    ...ref.nodules.map((n) => ({ ...patientToVoxel(vol, n.centre), radiusMm: n.diameterMm / 2 })),
    ...ref.irrelevant.map((z) => ({ ...patientToVoxel(vol, z.centre), radiusMm: z.diameterMm / 2 })),
  ];
}

/** The inserted nodule as the phantom bench's miss description reads one. */
function asTruth(vol: SeriesVolume, n: PlacedNodule, centre: PatientPoint): NoduleTruth {
  const slice = vol.slices[Math.round(n.k)]!;
  return {
    centre,
    diameterMm: n.diameterMm,
    meanHu: n.type === 'solid' ? n.solidHu : n.groundGlassHu,
    type: n.type,
    side: centre.x < 0 ? 'right' : 'left',
    sliceIndex: Math.round(n.k),
    sopInstanceUid: slice.sopInstanceUid,
    instanceNumber: slice.instanceNumber ?? 0,
    column: n.column,
    row: n.row,
    juxtapleural: n.place === 'juxtapleural',
    juxtavascular: n.vesselContact >= 3,
  };
}

function detectionsOf(result: PostprocessResult): Detection[] {
  return result.findings.flatMap((f) => (f.centre ? [{ centre: f.centre, diameterMm: measurement(f, 'diameterMm') ?? NaN }] : []));
}

const distance = (a: PatientPoint, b: PatientPoint): number => Math.hypot(a.x - b.x, a.y - b.y, a.z - b.z);

/** A copy of the volume whose values can be written without touching the original. */
function copyOf(vol: SeriesVolume): SeriesVolume {
  return { ...vol, values: vol.values.map((v) => Float32Array.from(v)) };
}

/** The range the inserted ground glass is drawn from, where an option asks for one other than the phantoms'. */
function groundGlassRange(options: InsertOptions): { groundGlassHu?: readonly [number, number] } {
  if (options.denseGroundGlass && options.faintGroundGlass)
    throw new Error('--dense-ground-glass and --faint-ground-glass exclude each other: choose one range');
  if (options.denseGroundGlass) return { groundGlassHu: DENSE_GROUND_GLASS_HU };
  if (options.faintGroundGlass) return { groundGlassHu: FAINT_GROUND_GLASS_HU };
  return {};
}

export async function runInsertedScans(
  root: string,
  session: ort.InferenceSession,
  manifest: Manifest,
  options: InsertOptions,
): Promise<void> {
  const { scans, luna } = readRealDataset(root);
  console.log(
    `lung-nodule-reference on ${scans.length} real chest CT series under ${root} (LIDC-IDRI, CC BY 3.0, via TCIA) with ${options.perScan} synthetic nodules inserted per scan, seeds ${options.seed}..${options.seed + options.seeds - 1}${options.edgeBlurMm > 0 ? `, edges blurred in-plane (SD ${options.edgeBlurMm} mm)` : ''}${options.denseGroundGlass ? `, dense ground glass (${DENSE_GROUND_GLASS_HU.join('..')} HU)` : ''}${options.faintGroundGlass ? `, faint ground glass (${FAINT_GROUND_GLASS_HU.join('..')} HU)` : ''}`,
  );
  const outcomes: Outcome[] = [];
  const runs: Run[] = [];
  for (const dir of scans) {
    const scan = readScanFolder(dir);
    const ref = referenceOf(scan, luna);
    const base = await buildSeriesVolume({ instances: scan.instances, secret: randomBytes(32), limits: DEFAULT_PIXEL_LIMITS });
    let t = now();
    const lungs = lungMap(base);
    const lungMl =
      (lungs.mask.reduce((n, m) => n + m.reduce((a, b) => a + b, 0), 0) * base.pixelSpacing[0] * base.pixelSpacing[1] * base.sliceSpacing) /
      1000;
    console.log(
      `${scan.name}: ${base.slices.length} slices, ${fmt(base.sliceSpacing, 2)} mm apart; independent lung mask ${fmt(lungMl, 0)} ml in ${fmt((now() - t) / 1000)} s`,
    );
    // The scan as it is, for telling the false positives the insertion brought from those it already had.
    const before = detectionsOf(findLungNodules({ volume: base, manifest, maps: await runSliceModel(session, base, manifest) }));
    for (let s = 0; s < options.seeds; s++) {
      const seed = options.seed + s;
      t = now();
      const vol = copyOf(base);
      const planned = planNodules(base, lungs, {
        count: options.perScan,
        seed: seed * 7919 + scans.indexOf(dir),
        keepAway: keepAwayFrom(base, ref),
        ...groundGlassRange(options),
      });
      const inserted = planned.map((n) => {
        const background = insertNodule(vol, n, undefined, { inPlaneBlurMm: options.edgeBlurMm });
        const [x, y, z] = pixelToPatient(vol, n.k, n.column, n.row);
        return { n, centre: { x, y, z }, profile: measureInsertedNodule(vol, base, n, background), background };
      });
      checkInsertion(scan.name, inserted);
      const maps = await runSliceModel(session, vol, manifest);
      const prepared = prepareLungNodules(vol);
      const evaluated: { c: Candidate; s: CandidateOutcome }[] = [];
      const result = findLungNodules({ volume: vol, manifest, maps, prepared }, (c, o) => evaluated.push({ c, s: o }));
      const detections = detectionsOf(result);
      const asLuna = inserted.map((x) => ({ patientId: '', seriesUid: scan.seriesUid, centre: x.centre, diameterMm: x.n.diameterMm }));
      const score = scoreDetections({ ...ref, nodules: [...asLuna, ...ref.nodules] }, detections);
      const seconds = (now() - t) / 1000;
      const alreadyThere = (d: Detection): boolean => before.some((b) => distance(b.centre, d.centre) <= 2);
      const newFalsePositives = score.falsePositives.filter((d) => !alreadyThere(d)).length;
      runs.push({ scan: scan.name, seed, falsePositives: score.falsePositives.length, newFalsePositives, seconds });
      inserted.forEach((x, i) => {
        const o = score.nodules[i]!;
        const why = o.hit ? undefined : describeMiss(asTruth(vol, x.n, x.centre), vol, maps, prepared.search, evaluated);
        outcomes.push({
          scan: scan.name,
          seed,
          nodule: x.n,
          centre: x.centre,
          profile: x.profile,
          ...(o.hit ? { hit: o.hit, distanceMm: o.distanceMm! } : {}),
          ...(why ? { why } : {}),
        });
      });
      const own = score.nodules
        .slice(inserted.length)
        .map((o) => `${fmt(o.nodule.diameterMm)} mm ${o.hit ? `found ${fmt(o.hit.diameterMm)}` : 'missed'}`);
      console.log(
        `  seed ${seed}: inserted ${inserted.length}/${options.perScan}, found ${score.nodules.slice(0, inserted.length).filter((o) => o.hit).length}, FP ${score.falsePositives.length} (${newFalsePositives} not there without the insertion), irrelevant ${score.irrelevant.length}${own.length ? `, own LUNA16 nodule(s): ${own.join('; ')}` : ''}, ${fmt(seconds)} s`,
      );
      for (const o of outcomes.filter((x) => x.scan === scan.name && x.seed === seed)) console.log(`    ${describeOutcome(o)}`);
      for (const fp of score.falsePositives) {
        const f = result.findings.find((x) => x.centre === fp.centre);
        const v = patientToVoxel(vol, fp.centre);
        const pleura = lungs.distanceMm[Math.round(v.k)]?.[Math.round(v.row) * vol.columns + Math.round(v.column)];
        console.log(
          `    FP${alreadyThere(fp) ? ' (also without insertion)' : ' (new)'} d=${fmt(fp.diameterMm)} mm at (${fmt(fp.centre.x)}, ${fmt(fp.centre.y)}, ${fmt(fp.centre.z)}) slice ${Math.round(v.k)} ${f?.attributes?.['composition'] ?? ''} mean ${f ? measurement(f, 'meanHu') : '?'} HU, ${pleura === undefined ? '' : pleura > 0 ? `${fmt(pleura)} mm inside the independent lung mask` : 'outside the independent lung mask'}`,
        );
      }
    }
  }
  printTotals(outcomes, runs);
}

/**
 * A broken insertion must not pass silently: every inserted nodule's centre HU must be near its
 * interior HU, and its half-contrast diameter within max(2 mm, 25 %) of the nominal one.
 */
function checkInsertion(scan: string, inserted: readonly { n: PlacedNodule; profile: InsertedProfile }[]): void {
  for (const { n, profile } of inserted) {
    // A part-solid nodule's centre is its core, which for a small one is partly ground glass (partial volume).
    const [lo, hi] =
      n.type === 'ground-glass'
        ? [n.groundGlassHu, n.groundGlassHu]
        : n.type === 'part-solid'
          ? [n.groundGlassHu, n.solidHu]
          : [n.solidHu, n.solidHu];
    const dOk = Math.abs(profile.halfContrastDiameterMm - n.diameterMm) <= Math.max(2, 0.25 * n.diameterMm);
    // The max rule and the background noise move the centre; more than 150 HU off means the profile is wrong.
    const huOk = profile.centreHu >= lo - 150 && profile.centreHu <= hi + 150;
    if (!dOk || !huOk)
      throw new Error(
        `${scan}: inserted ${n.type} nodule of ${fmt(n.diameterMm)} mm (${n.place}) measures ${fmt(profile.halfContrastDiameterMm)} mm at half contrast, centre ${fmt(profile.centreHu, 0)} HU (interior ${lo}..${hi} HU): the insertion is broken`,
      );
  }
}

function describeOutcome(o: Outcome): string {
  const n = o.nodule;
  const what =
    `${n.type.padEnd(12)} ${fmt(n.diameterMm).padStart(4)} mm ${n.place.padEnd(13)} pleura ${fmt(n.pleuraMm).padStart(4)} mm vessel-contact ${String(n.vesselContact).padStart(3)}` +
    ` inserted: centre ${fmt(o.profile.centreHu, 0).padStart(5)} HU, d½ ${fmt(o.profile.halfContrastDiameterMm)} mm`;
  if (!o.hit) return `${what} -> MISSED`;
  const err = o.hit.diameterMm - n.diameterMm;
  const ok = Math.abs(err) <= Math.max(3, 0.3 * n.diameterMm);
  return `${what} -> found ${fmt(o.hit.diameterMm)} mm (${err >= 0 ? '+' : ''}${fmt(err)}${ok ? '' : ', outside max(3 mm, 30 %)'}), off ${fmt(o.distanceMm!)} mm`;
}

function printTotals(outcomes: readonly Outcome[], runs: readonly Run[]): void {
  const line = (name: string, os: readonly Outcome[]): void => {
    if (os.length === 0) return;
    const found = os.filter((o) => o.hit);
    const errs = found.map((o) => o.hit!.diameterMm - o.nodule.diameterMm);
    const within = errs.filter((e, i) => Math.abs(e) <= Math.max(3, 0.3 * found[i]!.nodule.diameterMm)).length;
    const sorted = [...errs].sort((a, b) => a - b);
    console.log(
      `  ${name.padEnd(16)} ${String(found.length).padStart(3)}/${String(os.length).padEnd(3)} (${fmt((100 * found.length) / os.length, 0).padStart(3)} %)` +
        (errs.length
          ? `  diameter within max(3 mm, 30 %): ${within}/${errs.length}, signed error median ${fmt(sorted[sorted.length >> 1]!)} mm, range ${fmt(sorted[0]!)}..${fmt(sorted[sorted.length - 1]!)}`
          : ''),
    );
  };
  console.log('');
  console.log('inserted nodules found (LUNA16 hit rule: centre within the radius), all scans and seeds:');
  line('all', outcomes);
  for (const t of ['solid', 'part-solid', 'ground-glass'] as const)
    line(
      t,
      outcomes.filter((o) => o.nodule.type === t),
    );
  for (const p of ['inside', 'juxtapleural', 'juxtavascular'] as const)
    line(
      p,
      outcomes.filter((o) => o.nodule.place === p),
    );
  for (const [lo, hi] of [
    [5, 10],
    [10, 20],
    [20, 30],
  ] as const)
    line(
      `${lo}-${hi} mm`,
      outcomes.filter((o) => o.nodule.diameterMm >= lo && o.nodule.diameterMm < hi),
    );
  for (const scan of [...new Set(runs.map((r) => r.scan))]) {
    const rs = runs.filter((r) => r.scan === scan);
    line(
      scan,
      outcomes.filter((o) => o.scan === scan),
    );
    console.log(
      `  ${''.padEnd(16)} false positives per run: ${rs.map((r) => `${r.falsePositives} (${r.newFalsePositives} new)`).join(', ')}; seconds per run (copy + insert + model + post): ${rs.map((r) => fmt(r.seconds)).join(', ')}`,
    );
  }
  const misses = outcomes.filter((o) => !o.hit);
  console.log(`missed inserted nodules (${misses.length}):`);
  console.log('scan            seed  place          why (diameter, HU, type, where as the phantom bench words it)');
  for (const o of misses) console.log(`${o.scan.padEnd(15)} ${String(o.seed).padStart(4)}  ${o.nodule.place.padEnd(13)}  ${o.why ?? ''}`);
}

// bench/nodule-sensitivity: the reference lung-nodule model (models/lung-nodule-reference) on
// synthetic chest CT phantoms with known nodules (fixtures/chest-phantom.ts).
//
// For each phantom: write the Part 10 series, load it as the node does (loadSeriesVolume, via chestPhantomVolume), run
// the ONNX model slice-wise exactly like the runner (sliceBatch -> session.run -> planeToSource),
// then the manifest's post-processor; match findings to the truth (centre distance below
// max(radius, 5 mm)) and print sensitivity, diameter error, false positives and timings.
//
// node dist/bench/nodule-sensitivity.js [--phantoms 20] [--seed 1000] [--slices N] [--thickness 2.5] [--threads 1] [--verbose] [--misses] [--hard [--vessels-through]] [--large]
//   --misses: after the summary, one line per missed nodule >= 5 mm: what it is, where, and why it was missed
//   --hard: phantoms with through-plane vessel trees (3 per lung) and 2 ground-glass nodules beside vessels (issue 17)
//   --large: 2 extra nodules of 20-30 mm per phantom, half of them juxtapleural (default 10 phantoms; issue 17)
//   --vessels-through (with --hard): the hard phantoms as drawn until 2026-12-07, with vessels thicker than 1.5 mm
//     running through some nodules (fixtures/chest-phantom.ts, vesselsThroughNodules): a harder case, measured apart
// node dist/bench/nodule-sensitivity.js --real [FOLDER] [--threads 1]: real chest CT instead
// (bench/nodule-real-scans; FOLDER defaults to ../shared/data/ct-lidc beside the project).
// node dist/bench/nodule-sensitivity.js --real [FOLDER] --insert [--per-scan 8] [--seed 1] [--seeds 1] [--edge-blur 0] [--dense-ground-glass | --faint-ground-glass]: synthetic
// nodules inserted into those real scans (bench/nodule-inserted-scans); --dense-ground-glass draws their ground glass
// from -450..-300 HU (real ground glass reaches it; the phantoms' stops at -400), --faint-ground-glass from
// -800..-650 HU (real pure ground glass starts at about -800; the phantoms' at -650).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';

import { writeChestPhantom, type NoduleTruth } from '../fixtures/chest-phantom';
import { parseManifest, type Manifest } from '../src/inference/manifest';
import type { SeriesVolume } from '../src/inference/series-volume';
import { chestPhantomVolume } from '../test/helpers/phantom-volume';
import { runSliceMaps } from '../src/inference/run-model';
import { POSTPROCESSORS } from '../src/inference/postprocess';
import {
  findLungNodules,
  prepareLungNodules,
  type Accepted,
  type Candidate,
  type CandidateOutcome,
} from '../src/inference/postprocess/lung-nodules/index';
import { pixelToPatient } from '../src/inference/series-volume';
import type { FindingDraft } from '../src/inference/postprocess/types';

const MODEL_DIR = path.resolve(__dirname, '..', '..', 'models', 'lung-nodule-reference');

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const flag = (name: string): boolean => process.argv.includes(`--${name}`);

/** --real's folder: the argument after it unless that is another option, else ../shared/data/ct-lidc. */
function realFolder(): string {
  const next = process.argv[process.argv.indexOf('--real') + 1];
  return next && !next.startsWith('--') ? path.resolve(next) : path.resolve(__dirname, '..', '..', '..', 'shared', 'data', 'ct-lidc');
}
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** The runner's slice-mode loop: batches of manifest.preprocessing.batchSize, outputs back on the source grid. */
export async function runSliceModel(session: ort.InferenceSession, vol: SeriesVolume, m: Manifest): Promise<Float32Array[][]> {
  // The node's own slice loop, with a plain ONNX Runtime session in place of the worker session.
  const { maps } = await runSliceMaps(vol, m, async (feeds, name) => {
    const f = Object.fromEntries(
      Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor('float32', t.data as Float32Array, [...t.dims])]),
    );
    const t = (await session.run(f))[name];
    return t ? { type: t.type, data: t.data as Float32Array, dims: t.dims } : undefined;
  });
  return maps;
}

export interface Match {
  readonly truth: NoduleTruth;
  readonly finding?: FindingDraft;
  readonly distanceMm?: number;
}

/** Greedy matching, nearest first: a finding matches a truth nodule within max(radius, 5 mm). */
export function matchFindings(
  truth: readonly NoduleTruth[],
  findings: readonly FindingDraft[],
): { matches: Match[]; falsePositives: FindingDraft[] } {
  const pairs: { t: number; f: number; d: number }[] = [];
  truth.forEach((t, ti) =>
    findings.forEach((f, fi) => {
      if (!f.centre) return;
      const d = Math.hypot(f.centre.x - t.centre.x, f.centre.y - t.centre.y, f.centre.z - t.centre.z);
      if (d < Math.max(t.diameterMm / 2, 5)) pairs.push({ t: ti, f: fi, d });
    }),
  );
  pairs.sort((a, b) => a.d - b.d);
  const usedT = new Set<number>();
  const usedF = new Set<number>();
  const byTruth = new Map<number, { f: number; d: number }>();
  for (const p of pairs) {
    if (usedT.has(p.t) || usedF.has(p.f)) continue;
    usedT.add(p.t);
    usedF.add(p.f);
    byTruth.set(p.t, { f: p.f, d: p.d });
  }
  const matches = truth.map((t, i) => {
    const m = byTruth.get(i);
    return m ? { truth: t, finding: findings[m.f]!, distanceMm: m.d } : { truth: t };
  });
  return { matches, falsePositives: findings.filter((_, i) => !usedF.has(i)) };
}

export function measurement(f: FindingDraft, key: string): number | undefined {
  return f.measurements.find((m) => m.key === key)?.value;
}

/** One candidate's outcome in a line: 'accepted' or the reason, with the segmentation threshold where there is one. */
function describe(outcome: CandidateOutcome): string {
  if (outcome.outcome === 'accepted') return `accepted T=${outcome.thresholdHu.toFixed(0)}`;
  return 'thresholdHu' in outcome ? `${outcome.description} T=${outcome.thresholdHu.toFixed(0)}` : `not measured: ${outcome.description}`;
}

function median(v: number[]): number {
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const phantoms = arg('phantoms', flag('large') ? 10 : 20);
  const seed0 = arg('seed', 1000);
  const thickness = arg('thickness', 2.5);
  const slicesArg = arg('slices', 0);
  const threads = arg('threads', 1);
  const verbose = flag('verbose');
  const listMisses = flag('misses');
  const hard = {
    ...(flag('hard') ? { throughPlaneVessels: 3, groundGlassBesideVessels: 2 } : {}),
    ...(flag('vessels-through') ? { vesselsThroughNodules: true } : {}),
    ...(flag('large') ? { largeNodules: 2 } : {}),
  };
  const manifest = parseManifest(
    JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'model.json'), 'utf8')),
    'models/lung-nodule-reference/model.json',
  );
  const post = POSTPROCESSORS[manifest.output.postprocess ?? '']!;
  const session = await ort.InferenceSession.create(path.join(MODEL_DIR, 'model.onnx'), { intraOpNumThreads: threads });
  if (flag('real')) {
    // Loaded here, not at the top: nodule-real-scans uses this module's slice loop.
    const { runRealScans, RealDataMissing } = await import('./nodule-real-scans');
    try {
      if (flag('insert')) {
        const { runInsertedScans } = await import('./nodule-inserted-scans');
        await runInsertedScans(realFolder(), session, manifest, {
          perScan: arg('per-scan', 8),
          seed: arg('seed', 1),
          seeds: arg('seeds', 1),
          edgeBlurMm: arg('edge-blur', 0),
          denseGroundGlass: flag('dense-ground-glass'),
          faintGroundGlass: flag('faint-ground-glass'),
        });
      } else await runRealScans(realFolder(), session, manifest, post);
    } catch (e) {
      if (!(e instanceof RealDataMissing)) throw e;
      console.error(e.message);
      process.exitCode = 2;
    } finally {
      await session.release();
    }
    return;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-nodules-'));
  const all: Match[] = [];
  const fpPerScan: number[] = [];
  const uncertainties: number[] = [];
  const misses: string[] = [];
  console.log(
    `lung-nodule-reference on ${phantoms} ${flag('hard') ? 'hard ' : ''}${flag('vessels-through') ? '(vessels through nodules) ' : ''}${flag('large') ? 'large-nodule ' : ''}phantoms (seeds ${seed0}..${seed0 + phantoms - 1}), ${thickness} mm slices, ORT CPU ${threads} thread(s)`,
  );
  console.log('seed  slices nodules found  FP  gen_ms load_ms model_ms ms/slice post_ms');
  try {
    for (let p = 0; p < phantoms; p++) {
      const seed = seed0 + p;
      const dir = path.join(tmp, String(seed));
      let t = now();
      const ph = writeChestPhantom({
        outDir: dir,
        seed,
        uidRoot: `2.25.${900000 + seed}`,
        sliceThicknessMm: thickness,
        ...(slicesArg > 0 ? { slices: slicesArg } : {}),
        ...hard,
      });
      const genMs = now() - t;
      t = now();
      const vol = await chestPhantomVolume(ph);
      const loadMs = now() - t;
      t = now();
      const maps = await runSliceModel(session, vol, manifest);
      const modelMs = now() - t;
      t = now();
      const evaluated: { c: Candidate; s: CandidateOutcome }[] = [];
      // --misses needs the lung masks to tell a nodule outside them from one without a peak.
      const masks = listMisses ? prepareLungNodules(vol) : undefined;
      const ctx = { volume: vol, manifest, maps, ...(masks ? { prepared: masks } : {}) };
      // --verbose and --misses trace every candidate: the lung-nodules post-processor called directly.
      const result = verbose || listMisses ? findLungNodules(ctx, (c, s) => evaluated.push({ c, s })) : post(ctx);
      const postMs = now() - t;
      const { matches, falsePositives } = matchFindings(ph.truth, result.findings);
      all.push(...matches);
      fpPerScan.push(falsePositives.length);
      uncertainties.push(result.uncertainty);
      const found = matches.filter((m) => m.finding).length;
      console.log(
        `${String(seed).padEnd(5)} ${String(vol.slices.length).padStart(6)} ${String(ph.truth.length).padStart(7)} ${String(found).padStart(5)} ${String(falsePositives.length).padStart(3)}` +
          ` ${genMs.toFixed(0).padStart(7)} ${loadMs.toFixed(0).padStart(7)} ${modelMs.toFixed(0).padStart(8)} ${(modelMs / vol.slices.length).toFixed(1).padStart(8)} ${postMs.toFixed(0).padStart(7)}`,
      );
      if (verbose) {
        // The accepted outcome a finding came from: its circle's centre column is the nodule's, rounded.
        const acceptedFor = (f: FindingDraft, diameterMm?: number): Accepted | undefined =>
          evaluated
            .map((x) => x.s)
            .find(
              (s): s is Accepted =>
                s.outcome === 'accepted' &&
                (diameterMm === undefined || Math.abs(s.nodule.diameterMm - diameterMm) < 0.051) &&
                Math.abs(s.nodule.centre.column - f.region!.graphicData[0]!) < 0.06,
            );
        for (const m of matches) {
          const tr = m.truth;
          const f = m.finding;
          const a = f && acceptedFor(f);
          console.log(
            `   truth ${tr.type.padEnd(12)} d=${tr.diameterMm.toFixed(1).padStart(5)} hu=${String(tr.meanHu).padStart(5)} ${tr.side.padEnd(5)} k=${tr.sliceIndex}${tr.juxtapleural ? ' juxtapleural' : ''}` +
              (f
                ? ` -> d=${measurement(f, 'diameterMm')} hu=${measurement(f, 'meanHu')} ${f.attributes?.['composition']} ${f.site?.text} dist=${m.distanceMm!.toFixed(1)} conf=${f.confidence} score=${f.templateValues?.['score']} elong=${a?.nodule.elongation.toFixed(2)} fill=${a?.nodule.fill.toFixed(2)}`
                : ' -> MISSED'),
          );
          if (!f) {
            for (const e of evaluated) {
              const [x, y, z] = pixelToPatient(vol, e.c.slice, e.c.column, e.c.row);
              const d = Math.hypot(x - tr.centre.x, y - tr.centre.y, z - tr.centre.z);
              if (d < Math.max(10, tr.diameterMm))
                console.log(
                  `      ${e.c.groundGlassOnly ? 'proposal ' : 'candidate'} k=${e.c.slice} score=${e.c.score.toFixed(3)} r=${e.c.radiusMm.toFixed(1)} dist=${d.toFixed(1)} -> ${describe(e.s)}`,
                );
            }
          }
        }
        for (const f of falsePositives) {
          const e = evaluated.find((x) => x.s === acceptedFor(f, f.measurements[0]!.value));
          const a = e?.s.outcome === 'accepted' ? e.s : undefined;
          console.log(
            `   FP d=${measurement(f, 'diameterMm')} hu=${measurement(f, 'meanHu')} at ${JSON.stringify(f.centre)} conf=${f.confidence} score=${f.templateValues?.['score']} elong=${a?.nodule.elongation.toFixed(2)} fill=${a?.nodule.fill.toFixed(2)} r=${e?.c.radiusMm.toFixed(1)} T=${a?.thresholdHu.toFixed(0)}`,
          );
        }
      }
      if (masks)
        for (const m of matches)
          if (!m.finding && m.truth.diameterMm >= 5) misses.push(`${seed}  ${describeMiss(m.truth, vol, maps, masks.search, evaluated)}`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    await session.release();
  }
  const big = all.filter((m) => m.truth.diameterMm >= 5);
  const sens = (ms: Match[]): string =>
    `${ms.filter((m) => m.finding).length}/${ms.length} = ${((100 * ms.filter((m) => m.finding).length) / Math.max(1, ms.length)).toFixed(1)} %`;
  const errs = all.filter((m) => m.finding).map((m) => Math.abs(measurement(m.finding!, 'diameterMm')! - m.truth.diameterMm));
  const errsBig = big.filter((m) => m.finding).map((m) => Math.abs(measurement(m.finding!, 'diameterMm')! - m.truth.diameterMm));
  // The detector words a nodule solid or ground-glass by its core: a part-solid one is either.
  const compOk = all.filter(
    (m) => m.finding && (m.truth.type === 'part-solid' || m.finding.attributes?.['composition'] === m.truth.type),
  ).length;
  const sideOk = all.filter((m) => m.finding && m.finding.site?.laterality === m.truth.side).length;
  const nFound = all.filter((m) => m.finding).length;
  console.log('');
  console.log(`sensitivity, nodules >= 5 mm: ${sens(big)}`);
  console.log(`sensitivity, all nodules:     ${sens(all)}`);
  console.log(
    `diameter |error| (mm), found nodules: median ${median(errs).toFixed(2)}, max ${Math.max(...errs).toFixed(2)}; >= 5 mm: median ${median(errsBig).toFixed(2)}, max ${Math.max(...errsBig).toFixed(2)}`,
  );
  console.log(
    `false positives per scan: mean ${(fpPerScan.reduce((a, b) => a + b, 0) / fpPerScan.length).toFixed(2)}, max ${Math.max(...fpPerScan)}`,
  );
  console.log(
    `composition right: ${compOk}/${nFound}; side right: ${sideOk}/${nFound}; series uncertainty median ${median(uncertainties).toFixed(2)}`,
  );
  printBands(all);
  if (listMisses) {
    console.log(`missed nodules >= 5 mm (${misses.length}):`);
    console.log('seed  diameter   HU  type         where          why');
    for (const line of misses) console.log(line);
  }
}

/**
 * Why a nodule was missed, from the candidates traced near it: none within its radius (no
 * candidate peak: its centre outside the lung search mask, or the blob score there under the
 * threshold or no local maximum), else what became of the strongest one there.
 */
export function describeMiss(
  truth: NoduleTruth,
  vol: SeriesVolume,
  maps: readonly (readonly Float32Array[])[],
  search: readonly Uint8Array[],
  evaluated: readonly { c: Candidate; s: CandidateOutcome }[],
): string {
  const where = [truth.juxtapleural ? 'juxtapleural' : '', truth.juxtavascular ? 'juxtavascular' : ''].filter(Boolean).join('+') || 'free';
  const what = `${truth.diameterMm.toFixed(1).padStart(5)} mm ${String(truth.meanHu).padStart(5)} ${truth.type.padEnd(12)} ${where.padEnd(14)}`;
  const near = evaluated.filter(({ c }) => {
    const [x, y, z] = pixelToPatient(vol, c.slice, c.column, c.row);
    return Math.hypot(x - truth.centre.x, y - truth.centre.y, z - truth.centre.z) < Math.max(truth.diameterMm / 2, 2);
  });
  if (near.length > 0) {
    const outcomes = near.map(({ c, s }) => `${describe(s)} (score ${c.score.toFixed(2)}, r ${c.radiusMm.toFixed(1)} mm)`);
    return `${what} candidates: ${outcomes.join('; ')}`;
  }
  const k = truth.sliceIndex;
  const centre = Math.round(truth.row) * vol.columns + Math.round(truth.column);
  if (!search[k]?.[centre]) return `${what} no candidate peak: centre outside the lung search mask`;
  // The strongest blob score on the nodule's disc on its slice: under the threshold, or no local maximum there.
  const radiusPx = truth.diameterMm / 2 / vol.pixelSpacing[1];
  let strongest = -Infinity;
  for (let row = Math.floor(truth.row - radiusPx); row <= truth.row + radiusPx; row++)
    for (let column = Math.floor(truth.column - radiusPx); column <= truth.column + radiusPx; column++)
      if ((row - truth.row) ** 2 + (column - truth.column) ** 2 <= radiusPx * radiusPx)
        strongest = Math.max(strongest, maps[0]![k]![row * vol.columns + column] ?? -Infinity);
  return `${what} no candidate peak: blob score ${maps[0]![k]![centre]!.toFixed(3)} at the centre, ${strongest.toFixed(3)} at most on its disc`;
}

/** LUNA16's diameter tolerance: within max(3 mm, 30 %) of the reference. */
function diameterWithinTolerance(m: Match): boolean {
  const measured = m.finding && measurement(m.finding, 'diameterMm');
  return measured !== undefined && Math.abs(measured - m.truth.diameterMm) <= Math.max(3, 0.3 * m.truth.diameterMm);
}

/** Sensitivity and diameter error by size band, and for the large nodules by where they lie and what they are made of. */
function printBands(all: readonly Match[]): void {
  const line = (name: string, ms: readonly Match[]): void => {
    if (ms.length === 0) return;
    const found = ms.filter((m) => m.finding);
    const errs = found.map((m) => measurement(m.finding!, 'diameterMm')! - m.truth.diameterMm);
    console.log(
      `  ${name.padEnd(26)} ${String(found.length).padStart(3)}/${String(ms.length).padEnd(3)} diameter within max(3 mm, 30 %): ${found.filter(diameterWithinTolerance).length}/${found.length}` +
        (errs.length > 0
          ? `, error median ${median(errs).toFixed(1)} mm, range ${Math.min(...errs).toFixed(1)}..${Math.max(...errs).toFixed(1)}`
          : ''),
    );
  };
  console.log('by size (found/total; signed diameter error, measured - truth):');
  for (const [lo, hi] of [
    [0, 5],
    [5, 10],
    [10, 20],
    [20, 30.01],
  ] as const)
    line(
      `${lo}-${Math.floor(hi)} mm`,
      all.filter((m) => m.truth.diameterMm >= lo && m.truth.diameterMm < hi),
    );
  const large = all.filter((m) => m.truth.diameterMm >= 20);
  line(
    '20-30 mm juxtapleural',
    large.filter((m) => m.truth.juxtapleural),
  );
  line(
    '20-30 mm inside the lung',
    large.filter((m) => !m.truth.juxtapleural),
  );
  for (const type of ['solid', 'part-solid', 'ground-glass'] as const)
    line(
      `20-30 mm ${type}`,
      large.filter((m) => m.truth.type === type),
    );
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

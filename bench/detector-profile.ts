// bench/detector-profile: where the lung-nodule detector's time goes, step by step, on one series
// (issue 13, time to report). The series is loaded and the model run once; then, each round, the
// detector's steps are timed on their own: the lung masks (lung-mask.ts with its rolling-ball
// closing), the candidate search (candidates.ts), and the whole post-processor (findLungNodules,
// masks included); "per-candidate segmentation" is the whole minus the other two.
//
// It also prints a digest (SHA-256) of the masks and of the findings, so a speed-up can be shown
// to change nothing: run it before and after, and the digests must be the same.
//
// node dist/bench/detector-profile.js [--slices 200] [--seed 1000] [--hard [--vessels-through]] [--rounds 3]
// node dist/bench/detector-profile.js --folder DIR   (a real series folder, e.g. ../shared/data/ct-lidc/LIDC-IDRI-0002/...)

import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';

import { writeChestPhantom } from '../fixtures/chest-phantom';
import { parseManifest } from '../src/inference/manifest';
import type { SeriesVolume } from '../src/inference/series-volume';
import { chestPhantomVolume } from '../test/helpers/phantom-volume';
import { findCandidates } from '../src/inference/postprocess/lung-nodules/candidates';
import { findLungNodules } from '../src/inference/postprocess/lung-nodules/index';
import { lungMasks, type LungMasks } from '../src/inference/postprocess/lung-nodules/lung-mask';
import { volumeGrid } from '../src/inference/postprocess/lung-nodules/volume-grid';
import { DEFAULT_PIXEL_LIMITS } from '../src/dicom/pixel-budget';
import { buildSeriesVolume } from '../src/pipeline/volume-stage';
import { readScanFolder } from './nodule-real-scans';
import { runSliceModel } from './nodule-sensitivity';

const MODEL_DIR = path.resolve(__dirname, '..', '..', 'models', 'lung-nodule-reference');
// CPU time of this process (ms): the detector runs on this one thread, and on a shared machine its
// CPU time varies far less than its wall time. (Garbage collection threads are counted in too.)
const cpuNow = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1]!;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

async function loadVolume(): Promise<{ name: string; volume: SeriesVolume }> {
  const folder = arg('folder', '');
  if (folder) {
    const scan = readScanFolder(path.resolve(folder));
    const volume = await buildSeriesVolume({ instances: scan.instances, secret: randomBytes(32), limits: DEFAULT_PIXEL_LIMITS });
    return { name: scan.name, volume };
  }
  const seed = Number(arg('seed', '1000'));
  const slices = Number(arg('slices', '200'));
  const hard = process.argv.includes('--hard')
    ? {
        throughPlaneVessels: 3,
        groundGlassBesideVessels: 2,
        // The hard phantoms as drawn until 2026-12-07 (fixtures/chest-phantom.ts, vesselsThroughNodules).
        ...(process.argv.includes('--vessels-through') ? { vesselsThroughNodules: true } : {}),
      }
    : {};
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'detector-profile-'));
  try {
    const ph = writeChestPhantom({ outDir: dir, seed, uidRoot: `2.25.${900000 + seed}`, slices, ...hard });
    const volume = await chestPhantomVolume(ph);
    return { name: `${slices}-slice ${'throughPlaneVessels' in hard ? 'hard ' : ''}phantom seed ${seed}`, volume };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function masksDigest(m: LungMasks): string {
  const h = createHash('sha256');
  for (const list of [m.filled, m.closed, m.search]) for (const s of list) h.update(s);
  h.update(new Uint8Array(m.areaMm2.buffer));
  h.update(JSON.stringify(m.bodyCentre));
  return h.digest('hex').slice(0, 16);
}

async function main(): Promise<void> {
  const rounds = Number(arg('rounds', '3'));
  const manifest = parseManifest(JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'model.json'), 'utf8')), 'model.json');
  const session = await ort.InferenceSession.create(path.join(MODEL_DIR, 'model.onnx'), { intraOpNumThreads: 1 });
  const { name, volume } = await loadVolume();
  const maps = await runSliceModel(session, volume, manifest);
  await session.release();
  const grid = volumeGrid(volume);
  const threshold = manifest.output.thresholds['nodule'] ?? manifest.output.thresholds['*'] ?? 0;
  const [h, w] = manifest.preprocessing.targetSize as [number, number];
  const modelScale = Math.min(w / grid.columns, h / grid.rows);
  const times: Record<string, number[]> = { masks: [], candidates: [], whole: [], masksCpu: [], candidatesCpu: [], wholeCpu: [] };
  let digest = '';
  let findingsDigest = '';
  let candidateCount = 0;
  for (let r = 0; r < rounds; r++) {
    const timed = <T>(step: string, work: () => T): T => {
      const [t, c] = [now(), cpuNow()];
      const out = work();
      times[step]!.push(now() - t);
      times[`${step}Cpu`]!.push(cpuNow() - c);
      return out;
    };
    const masks = timed('masks', () => lungMasks(volume, grid));
    const candidates = timed('candidates', () => findCandidates(maps, masks.search, grid, threshold, modelScale));
    candidateCount = candidates.length;
    const result = timed('whole', () => findLungNodules({ volume, manifest, maps }));
    digest = masksDigest(masks);
    findingsDigest = createHash('sha256').update(JSON.stringify(result)).digest('hex').slice(0, 16);
    const show = (step: string): string => `${step} ${times[step]![r]!.toFixed(0)} ms (CPU ${times[`${step}Cpu`]![r]!.toFixed(0)})`;
    console.log(`round ${r + 1}: ${['masks', 'candidates', 'whole'].map(show).join(', ')}, ${result.findings.length} finding(s)`);
  }
  const [masksMs, candidatesMs, wholeMs] = ['masks', 'candidates', 'whole'].map((k) => median(times[k]!));
  const [masksCpu, candidatesCpu, wholeCpu] = ['masksCpu', 'candidatesCpu', 'wholeCpu'].map((k) => median(times[k]!));
  console.log(
    `\n${name}: ${grid.slices} slices of ${grid.rows}x${grid.columns}, ${candidateCount} candidates; medians of ${rounds} round(s), load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}\n`,
  );
  const row = (what: string, wall: number, cpu: number): string => `| ${what} | ${wall.toFixed(0)} | ${cpu.toFixed(0)} |`;
  console.log('| detector step | wall ms | CPU ms |');
  console.log('|---|---|---|');
  console.log(row('lung masks (flood fills, rolling-ball closing, search growth)', masksMs!, masksCpu!));
  console.log(row('candidate search', candidatesMs!, candidatesCpu!));
  console.log(
    row(
      'per-candidate segmentation, vessel rejection, measurements',
      wholeMs! - masksMs! - candidatesMs!,
      wholeCpu! - masksCpu! - candidatesCpu!,
    ),
  );
  console.log(row('**whole post-processor**', wholeMs!, wholeCpu!));
  console.log(`\nmasks digest ${digest}, findings digest ${findingsDigest}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});

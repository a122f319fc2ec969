// bench/propfp-probe (diagnostic, helper propfp): every finding on hard phantoms with the path that
// accepted it and features of its mask, and optionally a dump of the voxels around a finding.
// node dist/bench/propfp-probe.js --seeds 7300,7301 [--dump] [--all]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';

import { plannedVessels, writeChestPhantom } from '../fixtures/chest-phantom';
import { parseManifest } from '../src/inference/manifest';
import { chestPhantomVolume } from '../test/helpers/phantom-volume';
import { findLungNodules, prepareLungNodules, type Accepted, type Candidate } from '../src/inference/postprocess/lung-nodules/index';
import { interiorShare } from '../src/inference/postprocess/lung-nodules/ground-glass-tube';
import { volumeGrid } from '../src/inference/postprocess/lung-nodules/volume-grid';
import { pixelToPatient, type SeriesVolume } from '../src/inference/series-volume';
import type { VoxelMask } from '../src/inference/postprocess/types';
import { matchFindings, measurement, runSliceModel } from './nodule-sensitivity';

const MODEL_DIR = path.resolve(__dirname, '..', '..', 'models', 'lung-nodule-reference');
const argv = process.argv;
const opt = (n: string): string | undefined => {
  const i = argv.indexOf(`--${n}`);
  return i > 0 ? argv[i + 1] : undefined;
};
const SOLID = -300;

function seedsArg(): number[] {
  const s = opt('seeds') ?? '7300';
  return s.split(',').flatMap((part) => {
    const [a, b] = part.split('-').map(Number);
    return b === undefined ? [a!] : Array.from({ length: b - a! + 1 }, (_, i) => a! + i);
  });
}

function inMask(m: VoxelMask, x: number, y: number, z: number): boolean {
  const [sx, sy, sz] = m.size;
  if (x < 0 || y < 0 || z < 0 || x >= sx || y >= sy || z >= sz) return false;
  const bit = (z * sy + y) * sx + x;
  return ((m.bits[bit >> 3]! >> (bit & 7)) & 1) === 1;
}

function pathOf(c: Candidate, a: Accepted, vol: SeriesVolume): string {
  if (c.faint) return 'faint';
  if (c.groundGlassOnly) return c.besideNotch ? 'notch' : c.radiusMm < 1.8 ? 'shallow' : 'plain';
  // A solid core whose accepted outcome is ground glass: the part-solid retry.
  const hu = vol.values[c.slice]![c.row * vol.columns + c.column]!;
  return hu >= SOLID && a.nodule.coreHu < SOLID ? 'retry?' : 'peak';
}

/** Mask features: per-slice areas, solid-contact share, HU spread. */
function features(vol: SeriesVolume, m: VoxelMask): Record<string, number | string> {
  const [ox, oy, oz] = m.origin;
  const [sx, sy, sz] = m.size;
  const huAt = (x: number, y: number, z: number): number => {
    const col = ox + x;
    const row = oy + y;
    const s = vol.values[oz + z];
    if (!s || col < 0 || row < 0 || col >= vol.columns || row >= vol.rows) return NaN;
    return s[row * vol.columns + col]!;
  };
  const areas: number[] = [];
  let n = 0;
  let touchSolid = 0;
  let far = 0;
  const his: number[] = [];
  const hisFar: number[] = [];
  for (let z = 0; z < sz; z++) {
    let a = 0;
    for (let y = 0; y < sy; y++)
      for (let x = 0; x < sx; x++) {
        if (!inMask(m, x, y, z)) continue;
        a++;
        n++;
        const v = huAt(x, y, z);
        his.push(v);
        let solid = false;
        for (let dz = -1; dz <= 1 && !solid; dz++)
          for (let dy = -1; dy <= 1 && !solid; dy++)
            for (let dx = -1; dx <= 1 && !solid; dx++) if (huAt(x + dx, y + dy, z + dz) >= SOLID) solid = true;
        if (solid) touchSolid++;
        else {
          far++;
          hisFar.push(v);
        }
      }
    if (a > 0) areas.push(a);
  }
  // Faces of the mask (6-neighbourhood) that face solid tissue, in plane and through the slices.
  let facesInPlane = 0;
  let solidInPlane = 0;
  let facesZ = 0;
  let solidZ = 0;
  for (let z = 0; z < sz; z++)
    for (let y = 0; y < sy; y++)
      for (let x = 0; x < sx; x++) {
        if (!inMask(m, x, y, z)) continue;
        for (const [dx, dy, dz] of [
          [1, 0, 0],
          [-1, 0, 0],
          [0, 1, 0],
          [0, -1, 0],
          [0, 0, 1],
          [0, 0, -1],
        ] as const) {
          if (inMask(m, x + dx, y + dy, z + dz)) continue;
          const solidFace = huAt(x + dx, y + dy, z + dz) >= SOLID;
          if (dz === 0) {
            facesInPlane++;
            if (solidFace) solidInPlane++;
          } else {
            facesZ++;
            if (solidFace) solidZ++;
          }
        }
      }
  his.sort((p, q) => p - q);
  hisFar.sort((p, q) => p - q);
  const q = (arr: number[], f: number): number => (arr.length ? arr[Math.min(arr.length - 1, Math.floor(f * arr.length))]! : NaN);
  return {
    areas: areas.join('/'),
    n,
    touchSolid: +(touchSolid / n).toFixed(2),
    huQ: `${q(his, 0.1).toFixed(0)}/${q(his, 0.5).toFixed(0)}/${q(his, 0.9).toFixed(0)}`,
    farQ: `${q(hisFar, 0.1).toFixed(0)}/${q(hisFar, 0.5).toFixed(0)}/${q(hisFar, 0.9).toFixed(0)}`,
    far,
    perimSolid: +(solidInPlane / Math.max(1, facesInPlane)).toFixed(2),
    zFaceSolid: +(solidZ / Math.max(1, facesZ)).toFixed(2),
    surfSolid: +((solidInPlane + solidZ) / Math.max(1, facesInPlane + facesZ)).toFixed(2),
  };
}

/** Share of the in-plane outline facing solid; `inPlaneOnly`: solid that is not solid on both slices around it. */
function borderShare(vol: SeriesVolume, m: VoxelMask, inPlaneOnly: boolean): number {
  const [ox, oy, oz] = m.origin;
  const [sx, sy, sz] = m.size;
  const solidAt = (k: number, pixel: number): boolean => (vol.values[k]?.[pixel] ?? -Infinity) >= SOLID;
  let faces = 0;
  let solid = 0;
  for (let z = 0; z < sz; z++)
    for (let y = 0; y < sy; y++)
      for (let x = 0; x < sx; x++) {
        if (!inMask(m, x, y, z)) continue;
        for (const [dx, dy] of [
          [1, 0],
          [-1, 0],
          [0, 1],
          [0, -1],
        ] as const) {
          if (inMask(m, x + dx, y + dy, z)) continue;
          faces++;
          const pixel = (oy + y + dy) * vol.columns + ox + x + dx;
          const k = oz + z;
          if (solidAt(k, pixel) && !(inPlaneOnly && solidAt(k - 1, pixel) && solidAt(k + 1, pixel))) solid++;
        }
      }
  return faces === 0 ? 0 : solid / faces;
}

function dump(vol: SeriesVolume, m: VoxelMask, c: Candidate): void {
  const [ox, oy, oz] = m.origin;
  const [sx, sy, sz] = m.size;
  for (let z = -1; z <= sz; z++) {
    const k = oz + z;
    const s = vol.values[k];
    if (!s) continue;
    console.log(`    slice k=${k}${k === c.slice ? ' (candidate)' : ''}  origin col ${ox - 2} row ${oy - 2}`);
    for (let y = -2; y < sy + 2; y++) {
      let line = '     ';
      for (let x = -2; x < sx + 2; x++) {
        const v = s[(oy + y) * vol.columns + ox + x]!;
        const mark = inMask(m, x, y, z) ? '*' : v >= SOLID ? '#' : ' ';
        line += `${mark}${String(Math.round(v / 10)).padStart(4)}`;
      }
      console.log(line);
    }
  }
}

async function main(): Promise<void> {
  const manifest = parseManifest(JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'model.json'), 'utf8')), 'model.json');
  const session = await ort.InferenceSession.create(path.join(MODEL_DIR, 'model.onnx'), { intraOpNumThreads: 1 });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'propfp-'));
  const all = argv.includes('--all');
  const wantDump = argv.includes('--dump');
  try {
    for (const seed of seedsArg()) {
      const spec = { seed, sliceThicknessMm: 2.5, throughPlaneVessels: 3, groundGlassBesideVessels: 2 };
      const dir = path.join(tmp, String(seed));
      const ph = writeChestPhantom({ outDir: dir, uidRoot: `2.25.${900000 + seed}`, ...spec });
      const vol = await chestPhantomVolume(ph);
      const maps = await runSliceModel(session, vol, manifest);
      const accepted: { c: Candidate; a: Accepted }[] = [];
      const ctx = { volume: vol, manifest, maps, prepared: prepareLungNodules(vol) };
      const result = findLungNodules(ctx, (c, s) => {
        if (s.outcome === 'accepted') accepted.push({ c, a: s });
      });
      const { matches, falsePositives } = matchFindings(ph.truth, result.findings);
      const grid = volumeGrid(vol);
      const vessels = plannedVessels(spec);
      for (const f of result.findings) {
        const hit = matches.find((mm) => mm.finding === f);
        const fp = falsePositives.includes(f);
        const e = accepted.find((x) => x.a.mask === f.mask);
        if (!e) continue;
        const p = pathOf(e.c, e.a, vol);
        if (!all && !fp && (p === 'peak' || hit?.truth.type !== 'ground-glass')) continue;
        const a = e.a;
        const ctr = pixelToPatient(vol, a.nodule.centre.slice, a.nodule.centre.column, a.nodule.centre.row);
        const near = vessels
          .map((v) => {
            const d = [v.p1[0]! - v.p0[0]!, v.p1[1]! - v.p0[1]!, v.p1[2]! - v.p0[2]!];
            const l2 = d[0]! ** 2 + d[1]! ** 2 + d[2]! ** 2;
            const w = [ctr[0] - v.p0[0]!, ctr[1] - v.p0[1]!, ctr[2] - v.p0[2]!];
            const t = l2 > 0 ? Math.max(0, Math.min(1, (w[0]! * d[0]! + w[1]! * d[1]! + w[2]! * d[2]!) / l2)) : 0;
            const dist = Math.hypot(w[0]! - t * d[0]!, w[1]! - t * d[1]!, w[2]! - t * d[2]!) - v.r;
            const zc = Math.abs(d[2]!) / Math.sqrt(l2 || 1);
            return { dist, r: v.r, zc };
          })
          .filter((v) => v.dist < 4)
          .sort((u, v) => u.dist - v.dist)
          .map((v) => `${v.dist.toFixed(1)}@r${v.r.toFixed(2)}z${v.zc.toFixed(2)}`)
          .join(' ');
        const feats = features(vol, f.mask!);
        const what = fp
          ? 'FP'
          : `TP ${hit!.truth.type} d=${hit!.truth.diameterMm.toFixed(1)} hu=${hit!.truth.meanHu}${hit!.truth.juxtavascular ? ' jv' : ''}`;
        console.log(
          `${seed} ${what.padEnd(28)} path=${p.padEnd(7)} d=${measurement(f, 'diameterMm')} hu=${measurement(f, 'meanHu')} el=${a.nodule.elongation.toFixed(2)} fill=${a.nodule.fill.toFixed(2)} T=${a.thresholdHu.toFixed(0)} core=${a.nodule.coreHu.toFixed(0)} int=${interiorShare(vol, grid, f.mask!).toFixed(2)} borderAll=${borderShare(vol, f.mask!, false).toFixed(2)} borderInPlane=${borderShare(vol, f.mask!, true).toFixed(2)} solidSh=${a.nodule.solidShare.toFixed(2)} r=${e.c.radiusMm.toFixed(2)} k=${e.c.slice} c=${e.c.column} r=${e.c.row} ${JSON.stringify(feats)} vessels<4mm: ${near}`,
        );
        if (wantDump && fp) dump(vol, f.mask!, e.c);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    await session.release();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

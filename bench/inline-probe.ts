// bench/inline-probe (diagnostic, helper inline; from propfp's probe): every finding on hard phantoms with the path that
// accepted it and features of its mask, and optionally a dump of the voxels around a finding.
// node dist/bench/propfp-probe.js --seeds 7300,7301 [--dump] [--all]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';

import { writeChestPhantom } from '../fixtures/chest-phantom';
import { parseManifest } from '../src/inference/manifest';
import { chestPhantomVolume } from '../test/helpers/phantom-volume';
import { findLungNodules, prepareLungNodules, type Accepted, type Candidate } from '../src/inference/postprocess/lung-nodules/index';
import { interiorShare } from '../src/inference/postprocess/lung-nodules/ground-glass-tube';
import { volumeGrid } from '../src/inference/postprocess/lung-nodules/volume-grid';
import { type SeriesVolume } from '../src/inference/series-volume';
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

/** In-line continuation features per mask slice (and on the projection, 'P'). */
function inlineFeatures(vol: SeriesVolume, m: VoxelMask): string {
  const [ox, oy, oz] = m.origin;
  const [sx, sy, sz] = m.size;
  const [rowSp, colSp] = vol.pixelSpacing;
  const out: string[] = [];
  const solidOn = (k: number, col: number, row: number): boolean =>
    col >= 0 && row >= 0 && col < vol.columns && row < vol.rows && (vol.values[k]?.[row * vol.columns + col] ?? -Infinity) >= SOLID;
  for (let z = -1; z < sz; z++) {
    const inM = (x: number, y: number): boolean => {
      if (z >= 0) return inMask(m, x, y, z);
      for (let zz = 0; zz < sz; zz++) if (inMask(m, x, y, zz)) return true;
      return false;
    };
    const solid = (x: number, y: number): boolean => {
      if (z >= 0) return solidOn(oz + z, ox + x, oy + y);
      for (let zz = 0; zz < sz; zz++) if (solidOn(oz + zz, ox + x, oy + y)) return true;
      return false;
    };
    const pts: [number, number][] = [];
    for (let y = 0; y < sy; y++) for (let x = 0; x < sx; x++) if (inM(x, y)) pts.push([x * colSp, y * rowSp]);
    if (pts.length < 3) continue;
    const mx = pts.reduce((a, p) => a + p[0], 0) / pts.length;
    const my = pts.reduce((a, p) => a + p[1], 0) / pts.length;
    let cxx = 0,
      cyy = 0,
      cxy = 0;
    for (const [px, py] of pts) {
      cxx += (px - mx) ** 2;
      cyy += (py - my) ** 2;
      cxy += (px - mx) * (py - my);
    }
    const th = 0.5 * Math.atan2(2 * cxy, cxx - cyy);
    const u = [Math.cos(th), Math.sin(th)];
    const v = [-u[1]!, u[0]!];
    let tMin = Infinity,
      tMax = -Infinity,
      sMin = Infinity,
      sMax = -Infinity;
    for (const [px, py] of pts) {
      const t = (px - mx) * u[0]! + (py - my) * u[1]!;
      const s = (px - mx) * v[0]! + (py - my) * v[1]!;
      tMin = Math.min(tMin, t);
      tMax = Math.max(tMax, t);
      sMin = Math.min(sMin, s);
      sMax = Math.max(sMax, s);
    }
    const L = tMax - tMin + colSp;
    const W = sMax - sMin + colSp;
    // Solid pixels 8-adjacent to the mask (contacts), then the solid component they belong to, within 6 mm of the centroid.
    const R = L / 2 + 3;
    const pad = Math.ceil(R / colSp) + 2;
    const key = (x: number, y: number): number => (y + pad) * (sx + 2 * pad) + x + pad;
    const seen = new Set<number>();
    const stack: [number, number][] = [];
    let contacts = 0,
      endContacts = 0,
      endPos = 0,
      endNeg = 0;
    for (let y = -1; y <= sy; y++)
      for (let x = -1; x <= sx; x++) {
        if (inM(x, y) || !solid(x, y)) continue;
        let adj = false;
        for (let dy = -1; dy <= 1 && !adj; dy++) for (let dx = -1; dx <= 1 && !adj; dx++) if (inM(x + dx, y + dy)) adj = true;
        if (!adj) continue;
        contacts++;
        const t = (x * colSp - mx) * u[0]! + (y * rowSp - my) * u[1]!;
        const s = (x * colSp - mx) * v[0]! + (y * rowSp - my) * v[1]!;
        if (Math.abs(t) / (L / 2) > Math.abs(s) / (W / 2)) {
          endContacts++;
          if (t > 0) endPos++;
          else endNeg++;
        }
        seen.add(key(x, y));
        stack.push([x, y]);
      }
    // Each solid component touching the mask on its own: its direction, its contacts' place, its width.
    const comps: string[] = [];
    const label = new Map<number, number>();
    let nLab = 0;
    let vpx = 0;
    for (const [cx0, cy0] of stack) {
      if (label.has(key(cx0, cy0))) continue;
      const lab = nLab++;
      const st: [number, number][] = [[cx0, cy0]];
      label.set(key(cx0, cy0), lab);
      const vpts: [number, number][] = [];
      let cc = 0,
        ce = 0;
      while (st.length) {
        const [x, y] = st.pop()!;
        vpts.push([x * colSp, y * rowSp]);
        let adj = false;
        for (let dy = -1; dy <= 1 && !adj; dy++) for (let dx = -1; dx <= 1 && !adj; dx++) if (inM(x + dx, y + dy)) adj = true;
        if (adj) {
          cc++;
          const t = (x * colSp - mx) * u[0]! + (y * rowSp - my) * u[1]!;
          const s2 = (x * colSp - mx) * v[0]! + (y * rowSp - my) * v[1]!;
          if (Math.abs(t) / (L / 2) > Math.abs(s2) / (W / 2)) ce++;
        }
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const nx = x + dx,
              ny = y + dy;
            if (Math.hypot(nx * colSp - mx, ny * rowSp - my) > R) continue;
            const kk = key(nx, ny);
            if (label.has(kk) || inM(nx, ny) || !solid(nx, ny)) continue;
            label.set(kk, lab);
            st.push([nx, ny]);
          }
      }
      vpx += vpts.length;
      if (vpts.length < 3) continue;
      const vx = vpts.reduce((q, p) => q + p[0], 0) / vpts.length;
      const vy = vpts.reduce((q, p) => q + p[1], 0) / vpts.length;
      let a = 0,
        b = 0,
        c = 0;
      for (const [px, py] of vpts) {
        a += (px - vx) ** 2;
        b += (py - vy) ** 2;
        c += (px - vx) * (py - vy);
      }
      const tr = a + b,
        det = a * b - c * c;
      const l1 = tr / 2 + Math.sqrt(Math.max(0, (tr * tr) / 4 - det));
      const l2 = tr / 2 - Math.sqrt(Math.max(0, (tr * tr) / 4 - det));
      const vth = 0.5 * Math.atan2(2 * c, a - b);
      const w = [Math.cos(vth), Math.sin(vth)];
      const align = Math.abs(w[0]! * u[0]! + w[1]! * u[1]!);
      let wMin = Infinity,
        wMax = -Infinity,
        inl = 0;
      for (const [px, py] of vpts) {
        const tw = (px - vx) * w[0]! + (py - vy) * w[1]!;
        wMin = Math.min(wMin, tw);
        wMax = Math.max(wMax, tw);
        const t = (px - mx) * u[0]! + (py - my) * u[1]!;
        const s2 = (px - mx) * v[0]! + (py - my) * v[1]!;
        if (Math.abs(t) > L / 2 && Math.abs(s2) < W / 2) inl++;
      }
      const vL = wMax - wMin + colSp;
      comps.push(
        `[${vpts.length} al${align.toFixed(2)} el${Math.sqrt(l1 / Math.max(l2, 1e-6)).toFixed(1)} end${(ce / Math.max(1, cc)).toFixed(2)} w${((vpts.length * colSp * rowSp) / vL).toFixed(1)} inl${(inl / vpts.length).toFixed(2)}]`,
      );
    }
    out.push(
      `${z < 0 ? 'P' : `z${oz + z}`}:n${pts.length} L${L.toFixed(1)} W${W.toFixed(1)} c${contacts} end${(endContacts / Math.max(1, contacts)).toFixed(2)} e+${endPos}/e-${endNeg} v${vpx} ${comps.join('')}`,
    );
  }
  return out.join(' | ');
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
      const spec = {
        seed,
        sliceThicknessMm: 2.5,
        throughPlaneVessels: 3,
        groundGlassBesideVessels: 2,
        ...(argv.includes('--vessels-through') ? { vesselsThroughNodules: true } : {}),
      };
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
      for (const f of result.findings) {
        const hit = matches.find((mm) => mm.finding === f);
        const fp = falsePositives.includes(f);
        const e = accepted.find((x) => x.a.mask === f.mask);
        if (!e) continue;
        const p = pathOf(e.c, e.a, vol);
        if (!all && !fp && (p === 'peak' || hit?.truth.type !== 'ground-glass')) continue;
        const a = e.a;
        const near = inlineFeatures(vol, f.mask!);
        const feats = features(vol, f.mask!);
        const what = fp
          ? 'FP'
          : `TP ${hit!.truth.type} d=${hit!.truth.diameterMm.toFixed(1)} hu=${hit!.truth.meanHu}${hit!.truth.juxtavascular ? ' jv' : ''}`;
        console.log(
          `${seed} ${what.padEnd(28)} path=${p.padEnd(7)} d=${measurement(f, 'diameterMm')} hu=${measurement(f, 'meanHu')} el=${a.nodule.elongation.toFixed(2)} fill=${a.nodule.fill.toFixed(2)} T=${a.thresholdHu.toFixed(0)} core=${a.nodule.coreHu.toFixed(0)} int=${interiorShare(vol, grid, f.mask!).toFixed(2)} borderAll=${borderShare(vol, f.mask!, false).toFixed(2)} borderInPlane=${borderShare(vol, f.mask!, true).toFixed(2)} solidSh=${a.nodule.solidShare.toFixed(2)} r=${e.c.radiusMm.toFixed(2)} k=${e.c.slice} c=${e.c.column} r=${e.c.row} ${JSON.stringify(feats)} INL ${near}`,
        );
        if ((wantDump && fp) || argv.includes('--dump-tp')) dump(vol, f.mask!, e.c);
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

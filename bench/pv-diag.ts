// Diagnostic only (not committed): the partial-volume residual of every accepted ground-glass proposal.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { writeChestPhantom } from '../fixtures/chest-phantom';
import { parseManifest } from '../src/inference/manifest';
import { chestPhantomVolume } from '../test/helpers/phantom-volume';
import {
  findLungNodules,
  prepareLungNodules,
  type Candidate,
  type CandidateOutcome,
} from '../src/inference/postprocess/lung-nodules/index';
import { pixelToPatient } from '../src/inference/series-volume';
import { volumeGrid } from '../src/inference/postprocess/lung-nodules/volume-grid';
import { partialVolumeResidual, tubeBridgeShare, sliceElongation } from '../src/inference/postprocess/lung-nodules/pv-residual';
import { runSliceModel } from './nodule-sensitivity';

const MODEL_DIR = path.resolve(__dirname, '..', '..', 'models', 'lung-nodule-reference');
async function main(): Promise<void> {
  const seed0 = Number(process.argv[2]);
  const n = Number(process.argv[3]);
  const hard = process.argv.includes('--hard');
  const manifest = parseManifest(JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'model.json'), 'utf8')), 'm');
  const session = await ort.InferenceSession.create(path.join(MODEL_DIR, 'model.onnx'), { intraOpNumThreads: 1 });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pvdiag-'));
  for (let seed = seed0; seed < seed0 + n; seed++) {
    const ph = writeChestPhantom({
      outDir: path.join(tmp, String(seed)),
      seed,
      uidRoot: `2.25.${900000 + seed}`,
      sliceThicknessMm: 2.5,
      ...(hard ? { throughPlaneVessels: 3, groundGlassBesideVessels: 2 } : {}),
    });
    const vol = await chestPhantomVolume(ph);
    const maps = await runSliceModel(session, vol, manifest);
    const prepared = prepareLungNodules(vol);
    const ev: { c: Candidate; s: CandidateOutcome }[] = [];
    findLungNodules({ volume: vol, manifest, maps, prepared }, (c, s) => ev.push({ c, s }));
    const grid = volumeGrid(vol);
    for (const { c, s } of ev) {
      if (!c.groundGlassOnly || s.outcome !== 'accepted') continue;
      const r = partialVolumeResidual(vol, grid, prepared.filled, s.mask);
      const ce = s.nodule.centre;
      const [x, y, z] = pixelToPatient(vol, ce.slice, ce.column, ce.row);
      const t = ph.truth.find((t) => Math.hypot(x - t.centre.x, y - t.centre.y, z - t.centre.z) < Math.max(t.diameterMm / 2, 5));
      console.log(
        `${seed} k=${c.slice} d=${s.nodule.diameterMm.toFixed(1)} hu=${s.nodule.meanHu.toFixed(0)} ${t ? `TRUE ${t.type} ${t.diameterMm.toFixed(1)} ${t.meanHu}${t.juxtavascular ? ' jv' : ''}` : 'FALSE'}` +
          ` c=${ce.column.toFixed(0)},${ce.row.toFixed(0)},${ce.slice.toFixed(1)}` +
          (r
            ? ` lung=${r.lungHu.toFixed(0)} mean=${r.meanHu.toFixed(0)} pred=${r.predictedHu.toFixed(0)} unexpl=${r.unexplained.toFixed(2)} explShare=${r.explainedShare.toFixed(2)} bridge50=${tubeBridgeShare(vol, grid, s.mask, r.lungHu + 0.5 * (r.meanHu - r.lungHu)).toFixed(2)} bridge30=${tubeBridgeShare(vol, grid, s.mask, r.lungHu + 0.3 * (r.meanHu - r.lungHu)).toFixed(2)} same50=${tubeBridgeShare(vol, grid, s.mask, r.lungHu + 0.5 * (r.meanHu - r.lungHu), false).toFixed(2)} el2=${sliceElongation(grid, s.mask).mean.toFixed(2)}/${sliceElongation(grid, s.mask).max.toFixed(2)} el3=${s.nodule.elongation.toFixed(2)} fill=${s.nodule.fill.toFixed(2)} same30=${tubeBridgeShare(vol, grid, s.mask, r.lungHu + 0.3 * (r.meanHu - r.lungHu), false).toFixed(2)}`
            : ' no-residual'),
      );
    }
    if (process.argv.includes('--table'))
      for (const { c, s } of ev) {
        if (!c.groundGlassOnly || s.outcome !== 'accepted') continue;
        const r = partialVolumeResidual(vol, grid, prepared.filled, s.mask)!;
        console.log('table rows: same-slice distance 0,0.5,..,4 mm; cols: next-slice distance');
        for (let b0 = 0; b0 < 9; b0++)
          console.log(
            Array.from(r.table.slice(b0 * 9, b0 * 9 + 9))
              .map((v) => v.toFixed(0).padStart(5))
              .join(''),
          );
        break;
      }
    if (process.argv.includes('--dump'))
      for (const { c, s } of ev) {
        if (!c.groundGlassOnly || s.outcome !== 'accepted') continue;
        const ce = s.nodule.centre;
        const [x, y, z] = pixelToPatient(vol, ce.slice, ce.column, ce.row);
        if (
          ph.truth.some((t) => Math.hypot(x - t.centre.x, y - t.centre.y, z - t.centre.z) < Math.max(t.diameterMm / 2, 5)) !==
          process.argv.includes('--true')
        )
          continue;
        const cx = Math.round(ce.column),
          cy = Math.round(ce.row),
          cz = Math.round(ce.slice);
        for (let k = cz - 2; k <= cz + 2; k++) {
          console.log(`slice ${k} (HU/100, '.' < -750, solid '#')`);
          for (let yy = cy - 12; yy <= cy + 12; yy++) {
            let line = '';
            for (let xx = cx - 12; xx <= cx + 12; xx++) {
              const v = vol.values[k]![yy * vol.columns + xx]!;
              line += v < -750 ? '  .' : v >= -300 ? '  #' : String(Math.round(v / 10)).padStart(3);
            }
            console.log(line);
          }
        }
        break;
      }
    fs.rmSync(path.join(tmp, String(seed)), { recursive: true, force: true });
  }
  await session.release();
}
void main();

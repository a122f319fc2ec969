// Diagnostic only: the edge-spread table (pv-residual.ts) at lung points of the real scans and of a phantom.
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DEFAULT_PIXEL_LIMITS } from '../src/dicom/pixel-budget';
import { buildSeriesVolume } from '../src/pipeline/volume-stage';
import { readScanFolder } from './nodule-real-scans';
import { prepareLungNodules } from '../src/inference/postprocess/lung-nodules/index';
import { volumeGrid } from '../src/inference/postprocess/lung-nodules/volume-grid';
import { partialVolumeResidual } from '../src/inference/postprocess/lung-nodules/pv-residual';
import type { SeriesVolume } from '../src/inference/series-volume';

function tables(name: string, vol: SeriesVolume): void {
  const grid = volumeGrid(vol);
  const lung = prepareLungNodules(vol).filled;
  const acc: number[][] = Array.from({ length: 81 }, () => []);
  let n = 0;
  for (let z = 10; z < grid.slices - 10; z += Math.max(1, Math.floor(grid.slices / 12)))
    for (let y = 20; y < grid.rows - 20; y += 40)
      for (let x = 20; x < grid.columns - 20; x += 40) {
        if (!lung[z]![y * grid.columns + x]) continue;
        const bits = new Uint8Array(1);
        bits[0] = 1;
        const r = partialVolumeResidual(vol, grid, lung, { origin: [x, y, z], size: [1, 1, 1], bits });
        if (!r) continue;
        n++;
        r.table.forEach((v, i) => acc[i]!.push(v - r.lungHu));
      }
  console.log(
    `${name}: spacing ${grid.xSpacingMm.toFixed(2)} x ${grid.zSpacingMm.toFixed(2)} mm, ${n} windows; median HU over the lung, rows same-slice distance bins 0.5 mm, cols next-slice`,
  );
  for (let b0 = 1; b0 < 9; b0++)
    console.log(
      acc
        .slice(b0 * 9, b0 * 9 + 9)
        .map((v) => {
          v.sort((a, b) => a - b);
          return (v[v.length >> 1] ?? NaN).toFixed(0).padStart(5);
        })
        .join(''),
    );
}

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..', '..', 'shared', 'data', 'ct-lidc');
  for (const s of ['LIDC-IDRI-0001', 'LIDC-IDRI-0002']) {
    const scan = readScanFolder(path.join(root, s));
    const vol = await buildSeriesVolume({ instances: scan.instances, secret: randomBytes(32), limits: DEFAULT_PIXEL_LIMITS });
    tables(s, vol);
  }
}
void main();

// bench/pipeline: the pixel stage on a 300-slice 512x512 CT series, per transfer syntax:
// decode → HU (modality LUT) → window (lung preset) → resize/pad to 256x256 Float32 tensor.
// Prints slices/s per phase and in total. Run on demand: npm run bench:pipeline [-- --slices N].

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { decodeFrameSync, initCodecs, intensityFrame, openImage, parseWindowOption, toTensor } from '../src/imaging';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const now = () => Number(process.hrtime.bigint()) / 1e6;

async function main(): Promise<void> {
  const count = arg('slices', 300);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-pipeline-'));
  try {
    await initCodecs();
    const native = writeSyntheticCtSeries({ outDir: path.join(tmp, 'native'), count, uidRoot: newUidRoot() });
    const variants: { name: string; files: string[] }[] = [{ name: 'Explicit VR LE (native)', files: native }];
    // The same series compressed by DCMTK, where Debian's DCMTK can encode it.
    for (const [name, tool, args] of [
      ['RLE Lossless', 'dcmcrle', []],
      ['JPEG Lossless SV1', 'dcmcjpeg', []],
      ['JPEG-LS Lossless', 'dcmcjpls', []],
    ] as [string, string, string[]][]) {
      const dir = path.join(tmp, tool);
      fs.mkdirSync(dir);
      try {
        const files = native.map((f) => {
          const out = path.join(dir, path.basename(f));
          execFileSync(tool, [...args, f, out]);
          return out;
        });
        variants.push({ name, files });
      } catch {
        console.log(`(skipping ${name}: ${tool} not available)`);
      }
    }
    const window = parseWindowOption('lung');
    console.log(`bench/pipeline: ${count} slices 512x512 16-bit CT, Node ${process.version}, ${os.cpus().length} CPUs`);
    console.log('| transfer syntax | decode ms/slice | HU+window ms/slice | tensor 256x256 ms/slice | total slices/s |');
    console.log('|---|---|---|---|---|');
    for (const v of variants) {
      let tDecode = 0;
      let tWindow = 0;
      let tTensor = 0;
      for (const f of v.files) {
        const buf = fs.readFileSync(f);
        const t0 = now();
        const img = openImage(buf);
        const frame = decodeFrameSync(img, 0);
        const t1 = now();
        const inten = intensityFrame(img, frame, 0, { window });
        const t2 = now();
        toTensor(inten, { width: 256, height: 256 });
        const t3 = now();
        tDecode += t1 - t0;
        tWindow += t2 - t1;
        tTensor += t3 - t2;
      }
      const n = v.files.length;
      const total = tDecode + tWindow + tTensor;
      console.log(
        `| ${v.name} | ${(tDecode / n).toFixed(2)} | ${(tWindow / n).toFixed(2)} | ${(tTensor / n).toFixed(2)} | ${((n * 1000) / total).toFixed(0)} |`,
      );
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});

/**
 * bench/job-memory: does a long-running node give its memory back between jobs? One node (in this
 * process, reference lung-nodule model on CPU) receives one chest-CT phantom series after another
 * (DCMTK storescu) and sends each SR to a real Orthanc; after each delivery the benchmark forces two
 * full garbage collections and prints this process's memory: V8 heap in use, external and
 * ArrayBuffer memory (typed arrays, SharedArrayBuffers) and RSS. A node that leaks grows its heap or
 * its buffers job after job; RSS alone can grow without a leak (allocator arenas, worker heaps), so
 * the first three are the test. Needs --expose-gc:
 *
 *   node --expose-gc dist/bench/job-memory.js [--jobs 6] [--slices 120]
 */
import path from 'node:path';
import fs from 'node:fs';
import { run } from '../test/helpers/run';
import { startTestNode } from '../test/helpers/node';
import { OrthancPacs } from '../test/helpers/orthanc';
import { tmpDir } from '../test/helpers/env';
import { writeChestPhantom } from '../fixtures/chest-phantom';
import { newUidRoot } from '../fixtures/synthetic-ct';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((res) => setTimeout(res, 300));
  }
  return process.memoryUsage();
}

async function main(): Promise<void> {
  const jobs = Number(arg('jobs', '6'));
  const slices = Number(arg('slices', '120'));
  const pacs = await OrthancPacs.create({ node: ['DICOM_AI', '127.0.0.1', 104] });
  await pacs.start();
  const n = await startTestNode({
    series: { stableSeconds: 1 },
    inference: { modelsDir: path.resolve(__dirname, '..', '..', 'models'), providers: ['cpu'] },
    destinations: { PACS: { aeTitle: 'ORTHANC', host: '127.0.0.1', port: pacs.dicomPort } },
    routes: [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'] }],
  });
  try {
    const m0 = await settledMemory();
    console.log(
      `after start: heap ${mb(m0.heapUsed)} MB, external ${mb(m0.external)}, arrayBuffers ${mb(m0.arrayBuffers)}, RSS ${mb(m0.rss)}`,
    );
    for (let j = 0; j < jobs; j++) {
      const dir = tmpDir('job-memory');
      const started = Date.now();
      const cpuAtStart = process.cpuUsage();
      const { files } = writeChestPhantom({ outDir: dir, seed: 1000 + j, uidRoot: newUidRoot(), slices });
      const s = await run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port), ...files], {
        timeoutMs: 300_000,
      });
      if (s.code !== 0) throw new Error(`storescu failed: ${s.stderr}`);
      for (;;) {
        const ds = n.node.store.listDeliveries();
        if (ds.length === j + 1 && ds.every((d) => d.state === 'delivered')) break;
        if (ds.some((d) => d.state === 'failed')) throw new Error('a delivery failed');
        await new Promise((res) => setTimeout(res, 50));
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const cpu = process.cpuUsage(cpuAtStart);
      const cpuSeconds = ((cpu.user + cpu.system) / 1e6).toFixed(1);
      fs.rmSync(dir, { recursive: true, force: true });
      const m = await settledMemory();
      console.log(
        `after job ${j + 1} (${seconds} s, CPU ${cpuSeconds} s): heap ${mb(m.heapUsed)} MB, external ${mb(m.external)}, arrayBuffers ${mb(m.arrayBuffers)}, RSS ${mb(m.rss)}`,
      );
    }
  } finally {
    await n.stop();
    await pacs.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

/**
 * bench/report-latency: the end-to-end measurement. A generated chest-CT phantom
 * (default 200 slices) is pushed with DCMTK storescu to the node (in this process, reference
 * lung-nodule model on CPU), which sends its SR to a real Orthanc. Printed: the time from the last
 * C-STORE response to the SR being in Orthanc, minus stableSeconds, and the job's own phases.
 *
 *   npm run bench:report-latency -- [--slices 200] [--rounds 3]
 */
import path from 'node:path';
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

const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;

async function main(): Promise<void> {
  const slices = Number(arg('slices', '200'));
  const rounds = Number(arg('rounds', '3'));
  const stableSeconds = 2;
  const pacs = await OrthancPacs.create({ node: ['DICOM_AI', '127.0.0.1', 104] });
  await pacs.start();
  const latencies: number[] = [];
  const inference: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const n = await startTestNode({
        series: { stableSeconds },
        inference: { modelsDir: path.resolve(__dirname, '..', '..', 'models'), providers: ['cpu'] },
        destinations: { PACS: { aeTitle: 'ORTHANC', host: '127.0.0.1', port: pacs.dicomPort } },
        routes: [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'] }],
      });
      try {
        const p = writeChestPhantom({ outDir: tmpDir('latency'), seed: 1000 + r, uidRoot: newUidRoot(), slices });
        // Asynchronously: the node runs in this process and must answer meanwhile.
        const s = await run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port), ...p.files], {
          timeoutMs: 300_000,
        });
        if (s.code !== 0) throw new Error(`storescu failed: ${s.stderr}`);
        const lastResponse = Date.now();
        for (;;) {
          const sr = (await pacs.seriesOfStudy(p.studyInstanceUid)).find((x) => x.MainDicomTags.Modality === 'SR');
          if (sr) break;
          if (Date.now() - lastResponse > 600_000) throw new Error('no SR after 10 minutes');
          await new Promise((res) => setTimeout(res, 50));
        }
        const latency = Date.now() - lastResponse - stableSeconds * 1000;
        const job = n.node.store.listJobs()[0]!;
        const res = n.node.store.latestResult(job.id)!;
        latencies.push(latency);
        inference.push(res.durationMs);
        console.log(
          `round ${r + 1}: ${slices} slices, last C-STORE response -> SR in Orthanc minus stableSeconds: ${latency} ms (model run incl. pre/post-processing ${res.durationMs} ms, ${res.findings} finding(s))`,
        );
      } finally {
        await n.stop();
      }
    }
  } finally {
    await pacs.stop();
  }
  console.log(`\nmedian of ${rounds}: ${median(latencies)} ms end to end, ${median(inference)} ms of it in the model runner`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

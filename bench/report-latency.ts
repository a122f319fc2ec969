/**
 * bench/report-latency: the end-to-end measurement. A generated chest-CT phantom
 * (default 200 slices), or a folder of a real series (--folder, e.g. the shared LIDC-IDRI-0002), is
 * pushed with DCMTK storescu to the node (in this process, reference lung-nodule model on CPU),
 * which sends its SR to a real Orthanc. Printed: the time from the last C-STORE response to the SR
 * stored at the PACS (the PACS's success response to the node's C-STORE), minus stableSeconds, and
 * where that time goes, stage by stage:
 *
 *   stability     the sweep's lag beyond stableSeconds (last indexed arrival -> series stable)
 *   routing       series stable -> its job queued
 *   queue         job queued -> job started
 *   read + de-identify + volume, model, post-processing, key image, report (SR build, files, rows)
 *                 the job's own stages (its "job done" log line)
 *   delivery      report queued -> the PACS's C-STORE response
 *
 * and, for this process (node and benchmark; Orthanc and storescu run apart), the CPU time of all its
 * threads from the last C-STORE response to the SR stored (less noisy than wall time on a shared
 * machine) and the peak RSS during the round, sampled every 50 ms.
 *
 *   npm run bench:report-latency -- [--slices 200] [--rounds 3] [--folder DIR] [--intra-op-threads N]
 */
import fs from 'node:fs';
import path from 'node:path';
import { run } from '../test/helpers/run';
import { startTestNode, type TestNode } from '../test/helpers/node';
import { OrthancPacs } from '../test/helpers/orthanc';
import { tmpDir } from '../test/helpers/env';
import { writeChestPhantom } from '../fixtures/chest-phantom';
import { newUidRoot } from '../fixtures/synthetic-ct';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;

const STAGES: [string, string][] = [
  ['stability', 'stability wait beyond stableSeconds'],
  ['routing', 'routing (stable -> job queued)'],
  ['queue', 'job queue wait'],
  ['readDeidentifyVolume', 'read + de-identify + volume'],
  ['model', 'model (input building + run)'],
  ['postprocessing', 'post-processing'],
  ['keyImage', 'key image'],
  ['report', 'report (SR build, files, rows)'],
  ['delivery', 'delivery (queued -> PACS response)'],
];

interface LogLine {
  message?: string;
  timestamp?: string;
  stagesMs?: Record<string, number>;
}

function logLine(n: TestNode, message: string): LogLine {
  for (const l of n.logs) {
    if (!l.includes(`"${message}"`)) continue;
    const parsed = JSON.parse(l) as LogLine;
    if (parsed.message === message) return parsed;
  }
  throw new Error(`no "${message}" log line`);
}

/** One round: push, wait for every report delivery, and break the time down. */
async function round(n: TestNode, pacs: OrthancPacs, files: string[], stableSeconds: number): Promise<Record<string, number>> {
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 50);
  try {
    return { ...(await timedRound(n, pacs, files, stableSeconds)), peakRssMb: Math.round(peakRss / 1e6) };
  } finally {
    clearInterval(sampler);
  }
}

async function timedRound(n: TestNode, pacs: OrthancPacs, files: string[], stableSeconds: number): Promise<Record<string, number>> {
  // Asynchronously: the node runs in this process and must answer meanwhile.
  const s = await run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port), ...files], {
    timeoutMs: 300_000,
  });
  if (s.code !== 0) throw new Error(`storescu failed: ${s.stderr}`);
  const lastResponse = Date.now();
  const cpuAtLastResponse = process.cpuUsage();
  for (;;) {
    const ds = n.node.store.listDeliveries();
    if (ds.length > 0 && ds.every((d) => d.state === 'delivered')) break;
    if (ds.some((d) => d.state === 'failed')) throw new Error(`a delivery failed: ${ds.map((d) => d.lastError).join('; ')}`);
    if (Date.now() - lastResponse > 600_000) throw new Error('no SR delivered after 10 minutes');
    await new Promise((res) => setTimeout(res, 20));
  }
  const cpu = process.cpuUsage(cpuAtLastResponse);
  const deliveries = n.node.store.listDeliveries();
  const delivered = Math.max(...deliveries.map((d) => d.deliveredAt!));
  const job = n.node.store.listJobs()[0]!;
  const series = n.node.store.getSeries(job.seriesInstanceUid)!;
  const sr = (await pacs.seriesOfStudy(series.studyInstanceUid)).find((x) => x.MainDicomTags.Modality === 'SR');
  if (!sr) throw new Error('the PACS answered success but holds no SR series for the study');
  const started = Date.parse(logLine(n, 'job started').timestamp!);
  const done = logLine(n, 'job done');
  const res = n.node.store.latestResult(job.id)!;
  return {
    total: delivered - lastResponse - stableSeconds * 1000,
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    stability: series.stableAt! - series.lastReceivedAt - stableSeconds * 1000,
    routing: job.createdAt - series.stableAt!,
    queue: started - job.createdAt,
    ...done.stagesMs,
    delivery: delivered - Math.min(...deliveries.map((d) => d.createdAt)),
    findings: res.findings,
    instances: series.instanceCount,
  };
}

/**
 * The folder's instances, uncompressed with DCMTK dcmdjpls: the shared LIDC scans are JPEG-LS, and
 * storescu as run here proposes only the uncompressed syntaxes (the node accepts JPEG-LS too: see
 * test/lidc-e2e.test.ts, which sends them with -xt). Uncompressed files pass through unchanged.
 */
async function decompressed(folder: string): Promise<string[]> {
  const out = tmpDir('latency-real');
  const files: string[] = [];
  for (const f of fs.readdirSync(folder).filter((x) => x.endsWith('.dcm'))) {
    const target = path.join(out, f);
    const r = await run('dcmdjpls', [path.join(folder, f), target]);
    if (r.code !== 0) throw new Error(`dcmdjpls ${f}: ${r.stderr}`);
    files.push(target);
  }
  return files;
}

async function main(): Promise<void> {
  const slices = Number(arg('slices', '200'));
  const rounds = Number(arg('rounds', '3'));
  const folder = arg('folder', '');
  const stableSeconds = 2;
  const pacs = await OrthancPacs.create({ node: ['DICOM_AI', '127.0.0.1', 104] });
  await pacs.start();
  const results: Record<string, number>[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const n = await startTestNode({
        series: { stableSeconds },
        inference: {
          modelsDir: path.resolve(__dirname, '..', '..', 'models'),
          providers: ['cpu'],
          intraOpNumThreads: Number(arg('intra-op-threads', '0')),
        },
        destinations: { PACS: { aeTitle: 'ORTHANC', host: '127.0.0.1', port: pacs.dicomPort } },
        routes: [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'] }],
      });
      try {
        const files = folder
          ? await decompressed(folder)
          : writeChestPhantom({ outDir: tmpDir('latency'), seed: 1000 + r, uidRoot: newUidRoot(), slices }).files;
        const b = await round(n, pacs, files, stableSeconds);
        results.push(b);
        const parts = STAGES.map(([k]) => `${k} ${b[k] ?? 0}`).join(', ');
        console.log(
          `round ${r + 1}: ${b.instances} instances, ${b.findings} finding(s): ${b.total} ms (${parts}), CPU ${b.cpuMs} ms, peak RSS ${b.peakRssMb} MB`,
        );
      } finally {
        await n.stop();
      }
    }
  } finally {
    await pacs.stop();
  }
  const what = folder ? path.basename(folder) : `${slices}-slice phantom`;
  console.log(`\nmedians of ${rounds} round(s), ${what}, last C-STORE response -> SR stored at the PACS, minus stableSeconds:\n`);
  console.log('| stage | ms |');
  console.log('|---|---|');
  for (const [k, name] of STAGES) console.log(`| ${name} | ${median(results.map((b) => b[k] ?? 0))} |`);
  console.log(`| **total** | **${median(results.map((b) => b.total!))}** |`);
  console.log(`| CPU time of the process (all threads), last C-STORE response -> SR stored | ${median(results.map((b) => b.cpuMs!))} |`);
  console.log(`\npeak RSS (node and benchmark, one process): median ${median(results.map((b) => b.peakRssMb!))} MB`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

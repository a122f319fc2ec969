/**
 * Issue 17 item 5, the T1 half, end to end: the shared real child T1 (../shared/data/mr-t1-sag, a
 * sagittal MPRAGE of a 3-year-old) C-STOREd by DCMTK storescu to a running node, the SR received
 * by DCMTK storescp. Two routes take the one series: the shipped meshnet-gwm manifest (FreeSurfer
 * conform-uchar) and a copy with the intensity conform taken out (min-max only, the broken
 * preprocessing of the issue). The first must give WM/GM inside the child range with no flag; the
 * second must come out "low confidence — outside the expected range" in the SR, /api/jobs, the job
 * log and the metrics. A CT series routed to the brain model is skipped (wrong modality) with the
 * reason in the log, /api/jobs and the audit trail.
 *
 * Two 256³ MeshNet inferences (the least that shows both sides); skips when the data is missing.
 * t1_crop (as DICOM) giving 519/735 ml is covered by pipeline.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { startTestNode, waitFor, type TestNode } from './helpers/node';
import { PROJECT_ROOT, tmpDir } from './helpers/env';
import { freePort } from './helpers/child-node';
import { run } from './helpers/run';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import type { JobListRow } from '../src/store/store';

const SHARED = process.env.DICOM_AI_SHARED ?? path.resolve(PROJECT_ROOT, '..', 'shared');
const T1_SAG = path.join(SHARED, 'data', 'mr-t1-sag');
const MESHNET = path.join(PROJECT_ROOT, 'models', 'meshnet-gwm');
const TOKEN = 'plausibility-test-token-0123456789';
const hasTools = ['storescu', 'storescp', 'dsrdump'].every((t) => spawnSync(t, ['--version']).status === 0);
const skip = !fs.existsSync(T1_SAG)
  ? `${T1_SAG} missing (shared real data)`
  : !hasTools
    ? 'DCMTK storescu/storescp/dsrdump not installed'
    : false;

/** A models folder with the shipped manifest and a min-max-only copy of it, both beside the shipped weights. */
function modelsWithBrokenCopy(): string {
  const dir = tmpDir('plaus-models');
  const manifest = JSON.parse(fs.readFileSync(path.join(MESHNET, 'model.json'), 'utf8')) as Record<string, unknown>;
  for (const [name, intensity] of [
    ['meshnet-gwm', 'conform-uchar'],
    ['meshnet-gwm-minmax', 'none'],
  ] as const) {
    fs.mkdirSync(path.join(dir, name));
    const pre = { ...(manifest['preprocessing'] as Record<string, unknown>), intensity };
    fs.writeFileSync(path.join(dir, name, 'model.json'), JSON.stringify({ ...manifest, name, preprocessing: pre }));
    fs.copyFileSync(path.join(MESHNET, 'model.onnx'), path.join(dir, name, 'model.onnx'));
  }
  return dir;
}

function apiGet(n: TestNode, urlPath: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: n.node.adminPort, path: urlPath, headers: { Authorization: `Bearer ${TOKEN}` } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(JSON.parse(body)));
      })
      .on('error', reject);
  });
}

/** `extra`: e.g. -R -xt to send JPEG-LS lossless files as they are. */
async function storescu(port: number, files: string[], extra: string[] = []): Promise<void> {
  const r = await run('storescu', [...extra, '-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(port), ...files], {
    timeoutMs: 300_000,
  });
  assert.equal(r.code, 0, `storescu failed: ${r.stderr}${r.stdout}`);
}

test(
  'real child T1: in-range volumes with no flag; min-max-only preprocessing flagged everywhere; a CT series skipped',
  { skip },
  async () => {
    const pacsPort = await freePort();
    const pacsDir = tmpDir('plaus-pacs');
    const pacs: ChildProcess = spawn('storescp', ['-aet', 'STORESCP', '-od', pacsDir, String(pacsPort)], {
      stdio: 'ignore',
      env: { ...process.env, TCP_NODELAY: '1' },
    });
    const match = { Modality: 'MR', SeriesDescription: '/mprage/i' };
    const n = await startTestNode({
      admin: { token: TOKEN },
      series: { stableSeconds: 1 },
      inference: { modelsDir: modelsWithBrokenCopy(), providers: ['cpu'], timeLimitSeconds: 1200 },
      destinations: { PACS: { aeTitle: 'STORESCP', host: '127.0.0.1', port: pacsPort, reportForms: ['comprehensive3d'] } },
      routes: [
        { name: 'brain-t1', match, model: 'meshnet-gwm', destinations: ['PACS'] },
        { name: 'brain-t1-minmax', match, model: 'meshnet-gwm-minmax', destinations: ['PACS'] },
        { name: 'ct-to-brain', match: { Modality: 'CT' }, model: 'meshnet-gwm', destinations: ['PACS'] },
      ],
      routing: { mode: 'all' },
      delivery: { backoffSeconds: 1, backoffCapSeconds: 2 },
    });
    try {
      const t1 = fs
        .readdirSync(T1_SAG)
        .filter((f) => f.endsWith('.dcm'))
        .map((f) => path.join(T1_SAG, f));
      const ct = writeSyntheticCtSeries({ outDir: tmpDir('plaus-ct'), count: 3, uidRoot: newUidRoot(), rows: 16, columns: 16 });
      await storescu(n.port, ct);
      await storescu(n.port, t1, ['-R', '-xt']);

      const ended = (j: JobListRow) => j.state === 'done' || j.state === 'failed' || j.state === 'skipped';
      await waitFor(() => n.node.store.listJobs().filter(ended).length >= 3, 1_500_000, 'three jobs to end');
      const jobs = ((await apiGet(n, '/api/jobs')) as { jobs: JobListRow[] }).jobs;
      const byRoute = (route: string): JobListRow => jobs.find((j) => j.route === route)!;

      for (const j of jobs) console.log(`# job ${j.route}: ${j.state}; reason ${j.reason}; low confidence ${j.lowConfidence}`);
      // The CT series routed to the brain model: skipped on its header, with the reason everywhere.
      const skipped = byRoute('ct-to-brain');
      assert.equal(skipped.state, 'skipped');
      assert.equal(
        skipped.reason,
        "input outside the model's checks: modality CT, expected one of MR; body part CHEST, expected one of BRAIN, HEAD",
      );
      const audit = ((await apiGet(n, '/api/audit')) as { events: { event: string; detail: string | null }[] }).events;
      assert.ok(
        audit.some((e) => e.event === 'job-skipped' && /modality CT, expected one of MR/.test(e.detail ?? '')),
        'audit trail',
      );
      assert.ok(
        n.logs.some((l) => /job skipped/.test(l) && /modality CT, expected one of MR/.test(l)),
        'job log',
      );

      // The shipped preprocessing: done, no flag.
      const good = byRoute('brain-t1');
      assert.equal(good.state, 'done', good.reason ?? '');
      assert.equal(good.lowConfidence, null);
      const goodResult = JSON.parse(n.node.store.latestResult(good.id)!.resultJson) as {
        findings: { label: string; measurements: { key: string; value: number }[] }[];
        plausibility: { band: string; ageKnown: boolean; issues: unknown[] };
        lowConfidence: boolean;
      };
      const ml = (label: string): number =>
        goodResult.findings.find((f) => f.label === label)!.measurements.find((m) => m.key === 'volumeMl')!.value;
      console.log(
        `# mr-t1-sag through the node: WM ${ml('white matter')} / GM ${ml('grey matter')} ml, band ${goodResult.plausibility.band}`,
      );
      assert.deepEqual(goodResult.plausibility, { band: 'child 3 y', ageKnown: true, issues: [] });
      assert.equal(goodResult.lowConfidence, false);
      assert.ok(ml('white matter') >= 215 && ml('white matter') <= 630, `white matter ${ml('white matter')} ml in the child range`);
      assert.ok(ml('grey matter') >= 505 && ml('grey matter') <= 1140, `grey matter ${ml('grey matter')} ml in the child range`);

      // Min-max only: done, but flagged with what, value, range and band, in /api/jobs, the log and the metrics.
      const broken = byRoute('brain-t1-minmax');
      assert.equal(broken.state, 'done', broken.reason ?? '');
      assert.match(
        broken.lowConfidence ?? '',
        /^low confidence — outside the expected range: white matter volume [\d.]+ ml, expected 215–630 ml \(child 3 y\)/,
      );
      console.log(`# min-max only: ${broken.lowConfidence}`);
      const doneLog = n.logs.find((l) => /job done/.test(l) && /meshnet-gwm-minmax/.test(l)) ?? '';
      assert.match(doneLog, /outside the expected range: white matter volume/);
      assert.match(doneLog, /child 3 y/);
      assert.doesNotMatch(n.logs.join('\n'), /003Y|20090701/, 'neither the age nor the birth date reaches the log');
      assert.match(n.node.metrics.render(), /dicom_ai_plausibility_total\{check="range",model="meshnet-gwm-minmax",outcome="flagged"\} 1/);
      assert.match(n.node.metrics.render(), /dicom_ai_plausibility_total\{check="modality",model="meshnet-gwm",outcome="skipped"\} 1/);

      // The SRs at the PACS: the flag statement in the min-max one only.
      await waitFor(() => fs.readdirSync(pacsDir).length >= 2, 120_000, 'both SRs at the PACS');
      const dumps = await Promise.all(
        fs.readdirSync(pacsDir).map(async (f) => (await run('dsrdump', ['+U8', '+Pl', path.join(pacsDir, f)])).stdout),
      );
      const flaggedSr = dumps.find((d) => d.includes('meshnet-gwm-minmax')) ?? '';
      const goodSr = dumps.find((d) => d.includes('meshnet-gwm') && !d.includes('meshnet-gwm-minmax')) ?? '';
      assert.match(
        flaggedSr,
        /Low confidence — outside the expected range: white matter volume [\d.]+ ml, expected 215–630 ml \(child 3 y\)\./,
      );
      assert.match(goodSr, /White matter volume [\d.]+ ml/);
      assert.doesNotMatch(goodSr, /Low confidence/);
    } finally {
      await n.stop();
      pacs.kill();
    }
  },
);

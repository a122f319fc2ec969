// Routing: which stable series go to which model. Unit tests of the matcher, config validation,
// and the node recording queued/unrouted jobs for real series sent by DCMTK.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import http from 'node:http';
import { parseConfig, ConfigError, WINDOW_PRESET_NAMES } from '../src/config/config';
import { routesFor } from '../src/pipeline/router';
import { routeModelProblems } from '../src/pipeline/route-model-check';
import { whyCannotWriteSegmentation } from '../src/inference/source-labels';
import { parseManifest, type Manifest } from '../src/inference/manifest';
import { WINDOW_PRESETS } from '../src/imaging';
import { startTestNode, waitFor } from './helpers/node';
import { run } from './helpers/run';
import { CLI, PROJECT_ROOT, SHARED_DICOM, tmpDir } from './helpers/env';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';

const base = {
  callers: [{ aeTitle: 'CT01' }],
  destinations: { PACS: { aeTitle: 'ORTHANC', host: '127.0.0.1', port: 4242 } },
};

function routesOf(routes: unknown[], mode = 'first') {
  return parseConfig({ ...base, routes, routing: { mode } }, '/tmp');
}

test('matching: text ignores case, /regex/flags, calling AE, instance bounds; first or all', () => {
  const cfg = routesOf(
    [
      { name: 'trauma', match: { Modality: 'CT', CallingAETitle: 'ER_CT' }, model: 'm1', destinations: ['PACS'], priority: 'urgent' },
      {
        name: 'chest',
        match: { Modality: 'ct', SeriesDescription: '/chest|thorax|lung/i' },
        minInstances: 20,
        model: 'lung-nodule-reference',
        destinations: ['PACS'],
        window: 'lung',
      },
      { name: 'any-ct', match: { Modality: 'CT' }, model: 'm3', destinations: ['PACS'] },
    ],
    'all',
  );
  const chest = { attributes: { Modality: 'CT', SeriesDescription: 'Thorax 1.25mm', CallingAETitle: 'CT01' }, instanceCount: 200 };
  assert.deepEqual(
    routesFor(chest, cfg.routes, cfg.routing).map((r) => r.name),
    ['chest', 'any-ct'],
  );
  assert.deepEqual(
    routesFor({ ...chest, instanceCount: 3 }, cfg.routes, cfg.routing).map((r) => r.name),
    ['any-ct'],
    'a 3-image scout is not a chest CT',
  );
  const er = { attributes: { Modality: 'CT', SeriesDescription: 'HEAD', CallingAETitle: 'ER_CT' }, instanceCount: 40 };
  assert.deepEqual(
    routesFor(er, cfg.routes, cfg.routing).map((r) => r.name),
    ['trauma', 'any-ct'],
  );
  assert.equal(cfg.routes[0]!.priority, 'urgent');
  assert.equal(cfg.routes[1]!.window, 'lung');
  const first = routesOf(
    [
      { name: 'a', match: {}, model: 'm', destinations: ['PACS'] },
      { name: 'b', match: {}, model: 'm', destinations: ['PACS'] },
    ],
    'first',
  );
  assert.deepEqual(
    routesFor({ attributes: {}, instanceCount: 1 }, first.routes, first.routing).map((r) => r.name),
    ['a'],
  );
  assert.deepEqual(
    routesFor({ attributes: { Modality: null }, instanceCount: 5 }, cfg.routes, cfg.routing),
    [],
    'a missing attribute matches nothing',
  );
});

test('route config problems are reported with their key', () => {
  assert.throws(
    () =>
      routesOf(
        [
          {
            name: 'x',
            match: { SeriesDescription: '/[unclosed/' },
            model: 'm',
            destinations: ['PACS'],
            window: 'lungs',
            priority: 'asap',
            burnedInAnnotation: 'ignore',
            minInstances: 10,
            maxInstances: 5,
          },
        ],
        'some',
      ),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const t = e.problems.join('\n');
      assert.match(t, /routes\[0\]\.match\.SeriesDescription: "\/\[unclosed\/" is not a valid regular expression/);
      assert.match(t, /routes\[0\]\.window: "lungs" is not a window/);
      assert.match(t, /routes\[0\]\.priority: "asap" should be one of: urgent, normal/);
      assert.match(t, /routes\[0\]\.burnedInAnnotation: "ignore" should be one of: skip, flag/);
      assert.match(t, /routes\[0\]\.maxInstances: 5 is below minInstances \(10\)/);
      assert.match(t, /routing\.mode: "some" should be one of: first, all/);
      return true;
    },
  );
});

function installedManifest(name: string): Manifest {
  return parseManifest(JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'models', name, 'model.json'), 'utf8')), name);
}

/** A classifier: one score per label for the whole series, so nothing to draw as a Segmentation. */
function classifierOf(m: Manifest): Manifest {
  const output = { ...m.output, kind: 'classification' as const };
  delete output.postprocess;
  return { ...m, name: 'chest-classifier', output };
}

test('a route asking for "seg" needs a model whose output can be written as a Segmentation: which route, which model, why', () => {
  const meshnet = installedManifest('meshnet-gwm');
  const nodules = installedManifest('lung-nodule-reference');
  const classifier = classifierOf(nodules);
  assert.equal(whyCannotWriteSegmentation(meshnet), null, 'a volume-mode label map');
  assert.equal(whyCannotWriteSegmentation(nodules), null, 'per-nodule masks');
  assert.match(
    whyCannotWriteSegmentation(classifier) ?? '',
    /kind "classification", post-processing "\(classification\)"\) gives neither a label per voxel nor per-finding masks/,
  );
  const sliceLabels = { ...meshnet, preprocessing: { ...meshnet.preprocessing, mode: 'slice' as const } };
  assert.match(whyCannotWriteSegmentation(sliceLabels) ?? '', /runs slice by slice/);
  const manifests: Record<string, Manifest> = { 'meshnet-gwm': meshnet, 'lung-nodule-reference': nodules, 'chest-classifier': classifier };
  const { routes } = routesOf([
    { name: 'brain', match: { Modality: 'MR' }, model: 'meshnet-gwm', destinations: ['PACS'], outputs: ['sr', 'seg'] },
    { name: 'chest', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'], outputs: ['sr', 'seg'] },
    { name: 'triage', match: { Modality: 'CT' }, model: 'chest-classifier', destinations: ['PACS'], outputs: ['sr', 'seg'] },
    { name: 'triage-sr', match: { Modality: 'CT' }, model: 'chest-classifier', destinations: ['PACS'] },
    { name: 'not-installed', match: { Modality: 'CT' }, model: 'gone', destinations: ['PACS'], outputs: ['sr', 'seg'] },
  ]);
  assert.deepEqual(
    routeModelProblems(routes, (m) => manifests[m]),
    [
      'routes[2] ("triage"): outputs include "seg", but model "chest-classifier" cannot give a Segmentation: its output (kind "classification", post-processing "(classification)") gives neither a label per voxel nor per-finding masks, so there is nothing to write as a DICOM Segmentation. Remove "seg" from this route\'s outputs, or route a segmentation model',
    ],
  );
});

test('the window presets a route may name are the ones the imaging stage defines', () => {
  assert.deepEqual([...WINDOW_PRESET_NAMES].sort(), Object.keys(WINDOW_PRESETS).sort());
});

test('stable series are routed: queued jobs for matching routes, an unrouted record otherwise, re-queued after late instances', async () => {
  const t = await startTestNode({
    series: { stableSeconds: 0.5 },
    routes: [
      {
        name: 'chest-ct',
        match: { Modality: 'CT', SeriesDescription: '/chest/i' },
        model: 'lung-nodule-reference',
        destinations: ['PACS'],
        priority: 'urgent',
      },
    ],
  });
  try {
    const files = writeSyntheticCtSeries({ outDir: tmpDir('route'), count: 4, uidRoot: newUidRoot() });
    const send = (f: string[]) => run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(t.port), ...f]);
    assert.equal((await send(files.slice(0, 3))).code, 0);
    assert.equal((await send([path.join(SHARED_DICOM, 'pydicom', 'MR_small.dcm')])).code, 0);
    await waitFor(() => t.node.store.listJobs().length === 2, 5000, 'both series to be routed');
    const jobs = t.node.store.listJobs();
    const ct = jobs.find((j) => j.route === 'chest-ct')!;
    assert.ok(ct, 'chest CT job');
    assert.equal(ct.state, 'queued');
    assert.equal(ct.model, 'lung-nodule-reference');
    assert.equal(ct.priority, 'urgent');
    const mr = jobs.find((j) => j.route === '')!;
    assert.equal(mr.state, 'unrouted');
    assert.match(mr.reason!, /no route matched/);
    assert.ok(t.logs.some((l) => l.includes('series unrouted')));
    // A late instance reopens the CT series; once stable again its job is queued again, not duplicated.
    const before = ct.updatedAt;
    assert.equal((await send(files.slice(3))).code, 0);
    await waitFor(
      () => t.node.store.listJobs().find((j) => j.route === 'chest-ct')!.updatedAt > before,
      5000,
      're-routing after the late instance',
    );
    assert.equal(t.node.store.listJobs().filter((j) => j.route === 'chest-ct').length, 1);
  } finally {
    await t.stop();
  }
});

test('burned-in annotation risk: a "skip" route records the series as skipped with the reason, a "flag" route queues it flagged', async () => {
  const t = await startTestNode({
    series: { stableSeconds: 0.5 },
    routing: { mode: 'all' },
    routes: [
      { name: 'us-strict', match: { Modality: 'US' }, model: 'm1', destinations: ['PACS'], burnedInAnnotation: 'skip' },
      { name: 'us-research', match: { Modality: 'US' }, model: 'm2', destinations: ['PACS'], burnedInAnnotation: 'flag' },
      { name: 'ct', match: { Modality: 'CT' }, model: 'm3', destinations: ['PACS'], burnedInAnnotation: 'skip' },
    ],
  });
  try {
    const us = path.join(SHARED_DICOM, 'pydicom', 'examples_ybr_color.dcm'); // a real ultrasound frame set
    const ct = writeSyntheticCtSeries({ outDir: tmpDir('bia'), count: 2, uidRoot: newUidRoot() });
    // The ultrasound file is JPEG Baseline: storescu sends it as is only when told to propose that (-xy).
    for (const args of [['-R', '-xy', us], ct]) {
      const r = await run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(t.port), ...args].flat());
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
    await waitFor(() => t.node.store.listJobs().length === 3, 5000, 'three jobs');
    const byRoute = new Map(t.node.store.listJobs().map((j) => [j.route, j]));
    assert.equal(byRoute.get('us-strict')!.state, 'skipped');
    assert.match(byRoute.get('us-strict')!.reason!, /^skipped: burned-in annotation risk \(modality US/);
    assert.equal(byRoute.get('us-research')!.state, 'queued');
    assert.match(byRoute.get('us-research')!.reason!, /^flagged: burned-in annotation risk/);
    assert.match(byRoute.get('us-research')!.burnedInFlag!, /^flagged: burned-in annotation risk/);
    assert.equal(byRoute.get('us-strict')!.burnedInFlag, null, 'a skipped job carries no flag');
    assert.equal(byRoute.get('ct')!.state, 'queued');
    assert.equal(byRoute.get('ct')!.reason, null, 'a CT series carries no burned-in risk');
    assert.equal(byRoute.get('ct')!.burnedInFlag, null, 'a CT series carries no burned-in flag');
    // The runner takes the job with its flag (it goes into the result), also after a crash re-queue.
    const now = Date.now();
    const claimed = t.node.store.claimNextJob(['m2'], new Set(), now)!;
    assert.equal(claimed.route, 'us-research');
    assert.match(claimed.burnedInFlag!, /^flagged: burned-in annotation risk/);
    assert.equal(t.node.store.requeueInterruptedJobs(now), 1);
    assert.match(t.node.store.getJob(claimed.id)!.burnedInFlag!, /^flagged: burned-in annotation risk/);
  } finally {
    await t.stop();
  }
});

test('an operator retries a skipped job over the admin API and with the CLI; other states are refused', async () => {
  const token = 'retry-token-0123456789';
  const t = await startTestNode({
    series: { stableSeconds: 0.3 },
    admin: { token },
    routes: [{ name: 'us-strict', match: { Modality: 'US' }, model: 'm1', destinations: ['PACS'], burnedInAnnotation: 'skip' }],
  });
  const post = (p: string, auth = true) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: t.node.adminPort, path: p, method: 'POST', headers: auth ? { Authorization: `Bearer ${token}` } : {} },
        (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  let jobId = 0;
  try {
    const us = path.join(SHARED_DICOM, 'pydicom', 'examples_ybr_color.dcm');
    assert.equal((await run('storescu', ['-R', '-xy', '-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(t.port), us])).code, 0);
    await waitFor(() => t.node.store.listJobs().some((j) => j.state === 'skipped'), 5000, 'the skipped job');
    jobId = t.node.store.listJobs()[0]!.id;
    assert.equal((await post(`/api/jobs/${jobId}/retry`, false)).status, 401);
    const ok = await post(`/api/jobs/${jobId}/retry`);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(t.node.store.listJobs()[0]!.state, 'queued');
    assert.match(t.node.store.listJobs()[0]!.reason!, /retried by an operator \(was skipped: skipped: burned-in/);
    assert.equal((await post(`/api/jobs/${jobId}/retry`)).status, 409, 'a queued job is not retried');
    assert.equal((await post('/api/jobs/99999/retry')).status, 404);
    assert.ok(t.node.store.listAudit().some((e) => e.event === 'job-retried'));
  } finally {
    await t.stop();
  }
  // The CLI works on the same database (here after the node stopped): a queued job is refused.
  const cfgFile = path.join(t.dataDir, 'config.json');
  fs.writeFileSync(cfgFile, JSON.stringify({ callers: [{ aeTitle: 'A' }], storage: { dataDir: t.dataDir } }));
  const r = await run(process.execPath, [CLI, 'retry', String(jobId), '--config', cfgFile]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is queued; only failed or skipped jobs can be retried/);
  const bad = await run(process.execPath, [CLI, 'retry', 'x', '--config', cfgFile]);
  assert.equal(bad.code, 2);
});

// The admin/metrics HTTP endpoint: health without auth, everything else behind the bearer token,
// Prometheus text that parses and moves when instances arrive.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startTestNode, TestNode } from './helpers/node';
import { run } from './helpers/run';
import fs from 'node:fs';
import dgram from 'node:dgram';
import path from 'node:path';
import { SHARED_DICOM, tmpDir } from './helpers/env';
import { newUidRoot, writeSyntheticCtSeries, SYNTHETIC_PATIENT } from '../fixtures/synthetic-ct';

const TOKEN = 'test-token-0123456789abcdef';
let n: TestNode;

before(async () => {
  n = await startTestNode({ admin: { token: TOKEN } });
});
after(async () => {
  await n.stop();
});

function get(path: string, token?: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port: n.node.adminPort, path, headers: token ? { Authorization: `Bearer ${token}` } : {} },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
      },
    );
    req.on('error', reject);
  });
}

/** Parses Prometheus text format 0.0.4 strictly enough to fail on malformed lines. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const types = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) {
      types.add(t[1]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+]+|\+Inf|NaN)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${line}`);
    const base = m[1]!.replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(m[1]!) || types.has(base), `sample before its # TYPE: ${line}`);
    out.set(m[1]! + (m[2] ?? ''), Number(m[3]));
  }
  return out;
}

test('/healthz answers without a token; /readyz reports its checks', async () => {
  const h = await get('/healthz');
  assert.equal(h.status, 200);
  const r = await get('/readyz');
  assert.equal(r.status, 200);
  const body = JSON.parse(r.body) as { checks: { name: string; ok: boolean }[] };
  assert.deepEqual(body.checks.map((c) => c.name).sort(), ['database', 'dicom-listener', 'disk', 'models']);
});

test('metrics and API need the bearer token', async () => {
  assert.equal((await get('/metrics')).status, 401);
  assert.equal((await get('/metrics', 'wrong-token-wrong-token')).status, 401);
  assert.equal((await get('/api/series')).status, 401);
  const ok = await get('/metrics', TOKEN);
  assert.equal(ok.status, 200);
  assert.match(ok.type, /text\/plain; version=0\.0\.4/);
  assert.equal((await get('/nope', TOKEN)).status, 404);
});

test('metrics parse as Prometheus text and move when instances arrive and callers are rejected', async () => {
  const before = parseMetrics((await get('/metrics', TOKEN)).body);
  const files = writeSyntheticCtSeries({ outDir: tmpDir('metrics'), count: 5, uidRoot: newUidRoot() });
  const r = await run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port), ...files]);
  assert.equal(r.code, 0);
  const bad = await run('echoscu', ['-aet', 'INTRUDER', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port)]);
  assert.notEqual(bad.code, 0);
  await new Promise((res) => setTimeout(res, 100));
  const after = parseMetrics((await get('/metrics', TOKEN)).body);
  const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  assert.equal(delta('dicom_ai_instances_received_total'), 5);
  assert.ok(delta('dicom_ai_bytes_received_total') > 5 * 500_000);
  assert.equal(delta('dicom_ai_associations_total{outcome="released"}'), 1);
  assert.equal(delta('dicom_ai_associations_rejected_total{reason="calling-ae-not-recognized"}'), 1);
  assert.equal(delta('dicom_ai_store_duration_seconds_count'), 5);
  assert.ok((after.get('dicom_ai_series{state="receiving"}') ?? 0) >= 1);
  assert.ok((after.get('dicom_ai_disk_free_bytes') ?? 0) > 0);
});

test('/api/series lists series without patient data', async () => {
  const r = await get('/api/series', TOKEN);
  assert.equal(r.status, 200);
  const body = JSON.parse(r.body) as { series: { seriesInstanceUid: string; state: string; instanceCount: number }[] };
  assert.ok(body.series.length >= 1);
  assert.ok(body.series.every((s) => s.seriesInstanceUid && s.state && s.instanceCount >= 1));
  for (const v of Object.values(SYNTHETIC_PATIENT)) assert.ok(!r.body.includes(v));
});

test('/api/series pages newest first with a cursor, and says why a bad limit or cursor is refused', async () => {
  // Five more series, indexed as the SCP indexes them, one second apart: the newest come first.
  const root = newUidRoot();
  const t0 = Date.now();
  for (let k = 0; k < 5; k++) {
    n.node.store.recordInstance(
      {
        sopInstanceUid: `${root}.3.${k}`,
        sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
        seriesInstanceUid: `${root}.2.${k}`,
        studyInstanceUid: `${root}.1`,
        transferSyntaxUid: '1.2.840.10008.1.2.1',
        instanceNumber: 1,
        filePath: `/nonexistent/${k}.dcm`,
        sizeBytes: 1,
        callingAeTitle: 'STORESCU',
        callingHost: '127.0.0.1',
        associationId: 'paging-test',
        receivedAt: t0 + 1000 * k,
      },
      { modality: 'CT' },
    );
  }
  const all = n.node.store.listSeries().map((s) => s.seriesInstanceUid);
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const r = await get(`/api/series?limit=2${cursor ? `&cursor=${cursor}` : ''}`, TOKEN);
    assert.equal(r.status, 200, r.body);
    const body = JSON.parse(r.body) as { series: { seriesInstanceUid: string }[]; next: string | null };
    assert.ok(body.series.length <= 2);
    seen.push(...body.series.map((s) => s.seriesInstanceUid));
    cursor = body.next;
    if (!cursor) break;
  }
  assert.deepEqual(seen, all, 'every series once, newest first, across pages');
  assert.deepEqual(
    seen.slice(0, 5),
    [4, 3, 2, 1, 0].map((k) => `${root}.2.${k}`),
  );

  const first = JSON.parse((await get('/api/series', TOKEN)).body) as { series: unknown[] };
  assert.equal(first.series.length, Math.min(100, all.length), 'default page: 100 series');
  for (const bad of ['limit=0', 'limit=1001', 'limit=abc']) {
    const r = await get(`/api/series?${bad}`, TOKEN);
    assert.equal(r.status, 400, bad);
    assert.match(r.body, /limit must be a whole number from 1 to 1000/);
  }
  const r = await get('/api/series?cursor=not-a-cursor', TOKEN);
  assert.equal(r.status, 400);
  assert.match(r.body, /cursor is not one this node gave out/);
});

test('/readyz says 503 when the disk is below the threshold', async () => {
  const t = await startTestNode({ storage: { minFreeMegabytes: 1024 * 1024 * 1024 } });
  try {
    const r = await new Promise<number>((resolve, reject) =>
      http
        .get({ host: '127.0.0.1', port: t.node.adminPort, path: '/readyz' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject),
    );
    assert.equal(r, 503);
  } finally {
    await t.stop();
  }
});

test('/readyz without the token says which check failed, not its detail; with the token, the detail too', async () => {
  const t = await startTestNode({ admin: { token: TOKEN }, storage: { minFreeMegabytes: 1024 * 1024 * 1024 } });
  try {
    // A database that refuses writes: its check fails with SQLite's own error text.
    t.node.store.close();
    const anon = await getFrom(t.node.adminPort, '/readyz');
    assert.equal(anon.status, 503);
    const checks = (JSON.parse(anon.body) as { checks: { name: string; ok: boolean; detail?: string }[] }).checks;
    assert.deepEqual(
      checks.filter((c) => !c.ok).map((c) => c.name),
      ['database', 'disk'],
    );
    assert.ok(
      checks.every((c) => Object.keys(c).sort().join() === 'name,ok'),
      `only names and ok flags without the token: ${anon.body}`,
    );
    assert.doesNotMatch(anon.body, /not open|MB free/);
    const wrong = await getFrom(t.node.adminPort, '/readyz', 'wrong-token-wrong-token');
    assert.doesNotMatch(wrong.body, /not open|MB free/, 'a wrong token is no token');
    const op = await getFrom(t.node.adminPort, '/readyz', TOKEN);
    assert.equal(op.status, 503);
    const detailed = new Map(
      (JSON.parse(op.body) as { checks: { name: string; detail?: string }[] }).checks.map((c) => [c.name, c.detail]),
    );
    assert.match(detailed.get('database') ?? '', /not open/);
    assert.match(detailed.get('disk') ?? '', /MB free, minimum/);
  } finally {
    await t.stop();
  }
});

test('audit trail: who sent which series from where, and who was turned away', async () => {
  const r = await get('/api/audit?limit=100', TOKEN);
  assert.equal(r.status, 200);
  const events = (
    JSON.parse(r.body) as {
      events: {
        event: string;
        outcome: string;
        callingAeTitle: string;
        remoteAddress: string;
        studyInstanceUid: string;
        instances: number;
        detail: string;
      }[];
    }
  ).events;
  const received = events.find((e) => e.event === 'instances-received' && e.callingAeTitle === 'STORESCU');
  assert.ok(received, 'instances-received event');
  assert.equal(received.instances, 5);
  assert.equal(received.remoteAddress, '127.0.0.1');
  assert.match(received.studyInstanceUid, /^2\.25\./);
  const rejected = events.find((e) => e.event === 'association-rejected' && e.callingAeTitle === 'INTRUDER');
  assert.ok(rejected, 'association-rejected event');
  assert.equal(rejected.outcome, 'failure');
  assert.match(rejected.detail, /not listed/);
  assert.ok(events.some((e) => e.event === 'application-start'));
  for (const v of Object.values(SYNTHETIC_PATIENT)) assert.ok(!r.body.includes(v), 'no patient data in the audit API');
});

test('/readyz: not ready while a route names a model that is not loaded; ready once it is, /api/models says which provider', async () => {
  const modelsDir = tmpDir('models');
  const route = { name: 'brain-mr', match: { Modality: 'MR' }, model: 'meshnet-gwm', destinations: ['PACS'] };
  const without = await startTestNode({ admin: { token: TOKEN }, routes: [route], inference: { modelsDir, providers: ['cpu'] } });
  try {
    const r = await getFrom(without.node.adminPort, '/readyz', TOKEN); // details are for the operator only
    assert.equal(r.status, 503);
    assert.match(r.body, /models named by routes but not loaded: brain-mr → meshnet-gwm/);
    assert.ok(without.logs.some((l) => l.includes('a route names a model that is not loaded')));
  } finally {
    await without.stop();
  }
  const dir = path.join(modelsDir, 'meshnet-gwm');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(SHARED_DICOM, '..', 'models', 'meshnet-gwm', 'model.onnx'), path.join(dir, 'model.onnx'));
  fs.writeFileSync(
    path.join(dir, 'model.json'),
    JSON.stringify({
      name: 'meshnet-gwm',
      version: '1.0.0',
      description: 'MeshNet grey/white matter',
      intendedUse: 'research',
      notForClinicalUse: true,
      applicability: { modalities: ['MR'], bodyParts: ['BRAIN'] },
      input: { name: 'input', shape: ['batch', 1, 256, 256, 256], layout: 'NCDHW', dtype: 'float32' },
      preprocessing: { window: 'minmax', targetSize: [256, 256, 256], channels: 1, mode: 'volume' },
      output: { name: 'output', kind: 'segmentation', labels: ['background', 'white matter', 'grey matter'], activation: 'softmax' },
      uncertaintyThreshold: 0.3,
    }),
  );
  const withModel = await startTestNode({ admin: { token: TOKEN }, routes: [route], inference: { modelsDir, providers: ['cpu'] } });
  try {
    assert.equal((await getFrom(withModel.node.adminPort, '/readyz')).status, 200);
    const m = await getFrom(withModel.node.adminPort, '/api/models', TOKEN);
    const models = (JSON.parse(m.body) as { models: { status: string; name: string; provider: string; sha256: string }[] }).models;
    assert.deepEqual(
      models.map((x) => [x.status, x.name, x.provider]),
      [['loaded', 'meshnet-gwm', 'cpu']],
    );
    assert.equal(models[0]!.sha256, '02850fb059badf0717d26f61048293b7422b2453fb48db8ae95d046059bfd90f');
  } finally {
    await withModel.stop();
  }
});

function getFrom(port: number, p: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, headers: token ? { Authorization: `Bearer ${token}` } : {} }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

test('audit events also go to a JSON-lines file when audit.file is set', async () => {
  const file = path.join(tmpDir('audit'), 'audit.jsonl');
  const t = await startTestNode({ audit: { file } });
  try {
    const bad = await run('echoscu', ['-aet', 'INTRUDER', '-aec', 'DICOM_AI', '127.0.0.1', String(t.port)]);
    assert.notEqual(bad.code, 0);
  } finally {
    await t.stop();
  }
  const events = fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; at: string; callingAeTitle?: string; node: string });
  assert.deepEqual(
    events.map((e) => e.event),
    ['application-start', 'association-rejected', 'application-stop'],
  );
  assert.equal(events[1]!.callingAeTitle, 'INTRUDER');
  assert.match(events[0]!.at, /^\d{4}-\d\d-\d\dT/);
  assert.equal(events[0]!.node, 'DICOM_AI');
});

test('audit events also go to a syslog collector (RFC 5424 over UDP) when audit.syslog is set', async () => {
  const collector = dgram.createSocket('udp4');
  const got: string[] = [];
  collector.on('message', (m) => got.push(m.toString('utf8')));
  await new Promise<void>((r) => collector.bind(0, '127.0.0.1', () => r()));
  const port = (collector.address() as { port: number }).port;
  const t = await startTestNode({ audit: { syslog: { host: '127.0.0.1', port, appName: 'dicom-ai-test' } } });
  try {
    const bad = await run('echoscu', ['-aet', 'INTRUDER', '-aec', 'DICOM_AI', '127.0.0.1', String(t.port)]);
    assert.notEqual(bad.code, 0);
  } finally {
    await t.stop();
  }
  await new Promise((r) => setTimeout(r, 300));
  collector.close();
  const rejected = got.find((l) => / association-rejected /.test(l));
  assert.ok(rejected, `received: ${got.join('\n')}`);
  // <PRI>1 TIMESTAMP HOST APP PROCID MSGID - BOM+JSON; facility 13 (log audit), warning (4) for a failure.
  const m = /^<(\d+)>1 (\S+) \S+ dicom-ai-test \d+ association-rejected - \ufeff(\{.*\})$/.exec(rejected);
  assert.ok(m, rejected);
  assert.equal(Number(m[1]), 13 * 8 + 4);
  assert.ok(!Number.isNaN(Date.parse(m[2]!)));
  assert.equal((JSON.parse(m[3]!) as { callingAeTitle: string }).callingAeTitle, 'INTRUDER');
  assert.ok(
    got.some((l) => l.startsWith(`<${13 * 8 + 5}>1 `) && / application-start /.test(l)),
    'a success is a notice',
  );
});

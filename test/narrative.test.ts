/**
 * Issue 16: report text from an OpenAI-compatible vision-language model, grounded in the
 * measurements. A fake chat-completions server (test/helpers/fake-openai.ts) checks what the node
 * sends and answers good, ungrounded, slow, broken and huge replies; the grounding is checked in
 * English and Chinese; the SR carries the accepted draft beside the measurement groups (dciodvfy,
 * dsrdump) or says why there is none.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir } from './helpers/env';
import { run } from './helpers/run';
import { makeTestPki } from './helpers/certs';
import { FakeOpenAi, SERVED_MODEL, groundedReport, replies, sentFindings, type SentRequest } from './helpers/fake-openai';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { createLogger } from '../src/log/logger';
import type { NarrativeConfig } from '../src/config/types';
import { parseConfig, ConfigError } from '../src/config/config';
import { UCUM_HU, UCUM_MM, type Finding, type SeriesResult } from '../src/inference/findings';
import type { SeriesVolume } from '../src/inference/series-volume';
import { keyImage } from '../src/inference/key-image';
import { NarrativeService, type NarrativeJob } from '../src/narrative/narrative-service';
import { ground } from '../src/narrative/grounding';
import type { NarrativeOutcome } from '../src/narrative/outcome';
import { wordReason, type NarrativeReason } from '../src/narrative/reason-wording';
import { buildReport } from '../src/report/build-sr';
import type { ReportForm } from '../src/report/forms';
import { readPart10Header } from '../src/dicom/part10';
import { readDatasetHeader } from '../src/dicom/dataset-reader';

const LUNG = { value: '39607008', scheme: 'SCT', meaning: 'Lung' };
const NODULE = { value: '27925004', scheme: 'SCT', meaning: 'Nodule' };
const DIAMETER = { value: '81827009', scheme: 'SCT', meaning: 'Diameter' };
const MEAN = { value: '373098007', scheme: 'SCT', meaning: 'Mean' };
const SLICE_UIDS = ['2.25.901.1', '2.25.901.2', '2.25.901.3', '2.25.901.4'];
const CT = '1.2.840.10008.5.1.4.1.1.2';

function nodule(id: number, over: Partial<Finding>): Finding {
  return { id, label: 'nodule', code: NODULE, text: 'Solid pulmonary nodule.', confidence: 0.9, measurements: [], ...over };
}

/** A right upper zone 8.24 mm nodule and a left lower zone 5.4 mm one, on slices 1 and 3. */
const FINDINGS: Finding[] = [
  nodule(1, {
    confidence: 0.93,
    measurements: [
      { key: 'diameterMm', concept: DIAMETER, value: 8.24, unit: UCUM_MM },
      { key: 'meanHu', concept: MEAN, value: 37, unit: UCUM_HU },
    ],
    site: { code: LUNG, laterality: 'right', text: 'right upper zone' },
    region: { sopClassUid: CT, sopInstanceUid: SLICE_UIDS[1]!, graphicType: 'CIRCLE', graphicData: [20, 20, 24, 20] },
  }),
  nodule(2, {
    confidence: 0.71,
    measurements: [{ key: 'diameterMm', concept: DIAMETER, value: 5.4, unit: UCUM_MM }],
    site: { code: LUNG, laterality: 'left', text: 'left lower zone' },
    region: { sopClassUid: CT, sopInstanceUid: SLICE_UIDS[3]!, graphicType: 'POINT', graphicData: [40, 30] },
  }),
];

function volume(): SeriesVolume {
  const rows = 48;
  const columns = 64;
  return {
    modality: 'CT',
    rows,
    columns,
    pixelSpacing: [0.7, 0.7],
    sliceSpacing: 2.5,
    orientation: [1, 0, 0, 0, 1, 0],
    normal: [0, 0, 1],
    slices: SLICE_UIDS.map((uid, i) => ({
      sopInstanceUid: uid,
      sopClassUid: CT,
      instanceNumber: i + 1,
      position: [0, 0, i * 2.5] as const,
    })),
    values: SLICE_UIDS.map((_, k) => Float32Array.from({ length: rows * columns }, (_v, i) => ((i * 13 + k * 101) % 1600) - 1000)),
    warnings: [],
  };
}

const logger = createLogger({ level: 'error', silentConsole: true });

function narrativeConfig(baseUrl: string, over: Partial<NarrativeConfig> = {}): NarrativeConfig {
  return {
    backend: 'openai',
    baseUrl,
    model: 'qwen3-vl-2b-instruct',
    apiKeyEnv: 'NARRATIVE_TEST_KEY',
    timeoutSeconds: 5,
    maxImages: 4,
    language: null,
    tls: null,
    concurrency: 2,
    maxResponseBytes: 1048576,
    promptFile: null,
    ...over,
  };
}

async function job(findings: readonly Finding[] = FINDINGS, over: Partial<NarrativeJob> = {}): Promise<NarrativeJob> {
  const vol = volume();
  return {
    volume: vol,
    findings,
    keyImage: await keyImage(vol, findings, 'lung'),
    window: 'lung',
    burnedInRisk: false,
    logFields: { job: 1 },
    ...over,
  };
}

let server: FakeOpenAi;
before(async () => {
  process.env['NARRATIVE_TEST_KEY'] = 'sk-test-0123456789abcdef';
  server = await FakeOpenAi.start();
});
after(async () => {
  await server?.close();
});

function service(over: Partial<NarrativeConfig> = {}, language: 'en' | 'zh-CN' = 'en', counts?: Map<string, number>): NarrativeService {
  return new NarrativeService(narrativeConfig(server.baseUrl, over), language, tmpDir('narrative-cache'), logger, (kind) =>
    counts?.set(kind, (counts.get(kind) ?? 0) + 1),
  );
}

/** Width and height from a PNG's IHDR chunk (PNG spec 11.2.2), after checking the signature. */
function pngSize(png: Buffer): { width: number; height: number } {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  assert.equal(png.toString('latin1', 12, 16), 'IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

test('what is sent: bearer key, model, prompt (its sha256), findings JSON without UIDs, 512x512 PNG data URLs; a grounded answer is accepted', async () => {
  server.received.length = 0;
  server.reply = replies.text((req) => groundedReport(sentFindings(req), 'en'));
  const s = service();
  const outcome = await s.draft(await job());
  assert.equal(outcome.kind, 'accepted', JSON.stringify(outcome));
  assert.equal(server.received.length, 1);
  const req = server.received[0]!;
  assert.equal(req.headers['authorization'], 'Bearer sk-test-0123456789abcdef');
  assert.equal(req.headers['content-type'], 'application/json');
  const body = JSON.parse(req.body) as SentRequest;
  assert.equal(body.model, 'qwen3-vl-2b-instruct');
  const system = body.messages.find((m) => m.role === 'system')!.content as string;
  assert.match(system, /FINDINGS/);
  assert.match(system, /IMPRESSION/);
  assert.match(system, /[Nn]ever estimate, ?\s*convert or invent/);
  const promptFile = fs.readFileSync(path.join(__dirname, '..', '..', 'config', 'narrative-prompts', 'v1.en.txt'));
  assert.equal(createHash('sha256').update(system).digest('hex'), s.promptSha256, 'the prompt sent is the versioned file');
  assert.equal(createHash('sha256').update(promptFile).digest('hex'), s.promptSha256);
  const sent = sentFindings(req);
  assert.deepEqual(sent[0], {
    finding: 'Nodule',
    site: 'right upper zone',
    laterality: 'right',
    measurements: [
      { name: 'Diameter', value: 8.24, unit: 'mm' },
      { name: 'Mean', value: 37, unit: 'HU' },
    ],
    confidence: 0.93,
  });
  for (const uid of SLICE_UIDS) assert.ok(!req.body.includes(uid), `no UID in the request body (${uid})`);
  assert.doesNotMatch(req.body, /\b\d+(\.\d+){4,}\b/, 'nothing shaped like a DICOM UID');
  const user = body.messages.find((m) => m.role === 'user')!.content as Array<{ type: string; image_url?: { url: string } }>;
  const urls = user.filter((p) => p.type === 'image_url').map((p) => p.image_url!.url);
  assert.equal(urls.length, 2, 'the key image and the second finding slice');
  for (const url of urls) {
    assert.match(url, /^data:image\/png;base64,/);
    assert.deepEqual(pngSize(Buffer.from(url.slice(url.indexOf(',') + 1), 'base64')), { width: 512, height: 512 });
  }
  if (outcome.kind === 'accepted') {
    assert.match(outcome.findings, /8\.24 mm nodule in the right upper zone/);
    assert.equal(outcome.source.serverModel, SERVED_MODEL);
    assert.equal(outcome.source.configuredModel, 'qwen3-vl-2b-instruct');
    assert.equal(outcome.source.backendHost, new URL(server.baseUrl).host);
  }
});

test('maxImages caps the images; a result without findings still shows the model one slice', async () => {
  server.received.length = 0;
  server.reply = replies.text((req) => groundedReport(sentFindings(req), 'en'));
  assert.equal((await service({ maxImages: 1 }).draft(await job())).kind, 'accepted');
  const none = await service().draft(await job([]));
  assert.equal(none.kind, 'accepted', JSON.stringify(none));
  const count = (i: number) => (JSON.parse(server.received[i]!.body) as SentRequest).messages[1]!.content.length - 1;
  assert.deepEqual([count(0), count(1)], [1, 1]);
  assert.deepEqual(sentFindings(server.received[1]!), []);
});

test('identical requests are answered from the cache: the server is asked once', async () => {
  server.received.length = 0;
  server.reply = replies.text((req) => groundedReport(sentFindings(req), 'en'));
  const s = service();
  const first = await s.draft(await job());
  const again = await s.draft(await job());
  assert.equal(server.received.length, 1);
  assert.deepEqual(again, first);
});

test('a series with burned-in annotation risk is never sent: skipped, with the reason', async () => {
  server.received.length = 0;
  const counts = new Map<string, number>();
  const outcome = await service({}, 'en', counts).draft(await job(FINDINGS, { burnedInRisk: true }));
  assert.equal(outcome.kind, 'skipped');
  assert.match((outcome as { reason: string }).reason, /burned-in/);
  assert.equal(server.received.length, 0);
  assert.equal(counts.get('skipped'), 1);
});

test('grounding (English): numbers within rounding, cm as mm, sides, lobes, "no findings" claims', () => {
  const ok = (text: string): void => assert.deepEqual(ground(text, FINDINGS, 'en').ok, true, text);
  const rejected = (text: string, why: RegExp): void => {
    const v = ground(text, FINDINGS, 'en');
    assert.equal(v.ok, false, text);
    if (!v.ok) assert.match(v.reason, why);
  };
  ok(
    'FINDINGS: An 8 mm nodule in the right upper lobe and a 5.4 mm nodule in the left lower lobe. No other nodules.\nIMPRESSION: Two nodules, 0.8 cm and 5 mm.',
  );
  ok('**Findings:** Right upper zone nodule, 8.2 mm, 37 HU, confidence 93%.\n**Impression:** Pulmonary nodules, bilateral.');
  rejected('FINDINGS: A 9 mm nodule in the right upper lobe.\nIMPRESSION: Nodule.', /"9 mm" matches no measured value/);
  rejected('FINDINGS: A 12 x 8 mm nodule.\nIMPRESSION: Nodule.', /"12 mm"/);
  rejected('FINDINGS: Nodule measuring 1.2 cm.\nIMPRESSION: Nodule.', /"1\.2 cm"/);
  rejected('FINDINGS: Nodule, volume 2 ml.\nIMPRESSION: Nodule.', /nothing was measured in ml/);
  rejected('FINDINGS: An 8 mm nodule in the right middle lobe.\nIMPRESSION: Nodule.', /right middle lung/);
  rejected('FINDINGS: An 8 mm nodule in the liver.\nIMPRESSION: Nodule.', /liver/);
  rejected('FINDINGS: The lungs are clear.\nIMPRESSION: No nodules detected.', /claims there are no findings/);
  rejected('The lungs show an 8 mm nodule.', /FINDINGS or an IMPRESSION/);
  const oneSide = FINDINGS.slice(0, 1);
  const v = ground('FINDINGS: 8 mm nodule, left upper zone.\nIMPRESSION: Nodule.', oneSide, 'en');
  assert.equal(v.ok, false);
  if (!v.ok) assert.match(v.reason, /left side/);
  assert.equal(ground('FINDINGS: Clear lungs.\nIMPRESSION: No findings detected.', [], 'en').ok, true);
  const silent = ground('FINDINGS: Lungs.\nIMPRESSION: Follow up.', [], 'en');
  assert.equal(silent.ok, false);
  if (!silent.ok) assert.match(silent.reason, /does not say so/);
});

test('grounding (Chinese): 毫米/厘米, 左/右, 右上肺, 未见异常, 8 毫米左右', () => {
  const ok = (text: string): void => assert.equal(ground(text, FINDINGS, 'zh-CN').ok, true, text);
  const rejected = (text: string, why: RegExp): void => {
    const v = ground(text, FINDINGS, 'zh-CN');
    assert.equal(v.ok, false, text);
    if (!v.ok) assert.match(v.reason, why);
  };
  ok('FINDINGS: 右上肺野见一8.24毫米结节，平均密度37 HU；左下肺见一5.4 毫米结节。余肺未见异常。\nIMPRESSION: 双肺结节，较大者0.8厘米。');
  ok('影像所见：右肺上叶结节，直径约8毫米左右。\n印象：肺结节。');
  rejected('FINDINGS: 右上肺野见一10毫米结节。\nIMPRESSION: 肺结节。', /"10 毫米"/);
  rejected('FINDINGS: 右上肺野结节，体积3毫升。\nIMPRESSION: 肺结节。', /"3 毫升"/);
  rejected('FINDINGS: 右肺中叶见一8毫米结节。\nIMPRESSION: 肺结节。', /right middle/);
  rejected('FINDINGS: 双肺清晰。\nIMPRESSION: 未见异常。', /claims there are no findings/);
  const v = ground('FINDINGS: 左上肺野见一8毫米结节。\nIMPRESSION: 肺结节。', FINDINGS.slice(0, 1), 'zh-CN');
  assert.equal(v.ok, false);
  if (!v.ok) assert.match(v.reason, /left side/);
  assert.equal(ground('FINDINGS: 双肺清晰。\nIMPRESSION: 未见异常。', [], 'zh-CN').ok, true);
});

test('an ungrounded answer is rejected with the reason; the metric counts it', async () => {
  server.reply = replies.text(() => 'FINDINGS: A 15 mm spiculated mass in the right upper lobe.\nIMPRESSION: Suspicious mass.');
  const counts = new Map<string, number>();
  const outcome = await service({}, 'en', counts).draft(await job());
  assert.equal(outcome.kind, 'rejected');
  assert.match((outcome as { reason: string }).reason, /"15 mm" matches no measured value \(measured: 8\.24 mm, 5\.4 mm\)/);
  assert.equal(counts.get('rejected'), 1);
  server.reply = replies.text((req) => groundedReport(sentFindings(req), 'zh-CN'));
  const zh = await service({}, 'zh-CN').draft(await job());
  assert.equal(zh.kind, 'accepted', JSON.stringify(zh));
});

test('failure paths end in a reason, by the one deadline, with at most one retry', async (t) => {
  const failed = async (over: Partial<NarrativeConfig>, why: RegExp, requests?: number): Promise<void> => {
    server.received.length = 0;
    const counts = new Map<string, number>();
    const started = Date.now();
    const outcome = await service(over, 'en', counts).draft(await job());
    assert.equal(outcome.kind, 'failed', JSON.stringify(outcome));
    assert.match((outcome as { reason: string }).reason, why);
    assert.equal(counts.get('failed'), 1);
    // The deadline bounds the wait (a correctness bound, generous for a loaded machine).
    assert.ok(Date.now() - started < (over.timeoutSeconds ?? 5) * 1000 + 4000, `ended by the deadline (${Date.now() - started} ms)`);
    if (requests !== undefined) assert.equal(server.received.length, requests, 'requests made');
  };
  await t.test('HTTP 500 twice: one retry, then failed', async () => {
    server.reply = replies.status(500);
    await failed({}, /HTTP 500: test server says 500/, 2);
  });
  await t.test('HTTP 400: not retried', async () => {
    server.reply = replies.status(400);
    await failed({}, /HTTP 400/, 1);
  });
  await t.test('HTTP 503 then a good answer: accepted after the retry', async () => {
    server.received.length = 0;
    let n = 0;
    server.reply = (req, res) =>
      n++ === 0 ? replies.status(503)(req, res) : replies.text((r) => groundedReport(sentFindings(r), 'en'))(req, res);
    assert.equal((await service().draft(await job())).kind, 'accepted');
    assert.equal(server.received.length, 2);
  });
  await t.test('malformed JSON', async () => {
    server.reply = replies.malformed();
    await failed({}, /not JSON/, 1);
  });
  await t.test('empty text', async () => {
    server.reply = replies.empty();
    await failed({}, /empty text/, 1);
  });
  await t.test('refusal', async () => {
    server.reply = replies.refusal();
    await failed({}, /refused/, 1);
  });
  await t.test('a server that never answers', async () => {
    server.reply = replies.silent();
    await failed({ timeoutSeconds: 1 }, /timeoutSeconds/);
  });
  await t.test('a server that dribbles a byte every 50 ms forever', async () => {
    server.reply = replies.dribble();
    await failed({ timeoutSeconds: 1 }, /timeoutSeconds/);
  });
  await t.test('a 50 MB answer is cut off at maxResponseBytes', async () => {
    server.reply = replies.huge(50 * 1048576);
    await failed({ maxResponseBytes: 1048576 }, /larger than maxResponseBytes \(1048576 bytes\)/, 1);
  });
  await t.test('nobody listening', async () => {
    const closed = await FakeOpenAi.start();
    const url = closed.baseUrl;
    await closed.close();
    const outcome = await new NarrativeService(narrativeConfig(url), 'en', tmpDir('narrative-cache'), logger).draft(await job());
    assert.equal(outcome.kind, 'failed');
    assert.match((outcome as { reason: string }).reason, /cannot reach the server: ECONNREFUSED/);
  });
});

test('TLS: a server certificate from an untrusted CA fails; the configured caFile is trusted', async () => {
  const pki = makeTestPki();
  const rogue = await FakeOpenAi.start({ cert: fs.readFileSync(pki.rogueCert), key: fs.readFileSync(pki.rogueKey) });
  const good = await FakeOpenAi.start({ cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) });
  try {
    good.reply = replies.text((req) => groundedReport(sentFindings(req), 'en'));
    const cfg = (url: string) => narrativeConfig(url, { tls: { caFile: pki.ca } });
    const bad = await new NarrativeService(cfg(rogue.baseUrl), 'en', tmpDir('narrative-cache'), logger).draft(await job());
    assert.equal(bad.kind, 'failed');
    assert.match((bad as { reason: string }).reason, /TLS/);
    assert.equal(rogue.received.length, 0);
    const ok = await new NarrativeService(cfg(good.baseUrl), 'en', tmpDir('narrative-cache'), logger).draft(await job());
    assert.equal(ok.kind, 'accepted', JSON.stringify(ok));
  } finally {
    await rogue.close();
    await good.close();
  }
});

test('config: report.narrative validated with readable messages; absent = null', () => {
  const base = { acceptAnyCaller: true };
  assert.equal(parseConfig(base, tmpDir('cfg')).report.narrative, null);
  const good = parseConfig(
    {
      ...base,
      report: { narrative: { baseUrl: 'http://127.0.0.1:8000/v1/', model: 'Qwen/Qwen3-VL-2B-Instruct', apiKeyEnv: 'NARRATIVE_TEST_KEY' } },
    },
    tmpDir('cfg'),
  );
  assert.equal(good.report.narrative?.baseUrl, 'http://127.0.0.1:8000/v1');
  assert.equal(good.report.narrative?.timeoutSeconds, 60);
  const problems = (raw: unknown): string[] => {
    try {
      parseConfig(raw, tmpDir('cfg'));
    } catch (e) {
      return (e as ConfigError).problems;
    }
    return [];
  };
  const list = problems({
    ...base,
    report: {
      language: 'en',
      narrative: {
        baseUrl: 'ftp://x',
        model: '',
        apiKeyEnv: 'NOT_SET_ANYWHERE_4711',
        timeoutSeconds: 0,
        language: 'zh-CN',
        tls: { caFile: './nope.pem' },
      },
    },
  });
  const text = list.join('\n');
  assert.match(text, /report\.narrative\.baseUrl: "ftp:\/\/x" must start with http:\/\/ or https:\/\//);
  assert.match(text, /report\.narrative\.model: "" should be a text/);
  assert.match(text, /report\.narrative\.apiKeyEnv: the environment variable NOT_SET_ANYWHERE_4711 is not set/);
  assert.match(text, /report\.narrative\.timeoutSeconds: 0 is out of range/);
  assert.match(text, /report\.narrative\.language: "zh-CN" differs from report\.language/);
  assert.match(text, /report\.narrative\.tls\.caFile: .*nope\.pem does not exist/);
  assert.match(problems({ ...base, report: { narrative: { model: 'm' } } }).join('\n'), /report\.narrative\.baseUrl: missing; required/);
});

// ---------------------------------------------------------------------------
// The SR
// ---------------------------------------------------------------------------

const hasTools =
  spawnSync('dciodvfy', [], { stdio: 'ignore' }).error === undefined &&
  spawnSync('dsrdump', ['--version'], { stdio: 'ignore' }).error === undefined;

function srOf(form: ReportForm, narrative: NarrativeOutcome | undefined, language: 'en' | 'zh-CN' = 'en'): Buffer {
  const files = writeSyntheticCtSeries({
    outDir: path.join(tmpDir('narrative-sr'), 'ct'),
    count: 4,
    uidRoot: newUidRoot(),
    rows: 16,
    columns: 16,
  });
  const instances = files.map((f) => {
    const bytes = fs.readFileSync(f);
    const h = readPart10Header(bytes);
    const a = readDatasetHeader(bytes.subarray(h.datasetOffset), h.transferSyntaxUid, {
      tags: { SOPClassUID: 0x00080016, SOPInstanceUID: 0x00080018, SeriesInstanceUID: 0x0020000e },
    }).attributes;
    return { sopClassUid: a.SOPClassUID!, sopInstanceUid: a.SOPInstanceUID!, series: a.SeriesInstanceUID! };
  });
  const findings = FINDINGS.map((f, i) => ({ ...f, region: { ...f.region!, sopInstanceUid: instances[i + 1]!.sopInstanceUid } }));
  const result: SeriesResult = {
    findings,
    impression: 'Two pulmonary nodules.',
    uncertainty: 0.1,
    lowConfidence: false,
    provenance: {
      modelName: 'lung-nodule-det',
      modelVersion: '1.0.0',
      modelSha256: 'ab'.repeat(32),
      executionProvider: 'cpu',
      preprocessing: 'window lung',
      deidentification: 'PS3.15 Basic Profile',
      nodeVersion: '0.1.0',
      durationMs: 100,
    },
  };
  return buildReport({
    form,
    language,
    sourceFile: fs.readFileSync(files[0]!),
    sourceInstances: instances.map(({ sopClassUid, sopInstanceUid }) => ({ sopClassUid, sopInstanceUid })),
    sourceSeriesInstanceUid: instances[0]!.series,
    result,
    device: { aeTitle: 'DICOM_AI', deviceUid: '2.25.42', manufacturer: 'test', modelName: 'test', softwareVersion: '0.1.0' },
    revision: 1,
    contentDateTime: new Date('2026-12-06T01:02:03Z'),
    ...(narrative ? { narrative } : {}),
  }).bytes;
}

const SOURCE = {
  serverModel: SERVED_MODEL,
  configuredModel: 'qwen3-vl-2b-instruct',
  promptSha256: 'cd'.repeat(32),
  backendHost: '10.0.0.30:8000',
};
const ACCEPTED: NarrativeOutcome = {
  kind: 'accepted',
  findings: '1. An 8.24 mm nodule in the right upper zone.\n2. A 5.4 mm nodule in the left lower zone.',
  impression: 'Two pulmonary nodules.',
  source: SOURCE,
};

async function checkedDump(bytes: Buffer, name: string): Promise<string> {
  const file = path.join(tmpDir('narrative-sr-check'), `${name}.dcm`);
  fs.writeFileSync(file, bytes);
  const v = await run('dciodvfy', ['-new', file]);
  const errors = (v.stdout + v.stderr).split('\n').filter((l) => /^Error/.test(l));
  assert.deepEqual(errors, [], `dciodvfy errors (${name}):\n${v.stdout}${v.stderr}`);
  const d = await run('dsrdump', ['+U8', '+Pl', file]);
  assert.equal(d.code, 0, `dsrdump failed: ${d.stderr}`);
  return d.stdout;
}

test(
  'SR: the accepted draft as Findings / Impression TEXT beside the measurement groups, in every form; dciodvfy and dsrdump accept it',
  { skip: hasTools ? false : 'dciodvfy/dsrdump not installed' },
  async () => {
    for (const form of ['comprehensive3d', 'comprehensive', 'basic-text'] as const) {
      const dump = await checkedDump(srOf(form, ACCEPTED), `accepted-${form}`);
      assert.match(dump, /contains TEXT:\(,,"Findings"\)="1\. An 8\.24 mm nodule in the right upper zone\./, form);
      assert.match(dump, /contains TEXT:\(,,"Impression"\)="Two pulmonary nodules\."/, form);
      assert.match(
        dump,
        /Machine-generated draft text, not verified by a physician: model reported by the server "Qwen\/Qwen3-VL-2B-Instruct-AWQ", configured model "qwen3-vl-2b-instruct", prompt SHA-256 (cd){32}, backend host 10\.0\.0\.30:8000\./,
      );
      if (form !== 'basic-text') assert.match(dump, /NUM:\(,,"Diameter"\)="8\.24"/, 'the measurement groups stay');
    }
    const zh = await checkedDump(srOf('comprehensive3d', { ...ACCEPTED, findings: '右上肺野见一8.24毫米结节。' }, 'zh-CN'), 'accepted-zh');
    assert.match(zh, /右上肺野见一8\.24毫米结节/);
    assert.match(zh, /机器生成的草稿文本，未经医师核实/);
  },
);

test(
  'SR: a rejected or failed narrative leaves the template text and one line saying why; none configured leaves the SR as before',
  { skip: hasTools ? false : 'dciodvfy/dsrdump not installed' },
  async () => {
    const rejected = await checkedDump(
      srOf('comprehensive3d', { kind: 'rejected', reason: '"15 mm" matches no measured value', source: SOURCE }),
      'rejected',
    );
    assert.match(
      rejected,
      /Narrative text of the language model not used \(rejected: "15 mm" matches no measured value\); the template text stands\./,
    );
    assert.doesNotMatch(rejected, /,,"Findings"\)=/);
    assert.match(rejected, /Finding 1: Solid pulmonary nodule/, 'the template sentences stay');
    const failed = await checkedDump(srOf('basic-text', { kind: 'failed', reason: 'the server answered HTTP 500' }), 'failed');
    assert.match(failed, /not used \(failed: the server answered HTTP 500\)/);
    const plain = await checkedDump(srOf('comprehensive3d', undefined), 'plain');
    assert.doesNotMatch(plain, /narrative|Narrative|draft text/);
  },
);

test(
  'SR: a Chinese report says in Chinese why the narrative was not used; the log keeps the English reason',
  { skip: hasTools ? false : 'dciodvfy/dsrdump not installed' },
  async () => {
    const v = ground('影像所见：右上肺野见一15毫米结节。\n诊断意见：肺结节。', FINDINGS, 'zh-CN');
    assert.equal(v.ok, false);
    if (v.ok) return;
    assert.match(v.reason, /^"15 毫米" matches no measured value \(measured: 8\.24 mm, 5\.4 mm\)$/, 'the English reason, as logged');
    const zh = await checkedDump(
      srOf('comprehensive3d', { kind: 'rejected', reason: v.reason, why: v.why, source: SOURCE }, 'zh-CN'),
      'rejected-zh',
    );
    assert.match(zh, /语言模型的叙述文本未采用（未通过核对：“15 毫米”与任何测量值都不符（测量值：8\.24 mm、5\.4 mm））；以模板文本为准。/);
    assert.doesNotMatch(zh, /matches no measured value/);
  },
);

test('every reason the node words itself has an English and a Chinese wording', () => {
  const reasons: NarrativeReason[] = [
    { problem: 'too-long', length: 9000, max: 8000 },
    { problem: 'no-sections' },
    { problem: 'unmatched-number', written: '9', unit: 'mm', dimension: 'length', measured: [] },
    { problem: 'side-without-finding', side: 'left' },
    { problem: 'lobe-without-finding', side: 'right', level: 'middle' },
    { problem: 'lobe-without-finding', level: 'lower' },
    { problem: 'organ-without-finding', organ: 'liver' },
    { problem: 'claims-no-findings', findings: 2 },
    { problem: 'silent-on-no-findings' },
    { problem: 'burned-in-risk' },
    { problem: 'timeout', seconds: 30 },
  ];
  const english = reasons.map((r) => wordReason(r, 'en'));
  assert.deepEqual(english, [
    'the text is 9000 characters long (at most 8000)',
    'the text lacks a FINDINGS or an IMPRESSION section',
    '"9 mm" matches no measured value (nothing was measured in mm)',
    'the text names the left side, but no finding is on the left',
    'the text names the right middle lung, where no finding is',
    'the text names the lower lung, where no finding is',
    'the text names the liver, where no finding is',
    'the text claims there are no findings, but the model reported 2',
    'the model reported no findings, but the text does not say so',
    'the series may have burned-in patient data in its pixels, so no image is sent to the narrative model',
    'no answer within timeoutSeconds (30 s)',
  ]);
  for (const r of reasons) {
    const zh = wordReason(r, 'zh-CN');
    // Chinese sentences: Latin words only as the config key, section names and units.
    assert.match(zh, /[\u4e00-\u9fff]/, r.problem);
    assert.doesNotMatch(zh.replace(/timeoutSeconds|FINDINGS|IMPRESSION|mm/g, ''), /[A-Za-z]{2,}/, `${r.problem}: ${zh}`);
  }
  assert.equal(wordReason({ problem: 'lobe-without-finding', side: 'right', level: 'middle' }, 'zh-CN'), '文本提到右中肺，但该处没有发现');
});

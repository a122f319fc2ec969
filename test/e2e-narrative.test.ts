/**
 * Issue 16 end to end: DCMTK storescu -> node (de-identification, the reference lung-nodule model,
 * the narrative stage against a fake OpenAI-compatible server) -> Orthanc. A grounded answer
 * reaches the PACS as draft Findings / Impression text beside the measurement groups; an
 * ungrounded one never does: the SR carries the template text and why. The server checks that the
 * request holds no patient name, ID, birth date or UID of the study.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestNode, waitFor } from './helpers/node';
import { OrthancPacs } from './helpers/orthanc';
import { PROJECT_ROOT, tmpDir } from './helpers/env';
import { run } from './helpers/run';
import { FakeOpenAi, SERVED_MODEL, groundedReport, replies, sentFindings, type SentRequest } from './helpers/fake-openai';
import { writeChestPhantom, PHANTOM_PATIENT, type ChestPhantom } from '../fixtures/chest-phantom';
import { newUidRoot } from '../fixtures/synthetic-ct';

let pacs: OrthancPacs;
let server: FakeOpenAi;

before(async () => {
  process.env['NARRATIVE_E2E_KEY'] = 'sk-e2e-0123456789abcdef';
  pacs = await OrthancPacs.create({ node: ['DICOM_AI', '127.0.0.1', 104] });
  await pacs.start();
  server = await FakeOpenAi.start();
});

after(async () => {
  await server?.close();
  await pacs?.stop();
});

function phantom(seed: number): ChestPhantom {
  return writeChestPhantom({ outDir: tmpDir(`narrative-phantom-${seed}`), seed, uidRoot: newUidRoot(), slices: 60 });
}

async function storescu(port: number, files: string[]): Promise<void> {
  const r = await run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(port), ...files], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `storescu failed: ${r.stderr}${r.stdout}`);
}

/** The SR of a study in Orthanc, validated (dciodvfy) and dumped (dsrdump). */
async function srDumpOf(studyUid: string): Promise<string> {
  const t0 = Date.now();
  let sr: { Instances: string[]; MainDicomTags: Record<string, string> } | undefined;
  while (!sr) {
    sr = (await pacs.seriesOfStudy(studyUid)).find((s) => s.MainDicomTags.Modality === 'SR');
    if (!sr && Date.now() - t0 > 180_000) throw new Error('no SR in Orthanc for the study after 180 s');
    if (!sr) await new Promise((r) => setTimeout(r, 200));
  }
  const r = await pacs.rest('GET', `/instances/${sr.Instances[0]}/file`);
  assert.equal(r.status, 200);
  const file = path.join(tmpDir('narrative-e2e'), 'sr.dcm');
  fs.writeFileSync(file, r.body);
  const v = await run('dciodvfy', ['-new', file]);
  assert.deepEqual(
    (v.stdout + v.stderr).split('\n').filter((l) => /^Error/.test(l)),
    [],
    `dciodvfy errors:\n${v.stdout}${v.stderr}`,
  );
  const d = await run('dsrdump', ['+U8', '+Pl', file]);
  assert.equal(d.code, 0, `dsrdump failed: ${d.stderr}`);
  return d.stdout;
}

test('phantom -> node -> Orthanc: the grounded narrative arrives as a marked draft; an ungrounded one is replaced by template text and the reason', async () => {
  const n = await startTestNode({
    series: { stableSeconds: 1 },
    inference: { modelsDir: path.join(PROJECT_ROOT, 'models'), providers: ['cpu'] },
    destinations: { PACS: { aeTitle: 'ORTHANC', host: '127.0.0.1', port: pacs.dicomPort } },
    routes: [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'], window: 'lung' }],
    delivery: { backoffSeconds: 1, backoffCapSeconds: 2, maxAttempts: 20 },
    report: {
      narrative: { baseUrl: server.baseUrl, model: 'qwen3-vl-2b-instruct', apiKeyEnv: 'NARRATIVE_E2E_KEY', timeoutSeconds: 30 },
    },
  });
  try {
    // 1. A well-behaved model: its text, built from the findings it was sent, is accepted.
    server.received.length = 0;
    server.reply = replies.text((req) => groundedReport(sentFindings(req), 'en'));
    const a = phantom(21);
    await storescu(n.port, a.files);
    const accepted = await srDumpOf(a.studyInstanceUid);
    assert.equal(server.received.length, 1, 'one request for the series');
    const req = server.received[0]!;
    assert.equal(req.headers['authorization'], 'Bearer sk-e2e-0123456789abcdef');
    for (const secret of [
      PHANTOM_PATIENT.name,
      PHANTOM_PATIENT.id,
      PHANTOM_PATIENT.birthDate,
      a.studyInstanceUid,
      a.seriesInstanceUid,
      a.frameOfReferenceUid,
      ...a.sopInstanceUids,
    ])
      assert.ok(!req.body.includes(secret), `the request body holds no patient data or UID (${secret.slice(0, 12)}...)`);
    const body = JSON.parse(req.body) as SentRequest;
    const images = (body.messages[1]!.content as Array<{ type: string }>).filter((p) => p.type === 'image_url');
    assert.ok(images.length >= 1 && images.length <= 4, `1 to maxImages images (${images.length})`);
    const findings = sentFindings(req);
    assert.ok(findings.length > 0, 'the phantom has nodules');
    assert.match(accepted, /contains TEXT:\(,,"Findings"\)="1\. A [\d.]+ mm nodule in the (right|left) (upper|middle|lower) zone\./);
    assert.match(
      accepted,
      new RegExp(`Machine-generated draft text, not verified by a physician: model reported by the server "${SERVED_MODEL}"`),
    );
    assert.match(accepted, /contains NUM:\(,,"Diameter"\)/, 'the measurement groups stay beside the text');
    assert.match(accepted, /TEXT:\(,,"Finding"\)="Finding 1: /, 'and the template sentences');

    // 2. A model that invents a size: nothing of its text reaches the PACS.
    server.reply = replies.text(() => 'FINDINGS: A 47 mm spiculated mass in the right upper lobe.\nIMPRESSION: Suspicious for malignancy.');
    const b = phantom(22);
    await storescu(n.port, b.files);
    const rejected = await srDumpOf(b.studyInstanceUid);
    assert.doesNotMatch(rejected, /spiculated|Suspicious for malignancy|,,"Findings"\)=/, 'none of the ungrounded text is in the SR');
    assert.match(rejected, /Narrative text of the language model not used \(rejected: "47 mm" matches no measured value/);
    assert.match(rejected, /TEXT:\(,,"Finding"\)="Finding 1: /, 'the template text stands');
    await waitFor(() => n.node.metrics.narratives.get({ outcome: 'rejected' }) === 1, 5000, 'the rejected narrative counted');
    assert.equal(n.node.metrics.narratives.get({ outcome: 'accepted' }), 1);
    assert.ok(
      n.logs.some((l) => /narrative not used/.test(l) && /rejected/.test(l)),
      'the rejection is logged',
    );
    assert.ok(!n.logs.some((l) => l.includes('sk-e2e-0123456789abcdef')), 'the API key is never logged');
  } finally {
    await n.stop();
  }
});

test('a server that never answers: the next job runs meanwhile, and each SR goes out with template text at the deadline', async () => {
  const timeoutSeconds = 8;
  const n = await startTestNode({
    series: { stableSeconds: 1 },
    inference: { modelsDir: path.join(PROJECT_ROOT, 'models'), providers: ['cpu'], concurrency: 1 },
    destinations: { PACS: { aeTitle: 'ORTHANC', host: '127.0.0.1', port: pacs.dicomPort } },
    routes: [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'] }],
    delivery: { backoffSeconds: 1, backoffCapSeconds: 2, maxAttempts: 20 },
    report: { narrative: { baseUrl: server.baseUrl, model: 'qwen3-vl-2b-instruct', timeoutSeconds } },
  });
  try {
    server.reply = replies.silent();
    const a = writeChestPhantom({ outDir: tmpDir('narrative-silent-a'), seed: 31, uidRoot: newUidRoot(), slices: 30 });
    const b = writeChestPhantom({ outDir: tmpDir('narrative-silent-b'), seed: 32, uidRoot: newUidRoot(), slices: 30 });
    await storescu(n.port, [...a.files, ...b.files]);
    const first = await srDumpOf(a.studyInstanceUid);
    const second = await srDumpOf(b.studyInstanceUid);
    for (const dump of [first, second]) {
      assert.match(dump, new RegExp(`not used \\(failed: no answer within timeoutSeconds \\(${timeoutSeconds} s\\)\\)`));
      assert.doesNotMatch(dump, /,,"Findings"\)=/);
    }
    // One model slot (inference.concurrency 1), yet the second job started while the first was
    // still waiting for its narrative: narratives do not hold the model.
    const lines = n.logs.map((l) => JSON.parse(l) as { message: string; job?: number });
    const started = lines.filter((l) => l.message === 'job started').map((l) => lines.indexOf(l));
    const firstGaveUp = lines.findIndex((l) => l.message.startsWith('narrative not used'));
    assert.equal(started.length, 2, 'two jobs');
    assert.ok(started[1]! < firstGaveUp, 'the second job started before the first narrative gave up');
    assert.equal(n.node.metrics.narratives.get({ outcome: 'failed' }), 2);
    assert.deepEqual(
      n.node.store.listJobs().map((j) => j.state),
      ['done', 'done'],
    );
  } finally {
    await n.stop();
  }
});

/**
 * DICOMweb STOW-RS delivery against a real peer: Debian's Orthanc with its DICOMweb plugin
 * (orthanc-dicomweb) and HTTP basic authentication, started by the test. One node run: a chest
 * phantom goes through the lung-nodule route, whose destinations are DICOMweb ones, and
 *   - the SR and the key image reach Orthanc by STOW-RS; read back with WADO-RS under the
 *     ORIGINAL Study Instance UID, they are our files byte for byte;
 *   - a destination with a wrong password keeps retrying with a clear reason (HTTP 401), and no
 *     password appears in the deliveries table or the log; its echo says the same;
 *   - a real Segmentation (the node's own writer) is stored before the object that references
 *     it, and WADO-RS returns it byte for byte; the variant without references is never sent;
 *   - Orthanc down: the delivery is retried, and delivered once Orthanc is back.
 * And against a small https server of the test's own: the configured CA and a bearer token are
 * used, the body is multipart/related with our files byte for byte, and a 202 with a Failed SOP
 * Sequence leaves one instance delivered and the other retrying with its Failure Reason; and a
 * server scripted per instance drives stowInDependencyOrder through each outcome of the SEG
 * (stored, refused 0x0122, failed 0xa700) and the SR form fallback on 0x0122.
 * Orthanc 1.10.1 from Debian crashes (SIGSEGV) on its first HTTPS request, so the peer is plain
 * http on loopback, the one place the node sends credentials without TLS.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { startTestNode, waitFor } from './helpers/node';
import { DICOMWEB_PLUGIN, OrthancPacs } from './helpers/orthanc';
import { PROJECT_ROOT, tmpDir } from './helpers/env';
import { run } from './helpers/run';
import { queueDelivery } from './helpers/deliveries';
import type { DeliveryRow } from '../src/store/store';
import { writeChestPhantom } from '../fixtures/chest-phantom';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { makeTestPki } from './helpers/certs';
import { readPart10Header } from '../src/dicom/part10';
import { readDatasetHeader } from '../src/dicom/dataset-reader';
import { tagsByKeyword } from '../src/dicom/tags';
import { prepareFile } from '../src/delivery/send-files';
import { echoDestination } from '../src/delivery/echo-destination';
import { frameOfReferenceOf, loadSeriesVolume } from '../src/inference/series-volume';
import { segmentationGeometryOf } from '../src/inference/label-resample';
import { buildSegmentation, noduleSegment, segmentationUids } from '../src/report/segmentation-iod';

const PASSWORD = 'orthanc-Pa55-word';
const WRONG_PASSWORD = 'wrong-Pa55-word';
const SR_CLASSES = /^1\.2\.840\.10008\.5\.1\.4\.1\.1\.88\./;

let pacs: OrthancPacs | undefined;
const skip = fs.existsSync(DICOMWEB_PLUGIN) ? false : `${DICOMWEB_PLUGIN} is absent (apt-get install orthanc-dicomweb)`;

before(async () => {
  if (skip) return;
  pacs = await OrthancPacs.create({}, { dicomWeb: { users: { node: PASSWORD } } });
  await pacs.start();
});

after(async () => {
  await pacs?.stop();
});

/** Study, series and SOP Instance UID of a Part 10 file, from its data set. */
function uidsOf(file: string): { study: string; series: string; sop: string } {
  const bytes = fs.readFileSync(file);
  const h = readPart10Header(bytes);
  const a = readDatasetHeader(bytes.subarray(h.datasetOffset), h.transferSyntaxUid, {
    tags: tagsByKeyword(['StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID']),
    totalLength: bytes.length - h.datasetOffset,
  }).attributes;
  return { study: a.StudyInstanceUID ?? '', series: a.SeriesInstanceUID ?? '', sop: a.SOPInstanceUID ?? '' };
}

/** WADO-RS RetrieveInstance (PS3.18 §10.4): the one part of the multipart/related answer. */
async function wadoRetrieve(p: OrthancPacs, uids: { study: string; series: string; sop: string }): Promise<Buffer> {
  const r = await p.rest('GET', `/dicom-web/studies/${uids.study}/series/${uids.series}/instances/${uids.sop}`, undefined, 30_000, {
    accept: 'multipart/related; type="application/dicom"',
  });
  assert.equal(r.status, 200, `WADO-RS of ${uids.sop}: HTTP ${r.status}`);
  const boundary = /boundary="?([^";]+)"?/i.exec(String(r.headers['content-type'] ?? ''))?.[1];
  assert.ok(boundary, `multipart answer with a boundary: ${String(r.headers['content-type'])}`);
  const delimiter = Buffer.from(`--${boundary}`);
  const start = r.body.indexOf(delimiter);
  const headersEnd = r.body.indexOf('\r\n\r\n', start);
  const end = r.body.indexOf(Buffer.from(`\r\n--${boundary}`), headersEnd);
  assert.ok(start >= 0 && headersEnd > start && end > headersEnd, 'one part in the WADO-RS answer');
  return r.body.subarray(headersEnd + 4, end);
}

/** A DICOM Segmentation of a box in the middle of the series (buildSegmentation, the node's own writer), written to `dir`. */
async function phantomSegmentation(files: readonly string[], dir: string) {
  const inputs = files.map((f) => {
    const bytes = fs.readFileSync(f);
    const h = readPart10Header(bytes);
    return { bytes, sopInstanceUid: h.sopInstanceUid, sopClassUid: h.sopClassUid };
  });
  const vol = await loadSeriesVolume(inputs, frameOfReferenceOf(inputs[0]!.bytes), { allowIdentified: true });
  const labels = vol.slices.map((_, k) => {
    const plane = new Uint8Array(vol.rows * vol.columns);
    if (Math.abs(k - vol.slices.length / 2) < 3)
      for (let y = vol.rows / 2 - 8; y < vol.rows / 2 + 8; y++)
        plane.fill(1, y * vol.columns + vol.columns / 2 - 8, y * vol.columns + vol.columns / 2 + 8);
    return plane;
  });
  const seriesUid = uidsOf(files[0]!).series;
  const built = buildSegmentation({
    sourceFile: inputs[0]!.bytes,
    sourceSeriesInstanceUid: seriesUid,
    geometry: segmentationGeometryOf(vol),
    labels,
    segments: [noduleSegment(1)],
    algorithm: { name: 'stow-test', version: '1' },
    device: {
      aeTitle: 'DICOM_AI',
      deviceUid: '2.25.1',
      manufacturer: 'dicom-ai-node project',
      modelName: 'dicom-ai-node',
      softwareVersion: 'test',
    },
    uids: segmentationUids(seriesUid, 'stow-test', '1', 1),
    contentDateTime: new Date('2026-01-02T03:04:05Z'),
    revision: 1,
  });
  const filePath = path.join(dir, 'seg.dcm');
  fs.writeFileSync(filePath, built.bytes);
  return { sopInstanceUid: built.sopInstanceUid, sopClassUid: built.sopClassUid, filePath };
}

test(
  'STOW-RS to Orthanc (DICOMweb plugin, basic auth): SR and key image retrievable by WADO-RS under the original study; a SEG stored before the object that references it; wrong password retried with a clear reason; outage retried then delivered',
  { skip },
  async () => {
    const p = pacs!;
    process.env['STOW_TEST_PASSWORD'] = PASSWORD;
    process.env['STOW_TEST_WRONG_PASSWORD'] = WRONG_PASSWORD;
    const web = (passwordEnv: string) => ({
      protocol: 'dicomweb',
      url: p.dicomWebUrl,
      auth: { type: 'basic', user: 'node', passwordEnv },
      timeoutSeconds: 20,
    });
    const n = await startTestNode({
      series: { stableSeconds: 1 },
      inference: { modelsDir: path.join(PROJECT_ROOT, 'models'), providers: ['cpu'] },
      destinations: { WEB: web('STOW_TEST_PASSWORD'), WRONG: web('STOW_TEST_WRONG_PASSWORD') },
      routes: [
        {
          name: 'chest-ct',
          match: { Modality: 'CT' },
          model: 'lung-nodule-reference',
          destinations: ['WEB', 'WRONG'],
          outputs: ['sr', 'key-image-sc'],
        },
      ],
      delivery: { backoffSeconds: 0.5, backoffCapSeconds: 1, maxAttempts: 1000 },
    });
    try {
      const phantom = writeChestPhantom({ outDir: tmpDir('stow-phantom'), seed: 41, uidRoot: newUidRoot(), slices: 30 });
      const sent = await run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port), ...phantom.files], {
        timeoutMs: 120_000,
      });
      assert.equal(sent.code, 0, `storescu: ${sent.stderr}`);

      // The route's objects, delivered to WEB by STOW-RS.
      const toWeb = () => n.node.store.listDeliveries().filter((d) => d.destination === 'WEB');
      await waitFor(
        () => toWeb().length >= 2 && toWeb().every((d) => d.state === 'delivered'),
        240_000,
        'SR and key image delivered to WEB',
      );
      const delivered = toWeb();
      assert.ok(
        delivered.some((d) => SR_CLASSES.test(d.sopClassUid)),
        'an SR among the deliveries',
      );
      for (const d of delivered) {
        assert.equal(d.lastStatus, 0, 'STOW-RS success recorded as status 0');
        const uids = uidsOf(d.filePath);
        assert.equal(uids.study, phantom.studyInstanceUid, 'the report joins the ORIGINAL study');
        const stored = await wadoRetrieve(p, uids);
        assert.ok(stored.equals(fs.readFileSync(d.filePath)), `WADO-RS returns our file ${path.basename(d.filePath)} byte for byte`);
      }

      // Wrong password: retried (never delivered), with the reason in words and no secret anywhere.
      const toWrong = () => n.node.store.listDeliveries().filter((d) => d.destination === 'WRONG');
      await waitFor(() => toWrong().length >= 2 && toWrong().every((d) => d.state === 'queued' && d.attempts >= 1), 30_000, 'WRONG tried');
      const wrong = toWrong();
      for (const d of wrong) assert.match(d.lastError ?? '', /HTTP 401: the DICOMweb server did not accept our credentials/);
      const echoWrong = await echoDestination(n.config.destinations['WRONG']!, 'DICOM_AI');
      assert.equal(echoWrong.ok, false);
      assert.match(echoWrong.error ?? '', /HTTP 401/);
      assert.equal((await echoDestination(n.config.destinations['WEB']!, 'DICOM_AI')).ok, true, 'echo of WEB: QIDO-RS answered');
      const everything = JSON.stringify(n.node.store.listDeliveries()) + n.logs.join('\n');
      for (const secret of [PASSWORD, WRONG_PASSWORD, Buffer.from(`node:${PASSWORD}`).toString('base64')])
        assert.ok(!everything.includes(secret), 'no password (plain or base64) in deliveries or logs');

      // A real Segmentation (made here from the phantom: a small box) over STOW-RS, and an object
      // that references it: the SEG in a first request, stored; then the dependent itself, never
      // its variant; the SEG retrievable by WADO-RS under the original study, byte for byte.
      const seg = await phantomSegmentation(phantom.files, tmpDir('stow-seg'));
      const segRow = queueDelivery(n.node.store, seg, 'WEB');
      const [dependent, variant] = await Promise.all(
        phantom.files.slice(1, 3).map(async (f) => ({ ...(await prepareFile(f)), filePath: f })),
      );
      const depRow = queueDelivery(n.node.store, dependent!, 'WEB', [
        {
          sopInstanceUid: variant!.sopInstanceUid,
          sopClassUid: variant!.sopClassUid,
          filePath: variant!.filePath,
          whenSegmentationMissing: seg.sopInstanceUid,
        },
      ]);
      await n.node.deliveries.runDue();
      assert.deepEqual([n.node.store.getDelivery(segRow.id)?.state, n.node.store.getDelivery(segRow.id)?.lastStatus], ['delivered', 0]);
      assert.equal(n.node.store.getDelivery(depRow.id)?.state, 'delivered');
      assert.ok(!n.node.store.listAudit().some((a) => a.event === 'sr-without-segmentation'), 'Orthanc holds the SEG: no variant');
      assert.ok((await wadoRetrieve(p, uidsOf(seg.filePath))).equals(fs.readFileSync(seg.filePath)), 'the SEG, byte for byte');
      assert.equal(uidsOf(seg.filePath).study, phantom.studyInstanceUid);
      const metadataStatus = async (file: string) => {
        const u = uidsOf(file);
        return (await p.rest('GET', `/dicom-web/studies/${u.study}/series/${u.series}/instances/${u.sop}/metadata`)).status;
      };
      assert.deepEqual(
        [await metadataStatus(dependent!.filePath), await metadataStatus(variant!.filePath)],
        [200, 404],
        'Orthanc holds the dependent, never its variant',
      );

      // Outage: Orthanc down -> the attempt fails and is scheduled again; Orthanc up -> delivered.
      await p.stop();
      const source = phantom.files[0]!;
      const row = queueDelivery(n.node.store, { ...(await prepareFile(source)), filePath: source }, 'WEB');
      await n.node.deliveries.runDue();
      const down = n.node.store.getDelivery(row.id)!;
      assert.equal(down.state, 'queued');
      assert.ok(down.attempts >= 1);
      assert.match(down.lastError ?? '', /ECONNREFUSED/);
      await p.start();
      for (let i = 0; i < 30 && n.node.store.getDelivery(row.id)?.state !== 'delivered'; i++) {
        await new Promise((r) => setTimeout(r, 1100)); // past the backoff (cap 1 s)
        await n.node.deliveries.runDue();
      }
      assert.equal(n.node.store.getDelivery(row.id)?.state, 'delivered', 'delivered once Orthanc is back');
      const back = await wadoRetrieve(p, uidsOf(source));
      assert.ok(back.equals(fs.readFileSync(source)), 'the CT slice stored after the outage, byte for byte');
    } finally {
      await n.stop();
    }
  },
);

test('https with the configured CA and a bearer token; a 202 answer gives each instance its own delivery state', async () => {
  const pki = makeTestPki();
  process.env['STOW_TEST_TOKEN'] = 'token-Abc123';
  const seen: { method?: string; url?: string; authorization?: string; contentType?: string; body?: Buffer }[] = [];
  const files = writeSyntheticCtSeries({ outDir: tmpDir('stow-https'), count: 2, uidRoot: newUidRoot() });
  const insts = await Promise.all(files.map(async (f) => ({ ...(await prepareFile(f)), filePath: f })));
  // A STOW-RS server that stores the first instance and refuses the second (out of resources).
  const server = https.createServer({ cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({
        method: req.method,
        url: req.url,
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks),
      });
      if (req.method === 'GET') return res.writeHead(200, { 'content-type': 'application/dicom+json' }).end('[]');
      const item = (uid: string, extra: object = {}) => ({ '00081155': { vr: 'UI', Value: [uid] }, ...extra });
      res.writeHead(202, { 'content-type': 'application/dicom+json' }).end(
        JSON.stringify({
          '00081199': { vr: 'SQ', Value: [item(insts[0]!.sopInstanceUid)] },
          '00081198': { vr: 'SQ', Value: [item(insts[1]!.sopInstanceUid, { '00081197': { vr: 'US', Value: [0xa700] } })] },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const n = await startTestNode({
    destinations: {
      SECURE: {
        protocol: 'dicomweb',
        url: `https://127.0.0.1:${port}/dicomweb`,
        auth: { type: 'bearer', tokenEnv: 'STOW_TEST_TOKEN' },
        tls: { caFile: pki.ca },
      },
    },
    delivery: { backoffSeconds: 60, backoffCapSeconds: 60, maxAttempts: 3 },
  });
  try {
    for (const i of insts) queueDelivery(n.node.store, i, 'SECURE');
    assert.deepEqual(await n.node.deliveries.runDue(), { delivered: 1, retrying: 1, failed: 0 });
    const [stored, refused] = insts.map((i) => n.node.store.listDeliveries().find((d) => d.sopInstanceUid === i.sopInstanceUid)!);
    assert.deepEqual([stored?.state, stored?.lastStatus], ['delivered', 0]);
    assert.deepEqual([refused?.state, refused?.lastStatus, refused?.attempts], ['queued', 0xa700, 1]);
    assert.match(refused?.lastError ?? '', /Failure Reason 0xa700 \(out of resources\)/);

    // One POST to <url>/studies: the token, the multipart type, and each part our file byte for byte.
    const post = seen.find((s) => s.method === 'POST');
    assert.equal(post?.url, '/dicomweb/studies');
    assert.equal(post?.authorization, 'Bearer token-Abc123');
    const boundary = /^multipart\/related; type="application\/dicom"; boundary=(\S+)$/.exec(post?.contentType ?? '')?.[1];
    assert.ok(boundary, `content type: ${post?.contentType}`);
    const parts = post.body!.toString('latin1').split(`--${boundary}`);
    assert.equal(parts.length, 4, 'preamble, two parts, closing --');
    assert.equal(parts[3], '--\r\n');
    files.forEach((f, k) => {
      const part = Buffer.from(parts[k + 1]!, 'latin1');
      const bodyStart = part.indexOf('\r\n\r\n') + 4;
      assert.match(part.subarray(0, bodyStart).toString(), /Content-Type: application\/dicom\r\n/);
      assert.ok(part.subarray(bodyStart, part.length - 2).equals(fs.readFileSync(f)), `part ${k + 1} is the file byte for byte`);
    });

    const echo = await echoDestination(n.config.destinations['SECURE']!, 'DICOM_AI');
    assert.equal(echo.ok, true, `echo over https: ${echo.error}`);
    assert.equal(seen.at(-1)?.url, '/dicomweb/studies?limit=1');
  } finally {
    await n.stop();
    server.close();
  }
});

/** SOP Instance UIDs of the parts of a multipart/related STOW-RS body, in order. */
function partUids(contentType: string, body: Buffer): string[] {
  const boundary = /boundary=(\S+)/.exec(contentType)?.[1];
  assert.ok(boundary, `content type: ${contentType}`);
  const text = body.toString('latin1');
  return text
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((part) => {
      const bytes = Buffer.from(part, 'latin1');
      const file = bytes.subarray(bytes.indexOf('\r\n\r\n') + 4, bytes.length - 2);
      const h = readPart10Header(file);
      return (
        readDatasetHeader(file.subarray(h.datasetOffset), h.transferSyntaxUid, {
          tags: tagsByKeyword(['SOPInstanceUID']),
          totalLength: file.length - h.datasetOffset,
        }).attributes.SOPInstanceUID ?? ''
      );
    });
}

/**
 * An https STOW-RS server whose answer per SOP Instance UID the test decides (0 = stored, else
 * the Failure Reason, null = the whole request fails with HTTP 503); `requests` lists each POST's
 * instances in the order the requests came.
 */
async function scriptedStowServer(answer: (sopInstanceUid: string) => number | null) {
  const pki = makeTestPki();
  const requests: string[][] = [];
  const server = https.createServer({ cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const uids = partUids(req.headers['content-type'] ?? '', Buffer.concat(chunks));
      requests.push(uids);
      const item = (uid: string, reason?: number) => ({
        '00081155': { vr: 'UI', Value: [uid] },
        ...(reason === undefined ? {} : { '00081197': { vr: 'US', Value: [reason] } }),
      });
      const answers = uids.map(answer);
      if (answers.includes(null)) return res.writeHead(503).end();
      const reasons = answers.map((a) => a ?? 0);
      const stored = uids.filter((_, i) => reasons[i] === 0).map((u) => item(u));
      const failed = uids.flatMap((u, i) => (reasons[i] === 0 ? [] : [item(u, reasons[i])]));
      res.writeHead(failed.length === 0 ? 200 : stored.length === 0 ? 409 : 202, { 'content-type': 'application/dicom+json' }).end(
        JSON.stringify({
          ...(stored.length > 0 ? { '00081199': { vr: 'SQ', Value: stored } } : {}),
          ...(failed.length > 0 ? { '00081198': { vr: 'SQ', Value: failed } } : {}),
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/web`;
  return { url, ca: pki.ca, requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test('SEG before its SR over STOW-RS: stored -> SR with references after it; refused (0x0122) -> the variant, SEG failed for good and audited; failed otherwise -> SR held back, then sent with references; a refused SR form falls back to the next', async () => {
  const [seg1, sr1, sr1Next, v1, seg2, sr2, v2, seg3, sr3, v3, seg4, sr4, v4] = await Promise.all(
    writeSyntheticCtSeries({ outDir: tmpDir('stow-dep'), count: 13, uidRoot: newUidRoot() }).map(async (f) => ({
      ...(await prepareFile(f)),
      filePath: f,
    })),
  );
  let seg3Failures = 1;
  const peer = await scriptedStowServer((uid) => {
    if (uid === sr1!.sopInstanceUid || uid === seg2!.sopInstanceUid) return 0x0122; // SOP class not supported
    if (uid === seg3!.sopInstanceUid && seg3Failures-- > 0) return 0xa700; // out of resources, once
    if (uid === sr4!.sopInstanceUid) return null; // its request fails as a whole
    return 0;
  });
  const n = await startTestNode({
    destinations: { WEB: { protocol: 'dicomweb', url: peer.url, tls: { caFile: peer.ca } } },
    delivery: { maxAttempts: 3, backoffSeconds: 0.2, backoffCapSeconds: 1 },
  });
  try {
    const alt = (i: typeof sr1, seg?: typeof seg1) => ({
      sopInstanceUid: i!.sopInstanceUid,
      sopClassUid: i!.sopClassUid,
      filePath: i!.filePath,
      ...(seg ? { whenSegmentationMissing: seg.sopInstanceUid } : {}),
    });
    const rows = new Map<string, DeliveryRow>();
    for (const [seg, sr, variant, next] of [
      [seg1, sr1, v1, sr1Next],
      [seg2, sr2, v2, undefined],
      [seg3, sr3, v3, undefined],
    ] as const) {
      rows.set(seg!.sopInstanceUid, queueDelivery(n.node.store, seg!, 'WEB'));
      rows.set(sr!.sopInstanceUid, queueDelivery(n.node.store, sr!, 'WEB', [...(next ? [alt(next)] : []), alt(variant, seg)]));
    }
    const row = (i: typeof seg1) => n.node.store.getDelivery(rows.get(i!.sopInstanceUid)!.id)!;
    const uid = (i: typeof seg1) => i!.sopInstanceUid;

    assert.deepEqual(await n.node.deliveries.runDue(), { delivered: 3, retrying: 1, failed: 1 });
    assert.deepEqual(
      peer.requests,
      [
        [uid(seg1), uid(seg2), uid(seg3)], // the Segmentations first, in a request of their own
        [uid(sr1), uid(v2)], // SR with references after its stored SEG; the variant for the refused one
        [uid(sr1Next)], // sr1's form refused (0x0122): its next form, in the same sweep
      ],
      'requests in dependency order; nothing sent for seg3 (failed) beyond the SEG itself',
    );
    // Stored SEG: its SR delivered, in the next form.
    assert.equal(row(seg1).state, 'delivered');
    assert.equal(row(sr1).state, 'delivered');
    // Refused SEG: failed for good after one attempt; its SR delivered as the variant, audited.
    assert.deepEqual([row(seg2).state, row(seg2).attempts, row(seg2).lastStatus], ['failed', 1, 0x0122]);
    assert.match(row(seg2).lastError ?? '', /0x0122 \(SOP class not supported\)/);
    assert.equal(row(sr2).state, 'delivered');
    const audit = n.node.store.listAudit();
    assert.equal(audit.filter((a) => a.event === 'sr-without-segmentation').length, 1, 'the variant audited once');
    assert.ok(
      audit.some((a) => a.event === 'delivery-failed' && /0x0122/.test(a.detail ?? '')),
      'the SEG audited as failed',
    );
    // SEG failed another way: it retries; the SR is held back, no attempt counted, claimed again with it.
    assert.deepEqual([row(seg3).state, row(seg3).attempts, row(seg3).lastStatus], ['queued', 1, 0xa700]);
    assert.deepEqual([row(sr3).state, row(sr3).attempts], ['queued', 0]);
    assert.match(row(sr3).lastError ?? '', /waiting for the Segmentation/);
    assert.equal(row(sr3).nextAttemptAt, row(seg3).nextAttemptAt);

    await new Promise((r) => setTimeout(r, 300)); // past seg3's backoff (0.2 s)
    assert.deepEqual(await n.node.deliveries.runDue(), { delivered: 2, retrying: 0, failed: 0 });
    assert.deepEqual(peer.requests.slice(3), [[uid(seg3)], [uid(sr3)]], 'the SEG again, then its SR with references');
    assert.equal(row(sr3).state, 'delivered');
    const sentEver = peer.requests.flat();
    for (const never of [v1, v3]) assert.ok(!sentEver.includes(uid(never)), 'no variant where the SEG was stored');

    // The SR's request fails as a whole (HTTP 503) after its SEG was stored: the SEG stays delivered.
    rows.set(uid(seg4), queueDelivery(n.node.store, seg4!, 'WEB'));
    rows.set(uid(sr4), queueDelivery(n.node.store, sr4!, 'WEB', [alt(v4, seg4)]));
    assert.deepEqual(await n.node.deliveries.runDue(), { delivered: 1, retrying: 1, failed: 0 });
    assert.deepEqual(peer.requests.slice(5), [[uid(seg4)], [uid(sr4)]]);
    assert.equal(row(seg4).state, 'delivered', 'a later request failing does not undo the stored SEG');
    assert.deepEqual([row(sr4).state, row(sr4).attempts], ['queued', 1]);
    assert.match(row(sr4).lastError ?? '', /HTTP 503/);
  } finally {
    await n.stop();
    await peer.close();
  }
});

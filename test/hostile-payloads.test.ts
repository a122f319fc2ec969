// Hostile payloads of issue 11 (rows 1-3): deflate bombs, a deflated element claiming 0xFFFFFFF0
// bytes, a tiny RLE object claiming 8192×8192 pixels. Sent with the project's own SCU to a node on
// loopback: each is refused at C-STORE with the reason in Error Comment, or - where only inflating
// or decoding can tell - accepted and its job fails naming the limit. The node keeps answering
// C-ECHO and keeps everything it acknowledged. Unit tests of the budget arithmetic and the bounded
// inflate come first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as zlib from 'node:zlib';
import { openTestScu } from './helpers/scu';
import { startTestNode, TestNode, waitFor } from './helpers/node';
import { PROJECT_ROOT, tmpDir } from './helpers/env';
import { ScuAssociation } from '../src/dimse/scu';
import { TS, VERIFICATION_SOP_CLASS } from '../src/dimse/uids';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import {
  deflatedHugeElement,
  deflatedPixelBomb,
  deflatedSlice,
  deflateWithZeros,
  HostileObject,
  MIB,
  rleSizeClaim,
  writeHostileFile,
} from '../fixtures/hostile-objects';
import {
  checkPixelBudget,
  checkSeriesBudget,
  DEFAULT_PIXEL_LIMITS,
  PixelBudgetExceeded,
  pixelLimitsFromMegabytes,
} from '../src/dicom/pixel-budget';
import { parseConfig } from '../src/config/config';
import { inflate, InflateBudgetExceeded } from '../src/dicom/deflate';
import { inflateDataSet } from '../src/dicom/inflate-data-set';
import { readDatasetHeader } from '../src/dicom/dataset-reader';
import { readPart10Header } from '../src/dicom/part10';
import { decodeRleFrame } from '../src/imaging/rle';
import { ImagingError } from '../src/imaging/pixel-module';
import { checkCodestreamSize } from '../src/imaging/codestream-size';
import { openDataSet, decodeFrame } from '../src/imaging/decode';
import { deidentifyDataSet } from '../src/deid';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const ids = (instance = 1) => ({ uidRoot: newUidRoot(), instance });

// ---------------------------------------------------------------------------
// The budget and the bounded inflate, alone
// ---------------------------------------------------------------------------

test('pixel budget: real images pass, absurd claims and sizes over the limits are refused naming the key', () => {
  const mg = { rows: 4096, columns: 4096, samplesPerPixel: 1, bitsAllocated: 16, numberOfFrames: 1 };
  assert.equal(checkPixelBudget(mg), 32 * MIB, 'a 4096×4096 16-bit mammogram fits');
  const us = { rows: 480, columns: 640, samplesPerPixel: 3, bitsAllocated: 8, numberOfFrames: 1000 };
  assert.equal(checkPixelBudget(us), 480 * 640 * 3 * 1000, 'a 1000-frame colour ultrasound fits');
  checkSeriesBudget(3000 * 512 * 512 * 2, 3000); // a 3000-slice thin CT fits
  assert.throws(
    () => checkPixelBudget({ ...mg, rows: 8192, columns: 8192 }),
    (e: unknown) => e instanceof PixelBudgetExceeded && e.limitKey === 'imaging.maxFrameMegabytes' && /128\.0 MiB/.test(e.message),
  );
  assert.throws(
    () => checkPixelBudget({ ...mg, rows: 512, columns: 512, numberOfFrames: 100_000 }),
    (e: unknown) => e instanceof PixelBudgetExceeded && e.limitKey === 'imaging.maxSeriesMegabytes',
  );
  assert.throws(() => checkSeriesBudget(3 * 1024 * MIB, 3), /imaging\.maxSeriesMegabytes/);
  for (const bad of [{ rows: 0 }, { columns: 70000 }, { bitsAllocated: 12 }, { numberOfFrames: 0 }, { samplesPerPixel: 9 }]) {
    assert.throws(() => checkPixelBudget({ ...mg, ...bad }), PixelBudgetExceeded, JSON.stringify(bad));
  }
  assert.throws(
    () => checkPixelBudget(mg, { ...DEFAULT_PIXEL_LIMITS, maxFrameBytes: 16 * MIB }),
    /16\.0 MiB \(imaging\.maxFrameMegabytes\)/,
  );
});

test('imaging limits are configuration: defaults, megabytes to bytes, and a clear problem for nonsense', () => {
  const defaults = parseConfig({ callers: [{ aeTitle: 'CT01' }] }, '/etc/dicom-ai');
  assert.deepEqual(pixelLimitsFromMegabytes(defaults.imaging), DEFAULT_PIXEL_LIMITS);
  const set = parseConfig(
    { callers: [{ aeTitle: 'CT01' }], imaging: { maxFrameMegabytes: 128, maxSeriesMegabytes: 4096 } },
    '/etc/dicom-ai',
  );
  assert.deepEqual(pixelLimitsFromMegabytes(set.imaging), { maxFrameBytes: 128 * MIB, maxSeriesBytes: 4096 * MIB });
  assert.throws(
    () => parseConfig({ callers: [{ aeTitle: 'CT01' }], imaging: { maxFrameMegabytes: 0, maxSeriesMegabytes: '2048' } }, '/etc/dicom-ai'),
    (e: Error) =>
      /imaging\.maxFrameMegabytes/.test(e.message) && /imaging\.maxSeriesMegabytes/.test(e.message) && /without quotes/.test(e.message),
  );
});

test('bounded inflate: zlib stops at the budget; a header read inflates only up to Pixel Data', () => {
  const bomb = deflateWithZeros(Buffer.from('header'), 256 * MIB);
  assert.ok(bomb.length < 300_000, `256 MiB of zeros is ${bomb.length} bytes on the wire`);
  assert.throws(
    () => inflate(bomb, false, MIB),
    (e: unknown) => e instanceof InflateBudgetExceeded && e.budgetBytes === MIB,
  );
  // Within the budget it is the ordinary inflate.
  const small = deflateWithZeros(Buffer.from('header'), 2 * MIB);
  assert.equal(inflate(small, false, 3 * MIB).data.length, 6 + 2 * MIB);

  // Row 1: the header of a 512 MiB bomb is read without inflating its pixels (a 32 MiB budget would not hold them).
  const claimed = deflatedPixelBomb(ids(), 'claimed');
  const h = readDatasetHeader(claimed.dataSet, TS.DeflatedExplicitVRLittleEndian, { maxHeaderBytes: 8 * MIB });
  assert.equal(h.stoppedAt, 'pixel-data');
  assert.equal(h.attributes.Rows, '16384');
  // ...and the whole data set is refused from that header, before any pixel is inflated.
  assert.throws(() => inflateDataSet(claimed.dataSet, TS.DeflatedExplicitVRLittleEndian), /imaging\.maxFrameMegabytes/);

  // The honest-looking slice with 512 MiB in trailing padding: inflating stops at header + slice + allowance.
  const trailer = deflatedPixelBomb(ids(), 'trailer');
  assert.throws(
    () => inflateDataSet(trailer.dataSet, TS.DeflatedExplicitVRLittleEndian),
    (e: unknown) => e instanceof InflateBudgetExceeded && e.budgetBytes < 512 * 512 * 2 + 5 * MIB,
  );
  assert.throws(
    () => deidentifyDataSet(trailer.dataSet, TS.DeflatedExplicitVRLittleEndian, { secret: 'x'.repeat(32) }),
    InflateBudgetExceeded,
  );

  // Row 2: the element claiming 0xFFFFFFF0 bytes is refused from its header alone.
  const huge = deflatedHugeElement(ids());
  assert.throws(
    () => readDatasetHeader(huge.dataSet, TS.DeflatedExplicitVRLittleEndian),
    (e: unknown) => e instanceof InflateBudgetExceeded && /needs \d+ inflated bytes/.test(e.message),
  );

  // A good deflated slice still inflates and decodes.
  const good = deflatedSlice(ids());
  assert.equal(inflateDataSet(good.dataSet, TS.DeflatedExplicitVRLittleEndian).length, good.claimedBytes);
});

test('decode bounds: the frame budget, RLE claims its bytes cannot back, codestreams larger than their header', async () => {
  const rle = rleSizeClaim(ids());
  assert.ok(rle.dataSet.length < 1024, `the RLE object is ${rle.dataSet.length} bytes`);
  const img = openDataSet(rle.dataSet, TS.RLELossless);
  await assert.rejects(() => decodeFrame(img), /imaging\.maxFrameMegabytes/);
  // Under the frame limit, the RLE decoder still refuses a claim 320 bytes cannot back, before allocating it.
  const frame = rle.dataSet.subarray(rle.dataSet.length - 8 - 320, rle.dataSet.length - 8);
  assert.throws(
    () => decodeRleFrame(frame, { rows: 4096, columns: 4096, samplesPerPixel: 1, bitsAllocated: 16 }),
    (e: unknown) => e instanceof ImagingError && /cannot hold/.test(e.message),
  );
  // A short segment of a plausible frame is still tolerated (zeros, as DCMTK does).
  assert.equal(decodeRleFrame(frame, { rows: 64, columns: 128, samplesPerPixel: 1, bitsAllocated: 16 }).length, 64 * 128 * 2);

  // A JPEG whose SOF claims 60000×60000 inside a 512×512 header; a J2K SIZ likewise.
  const sof = Buffer.from([0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0xea, 0x60, 0xea, 0x60, 0x01, 0x01, 0x11, 0x00]);
  assert.throws(() => checkCodestreamSize(sof, { rows: 512, columns: 512 }), /60000×60000/);
  checkCodestreamSize(sof, { rows: 60000, columns: 60000 });
  const siz = Buffer.alloc(40);
  Buffer.from([0xff, 0x4f, 0xff, 0x51, 0x00, 0x29, 0x00, 0x00]).copy(siz);
  siz.writeUInt32BE(40000, 8);
  siz.writeUInt32BE(30000, 12);
  assert.throws(() => checkCodestreamSize(siz, { rows: 512, columns: 512 }), /30000×40000/);
});

// ---------------------------------------------------------------------------
// Against a running node
// ---------------------------------------------------------------------------

let n: TestNode;
const sent = tmpDir('hostile-sent');

before(async () => {
  n = await startTestNode({
    series: { stableSeconds: 1 },
    inference: { modelsDir: path.join(PROJECT_ROOT, 'models'), providers: ['cpu'] },
    destinations: { PACS: { aeTitle: 'NOWHERE', host: '127.0.0.1', port: 9 } },
    routes: [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'] }],
  });
});
after(async () => {
  await n.stop();
});

function openScu(): Promise<ScuAssociation> {
  return openTestScu(n.port, {
    contexts: [
      { abstractSyntax: CT, transferSyntaxes: [TS.DeflatedExplicitVRLittleEndian] },
      { abstractSyntax: CT, transferSyntaxes: [TS.RLELossless] },
      { abstractSyntax: CT, transferSyntaxes: [TS.ExplicitVRLittleEndian] },
      { abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [TS.ExplicitVRLittleEndian] },
    ],
  });
}

async function store(scu: ScuAssociation, o: HostileObject) {
  const { file, dataSetOffset } = writeHostileFile(sent, o);
  return scu.storeFile({
    sopClassUid: o.sopClassUid,
    sopInstanceUid: o.sopInstanceUid,
    transferSyntaxUid: o.transferSyntaxUid,
    file,
    dataSetOffset,
  });
}

/** A C-ECHO on a fresh association: the node still answers. */
async function echoes(): Promise<void> {
  const scu = await openScu();
  try {
    assert.equal((await scu.echo()).status, 0);
  } finally {
    await scu.release();
  }
}

function assertNothingKept(o: HostileObject): void {
  assert.equal(n.node.store.getInstance(o.sopInstanceUid), undefined, 'nothing indexed');
  const incoming = path.join(n.dataDir, 'incoming');
  assert.deepEqual(fs.existsSync(incoming) ? fs.readdirSync(incoming) : [], [], 'the partial file is removed');
}

function assertKept(o: HostileObject): void {
  const row = n.node.store.getInstance(o.sopInstanceUid);
  assert.ok(row, 'acknowledged instance is indexed');
  assert.ok(fs.existsSync(row.filePath), 'and its file is on disk');
}

async function jobFailure(seriesUid: string): Promise<string> {
  await waitFor(() => n.node.store.listJobs(seriesUid).some((j) => j.state === 'failed' || j.state === 'done'), 120_000, 'the job to end');
  const job = n.node.store.listJobs(seriesUid).find((j) => j.state === 'failed' || j.state === 'done')!;
  assert.equal(job.state, 'failed', `the job failed (reason: ${job.reason ?? ''})`);
  return job.reason ?? '';
}

test('row 1: deflated 512 MiB pixel bombs claiming a frame over the limit are refused at C-STORE with the reason; a good slice beside them is kept', async () => {
  const root = newUidRoot();
  const scu = await openScu();
  try {
    for (let i = 1; i <= 3; i++) {
      const bomb = deflatedPixelBomb({ uidRoot: root, instance: i }, 'claimed');
      const rsp = await store(scu, bomb);
      assert.equal(rsp.status, 0xc000, `bomb ${i} refused`);
      assert.equal(rsp.errorComment, 'pixel data over the limit imaging.maxFrameMegabytes');
      assertNothingKept(bomb);
    }
    const understated = deflatedPixelBomb(ids(), 'understated');
    const rsp = await store(scu, understated);
    assert.equal(rsp.status, 0xc000);
    assert.equal(rsp.errorComment, 'deflated data set inflates beyond its header');
    assertNothingKept(understated);

    const good = deflatedSlice(ids());
    assert.equal((await store(scu, good)).status, 0, 'a good deflated slice on the same association');
    assertKept(good);
    assert.equal((await scu.echo()).status, 0);
  } finally {
    await scu.release();
  }
  await echoes();
  assert.ok(n.logs.some((l) => /C-STORE refused: data set claims more than the limits allow/.test(l)));
});

test('row 2: a deflated element claiming 0xFFFFFFF0 bytes is refused at C-STORE without inflating what follows', async () => {
  const scu = await openScu();
  try {
    const bomb = deflatedHugeElement(ids());
    const rsp = await store(scu, bomb);
    assert.equal(rsp.status, 0xc000);
    assert.equal(rsp.errorComment, 'deflated data set inflates beyond its header');
    assertNothingKept(bomb);
  } finally {
    await scu.release();
  }
  await echoes();
});

test('row 1, hidden in trailing padding: accepted (only inflating can tell), the job fails on the inflate budget', async () => {
  // The header is honest (512×512), so C-STORE cannot refuse without inflating 512 MiB on the
  // event loop; the job's bounded inflate stops at header + slice + allowance.
  const root = newUidRoot();
  const scu = await openScu();
  const sentObjects: HostileObject[] = [];
  try {
    for (let i = 1; i <= 3; i++) {
      const bomb = deflatedPixelBomb({ uidRoot: root, instance: i }, 'trailer');
      assert.equal((await store(scu, bomb)).status, 0);
      sentObjects.push(bomb);
    }
  } finally {
    await scu.release();
  }
  const reason = await jobFailure(sentObjects[0]!.seriesInstanceUid);
  assert.match(reason, /inflates beyond the .* its header declares/);
  for (const o of sentObjects) assertKept(o);
  await echoes();
});

test('row 3: tiny RLE slices claiming 8192×8192 are accepted (the store does not decode) and their job fails naming the limit', async () => {
  const root = newUidRoot();
  const scu = await openScu();
  const sentObjects: HostileObject[] = [];
  try {
    for (let i = 1; i <= 3; i++) {
      const o = rleSizeClaim({ uidRoot: root, instance: i });
      assert.equal((await store(scu, o)).status, 0);
      sentObjects.push(o);
    }
  } finally {
    await scu.release();
  }
  const reason = await jobFailure(sentObjects[0]!.seriesInstanceUid);
  assert.match(reason, /exceeds the limit of 64\.0 MiB \(imaging\.maxFrameMegabytes\)/);
  for (const o of sentObjects) assertKept(o);
  await echoes();
});

test('a series over imaging.maxSeriesMegabytes fails its job before decoding, naming the key', async () => {
  const small = await startTestNode({
    series: { stableSeconds: 1 },
    imaging: { maxSeriesMegabytes: 1 },
    inference: { modelsDir: path.join(PROJECT_ROOT, 'models'), providers: ['cpu'] },
    destinations: { PACS: { aeTitle: 'NOWHERE', host: '127.0.0.1', port: 9 } },
    routes: [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'] }],
  });
  try {
    const root = newUidRoot();
    // Four 512×512 16-bit slices: 2 MiB of pixel data against a 1 MiB limit.
    const files = writeSyntheticCtSeries({ outDir: tmpDir('series-limit'), uidRoot: root, count: 4 });
    const scu = await openTestScu(small.port, { contexts: [{ abstractSyntax: CT, transferSyntaxes: [TS.ExplicitVRLittleEndian] }] });
    try {
      for (const [i, file] of files.entries()) {
        const meta = readPart10Header(fs.readFileSync(file)).datasetOffset;
        const rsp = await scu.storeFile({
          sopClassUid: CT,
          sopInstanceUid: `${root}.3.${i + 1}`,
          transferSyntaxUid: TS.ExplicitVRLittleEndian,
          file,
          dataSetOffset: meta,
        });
        assert.equal(rsp.status, 0);
      }
    } finally {
      await scu.release();
    }
    const series = `${root}.2`;
    await waitFor(() => small.node.store.listJobs(series).some((j) => j.state === 'failed' || j.state === 'done'), 120_000, 'the job');
    const job = small.node.store.listJobs(series).find((j) => j.state === 'failed' || j.state === 'done')!;
    assert.equal(job.state, 'failed');
    assert.match(
      job.reason ?? '',
      /pixel data claims 1\.5 MiB in 3 instance\(s\), more than the limit of 1\.0 MiB \(imaging\.maxSeriesMegabytes\)/,
    );
  } finally {
    await small.stop();
  }
});

test('the deflate helpers build what they say: a bomb is small on the wire and inflates to its claim', () => {
  const b = deflatedPixelBomb(ids(), 'claimed', 8 * MIB);
  assert.equal(zlib.inflateRawSync(b.dataSet).length, b.claimedBytes + 12);
});

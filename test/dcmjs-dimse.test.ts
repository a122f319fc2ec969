// Interoperability with dcmjs-dimse (npm, 0.3.3), an independent JavaScript DIMSE implementation:
// its Client against our Storage SCP, and our SCU (sendFiles, ScuAssociation) against its Server.
// Real peers over 127.0.0.1, no mocks.
//
// What dcmjs-dimse does to the data it sends, so that only Pixel Data is compared byte for byte:
// its CStoreRequest reads the Part 10 file with dcmjs (naturalized, JSON-like values) and writes
// the data set anew with dcmjs in the accepted transfer syntax. It proposes Implicit and Explicit
// VR Little Endian for every SOP class (we pick Explicit), plus a context of its own for a file in
// any other syntax. Seen on the corpus files used here:
// - Implicit VR LE files arrive transcoded to Explicit VR LE (pixel values unchanged);
// - every private element (creators and data) and every group length is dropped (CT_small loses
//   ~4.5 KB of GE private tags);
// - values are reformatted: DS '80.0000' arrives as '80';
// - encapsulated Pixel Data gets a Basic Offset Table with one entry (0) where the file had an
//   empty one, so the element's bytes differ by 4 while the compressed fragments are identical.
// It also cannot transcode 32 bits allocated (pydicom/rtdose.dcm, Implicit VR): it logs an error
// and skips the request without sending anything — its limitation, so that file is not used here.
//
// dcmjs-dimse's Server.listen(port) calls net.Server.listen(port), i.e. all interfaces; it has no
// host parameter. It passes its argument through untouched, so we hand it a listen-options object
// { port: 0, host: '127.0.0.1' } (cast: its typings say number) and check the bound address.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import {
  Client,
  Server,
  Scp,
  Dataset,
  constants,
  requests,
  responses,
  association as dimseAssociation,
  log as dimseLog,
} from 'dcmjs-dimse';
import { startTestNode, TestNode } from './helpers/node';
import { SHARED_DICOM, tmpDir } from './helpers/env';
import { pixelBytes, dataSetOf } from './helpers/pixels';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { prepareFile, sendFiles, PreparedFile } from '../src/delivery/send-files';
import { ScuAssociation } from '../src/dimse/scu';
import { readDatasetHeader } from '../src/dicom/dataset-reader';
import { TS, VERIFICATION_SOP_CLASS } from '../src/dimse/uids';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../src/version';

const { CEchoRequest, CStoreRequest } = requests;
const { CEchoResponse, CStoreResponse } = responses;
const { Status, PresentationContextResult, RejectResult, RejectSource, RejectReason, SopClass, StorageClass, TransferSyntax } = constants;
type DimseRequest = InstanceType<typeof requests.Request>;
type DimseResponse = InstanceType<typeof responses.Response>;
type DimseAssociation = InstanceType<typeof dimseAssociation.Association>;
type PresentationContext = InstanceType<typeof dimseAssociation.PresentationContext>;

// dcmjs-dimse logs every PDU at info level to the console, and the dcmjs it bundles warns about
// every private element it cannot name and every odd VR (as errors): keep dcmjs-dimse's errors only.
dimseLog.setLevel('error');
{
  // The dcmjs that dcmjs-dimse itself loads (its own nested copy, not our dependency).
  const dcmjsOfDimse = createRequire(require.resolve('dcmjs-dimse'))('dcmjs') as {
    log: { setLevel(l: string): void; getLogger(name: string): { setLevel(l: string): void } };
  };
  dcmjsOfDimse.log.setLevel('error');
  dcmjsOfDimse.log.getLogger('validation.dcmjs').setLevel('silent');
}

const pydicom = (f: string) => path.join(SHARED_DICOM, 'pydicom', f);

let n: TestNode;
let seriesDir: string;
before(async () => {
  n = await startTestNode();
  seriesDir = tmpDir('dcmjs-dimse-series');
});
after(async () => {
  await n.stop();
  fs.rmSync(seriesDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// dcmjs-dimse Client → our node

interface ClientOutcome {
  accepted: boolean;
  rejected?: { result: number; source: number; reason: number };
  released: boolean;
  responses: Map<DimseRequest, DimseResponse>;
  networkErrors: Error[];
}

/** Runs one dcmjs-dimse Client association to completion (its socket closed). */
function runClient(port: number, callingAe: string, reqs: DimseRequest[], timeoutMs = 20_000): Promise<ClientOutcome> {
  return new Promise((resolve, reject) => {
    const out: ClientOutcome = { accepted: false, released: false, responses: new Map(), networkErrors: [] };
    const client = new Client();
    for (const r of reqs) {
      r.on('response', (rsp: DimseResponse) => out.responses.set(r, rsp));
      client.addRequest(r);
    }
    const timer = setTimeout(() => {
      try {
        client.abort();
      } catch {
        /* no network */
      }
      reject(new Error(`dcmjs-dimse client did not finish within ${timeoutMs} ms (${out.responses.size}/${reqs.length} responses)`));
    }, timeoutMs);
    client.on('associationAccepted', () => (out.accepted = true));
    client.on('associationRejected', (r: ClientOutcome['rejected']) => (out.rejected = r));
    client.on('associationReleased', () => (out.released = true));
    client.on('networkError', (e: Error) => out.networkErrors.push(e));
    client.on('closed', () => {
      clearTimeout(timer);
      resolve(out);
    });
    client.send('127.0.0.1', port, callingAe, n.config.node.aeTitle, {
      connectTimeout: 5000,
      associationTimeout: 10_000,
      pduTimeout: 10_000,
    });
  });
}

/** The fragments' payloads of an encapsulated Pixel Data value (item headers and offset table dropped). */
function fragmentPayloads(encapsulated: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let p = 0;
  let first = true;
  while (p + 8 <= encapsulated.length) {
    const g = encapsulated.readUInt16LE(p);
    const e = encapsulated.readUInt16LE(p + 2);
    const len = encapsulated.readUInt32LE(p + 4);
    if (g === 0xfffe && e === 0xe0dd) break;
    assert.ok(g === 0xfffe && e === 0xe000, `item tag expected at ${p}`);
    if (!first) out.push(encapsulated.subarray(p + 8, p + 8 + len));
    first = false;
    p += 8 + len;
  }
  return out;
}

function isEncapsulated(ts: string): boolean {
  return ![TS.ImplicitVRLittleEndian, TS.ExplicitVRLittleEndian, TS.ExplicitVRBigEndian, TS.DeflatedExplicitVRLittleEndian].includes(ts);
}

test('dcmjs-dimse Client: C-ECHO to our node succeeds', async () => {
  const req = new CEchoRequest();
  const out = await runClient(n.port, 'TESTSCU', [req]);
  assert.deepEqual(out.networkErrors, []);
  assert.equal(out.accepted, true, 'association accepted');
  const rsp = out.responses.get(req);
  assert.ok(rsp, 'C-ECHO-RSP received');
  assert.equal(rsp.getStatus(), Status.Success);
  assert.equal(out.released, true, 'association released normally');
  assert.ok(
    n.logs.some((l) => l.includes('association accepted') && l.includes('TESTSCU')),
    'our node logged the association',
  );
});

test('dcmjs-dimse Client: C-STORE of a synthetic CT series and corpus files, all indexed, pixel data intact', async () => {
  const synthetic = writeSyntheticCtSeries({ outDir: seriesDir, count: 10, uidRoot: newUidRoot() });
  const corpus = [
    pydicom('CT_small.dcm'), // Explicit VR LE
    pydicom('MR_small.dcm'), // Explicit VR LE
    // Implicit VR LE, 16-bit: dcmjs-dimse transcodes it to the Explicit VR LE we accept.
    path.join(SHARED_DICOM, 'cornerstone3D', 'CTImage.dcm'),
    pydicom('JPEG2000.dcm'), // JPEG 2000: proposed in a context of its own, sent without transcoding
  ];
  const files = [...synthetic, ...corpus];
  const prepared = await Promise.all(files.map((f) => prepareFile(f)));
  const reqs = files.map((f) => new CStoreRequest(f));

  const t0 = Date.now();
  const out = await runClient(n.port, 'TESTSCU', reqs, 25_000);
  assert.deepEqual(out.networkErrors, []);
  assert.equal(out.accepted, true);
  assert.equal(out.released, true, 'association released normally');

  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    const p = prepared[i]!;
    const rsp = out.responses.get(reqs[i]!);
    assert.ok(rsp, `C-STORE-RSP for ${path.basename(f)}`);
    assert.equal(rsp.getStatus(), Status.Success, `${path.basename(f)}: status ${rsp.getStatus()} ${rsp.getErrorComment() ?? ''}`);
    assert.equal(rsp.getAffectedSopInstanceUid(), p.sopInstanceUid);

    const inst = n.node.store.getInstance(p.sopInstanceUid);
    assert.ok(inst, `${path.basename(f)} indexed`);
    assert.equal(inst.sopClassUid, p.sopClassUid);
    assert.equal(inst.callingAeTitle, 'TESTSCU');
    assert.ok(inst.receivedAt >= t0 - 1000);
    assert.ok(fs.existsSync(inst.filePath), 'stored file exists');

    // What dcmjs-dimse put on the wire (and we stored byte for byte): the file's syntax, except
    // Implicit VR LE, which it re-encoded as the Explicit VR LE we accepted for that context.
    const expectedTs = p.transferSyntaxUid === TS.ImplicitVRLittleEndian ? TS.ExplicitVRLittleEndian : p.transferSyntaxUid;
    assert.equal(inst.transferSyntaxUid, expectedTs, `${path.basename(f)} transfer syntax`);
    assert.equal(dataSetOf(inst.filePath).ts, expectedTs, 'stored file meta says the same');

    const sent = pixelBytes(f);
    const stored = pixelBytes(inst.filePath);
    assert.ok(sent && sent.length > 0, `${path.basename(f)} has pixel data`);
    assert.ok(stored, `${path.basename(f)}: stored instance has pixel data`);
    if (isEncapsulated(p.transferSyntaxUid)) {
      // dcmjs may rebuild the item structure (offset table, fragmentation); the compressed
      // bitstream must be unchanged.
      assert.deepEqual(
        Buffer.concat(fragmentPayloads(stored)),
        Buffer.concat(fragmentPayloads(sent)),
        `${path.basename(f)} compressed pixel data`,
      );
    } else {
      assert.equal(stored.length, sent.length, `${path.basename(f)} pixel data length`);
      assert.ok(stored.equals(sent), `${path.basename(f)} pixel data bytes`);
    }
  }
  const series = n.node.store.getSeries(readUid(synthetic[0]!, 'SeriesInstanceUID'));
  assert.ok(series, 'synthetic series indexed');
  assert.equal(series.instanceCount, 10);
});

function readUid(file: string, key: 'SeriesInstanceUID' | 'StudyInstanceUID'): string {
  const { ts, ds } = dataSetOf(file);
  const v = readDatasetHeader(ds, ts).attributes[key];
  assert.ok(typeof v === 'string' && v.length > 0, `${key} in ${file}`);
  return v;
}

test('dcmjs-dimse Client with a calling AE not listed is rejected (permanent, service user, calling AE not recognized)', async () => {
  const file = writeSyntheticCtSeries({ outDir: path.join(seriesDir, 'intruder'), count: 1, uidRoot: newUidRoot() })[0]!;
  const p = await prepareFile(file);
  const req = new CStoreRequest(file);
  const out = await runClient(n.port, 'INTRUDER', [req]);
  assert.equal(out.accepted, false);
  assert.deepEqual(out.rejected, {
    result: RejectResult.Permanent,
    source: RejectSource.ServiceUser,
    reason: RejectReason.CallingAeNotRecognized,
  });
  assert.equal(out.responses.size, 0, 'no C-STORE-RSP');
  assert.equal(n.node.store.getInstance(p.sopInstanceUid), undefined, 'nothing stored');
  assert.ok(
    n.logs.some((l) => l.includes('association rejected') && l.includes('INTRUDER')),
    'our node logged the rejection with the calling AE',
  );
});

// ---------------------------------------------------------------------------------------------
// Our SCU → dcmjs-dimse Server

interface Received {
  sopInstanceUid: string | undefined;
  affectedSopInstanceUid: string;
  transferSyntaxUid: string;
  raw: Buffer;
  dataset: InstanceType<typeof Dataset>;
  callingAe: string;
}
interface ScpAssociationRecord {
  callingAe: string;
  calledAe: string;
  proposed: { abstract: string; ts: string[] }[];
  accepted: { abstract: string; ts: string | undefined }[];
  /** Length field of every P-DATA-TF PDU that came in on this connection. */
  pDataLengths: number[];
}
/** The maximum PDU length this SCP announces (dcmjs-dimse would otherwise echo the requestor's). */
const SCP_MAX_PDU = 16384;
const scpLog = {
  associations: [] as ScpAssociationRecord[],
  stores: [] as Received[],
  echoes: 0,
  errors: [] as string[],
};

/** Transfer syntaxes this test SCP takes as they come (dcmjs parses them; nothing is decoded). */
const SCP_TRANSFER_SYNTAXES: string[] = [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
  TransferSyntax.RleLossless,
  TransferSyntax.JpegBaseline,
  TransferSyntax.JpegLossless,
  TransferSyntax.JpegLsLossless,
  TransferSyntax.JpegLsLossy,
  TransferSyntax.Jpeg2000Lossless,
  TransferSyntax.Jpeg2000Lossy,
];
const STORAGE_CLASSES = new Set<string>(Object.values(StorageClass as unknown as Record<string, string>));

class RecordingScp extends Scp {
  private assoc: DimseAssociation | undefined;
  private readonly rawByDataset = new WeakMap<object, { raw: Buffer; ts: string }>();
  private readonly pDataLengths: number[] = [];

  constructor(socket: Socket, opts?: ConstructorParameters<typeof Scp>[1]) {
    super(socket, opts);
    // Watch the PDU headers going by (type, reserved, 32-bit big-endian length), to check that
    // our SCU keeps to the maximum PDU length we announce.
    let pending = Buffer.alloc(0);
    let skip = 0;
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (skip > 0) {
          const n = Math.min(skip, pending.length);
          pending = pending.subarray(n);
          skip -= n;
          if (skip > 0) return;
        }
        if (pending.length < 6) return;
        const type = pending[0];
        const length = pending.readUInt32BE(2);
        if (type === 0x04) this.pDataLengths.push(length);
        pending = pending.subarray(6);
        skip = length;
      }
    });
  }

  override associationRequested(a: DimseAssociation): void {
    this.assoc = a;
    const rec: ScpAssociationRecord = {
      callingAe: a.getCallingAeTitle(),
      calledAe: a.getCalledAeTitle(),
      proposed: [],
      accepted: [],
      pDataLengths: this.pDataLengths,
    };
    scpLog.associations.push(rec);
    a.setMaxPduLength(SCP_MAX_PDU);
    if (a.getCalledAeTitle() !== 'DCMJS_SCP') {
      this.sendAssociationReject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.CalledAeNotRecognized);
      return;
    }
    for (const { id } of a.getPresentationContexts() as { id: number }[]) {
      const ctx: PresentationContext = a.getPresentationContext(id);
      // getTransferSyntaxUids() returns the context's own array, which setResult() empties and
      // refills: copy it before deciding (the README's example loops over it while calling
      // setResult, so it only ever looks at the first proposed syntax).
      const proposed = [...ctx.getTransferSyntaxUids()];
      const abstract = ctx.getAbstractSyntaxUid();
      rec.proposed.push({ abstract, ts: proposed });
      if (abstract !== SopClass.Verification && !STORAGE_CLASSES.has(abstract)) {
        ctx.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
        continue;
      }
      const pick = SCP_TRANSFER_SYNTAXES.find((ts) => proposed.includes(ts));
      if (pick) ctx.setResult(PresentationContextResult.Accept, pick);
      else ctx.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
      rec.accepted.push({ abstract, ts: pick });
    }
    this.sendAssociationAccept();
  }

  override cEchoRequest(request: InstanceType<typeof CEchoRequest>, callback: (r: InstanceType<typeof CEchoResponse>) => void): void {
    scpLog.echoes++;
    const rsp = CEchoResponse.fromRequest(request);
    rsp.setStatus(Status.Success);
    callback(rsp);
  }

  // Keep the data set's bytes exactly as they came off the wire, beside dcmjs's parse of them.
  override createDatasetFromStoreWritableStream(
    writable: Writable,
    ctx: PresentationContext,
    callback: (dataset: InstanceType<typeof Dataset>) => void,
  ): void {
    const raw = Buffer.from((writable as unknown as { toBuffer(): Buffer }).toBuffer());
    const ts = ctx.getAcceptedTransferSyntaxUid() ?? '';
    try {
      super.createDatasetFromStoreWritableStream(writable, ctx, (ds) => {
        this.rawByDataset.set(ds, { raw, ts });
        callback(ds);
      });
    } catch (e) {
      scpLog.errors.push(`dcmjs could not parse a received data set (${ts}): ${(e as Error).message}`);
      throw e;
    }
  }

  override cStoreRequest(request: InstanceType<typeof CStoreRequest>, callback: (r: InstanceType<typeof CStoreResponse>) => void): void {
    const ds = request.getDataset();
    const rsp = CStoreResponse.fromRequest(request);
    const got = ds ? this.rawByDataset.get(ds) : undefined;
    if (!ds || !got) {
      scpLog.errors.push('C-STORE-RQ without a recorded data set');
      rsp.setStatus(0xc000);
    } else {
      scpLog.stores.push({
        sopInstanceUid: ds.getElement('SOPInstanceUID'),
        affectedSopInstanceUid: request.getAffectedSopInstanceUid(),
        transferSyntaxUid: got.ts,
        raw: got.raw,
        dataset: ds,
        callingAe: this.assoc?.getCallingAeTitle() ?? '',
      });
      rsp.setStatus(Status.Success);
    }
    callback(rsp);
  }

  override associationReleaseRequested(): void {
    this.sendAssociationReleaseResponse();
  }
}

async function startDcmjsServer(): Promise<{ server: InstanceType<typeof Server>; port: number; host: string }> {
  const server = new Server(RecordingScp);
  const listening = new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('networkError', (e: Error) => reject(e));
  });
  server.listen({ port: 0, host: '127.0.0.1' } as unknown as number, { associationTimeout: 10_000, pduTimeout: 10_000 });
  await listening;
  const addr = (server as unknown as { server: { address(): { address: string; port: number } } }).server.address();
  return { server, port: addr.port, host: addr.address };
}

let dcmjsServer: { server: InstanceType<typeof Server>; port: number; host: string } | undefined;
async function dcmjsScp() {
  dcmjsServer ??= await startDcmjsServer();
  return dcmjsServer;
}
after(() => dcmjsServer?.server.close());

test('dcmjs-dimse Server listens on 127.0.0.1 only', async () => {
  const s = await dcmjsScp();
  assert.equal(s.host, '127.0.0.1');
  assert.ok(s.port > 0);
});

test('our ScuAssociation.echo() against dcmjs-dimse Server', async () => {
  const s = await dcmjsScp();
  const before = scpLog.echoes;
  const scu = await ScuAssociation.open({
    host: '127.0.0.1',
    port: s.port,
    callingAeTitle: 'DICOM_AI',
    calledAeTitle: 'DCMJS_SCP',
    contexts: [{ abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [TS.ExplicitVRLittleEndian, TS.ImplicitVRLittleEndian] }],
    implementationClassUid: IMPLEMENTATION_CLASS_UID,
    implementationVersionName: IMPLEMENTATION_VERSION_NAME,
    limits: { maxPduLength: 65536, maxCommandBytes: 64 * 1024, maxAssociateLength: 1024 * 1024, maxDataSetBytes: 0 },
    timeouts: { artimMs: 5000, idleMs: 5000 },
  });
  try {
    assert.deepEqual(
      scu.accepted.map((c) => [c.abstractSyntax, c.transferSyntax]),
      [[VERIFICATION_SOP_CLASS, TS.ExplicitVRLittleEndian]],
      'dcmjs-dimse accepted Verification in Explicit VR LE',
    );
    const rsp = await scu.echo();
    assert.equal(rsp.status, 0);
    assert.equal(scpLog.echoes, before + 1);
    assert.equal(scu.ac.userInformation.maxPduLength, SCP_MAX_PDU, 'dcmjs-dimse announced the maximum PDU length we set');
  } finally {
    if (!scu.assoc.isClosed()) await scu.release();
  }
  assert.equal(scu.assoc.isClosed(), true, 'released');
  const last = scpLog.associations.at(-1);
  assert.equal(last?.callingAe, 'DICOM_AI');
});

test('sendFiles to dcmjs-dimse Server: every file status 0, data sets arrive byte for byte', async () => {
  const s = await dcmjsScp();
  const synthetic = writeSyntheticCtSeries({
    outDir: path.join(seriesDir, 'to-dcmjs'),
    count: 3,
    uidRoot: newUidRoot(),
    rows: 128,
    columns: 128,
  });
  const files = [
    ...synthetic,
    pydicom('CT_small.dcm'), // Explicit VR LE
    pydicom('MR_small_implicit.dcm'), // Implicit VR LE
    pydicom('MR_small_jp2klossless.dcm'), // JPEG 2000 lossless, encapsulated
    pydicom('MR_small_RLE.dcm'), // RLE lossless, encapsulated
  ];
  const prepared: PreparedFile[] = await Promise.all(files.map((f) => prepareFile(f)));
  const assocBefore = scpLog.associations.length;
  const storesBefore = scpLog.stores.length;

  const results = await sendFiles({ aeTitle: 'DCMJS_SCP', host: '127.0.0.1', port: s.port }, prepared, {
    callingAeTitle: 'DICOM_AI',
    timeoutSeconds: 10,
  });

  assert.deepEqual(scpLog.errors, []);
  assert.deepEqual(
    results.map((r) => [path.basename(r.file), r.status, r.error ?? null]),
    files.map((f) => [path.basename(f), 0, null]),
    'every send returned status 0',
  );

  // One association; each (SOP class, transfer syntax) proposed alone and accepted as proposed.
  assert.equal(scpLog.associations.length, assocBefore + 1);
  const a = scpLog.associations[assocBefore]!;
  assert.equal(a.callingAe, 'DICOM_AI');
  assert.equal(a.calledAe, 'DCMJS_SCP');
  const wanted = new Set(prepared.map((p) => `${p.sopClassUid}|${p.transferSyntaxUid}`));
  assert.equal(a.proposed.length, wanted.size);
  for (const pc of a.proposed) assert.equal(pc.ts.length, 1);
  assert.deepEqual(new Set(a.accepted.map((c) => `${c.abstract}|${c.ts}`)), wanted);
  // Our SCU kept to the maximum PDU length dcmjs-dimse announced, splitting data sets as needed.
  assert.ok(a.pDataLengths.length > 2 * files.length, `data sets fragmented over several PDUs (${a.pDataLengths.length} P-DATA-TF)`);
  assert.ok(Math.max(...a.pDataLengths) <= SCP_MAX_PDU, `largest P-DATA-TF ${Math.max(...a.pDataLengths)} ≤ ${SCP_MAX_PDU}`);

  const got = scpLog.stores.slice(storesBefore);
  assert.equal(got.length, files.length, 'one C-STORE-RQ per file');
  for (let i = 0; i < files.length; i++) {
    const p = prepared[i]!;
    const r = got[i]!;
    const name = path.basename(p.file);
    assert.equal(r.callingAe, 'DICOM_AI');
    assert.equal(r.affectedSopInstanceUid, p.sopInstanceUid, `${name}: Affected SOP Instance UID`);
    assert.equal(r.sopInstanceUid, p.sopInstanceUid, `${name}: SOP Instance UID in the data set`);
    assert.equal(r.transferSyntaxUid, p.transferSyntaxUid, `${name}: sent in its own transfer syntax`);
    // sendFiles promises the file's data set bytes as they are on disk.
    const onDisk = fs.readFileSync(p.file).subarray(p.dataSetOffset);
    assert.equal(r.raw.length, onDisk.length, `${name}: data set length`);
    assert.ok(r.raw.equals(onDisk), `${name}: data set bytes as on disk`);

    // And dcmjs, an independent parser, finds the pixel data of the expected size in them.
    const px = pixelBytes(p.file);
    assert.ok(px, `${name} has pixel data`);
    const parsed = r.dataset.getElements().PixelData;
    assert.ok(Array.isArray(parsed), `${name}: dcmjs parsed PixelData`);
    const parsedLength = (parsed as ArrayBuffer[]).reduce((s, b) => s + b.byteLength, 0);
    const expected = isEncapsulated(p.transferSyntaxUid) ? Buffer.concat(fragmentPayloads(px)).length : px.length;
    assert.equal(parsedLength, expected, `${name}: pixel data length as dcmjs read it`);
  }
});

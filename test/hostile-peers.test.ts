// Hostile and broken peers: each is cut off at its limit, partial files are removed, the server
// survives and keeps answering C-ECHO on other associations promptly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { openTestScu } from './helpers/scu';
import { startTestNode, TestNode, waitFor } from './helpers/node';
import { run } from './helpers/run';
import { tmpDir } from './helpers/env';
import { encodeAssociateRQ, encodePDataHeader, PDU_TYPE } from '../src/dimse/pdu';
import { encodeCommand, COMMAND_FIELD } from '../src/dimse/command';
import { TS, VERIFICATION_SOP_CLASS } from '../src/dimse/uids';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { prepareFile } from '../src/delivery/send-files';
import { buildFileMetaInformation } from '../src/dicom/part10';

const CT = '1.2.840.10008.5.1.4.1.1.2';
let n: TestNode;

before(async () => {
  n = await startTestNode({ node: { idleTimeoutSeconds: 1, artimTimeoutSeconds: 1, maxAssociations: 6 } });
});
after(async () => {
  await n.stop();
});

function rq(callingAe = 'TESTSCU', contexts = [{ id: 1, abstractSyntax: CT, transferSyntaxes: [TS.ExplicitVRLittleEndian] }]): Buffer {
  return encodeAssociateRQ({
    protocolVersion: 1,
    calledAeTitle: 'DICOM_AI',
    callingAeTitle: callingAe,
    applicationContext: '1.2.840.10008.3.1.1.1',
    presentationContexts: contexts,
    userInformation: { maxPduLength: 16384, implementationClassUid: '1.2.3.4', roleSelections: [], otherItems: [] },
  });
}

interface RawPeer {
  socket: net.Socket;
  received: Buffer[];
  closed: Promise<number>; // ms from connect to close
}

function connectRaw(port: number): Promise<RawPeer> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    const received: Buffer[] = [];
    socket.on('data', (d) => received.push(d));
    const closed = new Promise<number>((r) => socket.on('close', () => r(Date.now() - t0)));
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve({ socket, received, closed }));
    socket.once('error', reject);
  });
}

/** Our SCU, as a well-behaved peer beside the hostile ones. */
function openScu(port: number, abstractSyntax: string) {
  return openTestScu(port, { contexts: [{ abstractSyntax, transferSyntaxes: [TS.ExplicitVRLittleEndian] }] });
}

/** Opens a real association and returns a C-ECHO round-trip timer on it. */
async function echoProbe(port: number) {
  const scu = await openScu(port, VERIFICATION_SOP_CLASS);
  return {
    scu,
    async time(): Promise<number> {
      const t0 = process.hrtime.bigint();
      const rsp = await scu.echo();
      assert.equal(rsp.status, 0);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    },
  };
}

// Liveness, not speed (bench:hostile prints C-ECHO latency under these attacks): a hostile peer
// that stalled the event loop would hold every C-ECHO for seconds.
const LIVENESS_CEILING_MS = 1000;

const timeout = (ms: number) => new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms));

function incomingFiles(): string[] {
  const dir = path.join(n.dataDir, 'incoming');
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

test('garbage bytes instead of an association request: connection cut, server fine', async () => {
  const p = await connectRaw(n.port);
  p.socket.write(randomBytes(4096));
  const ms = await Promise.race([p.closed, timeout(3000)]);
  assert.notEqual(ms, 'timeout', 'server kept a connection that sent garbage');
  const r = await run('echoscu', ['-aet', 'ECHOSCU', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port)]);
  assert.equal(r.code, 0);
});

test('a client that connects and stays silent is dropped after the ARTIM timeout', async () => {
  const p = await connectRaw(n.port);
  const ms = await Promise.race([p.closed, timeout(4000)]);
  assert.notEqual(ms, 'timeout', 'silent connection never closed');
  assert.ok((ms as number) >= 900, `closed after ${ms} ms, before the 1 s ARTIM timeout`);
  assert.ok(
    n.logs.some((l) => l.includes('ARTIM')),
    'ARTIM expiry logged',
  );
});

test('an association request claiming 2 GB is cut off at its header', async () => {
  const p = await connectRaw(n.port);
  const h = Buffer.alloc(6);
  h.writeUInt8(PDU_TYPE.AssociateRQ, 0);
  h.writeUInt32BE(0x7fffffff, 2);
  p.socket.write(h);
  const ms = await Promise.race([p.closed, timeout(2000)]);
  assert.notEqual(ms, 'timeout');
  assert.ok((ms as number) < 500, `took ${ms} ms to cut off`);
});

test('a P-DATA PDU claiming 2 GB is aborted at once while other associations keep echoing', async () => {
  const probe = await echoProbe(n.port);
  const p = await connectRaw(n.port);
  p.socket.write(rq());
  await waitFor(() => p.received.length > 0, 2000, 'A-ASSOCIATE-AC');
  assert.equal(p.received[0]![0], PDU_TYPE.AssociateAC);
  const h = Buffer.alloc(6);
  h.writeUInt8(PDU_TYPE.PData, 0);
  h.writeUInt32BE(0x7fffffff, 2);
  p.socket.write(h);
  // Keep pushing data as a flooding peer would; the server must have dropped us already.
  const flood = setInterval(() => {
    if (!p.socket.destroyed) p.socket.write(Buffer.alloc(1 << 20));
  }, 5);
  const times: number[] = [];
  for (let i = 0; i < 20; i++) times.push(await probe.time());
  const ms = await Promise.race([p.closed, timeout(2000)]);
  clearInterval(flood);
  assert.notEqual(ms, 'timeout', 'flooding peer not cut off');
  // (The A-ABORT we send may not reach a peer that floods us: closing with unread data makes
  // the kernel send RST. The log says why.)
  await waitFor(() => n.logs.some((l) => l.includes('P-DATA-TF PDU of 2147483647 bytes exceeds')), 2000, 'the abort reason in the log');
  assert.ok(
    Math.max(...times) < LIVENESS_CEILING_MS,
    `C-ECHO took up to ${Math.max(...times).toFixed(1)} ms meanwhile: the event loop was blocked`,
  );
  await probe.scu.release();
});

test('random bytes after a valid association request: aborted, server fine', async () => {
  const p = await connectRaw(n.port);
  p.socket.write(rq());
  await waitFor(() => p.received.length > 0, 2000, 'A-ASSOCIATE-AC');
  // 0xFF is no PDU type: the server must abort on it.
  p.socket.write(Buffer.concat([Buffer.from([0xff]), randomBytes(2000)]));
  const ms = await Promise.race([p.closed, timeout(2000)]);
  assert.notEqual(ms, 'timeout');
  const r = await run('echoscu', ['-aet', 'ECHOSCU', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port)]);
  assert.equal(r.code, 0);
});

test('a half-sent C-STORE is cut off by the idle timer and its partial file removed', async () => {
  const [file] = writeSyntheticCtSeries({ outDir: tmpDir('half'), count: 1, uidRoot: newUidRoot() });
  const f = await prepareFile(file!);
  const p = await connectRaw(n.port);
  p.socket.write(rq());
  await waitFor(() => p.received.length > 0, 2000, 'A-ASSOCIATE-AC');
  const cmd = encodeCommand({
    commandField: COMMAND_FIELD.C_STORE_RQ,
    messageId: 1,
    affectedSopClassUid: CT,
    affectedSopInstanceUid: f.sopInstanceUid,
    priority: 0,
    commandDataSetType: 0,
  });
  p.socket.write(Buffer.concat([encodePDataHeader(1, true, true, cmd.length), cmd]));
  const data = fs.readFileSync(file!).subarray(f.dataSetOffset, f.dataSetOffset + 8000);
  p.socket.write(Buffer.concat([encodePDataHeader(1, false, false, data.length), data]));
  // ...then a PDU header promising more than ever comes.
  p.socket.write(encodePDataHeader(1, false, true, 10000).subarray(0, 8));
  await waitFor(() => incomingFiles().length > 0, 2000, 'the partial file to exist');
  const probe = await echoProbe(n.port);
  const times: number[] = [];
  for (let i = 0; i < 10; i++) times.push(await probe.time());
  await probe.scu.release(); // before it idles out itself (1 s here)
  const ms = await Promise.race([p.closed, timeout(4000)]);
  assert.notEqual(ms, 'timeout', 'half-sent PDU kept the association open');
  await waitFor(() => incomingFiles().length === 0, 2000, 'the partial file to be removed');
  assert.equal(n.node.store.getInstance(f.sopInstanceUid), undefined, 'nothing indexed');
  assert.ok(Math.max(...times) < LIVENESS_CEILING_MS, `C-ECHO took up to ${Math.max(...times).toFixed(1)} ms: the event loop was blocked`);
  await waitFor(() => n.logs.some((l) => l.includes('partial instance removed')), 2000, 'the removal to be logged');
});

test('an association that never releases is closed by the idle timer', async () => {
  const probe = await echoProbe(n.port);
  await probe.time();
  const closed = new Promise<string>((r) => probe.scu.assoc.once('closed', (reason: string) => r(reason)));
  const reason = await Promise.race([closed, timeout(4000)]);
  assert.notEqual(reason, 'timeout', 'idle association not closed');
  assert.ok(
    n.logs.some((l) => l.includes('idle for 1 s')),
    'idle abort logged',
  );
});

test('beyond maxAssociations the caller gets A-ASSOCIATE-RJ "local limit exceeded"', async () => {
  const t = await startTestNode({ node: { maxAssociations: 2 } });
  try {
    const a = await echoProbe(t.port);
    const b = await echoProbe(t.port);
    const r = await run('echoscu', ['-aet', 'ECHOSCU', '-aec', 'DICOM_AI', '127.0.0.1', String(t.port)]);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /Local Limit Exceeded/i);
    assert.match(r.stdout + r.stderr, /Rejected Transient/i);
    await a.scu.release();
    await b.scu.release();
    await waitFor(() => t.node.activeAssociations === 0, 2000, 'associations to close');
    const r2 = await run('echoscu', ['-aet', 'ECHOSCU', '-aec', 'DICOM_AI', '127.0.0.1', String(t.port)]);
    assert.equal(r2.code, 0, 'accepted again once below the limit');
  } finally {
    await t.stop();
  }
});

const storeScu = (port: number) => openScu(port, CT);

test('a data set that cannot be parsed gets C000, nothing is kept, the association goes on', async () => {
  const dir = tmpDir('corrupt');
  const sop = `${newUidRoot()}.9`;
  const meta = buildFileMetaInformation({
    mediaStorageSopClassUid: CT,
    mediaStorageSopInstanceUid: sop,
    transferSyntaxUid: TS.ExplicitVRLittleEndian,
    implementationClassUid: '1.2.3.4',
  });
  // An element claiming more bytes than the data set holds, after a plausible start.
  const bad = Buffer.from([
    0x08,
    0x00,
    0x16,
    0x00,
    0x55,
    0x49,
    0x1a,
    0x00,
    ...Buffer.from('1.2.840.10008.5.1.4.1.1.2\0'),
    0x10,
    0x00,
    0x10,
    0x00,
    0x50,
    0x4e,
    0xff,
    0x7f,
    0x41,
    0x42,
  ]);
  const badFile = path.join(dir, 'bad.dcm');
  fs.writeFileSync(badFile, Buffer.concat([meta, bad]));
  const [good] = writeSyntheticCtSeries({ outDir: dir, count: 1, uidRoot: newUidRoot() });
  const scu = await storeScu(n.port);
  const r1 = await scu.storeFile(await prepareFile(badFile));
  assert.equal(r1.status, 0xc000);
  const g = await prepareFile(good!);
  const r2 = await scu.storeFile(g);
  assert.equal(r2.status, 0, 'next instance on the same association is stored');
  await scu.release();
  assert.equal(n.node.store.getInstance(sop), undefined);
  assert.ok(n.node.store.getInstance(g.sopInstanceUid));
  assert.equal(incomingFiles().length, 0);
  assert.ok(n.logs.some((l) => l.includes('cannot be parsed')));
});

test('an I/O error while filing answers A700 and removes the partial file', async () => {
  const t = await startTestNode();
  try {
    // The instances folder replaced by a file: every rename into it fails (ENOTDIR).
    fs.rmSync(path.join(t.dataDir, 'instances'), { recursive: true, force: true });
    fs.writeFileSync(path.join(t.dataDir, 'instances'), 'not a folder');
    const [file] = writeSyntheticCtSeries({ outDir: tmpDir('io'), count: 1, uidRoot: newUidRoot() });
    const scu = await storeScu(t.port);
    const f = await prepareFile(file!);
    const rsp = await scu.storeFile(f);
    await scu.release();
    assert.equal(rsp.status, 0xa700);
    assert.equal(t.node.store.getInstance(f.sopInstanceUid), undefined);
    assert.deepEqual(fs.readdirSync(path.join(t.dataDir, 'incoming')), []);
  } finally {
    await t.stop();
  }
});

test('an instance over maxInstanceBytes aborts the association and leaves nothing behind', async () => {
  const t = await startTestNode({ node: { maxInstanceBytes: 100_000 } });
  try {
    const [file] = writeSyntheticCtSeries({ outDir: tmpDir('big'), count: 1, uidRoot: newUidRoot() });
    const scu = await storeScu(t.port);
    const f = await prepareFile(file!);
    await assert.rejects(scu.storeFile(f));
    await waitFor(() => t.logs.some((l) => l.includes('bytes allowed for one instance')), 2000, 'the abort to be logged');
    await waitFor(() => fs.readdirSync(path.join(t.dataDir, 'incoming')).length === 0, 2000, 'partial file removal');
    assert.equal(t.node.store.getInstance(f.sopInstanceUid), undefined);
  } finally {
    await t.stop();
  }
});

// Connections not associated yet (silent, or rejected and lingering): bounded per remote address and overall, closed
// by a short timer, refusals logged once per address rather than once per socket; legitimate
// callers from other addresses keep getting through. And a real EMFILE on the listener (a child
// node with a low file-descriptor limit) is logged and survived.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { openTestScu } from './helpers/scu';
import { startTestNode, TestNode, waitFor } from './helpers/node';
import { tmpDir } from './helpers/env';
import { CLI } from './helpers/env';
import { freePort, writeConfig } from './helpers/child-node';
import { recordLogLines } from './helpers/log-sink';
import { encodeAssociateRQ } from '../src/dimse/pdu';
import { VERIFICATION_SOP_CLASS } from '../src/dimse/uids';

const PER_ADDRESS = 4;
const OVERALL = 10;
/** Long enough that the flood is judged before the timer frees anything, short enough for a test. */
const REQUEST_TIMEOUT_S = 3;

let n: TestNode;

before(async () => {
  const hosts = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
  n = await startTestNode({
    node: {
      maxPendingConnections: OVERALL,
      maxPendingConnectionsPerAddress: PER_ADDRESS,
      associationRequestTimeoutSeconds: REQUEST_TIMEOUT_S,
      artimTimeoutSeconds: 10,
    },
    callers: [
      { aeTitle: 'ECHOSCU', hosts },
      { aeTitle: 'TESTSCU', hosts },
    ],
  });
});
after(async () => {
  await n.stop();
});

interface Silent {
  socket: net.Socket;
  closed: Promise<void>;
  isClosed(): boolean;
}

/** A connection that sends nothing, from `localAddress` (127.0.0.0/8 is all loopback on Linux). */
function connectSilent(port: number, localAddress: string): Promise<Silent> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    let isClosed = false;
    const closed = new Promise<void>((r) =>
      socket.on('close', () => {
        isClosed = true;
        r();
      }),
    );
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve({ socket, closed, isClosed: () => isClosed }));
    socket.once('error', reject);
  });
}

async function flood(port: number, localAddress: string, count: number): Promise<Silent[]> {
  const out: Silent[] = [];
  // One after another: the server judges each connection as it is accepted.
  for (let i = 0; i < count; i++) out.push(await connectSilent(port, localAddress));
  return out;
}

function echoFrom(port: number, localAddress: string) {
  return openTestScu(port, { localAddress, callingAeTitle: 'ECHOSCU', connectTimeoutMs: 5000 }).then(async (scu) => {
    const rsp = await scu.echo();
    await scu.release();
    return rsp.status;
  });
}

const refusalLines = (address: string) =>
  n.logs.filter((l) => l.includes('too many pending connections') && l.includes(`"remote":"${address}"`));

async function drained(sockets: Silent[]): Promise<void> {
  await Promise.all(sockets.map((s) => s.closed));
}

test('72 silent connections from one address: only the per-address limit is held, the rest closed at once', async () => {
  const sockets = await flood(n.port, '127.0.0.1', 72);
  await waitFor(() => sockets.filter((s) => s.isClosed()).length >= 72 - PER_ADDRESS, 2000, 'the connections over the limit to be closed');
  assert.equal(sockets.filter((s) => !s.isClosed()).length, PER_ADDRESS, 'the first connections stay until the timer');

  // Another address still gets an association and a C-ECHO answer while the flood holds.
  assert.equal(await echoFrom(n.port, '127.0.0.2'), 0);
  // The flooding address itself is turned away until its silent connections time out...
  await assert.rejects(echoFrom(n.port, '127.0.0.1'));
  await drained(sockets);
  // ...and then it is served again.
  assert.equal(await echoFrom(n.port, '127.0.0.1'), 0);

  // A few log lines, not one per refused socket; the audit trail has the refusal with its reason.
  const lines = refusalLines('127.0.0.1');
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0]!, /maxPendingConnectionsPerAddress 4/);
  const audited = n.node.store.listAudit(200).filter((a) => a.event === 'connection-refused' && a.remoteAddress === '127.0.0.1');
  assert.equal(audited.length, 1);
  assert.match(n.node.metrics.render(), /dicom_ai_connections_refused_total\{reason="pending-limit"\} (6[89]|[7-9]\d)/);
});

test('a connection silent past associationRequestTimeoutSeconds is closed, well before ARTIM', async () => {
  const t0 = Date.now();
  const [s] = await flood(n.port, '127.0.0.3', 1);
  await s!.closed;
  const ms = Date.now() - t0;
  // ARTIM is 10 s in this test's configuration; the request timer is 3 s.
  assert.ok(ms < 9000, `closed after ${ms} ms`);
  await waitFor(() => n.logs.some((l) => l.includes(`no A-ASSOCIATE-RQ within ${REQUEST_TIMEOUT_S} s`)), 2000, 'the reason to be logged');
});

test('the overall limit: silent connections from many addresses fill it; another address is refused until they time out', async () => {
  const addresses = ['127.0.0.3', '127.0.0.4', '127.0.0.5'];
  const sockets: Silent[] = [];
  for (const a of addresses) sockets.push(...(await flood(n.port, a, PER_ADDRESS)));
  // 12 tried, OVERALL (10) held: the last two were over the overall limit.
  await waitFor(() => sockets.filter((s) => s.isClosed()).length >= sockets.length - OVERALL, 2000, 'the overflow to be closed');
  assert.equal(sockets.filter((s) => !s.isClosed()).length, OVERALL);
  await assert.rejects(echoFrom(n.port, '127.0.0.2'));
  assert.ok(
    n.logs.some((l) => l.includes('too many pending connections') && /maxPendingConnections 10\b/.test(l)),
    'overall-limit refusal logged',
  );
  await drained(sockets);
  assert.equal(await echoFrom(n.port, '127.0.0.2'), 0);
});

test('an association request sent in time is not held against the limits', async () => {
  // More successful associations from one address than the per-address limit, one after another
  // and overlapping: only connections still waiting for their A-ASSOCIATE-RQ count.
  const statuses = await Promise.all(Array.from({ length: PER_ADDRESS * 2 }, () => echoFrom(n.port, '127.0.0.6')));
  assert.deepEqual(statuses, new Array<number>(PER_ADDRESS * 2).fill(0));
});

test('errors on the listening servers after listen() (EMFILE...) are logged once and survived', async () => {
  const scp = n.node['scp'];
  const admin = n.node['admin']['server'];
  assert.ok(admin, 'the admin endpoint is running');
  const emfile = () => Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' });
  for (let i = 0; i < 5; i++) {
    for (const server of scp.listeningServers) server.emit('error', emfile());
    admin.emit('error', emfile());
  }
  // Still answering, on DICOM and on HTTP.
  assert.equal(await echoFrom(n.port, '127.0.0.1'), 0);
  const health = await fetch(`http://127.0.0.1:${n.node.adminPort}/healthz`);
  assert.equal(health.status, 200);
  // One line per listener and error code, not one per error.
  assert.equal(n.logs.filter((l) => l.includes('DICOM listener could not accept a connection')).length, 1);
  assert.equal(n.logs.filter((l) => l.includes('admin HTTP endpoint could not accept a connection')).length, 1);
  assert.ok(
    n.logs.some((l) => l.includes('ulimit -n')),
    'the log says what to do about EMFILE',
  );
});

test('descriptor exhaustion (a child node under ulimit -n 96, flooded with connections) is survived', async () => {
  const dir = tmpDir('emfile');
  const port = await freePort();
  const config = writeConfig(dir, port, {
    node: {
      aeTitle: 'DICOM_AI',
      host: '127.0.0.1',
      port,
      maxAssociations: 8,
      // Let the silent connections hold descriptors until accept() fails.
      maxPendingConnections: 4096,
      maxPendingConnectionsPerAddress: 4096,
      associationRequestTimeoutSeconds: 30,
    },
    admin: { enabled: false },
  });
  const proc = spawn('sh', ['-c', 'ulimit -n 96 && exec "$0" "$@"', process.execPath, CLI, 'serve', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const onData = (d: Buffer) => {
    out += d.toString();
    recordLogLines(String(d));
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const sockets: Silent[] = [];
  try {
    await waitFor(() => out.includes('storage SCP listening'), 15_000, `the child node to listen:\n${out}`);
    for (let i = 0; i < 150; i++) sockets.push(await connectSilent(port, '127.0.0.1'));
    // Over the descriptor limit, connections are closed by the kernel side of accept(); some
    // must have been, or the test did not exhaust anything.
    await waitFor(() => sockets.some((s) => s.isClosed()), 5000, 'connections over the descriptor limit to be closed');
    for (const s of sockets) s.socket.destroy();
    await drained(sockets);
    assert.equal(proc.exitCode, null, out);
    let status: number | null | undefined = null;
    for (let attempt = 0; attempt < 20 && status === null; attempt++) {
      status = await echoFrom(port, '127.0.0.1').catch(() => null);
      if (status === null) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status, 0, out);
  } finally {
    for (const s of sockets) s.socket.destroy();
    proc.kill('SIGTERM');
    await exited;
  }
});

test('rejected callers that keep their connection open count as pending too', async () => {
  const rq = encodeAssociateRQ({
    protocolVersion: 1,
    calledAeTitle: 'DICOM_AI',
    callingAeTitle: 'INTRUDER',
    applicationContext: '1.2.840.10008.3.1.1.1',
    presentationContexts: [{ id: 1, abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: ['1.2.840.10008.1.2'] }],
    userInformation: { maxPduLength: 16384, implementationClassUid: '1.2.3.4', roleSelections: [], otherItems: [] },
  });
  const lingering: Silent[] = [];
  const answers: Buffer[][] = [];
  try {
    for (let i = 0; i < PER_ADDRESS; i++) {
      const s = await connectSilent(n.port, '127.0.0.5');
      const got: Buffer[] = [];
      s.socket.on('data', (d: Buffer) => got.push(d));
      s.socket.write(rq);
      lingering.push(s);
      answers.push(got);
    }
    // Each got its A-ASSOCIATE-RJ (PDU type 3) and, not closing, waits for ARTIM (10 s here).
    await waitFor(() => answers.every((a) => a.length > 0), 3000, 'the rejections');
    assert.ok(answers.every((a) => a[0]![0] === 0x03));
    const extra = await connectSilent(n.port, '127.0.0.5');
    await Promise.race([extra.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('not refused')), 2000))]);
    assert.ok(lingering.every((s) => !s.isClosed()));
    assert.equal(await echoFrom(n.port, '127.0.0.6'), 0, 'another address is still served');
  } finally {
    for (const s of lingering) s.socket.destroy();
  }
});

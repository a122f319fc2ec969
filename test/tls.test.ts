// DICOM TLS with real DCMTK peers: echoscu/storescu +tls into the node, the node's SCU into
// storescp +tls; a client without a certificate, or with one from an unknown CA, is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { openTestScu } from './helpers/scu';
import { startTestNode, TestNode, waitFor } from './helpers/node';
import { run } from './helpers/run';
import { CLI, tmpDir } from './helpers/env';
import { freePort } from './helpers/child-node';
import { makeTestPki, TestPki } from './helpers/certs';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { readPart10Header } from '../src/dicom/part10';
import { parseConfig, ConfigError } from '../src/config/config';
import net from 'node:net';
import type { ScuAssociation } from '../src/dimse/scu';
import { tlsClientOptions } from '../src/dimse/tls';

let pki: TestPki;
let n: TestNode;
let tlsPort: number;

before(async () => {
  pki = makeTestPki();
  tlsPort = await freePort();
  n = await startTestNode({
    node: { tls: { port: tlsPort, certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.ca, requireClientCert: true } },
  });
});
after(async () => {
  await n.stop();
});

const dcmtkTls = (cert: string, key: string) => ['+tls', key, cert, '+cf', pki.ca];

test('echoscu +tls with a certificate from the trusted CA: C-ECHO over TLS succeeds', async () => {
  const r = await run('echoscu', [
    '-v',
    ...dcmtkTls(pki.clientCert, pki.clientKey),
    '-aet',
    'ECHOSCU',
    '-aec',
    'DICOM_AI',
    '127.0.0.1',
    String(tlsPort),
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /Received Echo Response \(Success\)/);
});

test('storescu +tls: instances arrive over TLS, stored byte for byte', async () => {
  const files = writeSyntheticCtSeries({ outDir: tmpDir('tls-in'), count: 5, uidRoot: newUidRoot() });
  const r = await run('storescu', [
    ...dcmtkTls(pki.clientCert, pki.clientKey),
    '-aet',
    'STORESCU',
    '-aec',
    'DICOM_AI',
    '127.0.0.1',
    String(tlsPort),
    ...files,
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const f of files) {
    const a = fs.readFileSync(f);
    const inst = n.node.store.getInstance(readPart10Header(a).sopInstanceUid);
    assert.ok(inst, 'stored');
    const b = fs.readFileSync(inst.filePath);
    assert.ok(a.subarray(readPart10Header(a).datasetOffset).equals(b.subarray(readPart10Header(b).datasetOffset)));
  }
});

test('a client without a certificate is refused when one is required', async () => {
  const r = await run('echoscu', ['+tla', '+cf', pki.ca, '-aet', 'ECHOSCU', '-aec', 'DICOM_AI', '127.0.0.1', String(tlsPort)]);
  assert.notEqual(r.code, 0);
  await waitFor(() => n.logs.some((l) => l.includes('TLS connection refused')), 2000, 'the refusal to be logged');
});

test('a client certificate from an unknown CA is refused', async () => {
  const before = n.logs.filter((l) => l.includes('TLS connection refused')).length;
  const r = await run('echoscu', [
    ...dcmtkTls(pki.rogueCert, pki.rogueKey),
    '-aet',
    'ECHOSCU',
    '-aec',
    'DICOM_AI',
    '127.0.0.1',
    String(tlsPort),
  ]);
  assert.notEqual(r.code, 0);
  await waitFor(() => n.logs.filter((l) => l.includes('TLS connection refused')).length > before, 2000, 'the refusal to be logged');
});

test('plain DICOM on the TLS port is refused; the plain port still works', async () => {
  const r = await run('echoscu', ['-aet', 'ECHOSCU', '-aec', 'DICOM_AI', '127.0.0.1', String(tlsPort)], { timeoutMs: 20_000 });
  assert.notEqual(r.code, 0);
  const plain = await run('echoscu', ['-aet', 'ECHOSCU', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port)]);
  assert.equal(plain.code, 0);
});

test("the node's SCU over TLS to DCMTK storescp +tls (echo and send); an untrusted server is refused", async () => {
  const port = await freePort();
  const out = tmpDir('tls-out');
  const scp = spawn('storescp', ['+tls', pki.serverKey, pki.serverCert, '+cf', pki.ca, '-aet', 'STORESCP', '-od', out, String(port)], {
    stdio: 'ignore',
  });
  try {
    await new Promise((r) => setTimeout(r, 400));
    const tlsArgs = ['--tls-ca', pki.ca, '--tls-cert', pki.clientCert, '--tls-key', pki.clientKey];
    const e = await run(process.execPath, [CLI, 'echo', '--to', `STORESCP@127.0.0.1:${port}`, ...tlsArgs]);
    assert.equal(e.code, 0, e.stdout + e.stderr);
    const files = writeSyntheticCtSeries({ outDir: tmpDir('tls-send'), count: 3, uidRoot: newUidRoot() });
    const s = await run(process.execPath, [CLI, 'send', path.dirname(files[0]!), '--to', `STORESCP@127.0.0.1:${port}`, ...tlsArgs]);
    assert.equal(s.code, 0, s.stdout + s.stderr);
    assert.equal(fs.readdirSync(out).length, 3);
    // Trusting another CA than the one that signed storescp's certificate: no association.
    const rogue = await run(process.execPath, [
      CLI,
      'echo',
      '--to',
      `STORESCP@127.0.0.1:${port}`,
      '--tls-ca',
      path.join(pki.dir, 'rogue-ca.crt'),
      '--tls-cert',
      pki.clientCert,
      '--tls-key',
      pki.clientKey,
    ]);
    assert.equal(rogue.code, 1);
    assert.match(rogue.stderr, /certificate/i);
  } finally {
    scp.kill('SIGKILL');
  }
});

test('TLS config is checked at start-up: missing files and a shared port are reported', () => {
  assert.throws(
    () =>
      parseConfig(
        {
          node: { port: 11112, tls: { port: 11112, certFile: '/nonexistent/server.crt', keyFile: pki.serverKey, requireClientCert: true } },
          callers: [{ aeTitle: 'A' }],
          storage: { dataDir: '/tmp' },
        },
        '/tmp',
      ),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const text = e.problems.join('\n');
      assert.match(text, /node\.tls\.port: 11112 is also the plain DICOM port/);
      assert.match(text, /node\.tls\.certFile: \/nonexistent\/server\.crt does not exist/);
      assert.match(text, /node\.tls\.caFile: missing/);
      return true;
    },
  );
});

// ---------------------------------------------------------------------------------------------
// TLS policy: TLS-only mode, callers that must use TLS, certificates bound to calling AE titles.

function echoAs(port: number, callingAeTitle: string, tlsFiles?: { cert: string; key: string }) {
  return openTestScu(port, {
    callingAeTitle,
    tls: tlsFiles ? tlsClientOptions({ caFile: pki.ca, certFile: tlsFiles.cert, keyFile: tlsFiles.key }, '127.0.0.1') : undefined,
  }).then(async (scu) => {
    const rsp = await scu.echo();
    await scu.release();
    return rsp.status;
  });
}

const tlsListener = (port: number, extra: Record<string, unknown> = {}) => ({
  port,
  certFile: pki.serverCert,
  keyFile: pki.serverKey,
  caFile: pki.ca,
  requireClientCert: true,
  ...extra,
});

test('node.port null: DICOM TLS only; no plain listener, TLS works, /readyz counts the TLS listener', async () => {
  const port = await freePort();
  const only = await startTestNode({ node: { port: null, maxPendingConnectionsPerAddress: 2, tls: tlsListener(port) } });
  try {
    assert.equal(only.node.port, 0, 'no plain listener');
    assert.equal(only.port, port, 'start() answers the TLS address');
    assert.ok(only.logs.some((l) => l.includes('DICOM TLS only')));
    assert.equal(await echoAs(port, 'ECHOSCU', { cert: pki.clientCert, key: pki.clientKey }), 0);
    // Established TLS associations no longer count as pending: more of them at once from one
    // address than maxPendingConnectionsPerAddress (2) are fine.
    // Opened one after another: opening them all at once would be 4 pending at the same time.
    const open: ScuAssociation[] = [];
    for (let i = 0; i < 4; i++)
      open.push(
        await openTestScu(port, {
          callingAeTitle: 'ECHOSCU',
          tls: tlsClientOptions({ caFile: pki.ca, certFile: pki.clientCert, keyFile: pki.clientKey }, '127.0.0.1'),
        }),
      );
    // One after another, so that at most one is pending at a time beside the 4 established.
    for (let i = 0; i < 3; i++) assert.equal(await echoAs(port, 'ECHOSCU', { cert: pki.clientCert, key: pki.clientKey }), 0);
    for (const scu of open) await scu.release();
    assert.deepEqual(
      only.node.readiness().find((c) => c.name === 'dicom-listener'),
      { name: 'dicom-listener', ok: true },
    );
  } finally {
    await only.stop();
  }
});

test('callers[].tls "required" and certificateNames: refused on the plain port and with the wrong certificate, logged and audited', async () => {
  const port = await freePort();
  const hosts = ['127.0.0.1', '::1'];
  const p = await startTestNode({
    node: { tls: tlsListener(port) },
    callers: [
      { aeTitle: 'SECURE', hosts, tls: 'required' },
      { aeTitle: 'BOUND', hosts, certificateNames: ['CLIENT'] },
      { aeTitle: 'BYSAN', hosts, certificateNames: ['localhost'] },
      { aeTitle: 'ECHOSCU', hosts },
    ],
  });
  const client = { cert: pki.clientCert, key: pki.clientKey };
  // The server certificate is also valid for client authentication, but names "server".
  const other = { cert: pki.serverCert, key: pki.serverKey };
  try {
    await assert.rejects(echoAs(p.port, 'SECURE'), /reject/i);
    assert.equal(await echoAs(port, 'SECURE', client), 0);
    assert.equal(await echoAs(port, 'SECURE', other), 0, 'tls "required" alone accepts any trusted certificate');

    await assert.rejects(echoAs(p.port, 'BOUND'), /reject/i);
    assert.equal(await echoAs(port, 'BOUND', client), 0, 'CN "client" matches "CLIENT" (case-insensitive)');
    await assert.rejects(echoAs(port, 'BOUND', other), /reject/i);
    // A subjectAltName value binds as well as the subject CN (the server certificate: DNS:localhost).
    assert.equal(await echoAs(port, 'BYSAN', other), 0);
    await assert.rejects(echoAs(port, 'BYSAN', client), /reject/i);
    // Callers without a TLS rule still use the plain port.
    assert.equal(await echoAs(p.port, 'ECHOSCU'), 0);

    const rejected = p.node.store.listAudit(100).filter((a) => a.event === 'association-rejected');
    const details = rejected.map((a) => `${a.callingAeTitle}: ${a.detail}`);
    assert.ok(
      details.some((d) => d.startsWith('SECURE: ') && /must connect over DICOM TLS/.test(d)),
      details.join('\n'),
    );
    assert.ok(
      details.some((d) => d.startsWith('BOUND: ') && /must connect over DICOM TLS/.test(d)),
      details.join('\n'),
    );
    assert.ok(
      details.some(
        (d) =>
          d.startsWith('BOUND: ') &&
          /bound to certificate names CLIENT, but the caller presented a client certificate naming server/.test(d),
      ),
      details.join('\n'),
    );
    assert.ok(
      details.some(
        (d) =>
          d.startsWith('BYSAN: ') &&
          /bound to certificate names localhost, but the caller presented a client certificate naming client$/.test(d),
      ),
      details.join('\n'),
    );
    assert.equal(p.logs.filter((l) => l.includes('association rejected')).length, 4);
  } finally {
    await p.stop();
  }
});

test('a TLS handshake that never starts is abandoned after node.tls.handshakeTimeoutSeconds', async () => {
  const port = await freePort();
  const p = await startTestNode({ node: { artimTimeoutSeconds: 30, tls: tlsListener(port, { handshakeTimeoutSeconds: 1 }) } });
  try {
    const t0 = Date.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    await new Promise<void>((r) => socket.on('close', () => r()));
    const ms = Date.now() - t0;
    assert.ok(ms < 10_000, `closed after ${ms} ms (Node's default handshake timeout is 120 s)`);
    await waitFor(
      () => p.logs.some((l) => l.includes('TLS connection refused') && /handshake timeout/i.test(l)),
      2000,
      'the refusal to be logged',
    );
  } finally {
    await p.stop();
  }
});

test('TLS policy config: port null needs node.tls; callers requiring TLS or certificates need a TLS listener asking for them', () => {
  const problems = (raw: Record<string, unknown>): string => {
    try {
      parseConfig({ storage: { dataDir: '/tmp' }, ...raw }, '/tmp');
      return '';
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.problems.join('\n');
    }
  };
  assert.match(
    problems({ node: { port: null }, callers: [{ aeTitle: 'A' }] }),
    /node\.port: null runs DICOM TLS only; then node\.tls is required/,
  );
  const noTls = problems({
    callers: [
      { aeTitle: 'A', tls: 'required' },
      { aeTitle: 'B', certificateNames: ['b.example'] },
    ],
  });
  assert.match(noTls, /callers\[0\]\.tls: "required", but node\.tls is not configured/);
  assert.match(noTls, /callers\[1\]\.certificateNames: node\.tls is not configured/);
  const noClientCert = problems({
    node: { tls: tlsListener(2762, { requireClientCert: false }) },
    callers: [{ aeTitle: 'B', certificateNames: ['b.example'] }],
  });
  assert.match(noClientCert, /callers\[0\]\.certificateNames: node\.tls\.requireClientCert is false/);
  assert.match(
    problems({ callers: [{ aeTitle: 'A', tls: 'always' }] }),
    /callers\[0\]\.tls: "always" should be one of: optional, required/,
  );
  assert.match(problems({ callers: [{ aeTitle: 'A', certificateNames: 'a.example' }] }), /write it as a list: \["a\.example"\]/);
  assert.equal(problems({ node: { port: null, tls: tlsListener(2762) }, callers: [{ aeTitle: 'A', tls: 'required' }] }), '');
});

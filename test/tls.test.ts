// DICOM TLS with real DCMTK peers: echoscu/storescu +tls into the node, the node's SCU into
// storescp +tls; a client without a certificate, or with one from an unknown CA, is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { startTestNode, TestNode, waitFor } from './helpers/node';
import { run } from './helpers/run';
import { CLI, tmpDir } from './helpers/env';
import { freePort } from './helpers/child-node';
import { makeTestPki, TestPki } from './helpers/certs';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { readPart10Header } from '../src/dicom/part10';
import { parseConfig, ConfigError } from '../src/config/config';

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

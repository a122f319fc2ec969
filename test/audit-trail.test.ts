// The audit trail's fan-out alone: SQLite always, the JSON-lines file when configured, syslog when
// configured; a copy that cannot be written is logged and never stops the caller.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { tmpDir } from './helpers/env';
import { AuditTrail } from '../src/log/audit';
import { createLogger } from '../src/log/logger';
import { Store } from '../src/store/store';

function capturingLogger(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
  return { log: createLogger({ level: 'info', stream, silentConsole: true }), lines };
}

test('audit trail: every event in SQLite, in the JSON-lines file with the node and an ISO time, and to syslog', async () => {
  const dir = tmpDir('audit');
  const store = new Store(path.join(dir, 'db.sqlite'), { durableFiles: false });
  const file = path.join(dir, 'audit.jsonl');
  const collector = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => collector.bind(0, '127.0.0.1', resolve));
  const datagram = new Promise<string>((resolve) => collector.once('message', (m) => resolve(m.toString('utf8'))));
  const { log } = capturingLogger();
  const trail = new AuditTrail(
    store,
    { file, syslog: { host: '127.0.0.1', port: collector.address().port, appName: 'test-node' } },
    'NODE_AE',
    log,
  );
  try {
    trail.sink({ event: 'job-retried', outcome: 'success', seriesInstanceUid: '1.2.3', detail: 'job 1 (r)' });
    const [stored] = store.listAudit(10);
    assert.equal(stored?.event, 'job-retried');
    assert.equal(stored.seriesInstanceUid, '1.2.3');
    const line = JSON.parse(fs.readFileSync(file, 'utf8').trim()) as Record<string, unknown>;
    assert.equal(line.event, 'job-retried');
    assert.equal(line.node, 'NODE_AE');
    assert.match(String(line.at), /^\d{4}-\d\d-\d\dT/);
    assert.match(await datagram, /test-node \d+ job-retried - \ufeff\{.*"node":"NODE_AE"/);
  } finally {
    trail.close();
    collector.close();
    store.close();
  }
});

test('audit trail: a file that cannot be written and a closed database are logged, never thrown', async () => {
  const dir = tmpDir('audit-fail');
  const store = new Store(path.join(dir, 'db.sqlite'), { durableFiles: false });
  const { log, lines } = capturingLogger();
  const trail = new AuditTrail(store, { file: path.join(dir, 'no-such-folder', 'audit.jsonl'), syslog: null }, 'NODE_AE', log);
  store.close();
  assert.doesNotThrow(() => trail.record({ event: 'application-stop', outcome: 'success' }));
  await new Promise((resolve) => setImmediate(resolve)); // the log lines reach the capture
  assert.ok(lines.some((l) => l.includes('could not record an audit event')));
  assert.ok(lines.some((l) => l.includes('could not append to the audit file')));
  trail.close();
});

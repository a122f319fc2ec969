import { test } from 'node:test';
import assert from 'node:assert/strict';

import { parseConfig } from '../src/config/config';
import { checkCaller } from '../src/ingest/caller-policy';
import { LogThrottle } from '../src/log/throttle';

test('checkCaller applies the caller list', () => {
  const cfg = parseConfig({ callers: [{ aeTitle: 'CT01', hosts: ['10.0.0.5', '::1'] }, { aeTitle: 'ANY' }] }, '/x');
  assert.equal(checkCaller(cfg, 'CT01', '10.0.0.5').allowed, true);
  assert.equal(checkCaller(cfg, 'CT01 ', '::ffff:10.0.0.5').allowed, true);
  assert.equal(checkCaller(cfg, 'CT01', '0:0:0:0:0:0:0:1').allowed, true);
  assert.equal(checkCaller(cfg, 'CT01', '10.0.0.6').allowed, false);
  assert.equal(checkCaller(cfg, 'ANY', '192.168.1.1').allowed, true);
  const unknown = checkCaller(cfg, 'MR01', '10.0.0.5');
  assert.equal(unknown.allowed, false);
  assert.equal(checkCaller({ ...cfg, acceptAnyCaller: true }, 'MR01', '10.0.0.5').allowed, true);
});

test('checkCaller applies the transport rules: tls "required" and certificateNames', () => {
  const cfg = parseConfig(
    {
      node: { tls: { port: 2762, certFile: __filename, keyFile: __filename, caFile: __filename } },
      callers: [
        { aeTitle: 'OPEN' },
        { aeTitle: 'SECURE', tls: 'required' },
        { aeTitle: 'BOUND', hosts: ['10.0.0.5'], certificateNames: ['ct01.hospital.example', 'urn:ct01'] },
      ],
    },
    '/x',
  );
  const plain = { kind: 'plain', certificateNames: [] } as const;
  const tls = (...names: string[]) => ({ kind: 'tls', certificateNames: names }) as const;
  const why = (c: ReturnType<typeof checkCaller>) => (c.allowed ? 'allowed' : c.reason);

  assert.equal(why(checkCaller(cfg, 'OPEN', '10.0.0.9', plain)), 'allowed');
  assert.equal(why(checkCaller(cfg, 'OPEN', '10.0.0.9', tls())), 'allowed');
  assert.match(why(checkCaller(cfg, 'SECURE', '10.0.0.9', plain)), /must connect over DICOM TLS \("tls": "required"/);
  // Without a transport the caller is taken to be on the plain port (the safe default).
  assert.match(why(checkCaller(cfg, 'SECURE', '10.0.0.9')), /must connect over DICOM TLS/);
  assert.equal(why(checkCaller(cfg, 'SECURE', '10.0.0.9', tls())), 'allowed');

  assert.match(why(checkCaller(cfg, 'BOUND', '10.0.0.5', plain)), /must connect over DICOM TLS \("certificateNames" listed/);
  assert.match(why(checkCaller(cfg, 'BOUND', '10.0.0.5', tls())), /presented no verified client certificate/);
  assert.match(why(checkCaller(cfg, 'BOUND', '10.0.0.5', tls('mr01.hospital.example'))), /naming mr01\.hospital\.example/);
  assert.equal(why(checkCaller(cfg, 'BOUND', '10.0.0.5', tls('CT01.Hospital.Example'))), 'allowed');
  assert.equal(why(checkCaller(cfg, 'BOUND', '10.0.0.5', tls('other', 'urn:ct01'))), 'allowed');
  // The address rule still comes first.
  assert.match(why(checkCaller(cfg, 'BOUND', '10.0.0.6', tls('urn:ct01'))), /not allowed from 10\.0\.0\.6/);
});

test('LogThrottle: the first occurrence per key at once, then one per interval with the count held back', () => {
  let now = 0;
  const t = new LogThrottle(1000, () => now);
  assert.deepEqual(t.take('a'), { log: true, heldBack: 0 });
  assert.deepEqual(t.take('a'), { log: false, heldBack: 1 });
  assert.deepEqual(t.take('b'), { log: true, heldBack: 0 });
  assert.deepEqual(t.take('a'), { log: false, heldBack: 2 });
  now = 1000;
  assert.deepEqual(t.take('a'), { log: true, heldBack: 2 });
  assert.deepEqual(t.take('a'), { log: false, heldBack: 1 });
});

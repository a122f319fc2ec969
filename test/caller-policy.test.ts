import { test } from 'node:test';
import assert from 'node:assert/strict';

import { parseConfig } from '../src/config/config';
import { checkCaller } from '../src/ingest/caller-policy';

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

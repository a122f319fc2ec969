// Application log lines carry uidRefs, never original study/series/instance UIDs: in messages,
// fields, error texts and file paths. Standard UIDs (SOP classes, transfer syntaxes), IPv4
// addresses and version numbers are left as they are. Audit free text likewise; the audit's own
// study/series fields (ATNA participant objects) keep the UIDs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../src/log/logger';
import { hashUidsIn, setUidRefKey, uidRef } from '../src/log/uid-ref';
import { DicomNode } from '../src/node';
import { testConfig } from './helpers/node';
import { tmpDir } from './helpers/env';
import { recordLogLines } from './helpers/log-sink';

const STUDY = '1.2.826.0.1.3680043.8.498.11111111111';
const SERIES = `${STUDY}.2`;
const SOP = `${SERIES}.3`;

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      recordLogLines(String(chunk));
      cb();
    },
  });
  return { lines, stream };
}

test('uidRef: stable for one key, different under another; UIDs in text replaced, standard UIDs, addresses and versions kept', () => {
  setUidRefKey(Buffer.alloc(32, 1));
  const a = uidRef(SOP);
  assert.match(a, /^uid:[0-9a-f]{16}$/);
  assert.equal(uidRef(SOP), a);
  assert.notEqual(uidRef(SERIES), a);
  setUidRefKey(Buffer.alloc(32, 2));
  assert.notEqual(uidRef(SOP), a, 'keyed by the installation secret');
  const text = `instance ${SOP} could not be de-identified; file /data/instances/${STUDY}/${SERIES}/${SOP}.dcm from 127.0.0.1 SOP class 1.2.840.10008.5.1.4.1.1.2 version 1.2.3`;
  const out = hashUidsIn(text);
  for (const uid of [STUDY, SERIES, SOP]) assert.ok(!out.includes(uid), out);
  assert.ok(out.includes(`instance ${uidRef(SOP)} could not`), out);
  assert.ok(out.includes(`/${uidRef(SOP)}.dcm`), out);
  for (const kept of ['127.0.0.1', '1.2.840.10008.5.1.4.1.1.2', 'version 1.2.3']) assert.ok(out.includes(kept), out);
});

test('log lines: UIDs in the message, fields, nested arrays and objects become uidRefs', () => {
  const { lines, stream } = capture();
  const log = createLogger({ level: 'info', stream, silentConsole: true });
  log.error(`instance ${SOP} failed`, {
    error: `ENOENT: /x/${SERIES}/${SOP}.dcm`,
    warnings: [`slice ${SOP} skipped`],
    nested: { series: SERIES },
  });
  const line = lines.join('');
  for (const uid of [STUDY, SERIES, SOP]) assert.ok(!line.includes(uid), line);
  assert.ok(line.includes(uidRef(SOP)), line);
});

test('a running node: a stored file it cannot re-index is logged by its path with uidRefs, not the original UIDs', async () => {
  const dataDir = tmpDir('uidref-node');
  const seriesDir = path.join(dataDir, 'instances', STUDY, SERIES);
  fs.mkdirSync(seriesDir, { recursive: true });
  fs.writeFileSync(path.join(seriesDir, `${SOP}.dcm`), 'not a DICOM file');
  fs.writeFileSync(path.join(dataDir, '.running'), 'an unclean stop\n'); // so that the node re-indexes
  const { lines, stream } = capture();
  const node = new DicomNode(testConfig(dataDir), createLogger({ level: 'debug', stream, silentConsole: true }));
  await node.start();
  try {
    const failed = lines.find((l) => l.includes('stored file could not be re-indexed'));
    assert.ok(failed, lines.join(''));
    for (const uid of [STUDY, SERIES, SOP]) assert.ok(!lines.join('').includes(uid), `original UID in the log: ${failed}`);
    assert.ok(failed.includes(`${uidRef(SOP)}.dcm`), failed);
  } finally {
    await node.stop(100);
  }
});

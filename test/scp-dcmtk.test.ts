// The Storage SCP against real DCMTK peers (echoscu, storescu, storescp from Debian's dcmtk).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ChildProcess, spawn } from 'node:child_process';
import { startTestNode, TestNode } from './helpers/node';
import { run } from './helpers/run';
import { SHARED_DICOM, tmpDir } from './helpers/env';
import { dataSetOf, pixelBytes } from './helpers/pixels';
import { expandPaths } from '../src/delivery/send-files';
import { readPart10Header } from '../src/dicom/part10';
import { readDatasetHeader } from '../src/dicom/dataset-reader';
import type { InstanceRecord, SeriesRow } from '../src/store/store';
import { LOSSY_TRANSFER_SYNTAXES, STORAGE_TRANSFER_SYNTAX_PREFERENCE } from '../src/dimse/uids';
import { newUidRoot, writeSyntheticCtSeries, SYNTHETIC_PATIENT } from '../fixtures/synthetic-ct';

let n: TestNode;
before(async () => {
  n = await startTestNode();
});
after(async () => {
  await n.stop();
});

/** The instance indexed last (the latest arrival; a re-sent instance counts as arriving again). */
function newestInstance(
  t: TestNode,
): { filePath: string; transferSyntaxUid: string; sopInstanceUid: string; receivedAt: number } | undefined {
  let newest: InstanceRecord | undefined;
  for (const inst of t.node.store.listInstances()) if (!newest || inst.receivedAt >= newest.receivedAt) newest = inst;
  return newest;
}

/**
 * storescu proposes a compressed transfer syntax only when told to (-x options); without it, it
 * tries to decompress and fails. For each file, the option that makes it send the file as it is.
 */
const STORESCU_TS_OPTION: Record<string, string> = {
  '1.2.840.10008.1.2.1.99': '-xd',
  '1.2.840.10008.1.2.2': '-xb',
  '1.2.840.10008.1.2': '-xi',
  '1.2.840.10008.1.2.4.50': '-xy',
  '1.2.840.10008.1.2.4.51': '-xx',
  '1.2.840.10008.1.2.4.70': '-xs',
  '1.2.840.10008.1.2.4.80': '-xt',
  '1.2.840.10008.1.2.4.81': '-xu',
  '1.2.840.10008.1.2.4.90': '-xv',
  '1.2.840.10008.1.2.4.91': '-xw',
  '1.2.840.10008.1.2.5': '-xr',
};

function fileTransferSyntax(f: string): string {
  try {
    return readPart10Header(fs.readFileSync(f)).transferSyntaxUid;
  } catch {
    return '';
  }
}

function hasStudyAndSeries(f: string): boolean {
  try {
    const { ts, ds } = dataSetOf(f);
    const a = readDatasetHeader(ds, ts === '1.2.840.10008.1.2.1.99' ? '1.2.840.10008.1.2.1' : ts).attributes;
    return Boolean(a.StudyInstanceUID && a.SeriesInstanceUID);
  } catch {
    return true;
  }
}

/** -R: propose only the file's SOP class (storescu's default list lacks SEG, newer SR, RT...). */
function storescuArgsFor(f: string): string[] {
  const opt = STORESCU_TS_OPTION[fileTransferSyntax(f)];
  return opt ? ['-R', opt] : ['-R'];
}

const storescu = (port: number, files: string[], extra: string[] = []) =>
  run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', ...extra, '127.0.0.1', String(port), ...files], { timeoutMs: 60_000 });

test('C-ECHO from echoscu succeeds', async () => {
  const r = await run('echoscu', ['-v', '-aet', 'ECHOSCU', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port)]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout + r.stderr, /Received Echo Response \(Success\)/);
});

test('unknown calling AE is rejected: permanent, service user, calling AE not recognized', async () => {
  const r = await run('echoscu', ['-aet', 'INTRUDER', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port)]);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /Calling AE Title Not Recognized/);
  assert.ok(
    n.logs.some((l) => l.includes('association rejected') && l.includes('INTRUDER') && l.includes('not listed')),
    'rejection logged with calling AE and why',
  );
});

test('wrong called AE is rejected: called AE not recognized', async () => {
  const r = await run('echoscu', ['-aet', 'ECHOSCU', '-aec', 'NOT_US', '127.0.0.1', String(n.port)]);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /Called AE Title Not Recognized/);
});

test('listed AE from a host not in its allow-list is rejected', async () => {
  const t = await startTestNode({ callers: [{ aeTitle: 'ECHOSCU', hosts: ['::1'] }] });
  try {
    const r = await run('echoscu', ['-aet', 'ECHOSCU', '-aec', 'DICOM_AI', '127.0.0.1', String(t.port)]);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /Calling AE Title Not Recognized/);
    assert.ok(t.logs.some((l) => l.includes('not allowed from 127.0.0.1')));
  } finally {
    await t.stop();
  }
});

test('acceptAnyCaller lets an unlisted AE in', async () => {
  const t = await startTestNode({ acceptAnyCaller: true, callers: [] });
  try {
    const r = await run('echoscu', ['-aet', 'ANYONE', '-aec', 'DICOM_AI', '127.0.0.1', String(t.port)]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  } finally {
    await t.stop();
  }
});

test('a transfer syntax we do not accept is refused per presentation context', async () => {
  const file = path.join(SHARED_DICOM, 'pydicom', 'CT_small.dcm');
  // -xm proposes MPEG2 only: the context must be refused, nothing stored.
  const before = n.node.store.listInstances().length;
  const r = await storescu(n.port, [file], ['-xm', '-v']);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /No presentation context|no acceptable presentation context|not supported/i);
  assert.equal(n.node.store.listInstances().length, before);
});

test('every file of the shared corpus that DCMTK can send is stored with identical pixel data', async (t) => {
  const refDir = tmpDir('storescp-ref');
  const refPort = 40000 + Math.floor(Math.random() * 20000);
  const ref: ChildProcess = spawn('storescp', ['+xa', '--ignore', '-od', refDir, String(refPort)], {
    stdio: 'ignore',
    env: { ...process.env, TCP_NODELAY: '1' },
  });
  await new Promise((r) => setTimeout(r, 300));
  const files = expandPaths([SHARED_DICOM]).filter(
    (f) => !/(LICEN[CS]E|README|PROVENANCE|FileInfo|\.txt|\.md|\.sh)$/i.test(path.basename(f)) && !/DICOMDIR/.test(f),
  );
  let stored = 0;
  let compared = 0;
  const refusedByUsOnly: string[] = [];
  const accepted = new Set(STORAGE_TRANSFER_SYNTAX_PREFERENCE);
  try {
    for (const f of files) {
      const rel = path.relative(SHARED_DICOM, f);
      const t0 = Date.now();
      const r = await storescu(n.port, [f], ['-v', ...storescuArgsFor(f)]);
      if (r.code === 0) {
        const inst = newestInstance(n);
        assert.ok(inst && inst.receivedAt >= t0 - 5, `${rel}: storescu succeeded but no instance was indexed`);
        assert.ok(fs.existsSync(inst.filePath), `${rel}: indexed file missing`);
        const check = await run('dcmftest', [inst.filePath]);
        assert.match(check.stdout, /^yes:/, `${rel}: stored file is not a valid Part 10 file`);
        stored++;
        // Byte comparison where the source is a Part 10 file sent in its own transfer syntax.
        let src: { ts: string } | null = null;
        try {
          src = dataSetOf(f);
        } catch {
          src = null; // no file meta (DCMTK guessed the encoding): stored, but nothing to compare to
        }
        if (src && src.ts === inst.transferSyntaxUid) {
          const a = pixelBytes(f);
          const b = pixelBytes(inst.filePath);
          if (a) {
            assert.ok(b, `${rel}: stored copy lost its pixel data`);
            // DCMTK pads an odd-length value to even length when it encodes the data set it sends.
            const dcmtkPadded = a.length % 2 === 1 && b.length === a.length + 1 && b.subarray(0, a.length).equals(a);
            assert.ok(a.equals(b) || dcmtkPadded, `${rel}: pixel data differs after storage`);
            compared++;
          }
        }
      } else {
        const refRun = await run('storescu', [
          '-aet',
          'STORESCU',
          '-aec',
          'ANY-SCP',
          ...storescuArgsFor(f),
          '127.0.0.1',
          String(refPort),
          f,
        ]);
        if (refRun.code === 0 && !hasStudyAndSeries(f)) {
          // DCMTK files anything; we refuse what cannot be filed under a study and series (A900).
          assert.match(r.stdout + r.stderr, /DataSetDoesNotMatchSOPClass|a900/i, `${rel}: expected status A900`);
          refusedByUsOnly.push(`${rel} (no Study/Series Instance UID)`);
        } else if (refRun.code === 0) {
          // storescp took it and we did not: only acceptable for a transfer syntax we refuse on purpose.
          const ts = fileTransferSyntax(f);
          assert.ok(ts && !accepted.has(ts), `${rel}: DCMTK storescp accepts it but the node refused it:\n${r.stdout}${r.stderr}`);
          refusedByUsOnly.push(`${rel} (${ts})`);
        }
      }
    }
  } finally {
    ref.kill('SIGKILL');
  }
  t.diagnostic(
    `stored ${stored} of ${files.length} files; pixel data compared byte for byte on ${compared}; refused on purpose: ${refusedByUsOnly.join(', ') || 'none'}`,
  );
  assert.ok(stored >= 120, `only ${stored} files stored`);
  assert.ok(compared >= 90, `only ${compared} pixel comparisons`);
});

test('multi-syntax proposals (-xs, -xv, -xt, -xr, -xd, +C combined) and --max-pdu extremes', async () => {
  const dir = tmpDir('pdu');
  const files = writeSyntheticCtSeries({ outDir: dir, count: 3, uidRoot: newUidRoot() });
  const sops = files.map((f) => readPart10Header(fs.readFileSync(f)).sopInstanceUid);
  const cases: { args: string[]; ts: string | null }[] = [
    // Separate contexts per syntax: the caller uses the one matching its file.
    // (which one storescu then uses is its choice; ts null = any lossless one)
    ...['-xs', '-xv', '-xt', '-xr', '-xd', '-xb', '-xi'].map((o) => ({ args: [o], ts: null as string | null })),
    // One context with several syntaxes: our preference decides (Explicit VR LE first).
    { args: ['+C', '-xs'], ts: '1.2.840.10008.1.2.1' },
    { args: ['+C', '-xy'], ts: '1.2.840.10008.1.2.1' },
    { args: ['+C', '-xd'], ts: '1.2.840.10008.1.2.1' },
    { args: ['+C', '-xi'], ts: '1.2.840.10008.1.2' },
    { args: ['--max-pdu', '4096'], ts: '1.2.840.10008.1.2.1' },
    { args: ['--max-pdu', '131072'], ts: '1.2.840.10008.1.2.1' },
    { args: ['--max-send-pdu', '4096'], ts: '1.2.840.10008.1.2.1' },
  ];
  for (const c of cases) {
    const r = await storescu(n.port, files, c.args);
    assert.equal(r.code, 0, `${c.args.join(' ')}: ${r.stdout}${r.stderr}`);
    for (let i = 0; i < files.length; i++) {
      const inst = n.node.store.getInstance(sops[i]!);
      assert.ok(inst, 'instance indexed');
      if (c.ts) assert.equal(inst.transferSyntaxUid, c.ts, `${c.args.join(' ')}: negotiated transfer syntax`);
      else assert.ok(!LOSSY_TRANSFER_SYNTAXES.has(inst.transferSyntaxUid), `${c.args.join(' ')}: lossy syntax negotiated`);
      if (inst.transferSyntaxUid === '1.2.840.10008.1.2.1')
        assert.ok(pixelBytes(files[i]!)!.equals(pixelBytes(inst.filePath)!), 'pixels identical');
      const check = await run('dcmftest', [inst.filePath]);
      assert.match(check.stdout, /^yes:/);
    }
  }
});

test('same SOP Instance UID sent twice is accepted and replaces the stored copy', async () => {
  const dir = tmpDir('dup');
  const [file] = writeSyntheticCtSeries({ outDir: dir, count: 1, uidRoot: newUidRoot() });
  const sop = readPart10Header(fs.readFileSync(file!)).sopInstanceUid;
  assert.equal((await storescu(n.port, [file!])).code, 0);
  assert.equal((await storescu(n.port, [file!])).code, 0);
  const rows = n.node.store.listInstances().filter((i) => i.sopInstanceUid === sop);
  assert.equal(rows.length, 1);
  const inst = n.node.store.getInstance(sop)!;
  assert.equal(inst.receiveCount, 2);
  const series = n.node.store.getSeries(inst.seriesInstanceUid)!;
  assert.equal(series.instanceCount, 1);
  assert.ok(fs.readFileSync(inst.filePath).subarray(132).length > 0);
});

test('series state: receiving, then stable after the quiet time, reopened by a late instance', async () => {
  const t = await startTestNode({ series: { stableSeconds: 1 } });
  try {
    const dir = tmpDir('stable');
    const files = writeSyntheticCtSeries({ outDir: dir, count: 4, uidRoot: newUidRoot() });
    const stableEvents: string[] = [];
    t.node.on('series-stable', (s: SeriesRow) => stableEvents.push(s.seriesInstanceUid));
    assert.equal((await storescu(t.port, files.slice(0, 3))).code, 0);
    const [s] = t.node.listSeries();
    assert.equal(s!.state, 'receiving');
    assert.equal(s!.instanceCount, 3);
    await new Promise((r) => setTimeout(r, 1600));
    assert.equal(t.node.listSeries()[0]!.state, 'stable');
    assert.equal(stableEvents.length, 1);
    assert.equal((await storescu(t.port, files.slice(3))).code, 0);
    assert.equal(t.node.listSeries()[0]!.state, 'receiving');
    assert.equal(t.node.listSeries()[0]!.instanceCount, 4);
    await new Promise((r) => setTimeout(r, 1600));
    assert.equal(t.node.listSeries()[0]!.state, 'stable');
    assert.equal(stableEvents.length, 2);
  } finally {
    await t.stop();
  }
});

test('no patient name, ID or birth date in any log line', async () => {
  const dir = tmpDir('phi');
  const files = writeSyntheticCtSeries({ outDir: dir, count: 2, uidRoot: newUidRoot() });
  assert.equal((await storescu(n.port, files)).code, 0);
  const all = n.logs.join('\n');
  assert.ok(n.logs.length > 10, 'there are log lines to check');
  for (const v of [SYNTHETIC_PATIENT.name, SYNTHETIC_PATIENT.id, SYNTHETIC_PATIENT.birthDate, 'SYNTHETIC^PATIENT'])
    assert.ok(!all.includes(v), `log contains ${v}`);
  // Patient data is in the database, where it belongs.
  const sent = n.node.store.getInstance(readPart10Header(fs.readFileSync(files[0]!)).sopInstanceUid)!;
  assert.equal(n.node.store.getStudy(sent.studyInstanceUid)?.patientName, SYNTHETIC_PATIENT.name);
});

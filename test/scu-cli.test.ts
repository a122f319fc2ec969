// The node's own SCU (CLI `send` / `echo`) against DCMTK storescp and against the node itself,
// and the CLI's `status`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { CLI, PROJECT_ROOT, SHARED_DICOM, tmpDir } from './helpers/env';
import { run } from './helpers/run';
import { freePort, startChildNode, writeConfig } from './helpers/child-node';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { readPart10Header } from '../src/dicom/part10';
import { expandPaths, prepareFile } from '../src/delivery/send-files';
import { Store } from '../src/store/store';
import { STORAGE_TRANSFER_SYNTAX_PREFERENCE } from '../src/dimse/uids';
import { storageSopClassUids } from '../src/dicom/sop-classes';

const cli = (args: string[]) => run(process.execPath, [CLI, ...args], { timeoutMs: 120_000 });

test('echo and send to DCMTK storescp: many instances on one association, data sets as stored', async () => {
  const dir = tmpDir('scu');
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  const files = writeSyntheticCtSeries({ outDir: path.join(dir, 'in'), count: 40, uidRoot: newUidRoot() });
  const port = await freePort();
  const scp = spawn('storescp', ['-aet', 'STORESCP', '-od', out, '-uf', String(port)], {
    stdio: 'ignore',
    env: { ...process.env, TCP_NODELAY: '1' },
  });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const e = await cli(['echo', '--to', `STORESCP@127.0.0.1:${port}`]);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /status 0x0000/);
    // A destination by its name in the config: its AE title and address, our AE title.
    const cfg = writeConfig(dir, 11112, { destinations: { MAINPACS: { aeTitle: 'STORESCP', host: '127.0.0.1', port } } });
    const byName = await cli(['echo', 'MAINPACS', '--config', cfg]);
    assert.equal(byName.code, 0, byName.stderr);
    assert.match(byName.stdout, new RegExp(`C-ECHO STORESCP@127\\.0\\.0\\.1:${port}: status 0x0000`));
    const unknown = await cli(['echo', 'NOPE', '--config', cfg]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no destination "NOPE".*configured: MAINPACS/);
    const s = await cli(['send', path.join(dir, 'in'), '--to', `STORESCP@127.0.0.1:${port}`]);
    assert.equal(s.code, 0, s.stdout + s.stderr);
    assert.match(s.stdout, /sent 40 of 40 files to \S+ in \d+ ms \(\d+\.\d MB, [\d.]+ files\/s\); 0 failed, 0 not DICOM/);
    // Not a terminal: progress as a line per 10 %, the last one complete.
    const bars = s.stderr.split('\n').filter((l) => /^\[[#-]{30}\] \d+\/40 files/.test(l));
    assert.ok(bars.length >= 5 && bars.length <= 11, `progress lines: ${bars.length}`);
    assert.match(bars[bars.length - 1]!, /^\[#{30}\] 40\/40 files/);
    const received = fs.readdirSync(out);
    assert.equal(received.length, 40);
    for (const f of files) {
      const src = fs.readFileSync(f);
      const sop = readPart10Header(src).sopInstanceUid;
      const name = received.find((r) => r.includes(sop));
      assert.ok(name, `storescp has no file for ${path.basename(f)}`);
      const dst = fs.readFileSync(path.join(out, name));
      // storescp writes the data set it decoded; for these well-formed files that is the same bytes.
      assert.ok(
        src.subarray(readPart10Header(src).datasetOffset).equals(dst.subarray(readPart10Header(dst).datasetOffset)),
        `${path.basename(f)} differs`,
      );
    }
  } finally {
    scp.kill('SIGKILL');
  }
});

test('send reports failure and exits 1 when the peer refuses the association', async () => {
  const port = await freePort();
  const dir = tmpDir('refuse');
  const node = await startChildNode(writeConfig(dir, port));
  try {
    const files = writeSyntheticCtSeries({ outDir: path.join(dir, 'in'), count: 1, uidRoot: newUidRoot() });
    const r = await cli(['send', files[0]!, '--to', `DICOM_AI@127.0.0.1:${port}`, '--aet', 'UNKNOWN']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /rejected/);
    const bad = await cli(['send', files[0]!, '--to', 'nonsense']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /AE@HOST:PORT/);
  } finally {
    node.proc.kill('SIGTERM');
    assert.equal(await node.exited, 0, 'SIGTERM stops the node cleanly');
  }
});

test('the whole corpus through our SCU into our SCP: every stored data set is byte-identical', async () => {
  const port = await freePort();
  const dir = tmpDir('roundtrip');
  const node = await startChildNode(writeConfig(dir, port));
  const accepted = new Set(STORAGE_TRANSFER_SYNTAX_PREFERENCE);
  const storage = new Set(storageSopClassUids());
  const candidates: { file: string; sop: string; ts: string }[] = [];
  for (const f of expandPaths([SHARED_DICOM])) {
    try {
      const h = await prepareFile(f); // the data set's own SOP UIDs, as the SCU sends them
      if (storage.has(h.sopClassUid) && accepted.has(h.transferSyntaxUid))
        candidates.push({ file: f, sop: h.sopInstanceUid, ts: h.transferSyntaxUid });
    } catch {
      // not a Part 10 file
    }
  }
  // Several files of the corpus share a SOP Instance UID: send one of each, so that each
  // comparison is against the file that was stored under that UID.
  const unique = [...new Map(candidates.map((c) => [c.sop, c])).values()];
  assert.ok(unique.length >= 100, `only ${unique.length} candidate files`);
  const listFile = path.join(dir, 'send');
  fs.mkdirSync(listFile);
  unique.forEach((c, i) => fs.symlinkSync(c.file, path.join(listFile, `${String(i).padStart(4, '0')}.dcm`)));
  try {
    const r = await cli(['send', listFile, '--to', `DICOM_AI@127.0.0.1:${port}`]);
    const store = new Store(path.join(dir, 'data', 'dicom-ai-node.sqlite'));
    try {
      let identical = 0;
      const refused: string[] = [];
      for (const c of unique) {
        const inst = store.getInstance(c.sop);
        if (!inst) {
          refused.push(path.relative(SHARED_DICOM, c.file));
          continue;
        }
        assert.equal(inst.transferSyntaxUid, c.ts);
        const a = fs.readFileSync(c.file);
        const b = fs.readFileSync(inst.filePath);
        const sent = a.subarray(readPart10Header(a).datasetOffset);
        const kept = b.subarray(readPart10Header(b).datasetOffset);
        // The one change our SCU makes: an odd-length deflated stream gets its PS3.5 A.5 pad byte.
        const padded =
          c.ts === '1.2.840.10008.1.2.1.99' &&
          sent.length % 2 === 1 &&
          kept.length === sent.length + 1 &&
          kept[sent.length] === 0 &&
          kept.subarray(0, sent.length).equals(sent);
        assert.ok(sent.equals(kept) || padded, `${path.relative(SHARED_DICOM, c.file)}: stored data set differs from the sent one`);
        identical++;
      }
      // The only refusals allowed: objects without Study/Series Instance UID (A900), and data
      // sets that DCMTK cannot read either (truncated files: C000).
      const failures: string[] = [];
      const failedFiles = new Set<string>();
      for (const line of r.stderr.match(/^failed .*$/gm) ?? []) {
        failedFiles.add(fs.readlinkSync(/^failed (.*): /.exec(line)![1]!));
        if (/status 0xa900/.test(line)) continue;
        const m = /^failed (.*): status 0xc000$/.exec(line);
        if (m && (await run('dcmdump', ['-q', fs.readlinkSync(m[1]!)])).code !== 0) continue;
        failures.push(line);
      }
      assert.deepEqual(failures, [], 'files refused that should have been stored');
      assert.ok(identical >= 90, `only ${identical} data sets compared`);
      // Nothing silently dropped: every file not stored was reported as failed.
      assert.deepEqual(
        refused.filter((f) => !failedFiles.has(path.join(SHARED_DICOM, f))),
        [],
        'files neither stored nor reported',
      );
    } finally {
      store.close();
    }
    const st = await cli(['status', '--config', path.join(dir, 'config.json'), '--json']);
    assert.equal(st.code, 0);
    const json = JSON.parse(st.stdout) as { series: { state: string; instanceCount: number }[] };
    assert.ok(json.series.length > 10);
    assert.ok(json.series.every((s) => ['receiving', 'stable'].includes(s.state) && s.instanceCount >= 1));
  } finally {
    node.proc.kill('SIGTERM');
    await node.exited;
  }
});

test('serve with a broken config exits 2 and says which key is wrong', async () => {
  const dir = tmpDir('badcfg');
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      node: { aeTitle: 'THIS_AE_TITLE_IS_TOO_LONG', port: 70000 },
      callers: [],
      storage: { dataDir: './d' },
      destinations: {},
      routes: [],
    }),
  );
  const r = await cli(['serve', '--config', file]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /node\.aeTitle/);
  assert.match(r.stderr, /node\.port/);
});

test("--help on a command prints that command's usage; status lists series, jobs and deliveries", async () => {
  for (const cmd of ['serve', 'status', 'echo', 'send', 'retry', 'infer', 'sr-dump', 'config']) {
    const r = await run(process.execPath, [CLI, cmd, '--help']);
    assert.equal(r.code, 0, `${cmd} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`dicom-ai-node ${cmd}\\b`), `${cmd} --help names the command`);
    assert.ok(!r.stdout.includes('dicom-ai-node render IN.dcm') || cmd === 'render', `${cmd} --help is about ${cmd} only`);
  }
  const dir = tmpDir('status-cli');
  const cfg = writeConfig(dir, 11112, {});
  const empty = await run(process.execPath, [CLI, 'status', '--config', cfg]);
  assert.equal(empty.code, 0);
  assert.match(empty.stdout, /nothing received/);
});

test('config check: 0 and a summary for a good file, 2 and every problem for a bad one', async () => {
  const ok = await cli(['config', 'check', path.join(PROJECT_ROOT, 'config', 'default.json')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /configuration OK — AE DICOM_AI on 0\.0\.0\.0:11112/);
  const dir = tmpDir('cfgcheck');
  const file = path.join(dir, 'c.json');
  fs.writeFileSync(file, '{ "node": { "aeTitel": "X", "port": "104" }, "callers": [] }');
  const bad = await cli(['config', 'check', file]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /node\.aeTitel: unknown key \(did you mean "aeTitle"\?\)/);
  assert.match(bad.stderr, /node\.port: "104" is not a TCP port/);
  assert.match(bad.stderr, /callers: the list is empty/);
  const usage = await cli(['config', 'frobnicate']);
  assert.equal(usage.code, 2);
});

test('echo of a DICOMweb destination by name: an authenticated QIDO-RS search, worded as such; wrong credentials exit 1 with the reason', async () => {
  const dir = tmpDir('echo-web');
  const PASSWORD = 'cli-Pa55-word';
  const seen: { url?: string; authorization?: string }[] = [];
  // A QIDO-RS endpoint that lets in user "node" with PASSWORD (HTTP basic) and nobody else.
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url, authorization: req.headers.authorization });
    const ok = req.headers.authorization === `Basic ${Buffer.from(`node:${PASSWORD}`).toString('base64')}`;
    if (!ok) return res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end();
    res.writeHead(200, { 'content-type': 'application/dicom+json' }).end('[]');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dicom-web`;
    const web = (passwordEnv: string) => ({ protocol: 'dicomweb', url, auth: { type: 'basic', user: 'node', passwordEnv } });
    const cfg = writeConfig(dir, 11112, { destinations: { WEB: web('CLI_ECHO_PASSWORD'), WRONG: web('CLI_ECHO_WRONG') } });
    const env = { CLI_ECHO_PASSWORD: PASSWORD, CLI_ECHO_WRONG: 'not-it' };
    const good = await run(process.execPath, [CLI, 'echo', 'WEB', '--config', cfg], { env, timeoutMs: 60_000 });
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /^QIDO-RS check WEB \(http:\/\/127\.0\.0\.1:\d+\/dicom-web\): reachable, credentials accepted in \d+ ms$/m);
    assert.doesNotMatch(good.stdout, /C-ECHO/, 'DICOMweb has no C-ECHO');
    assert.equal(seen[0]?.url, '/dicom-web/studies?limit=1');
    const bad = await run(process.execPath, [CLI, 'echo', 'WRONG', '--config', cfg], { env, timeoutMs: 60_000 });
    assert.equal(bad.code, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /^QIDO-RS check WRONG .*failed: HTTP 401: the DICOMweb server did not accept our credentials/m);
    assert.ok(!(bad.stdout + bad.stderr + good.stdout + good.stderr).includes(PASSWORD), 'the password is never printed');
  } finally {
    server.close();
  }
});

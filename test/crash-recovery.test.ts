// kill -9 in the middle of a push: every instance that got a success response survives, readable
// and indexed; the unacknowledged partial is cleaned up; the series still becomes stable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { tmpDir } from './helpers/env';
import { run } from './helpers/run';
import { freePort, startChildNode, writeConfig } from './helpers/child-node';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { readPart10Header } from '../src/dicom/part10';
import { Store } from '../src/store/store';

test('kill -9 during a multi-instance push loses no acknowledged instance', async () => {
  const dir = tmpDir('crash');
  const files = writeSyntheticCtSeries({ outDir: path.join(dir, 'in'), count: 300, uidRoot: newUidRoot() });
  const sopOf = new Map(files.map((f) => [f, readPart10Header(fs.readFileSync(f)).sopInstanceUid]));
  const port = await freePort();
  const config = writeConfig(dir, port);
  const node = await startChildNode(config);

  // A power loss can also cost the last index commits (synchronous=NORMAL): simulate that with a
  // copy of the database taken mid-push (an online backup), put in place of the database after the
  // kill. The instances acknowledged after the copy then have files but no index rows (nor series
  // counts); their files were fsync'd before the response, so the restart must find and re-index them.
  const database = path.join(dir, 'data', 'dicom-ai-node.sqlite');
  const beforePowerLoss = path.join(dir, 'before-power-loss.sqlite');
  // Settles with the copy's error or null (awaited only after the kill, so it must never reject).
  let copyFailure: Promise<unknown> = Promise.resolve(null);
  const push = pushWatchingAcks(port, files, 120, () => node.proc.kill('SIGKILL'), {
    count: 60,
    run: () => {
      copyFailure = copyDatabase(database, beforePowerLoss).then(
        () => null,
        (e: unknown) => e,
      );
    },
  });
  const acknowledged = push.acknowledged;
  const killedAfter = await push.reachedOrEnded;
  await node.exited;
  push.scu.kill('SIGKILL');
  await push.exited;
  assert.equal(killedAfter, 120, 'the push was interrupted mid-way');
  assert.ok(acknowledged.length < files.length);

  assert.equal(await copyFailure, null, 'the database was copied mid-push');
  const lost = sopsMissingFrom(
    beforePowerLoss,
    acknowledged.map((f) => sopOf.get(f)!),
  );
  assert.ok(lost.length > 0, 'the copy misses the last acknowledged instances');
  fs.copyFileSync(beforePowerLoss, database);
  for (const suffix of ['-wal', '-shm']) fs.rmSync(database + suffix, { force: true });

  const restarted = await startChildNode(config);
  assert.match(restarted.output(), /previous run did not stop cleanly/);
  assert.match(restarted.output(), /re-indexed stored instances after an unclean stop/);
  try {
    const store = new Store(path.join(dir, 'data', 'dicom-ai-node.sqlite'));
    try {
      for (const f of acknowledged) {
        const sop = sopOf.get(f)!;
        const inst = store.getInstance(sop);
        assert.ok(inst, `acknowledged instance ${path.basename(f)} not in the database`);
        if (lost.includes(sop)) assert.equal(inst.callingAeTitle, 'STORESCU', 'recovered row keeps the calling AE from the file meta');
        assert.ok(fs.existsSync(inst.filePath), `acknowledged instance ${path.basename(f)} not on disk`);
        const a = fs.readFileSync(f);
        const b = fs.readFileSync(inst.filePath);
        const ha = readPart10Header(a);
        const hb = readPart10Header(b);
        assert.ok(a.subarray(ha.datasetOffset).equals(b.subarray(hb.datasetOffset)), `${path.basename(f)}: data set differs`);
      }
      const check = await run(
        'dcmftest',
        acknowledged.map((f) => store.getInstance(sopOf.get(f)!)!.filePath),
      );
      assert.equal(check.code, 0, check.stdout);
      assert.deepEqual(fs.readdirSync(path.join(dir, 'data', 'incoming')), [], 'partial files of the killed transfer removed at start-up');
      // Stability survives the restart (stableSeconds is 1 in this config).
      const deadline = Date.now() + 5000;
      let state = '';
      while (Date.now() < deadline) {
        state = store.listSeries()[0]?.state ?? '';
        if (state === 'stable') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(state, 'stable', 'series became stable after the restart');
      const count = store.listSeries()[0]!.instanceCount;
      assert.ok(
        count >= acknowledged.length && count <= acknowledged.length + 1,
        `series counts ${count} instances for ${acknowledged.length} acknowledged`,
      );
    } finally {
      store.close();
    }
  } finally {
    restarted.proc.kill('SIGTERM');
    await restarted.exited;
  }
});

test('SIGTERM during a push: exits 0, every acknowledged instance kept, clean restart', async () => {
  const dir = tmpDir('sigterm');
  const files = writeSyntheticCtSeries({ outDir: path.join(dir, 'in'), count: 400, uidRoot: newUidRoot() });
  const sopOf = new Map(files.map((f) => [f, readPartSop(f)]));
  const port = await freePort();
  const config = writeConfig(dir, port);
  const node = await startChildNode(config);
  const push = pushWatchingAcks(port, files, 60, () => node.proc.kill('SIGTERM'));
  const acknowledged = push.acknowledged;
  const signalled = (await push.reachedOrEnded) >= 60;
  const code = await node.exited;
  await push.exited;
  assert.ok(signalled, 'SIGTERM was sent mid-push');
  assert.equal(code, 0, `node exit code after SIGTERM:\n${node.output().slice(-2000)}`);
  assert.match(node.output(), /shutting down/);
  assert.ok(acknowledged.length >= 60);

  const restarted = await startChildNode(config);
  try {
    assert.doesNotMatch(restarted.output(), /did not stop cleanly/, 'the stop was clean');
    const store = new Store(path.join(dir, 'data', 'dicom-ai-node.sqlite'));
    try {
      for (const f of acknowledged) {
        const inst = store.getInstance(sopOf.get(f)!);
        assert.ok(inst && fs.existsSync(inst.filePath), `acknowledged ${path.basename(f)} missing after SIGTERM`);
      }
      assert.deepEqual(fs.readdirSync(path.join(dir, 'data', 'incoming')), []);
    } finally {
      store.close();
    }
  } finally {
    restarted.proc.kill('SIGTERM');
    await restarted.exited;
  }
});

/** An online copy of a database another process is writing (better-sqlite3's backup). */
async function copyDatabase(from: string, to: string): Promise<void> {
  const store = new Store(from);
  try {
    await store.backupTo(to);
  } finally {
    store.close();
  }
}

/** The SOP Instance UIDs a database has no row for. */
function sopsMissingFrom(database: string, sops: string[]): string[] {
  const store = new Store(database);
  try {
    return sops.filter((sop) => !store.getInstance(sop));
  } finally {
    store.close();
  }
}

/**
 * Pushes files with storescu -v (which names each file before sending it and reports each
 * response after it), collecting the acknowledged files; calls `atCount` once when that many
 * were acknowledged (and `earlier.run` once when `earlier.count` were). `reachedOrEnded` resolves
 * with the count then, or when storescu ends.
 */
function pushWatchingAcks(port: number, files: string[], count: number, atCount: () => void, earlier?: { count: number; run: () => void }) {
  const scu = spawn('storescu', ['-v', '-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(port), ...files], {
    env: { ...process.env, TCP_NODELAY: '1' },
  });
  const acknowledged: string[] = [];
  const exited = new Promise<void>((resolve) => scu.on('exit', () => resolve()));
  let current = '';
  let buf = '';
  const reachedOrEnded = new Promise<number>((resolve) => {
    const onData = (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /Sending file: (.*)$/.exec(line);
        if (m) current = m[1]!.trim();
        if (/Received Store Response \(Success\)/.test(line)) {
          acknowledged.push(current);
          if (acknowledged.length === earlier?.count) earlier.run();
          if (acknowledged.length === count) {
            atCount();
            resolve(count);
          }
        }
      }
    };
    scu.stdout.on('data', onData);
    scu.stderr.on('data', onData);
    void exited.then(() => resolve(acknowledged.length));
  });
  return { scu, acknowledged, exited, reachedOrEnded };
}

function readPartSop(f: string): string {
  return readPart10Header(fs.readFileSync(f)).sopInstanceUid;
}

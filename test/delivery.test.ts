// Delivery with retries against a real DCMTK storescp that is down, then up: attempts and backoff
// recorded in SQLite, delivered exactly once per (instance, destination), failed after the last
// attempt, and a delivery interrupted by a crash goes back to the queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { startTestNode, waitForListening } from './helpers/node';
import { tmpDir } from './helpers/env';
import { queueDelivery } from './helpers/deliveries';
import { freePort, writeConfig } from './helpers/child-node';
import { run } from './helpers/run';
import { CLI } from './helpers/env';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { prepareFile } from '../src/delivery/send-files';
import { backoffSeconds } from '../src/delivery/queue';
import { discardingSink, StorageScp } from '../src/dimse/scp';
import { STATUS } from '../src/dimse/command';
import { STORAGE_TRANSFER_SYNTAX_PREFERENCE, VERIFICATION_SOP_CLASS, VERIFICATION_TRANSFER_SYNTAX_PREFERENCE } from '../src/dimse/uids';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('backoff doubles per attempt up to its cap', () => {
  const s = { maxAttempts: 8, backoffSeconds: 30, backoffCapSeconds: 300 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((n) => backoffSeconds(n, s)),
    [30, 60, 120, 240, 300, 300],
  );
});

test('destination down: retried with backoff; once up: delivered once; a dead one fails after maxAttempts', async () => {
  const port = await freePort();
  const deadPort = await freePort();
  const t = await startTestNode({
    destinations: {
      PACS: { aeTitle: 'STORESCP', host: '127.0.0.1', port },
      DEAD: { aeTitle: 'NOBODY', host: '127.0.0.1', port: deadPort },
    },
    delivery: { maxAttempts: 3, backoffSeconds: 0.2, backoffCapSeconds: 1 },
  });
  const out = tmpDir('deliv-out');
  let scp: ReturnType<typeof spawn> | null = null;
  try {
    const files = writeSyntheticCtSeries({ outDir: tmpDir('deliv-in'), count: 3, uidRoot: newUidRoot() });
    const insts = await Promise.all(files.map(async (f) => ({ ...(await prepareFile(f)), filePath: f })));
    for (const i of insts) queueDelivery(t.node.store, i, 'PACS');
    queueDelivery(t.node.store, insts[0]!, 'PACS'); // the same instance again: still one delivery
    queueDelivery(t.node.store, insts[0]!, 'DEAD');
    assert.equal(t.node.store.listDeliveries().length, 4);

    // Nobody listens yet: every attempt fails and is scheduled again.
    const first = await t.node.deliveries.runDue();
    assert.deepEqual(first, { delivered: 0, retrying: 4, failed: 0 });
    const afterFirst = t.node.store.listDeliveries();
    assert.ok(afterFirst.every((d) => d.state === 'queued' && d.attempts === 1 && d.lastError && d.nextAttemptAt > Date.now() - 50));
    assert.deepEqual(await t.node.deliveries.runDue(), { delivered: 0, retrying: 0, failed: 0 }, 'nothing is due before its backoff');

    scp = spawn('storescp', ['-aet', 'STORESCP', '-od', out, String(port)], { stdio: 'ignore', env: { ...process.env, TCP_NODELAY: '1' } });
    await sleep(400); // past the 0.2 s backoff
    await waitForListening(port);
    const second = await t.node.deliveries.runDue();
    assert.equal(second.delivered, 3);
    assert.equal(second.retrying, 1, 'the dead destination tries again');
    assert.equal(fs.readdirSync(out).length, 3, 'each instance arrived once');
    await sleep(500);
    const third = await t.node.deliveries.runDue();
    assert.deepEqual(third, { delivered: 0, retrying: 0, failed: 1 }, 'third attempt of 3: failed for good');
    const rows = t.node.store.listDeliveries();
    const pacs = rows.filter((d) => d.destination === 'PACS');
    assert.ok(pacs.every((d) => d.state === 'delivered' && d.lastStatus === 0 && d.attempts === 2 && d.deliveredAt));
    const dead = rows.find((d) => d.destination === 'DEAD')!;
    assert.equal(dead.state, 'failed');
    assert.equal(dead.attempts, 3);
    assert.match(dead.lastError!, /could not connect|ECONNREFUSED/);
    // Nothing more to do, and no second copy.
    assert.deepEqual(await t.node.deliveries.runDue(), { delivered: 0, retrying: 0, failed: 0 });
    assert.equal(fs.readdirSync(out).length, 3);
    assert.ok(path.isAbsolute(pacs[0]!.filePath));

    // Monitoring and the audit trail saw every attempt and each final outcome.
    const metrics = t.node.metrics.render();
    assert.match(metrics, /dicom_ai_delivery_attempts_total\{destination="DEAD",outcome="failed"\} 3/);
    assert.match(metrics, /dicom_ai_delivery_attempts_total\{destination="PACS",outcome="ok"\} 3/);
    const audit = t.node.store.listAudit();
    assert.equal(audit.filter((a) => a.event === 'report-delivered').length, 3);
    assert.ok(audit.some((a) => a.event === 'delivery-failed' && /DEAD: .*attempt 3/.test(a.detail ?? '')));

    // An operator sends the failed one again from the command line: queued, attempts reset.
    const cfg = writeConfig(tmpDir('deliv-cli'), 11112, { storage: { dataDir: t.dataDir } });
    const none = await run(process.execPath, [CLI, 'retry', 'delivery', '999', '--config', cfg]);
    assert.equal(none.code, 1, 'an unknown delivery is refused');
    const r = await run(process.execPath, [CLI, 'retry', 'deliveries', '--failed', '--config', cfg]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1 delivery queued again/);
    const again = t.node.store.listDeliveries().find((d) => d.destination === 'DEAD')!;
    assert.deepEqual([again.state, again.attempts], ['queued', 0]);
    assert.match(t.node.metrics.render(), /dicom_ai_delivery_retry_backlog 0/);
    const st = await run(process.execPath, [CLI, 'status', '--config', cfg]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /^0 jobs$/m);
    assert.match(st.stdout, /^deliveries: 3 delivered, 1 queued$/m);
    const js = JSON.parse((await run(process.execPath, [CLI, 'status', '--json', '--config', cfg])).stdout) as {
      deliveries: { destination: string; state: string }[];
    };
    assert.deepEqual(js.deliveries.map((d) => `${d.destination}:${d.state}`).sort(), [
      'DEAD:queued',
      'PACS:delivered',
      'PACS:delivered',
      'PACS:delivered',
    ]);
  } finally {
    scp?.kill('SIGKILL');
    await t.stop();
  }
});

test('a delivery caught mid-send by a crash is queued again at the next start', async () => {
  const t = await startTestNode();
  const [file] = writeSyntheticCtSeries({ outDir: tmpDir('deliv-crash'), count: 1, uidRoot: newUidRoot() });
  const inst = { ...(await prepareFile(file!)), filePath: file! };
  queueDelivery(t.node.store, inst, 'PACS');
  const claimed = t.node.store.claimDueDeliveries(Date.now());
  assert.equal(claimed.length, 1);
  assert.equal(t.node.store.listDeliveries()[0]!.state, 'sending');
  assert.equal(t.node.store.requeueInterruptedDeliveries(Date.now()), 1);
  assert.equal(t.node.store.listDeliveries()[0]!.state, 'queued');
  await t.stop();
});

/** A storage SCP in this process whose answer per SOP Instance UID the test decides. */
async function scriptedScp(
  answer: (sopInstanceUid: string) => number,
): Promise<{ port: number; stored: string[]; close: () => Promise<void> }> {
  const stored: string[] = [];
  const scp = new StorageScp({
    aeTitle: 'SCRIPTED',
    implementationClassUid: '2.25.1',
    implementationVersionName: 'TEST',
    maxAssociations: 4,
    pending: { maxPending: 8, maxPendingPerAddress: 8 },
    limits: { maxPduLength: 65536, maxCommandBytes: 65536, maxAssociateLength: 1 << 20, maxDataSetBytes: 1 << 26 },
    timeouts: { artimMs: 2000, associateRqMs: 2000, idleMs: 5000 },
    transferSyntaxesFor: (as) =>
      as === VERIFICATION_SOP_CLASS ? VERIFICATION_TRANSFER_SYNTAX_PREFERENCE : STORAGE_TRANSFER_SYNTAX_PREFERENCE,
    decide: () => ({ accept: true }),
    onStore: (req) => {
      const status = answer(req.sopInstanceUid);
      if (status === 0) stored.push(req.sopInstanceUid);
      return discardingSink(status, status === 0 ? '' : 'scripted failure');
    },
  });
  const addr = await scp.listen(0, '127.0.0.1');
  return { port: addr.port, stored, close: () => scp.close(500) };
}

test('an SR that references a SEG waits while the SEG fails, is sent with its references once the SEG is stored, and as the variant once the SEG failed for good', async () => {
  const [seg, sr, variant, seg2, sr2, variant2] = await Promise.all(
    writeSyntheticCtSeries({ outDir: tmpDir('dep-in'), count: 6, uidRoot: newUidRoot() }).map(async (f) => ({
      ...(await prepareFile(f)),
      filePath: f,
    })),
  );
  let segFailures = 1;
  const peer = await scriptedScp((uid) =>
    (uid === seg!.sopInstanceUid && segFailures-- > 0) || uid === seg2!.sopInstanceUid ? STATUS.OutOfResources : 0,
  );
  const t = await startTestNode({
    destinations: { PEER: { aeTitle: 'SCRIPTED', host: '127.0.0.1', port: peer.port } },
    delivery: { maxAttempts: 2, backoffSeconds: 0.2, backoffCapSeconds: 1 },
  });
  try {
    const flagged = (v: typeof variant, s: typeof seg) => [
      { sopInstanceUid: v!.sopInstanceUid, sopClassUid: v!.sopClassUid, filePath: v!.filePath, whenSegmentationMissing: s!.sopInstanceUid },
    ];
    queueDelivery(t.node.store, seg!, 'PEER');
    const srRow = queueDelivery(t.node.store, sr!, 'PEER', flagged(variant, seg));
    // The SEG fails once (out of resources): the SR is held back, not attempted, and waits for the SEG's retry.
    await t.node.deliveries.runDue();
    assert.deepEqual(peer.stored, [], 'nothing stored: the SEG failed and its SR was held back');
    const held = t.node.store.getDelivery(srRow.id)!;
    const segRow = t.node.store.deliveryOf(seg!.sopInstanceUid, 'PEER')!;
    assert.equal(held.state, 'queued');
    assert.equal(held.attempts, 0, 'holding back is not an attempt');
    assert.equal(held.nextAttemptAt, segRow.nextAttemptAt, 'claimed again together with the SEG');
    assert.match(held.lastError ?? '', /waiting for the Segmentation/);
    await sleep(300);
    await t.node.deliveries.runDue();
    assert.deepEqual(peer.stored, [seg!.sopInstanceUid, sr!.sopInstanceUid], 'the SEG, then the SR with its references');

    // A SEG that never gets through: its SR waits, then goes as the variant without references.
    queueDelivery(t.node.store, seg2!, 'PEER');
    queueDelivery(t.node.store, sr2!, 'PEER', flagged(variant2, seg2));
    await t.node.deliveries.runDue();
    await sleep(300);
    await t.node.deliveries.runDue(); // the SEG's last attempt fails; the SR is deferred to now
    await t.node.deliveries.runDue();
    assert.equal(t.node.store.deliveryOf(seg2!.sopInstanceUid, 'PEER')?.state, 'failed');
    assert.deepEqual(peer.stored.slice(2), [variant2!.sopInstanceUid], 'only the variant; never the SR pointing at the missing SEG');
    assert.ok(
      t.node.store.listAudit().some((a) => a.event === 'sr-without-segmentation'),
      'audited',
    );
  } finally {
    await t.stop();
    await peer.close();
  }
});

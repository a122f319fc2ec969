// A separate process that keeps one association open to the node and sends a C-ECHO every
// `intervalMs` for `durationMs`, printing the round-trip times as JSON. Run as a child process so
// that its own timing does not share the node's event loop.
//   node dist/test/helpers/echo-probe.js PORT DURATION_MS INTERVAL_MS
import { ScuAssociation } from '../../src/dimse/scu';
import { VERIFICATION_SOP_CLASS, VERIFICATION_TRANSFER_SYNTAX_PREFERENCE } from '../../src/dimse/uids';

async function main(): Promise<void> {
  const [port, durationMs, intervalMs] = process.argv.slice(2).map(Number) as [number, number, number];
  const scu = await ScuAssociation.open({
    host: '127.0.0.1',
    port,
    callingAeTitle: 'ECHOSCU',
    calledAeTitle: 'DICOM_AI',
    contexts: [{ abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [...VERIFICATION_TRANSFER_SYNTAX_PREFERENCE] }],
    implementationClassUid: '2.25.1',
    implementationVersionName: 'ECHO_PROBE',
    limits: { maxPduLength: 65536, maxCommandBytes: 65536, maxAssociateLength: 1 << 20, maxDataSetBytes: 0 },
    timeouts: { artimMs: 10_000, idleMs: 60_000 },
  });
  const rtts: number[] = [];
  const t0 = Date.now();
  while (Date.now() - t0 < durationMs) {
    const s = process.hrtime.bigint();
    const rsp = await scu.echo();
    if (rsp.status !== 0) throw new Error(`C-ECHO status ${rsp.status}`);
    rtts.push(Number(process.hrtime.bigint() - s) / 1e6);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  await scu.release();
  process.stdout.write(JSON.stringify({ rtts }) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e) + '\n');
  process.exit(1);
});

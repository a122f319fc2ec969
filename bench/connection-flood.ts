// Connection-flood benchmark (issue 11, row 4): a `dicom-ai-node serve` child with the default
// connection limits; an attacker on 127.0.0.1 keeps N connections open that never send an
// A-ASSOCIATE-RQ, reopening each one as soon as the node closes it; a legitimate caller on
// 127.0.0.2 meanwhile opens an association, sends a C-ECHO and releases, again and again. Prints
// the caller's round trips (association + C-ECHO + release) without and with the flood, how many
// of its associations failed, how many flood connections the node refused, and the node's peak RSS.
// Not part of the tests; run on demand:
//   node dist/bench/connection-flood.js [--silent 72] [--echoes 40] [--seconds 20]

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { ScuAssociation } from '../src/dimse/scu';
import { VERIFICATION_SOP_CLASS, VERIFICATION_TRANSFER_SYNTAX_PREFERENCE } from '../src/dimse/uids';
import { CLI, tmpDir } from '../test/helpers/env';
import { freePort, writeConfig } from '../test/helpers/child-node';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const SILENT = arg('silent', 72);
const ECHOES = arg('echoes', 40);
const SECONDS = arg('seconds', 20);

async function echoRoundTrip(port: number): Promise<number | null> {
  const t0 = performance.now();
  try {
    const scu = await ScuAssociation.open({
      host: '127.0.0.1',
      port,
      localAddress: '127.0.0.2',
      callingAeTitle: 'ECHOSCU',
      calledAeTitle: 'DICOM_AI',
      contexts: [{ abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [...VERIFICATION_TRANSFER_SYNTAX_PREFERENCE] }],
      implementationClassUid: '2.25.1',
      implementationVersionName: 'FLOOD_BENCH',
      limits: { maxPduLength: 65536, maxCommandBytes: 65536, maxAssociateLength: 1 << 20, maxDataSetBytes: 0 },
      timeouts: { artimMs: 5000, idleMs: 30_000 },
      connectTimeoutMs: 5000,
    });
    const rsp = await scu.echo();
    await scu.release();
    return rsp.status === 0 ? performance.now() - t0 : null;
  } catch {
    return null;
  }
}

async function measure(port: number, count: number): Promise<{ ms: number[]; failed: number }> {
  const ms: number[] = [];
  let failed = 0;
  for (let i = 0; i < count; i++) {
    const t = await echoRoundTrip(port);
    if (t === null) failed++;
    else ms.push(t);
    await new Promise((r) => setTimeout(r, (SECONDS * 1000) / count));
  }
  return { ms, failed };
}

/** Keeps `count` silent connections open from 127.0.0.1, reopening each as soon as it closes. */
function flood(port: number, count: number): { stop(): void; opened: () => number } {
  let stopped = false;
  let opened = 0;
  const sockets = new Set<net.Socket>();
  const open = () => {
    if (stopped) return;
    const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
    opened++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => {
      sockets.delete(s);
      // Reopen at once (more aggressive than the every-30-s renewal), but not in a tight loop.
      setTimeout(open, 50);
    });
  };
  for (let i = 0; i < count; i++) open();
  return {
    stop() {
      stopped = true;
      for (const s of sockets) s.destroy();
    },
    opened: () => opened,
  };
}

function stats(ms: number[]): string {
  if (ms.length === 0) return 'no successful round trip';
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(1);
  return `median ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${s[s.length - 1]!.toFixed(1)} ms (n=${s.length})`;
}

function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

async function main(): Promise<void> {
  const dir = tmpDir('flood-bench');
  const port = await freePort();
  const config = writeConfig(dir, port, {
    node: { aeTitle: 'DICOM_AI', host: '127.0.0.1', port, maxAssociations: 32 },
    admin: { enabled: false },
    callers: [{ aeTitle: 'ECHOSCU', hosts: ['127.0.0.1', '127.0.0.2'] }],
  });
  const proc = spawn(process.execPath, [CLI, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    for (let i = 0; i < 150 && !out.includes('storage SCP listening'); i++) await new Promise((r) => setTimeout(r, 100));
    if (!out.includes('storage SCP listening')) throw new Error(`the node did not start:\n${out}`);
    const quiet = await measure(port, ECHOES);
    const attacker = flood(port, SILENT);
    await new Promise((r) => setTimeout(r, 500));
    const attacked = await measure(port, ECHOES);
    attacker.stop();
    const refusedLines = out.split('too many pending connections').length - 1;
    process.stdout.write(
      [
        `C-ECHO round trip (association + C-ECHO + release) from 127.0.0.2, ${ECHOES} over ${SECONDS} s each:`,
        `  no flood:                          ${stats(quiet.ms)}, failed ${quiet.failed}`,
        `  ${SILENT} silent connections from 127.0.0.1: ${stats(attacked.ms)}, failed ${attacked.failed}`,
        `flood connections opened: ${attacker.opened()}; refusal log lines: ${refusedLines}`,
        `node peak RSS (VmHWM): ${peakRssMb(proc.pid!)} MB`,
        '',
      ].join('\n'),
    );
  } finally {
    proc.kill('SIGTERM');
  }
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack ?? e.message}\n`);
  process.exit(1);
});

/**
 * bench/hostile-input: issue 11's figures under attack. The node runs as its own process (CLI);
 * from this process, one association sends a C-ECHO every ~20 ms and another a C-STORE of a small
 * ordinary instance every ~100 ms, each response time recorded; the node's RSS (VmRSS of its
 * process, worker threads included) is sampled every 100 ms. Three phases:
 *
 *   idle    - nothing else happens;
 *   normal  - a chest-CT phantom is stored and its job runs (reference lung-nodule model on CPU);
 *   bombs   - issue 11's rows 1-3 (fixtures/hostile-objects.ts): three deflated CT instances of one
 *             series inflating to --bomb-mib MiB each behind an honest 512 x 512 header (accepted;
 *             their job must fail on the limits), the same claimed by the header (refused at
 *             C-STORE), a deflated instance with an element claiming 0xFFFFFFF0 bytes, and three
 *             tiny RLE slices claiming 8192 x 8192 16-bit, until their jobs ended.
 *
 * Printed per phase: median / p99 / max of the C-ECHO and C-STORE response times, peak RSS, and
 * what the node answered to each bomb. The targets (issue 11): responses under 100 ms, RSS under
 * 600 MB during the bombs.
 *
 *   npm run bench:hostile -- [--slices 120] [--bomb-mib 512] [--skip-bombs] [--skip-normal] [--idle-seconds 5]
 *                            [--cli dist/src/cli/main.js of another build, for a baseline]
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ScuAssociation, type StoreFileInput } from '../src/dimse/scu';
import { TS, VERIFICATION_SOP_CLASS } from '../src/dimse/uids';
import { readPart10Header } from '../src/dicom/part10';
import { writeChestPhantom } from '../fixtures/chest-phantom';
import { newUidRoot } from '../fixtures/synthetic-ct';
import {
  deflatedHugeElement,
  deflatedPixelBomb,
  HostileObject,
  MIB,
  nativeSlice,
  rleSizeClaim,
  writeHostileFile,
} from '../fixtures/hostile-objects';
import { CLI, PROJECT_ROOT, tmpDir } from '../test/helpers/env';
import { freePort, writeConfig } from '../test/helpers/child-node';

type Phase = 'idle' | 'normal' | 'bombs';
const PHASES: readonly Phase[] = ['idle', 'normal', 'bombs'];
const CT = '1.2.840.10008.5.1.4.1.1.2';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Samples {
  echo: number[];
  store: number[];
  rssMb: number[];
  /** When each value was taken (ms since the epoch), same order. */
  echoAt: number[];
  rssAt: number[];
}

class Recorder {
  phase: Phase = 'idle';
  readonly samples = new Map<Phase, Samples>(PHASES.map((p) => [p, { echo: [], store: [], rssMb: [], echoAt: [], rssAt: [] }]));
  errors: string[] = [];
  add(kind: 'echo' | 'store' | 'rssMb', v: number): void {
    const s = this.samples.get(this.phase)!;
    s[kind].push(v);
    if (kind === 'echo') s.echoAt.push(Date.now());
    if (kind === 'rssMb') s.rssAt.push(Date.now());
  }
}

/** The node's process, with its log (to follow its jobs) and its RSS from /proc. */
class NodeProcess {
  private out = '';
  private constructor(readonly proc: ChildProcess) {}

  static start(cli: string, configFile: string): Promise<NodeProcess> {
    const proc = spawn(process.execPath, [cli, 'serve', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    const n = new NodeProcess(proc);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node did not start:\n${n.out}`)), 30_000);
      const onData = (d: Buffer) => {
        n.out += d.toString();
        if (n.out.includes('storage SCP listening')) {
          clearTimeout(timer);
          resolve(n);
        }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.once('exit', (code) => reject(new Error(`node exited with ${code}:\n${n.out}`)));
    });
  }

  count(what: RegExp): number {
    return this.out.split('\n').filter((l) => what.test(l)).length;
  }

  lines(what: RegExp): string[] {
    return this.out.split('\n').filter((l) => what.test(l));
  }

  /** VmRSS or VmHWM in MB (1e6 bytes), or NaN once the process is gone. */
  memory(field: 'VmRSS' | 'VmHWM'): number {
    try {
      const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${this.proc.pid}/status`, 'utf8'));
      return m ? (Number(m[1]) * 1024) / 1e6 : NaN;
    } catch {
      return NaN;
    }
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    this.proc.kill('SIGKILL');
  }
}

function open(port: number, callingAeTitle: string, contexts: { abstractSyntax: string; transferSyntaxes: string[] }[]) {
  return ScuAssociation.open({
    host: '127.0.0.1',
    port,
    callingAeTitle,
    calledAeTitle: 'DICOM_AI',
    contexts,
    implementationClassUid: '2.25.1',
    implementationVersionName: 'HOSTILE_BENCH',
    limits: { maxPduLength: 65536, maxCommandBytes: 65536, maxAssociateLength: 1 << 20, maxDataSetBytes: 0 },
    timeouts: { artimMs: 10_000, idleMs: 600_000 },
  });
}

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

/** C-ECHO every ~20 ms on its own association until `stop` says so. */
async function echoLoop(port: number, rec: Recorder, stop: () => boolean): Promise<void> {
  const scu = await open(port, 'ECHOSCU', [{ abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [TS.ExplicitVRLittleEndian] }]);
  while (!stop()) {
    const t0 = process.hrtime.bigint();
    const rsp = await scu.echo();
    rec.add('echo', ms(t0));
    if (rsp.status !== 0) rec.errors.push(`C-ECHO status ${rsp.status}`);
    await sleep(20);
  }
  await scu.release();
}

/** C-STORE of a small ordinary instance every ~100 ms on its own association. */
async function storeLoop(port: number, dir: string, rec: Recorder, stop: () => boolean): Promise<void> {
  const scu = await open(port, 'STORESCU', [{ abstractSyntax: CT, transferSyntaxes: [TS.ExplicitVRLittleEndian] }]);
  const uidRoot = newUidRoot();
  for (let n = 1; !stop(); n++) {
    const f = written(dir, nativeSlice({ uidRoot, instance: n }));
    const t0 = process.hrtime.bigint();
    const rsp = await scu.storeFile(f);
    rec.add('store', ms(t0));
    if (rsp.status !== 0) rec.errors.push(`small C-STORE status ${(rsp.status ?? 0xffff).toString(16)}`);
    await sleep(100);
  }
  await scu.release();
}

/** Sends files on one association (a new one after an abort); returns each response or error. */
async function sendAll(port: number, files: readonly StoreFileInput[]): Promise<string[]> {
  const contexts = [TS.ExplicitVRLittleEndian, TS.DeflatedExplicitVRLittleEndian, TS.RLELossless].map((ts) => ({
    abstractSyntax: CT,
    transferSyntaxes: [ts],
  }));
  const answers: string[] = [];
  let scu: ScuAssociation | null = null;
  for (const f of files) {
    try {
      scu ??= await open(port, 'STORESCU', contexts);
      const rsp = await scu.storeFile(f);
      answers.push(
        `${new Date().toISOString().slice(11, 23)} ${path.basename(f.file)}: ${(rsp.status ?? 0xffff).toString(16).padStart(4, '0')}${rsp.errorComment ? ` (${rsp.errorComment})` : ''}`,
      );
    } catch (e) {
      answers.push(`${new Date().toISOString().slice(11, 23)} ${path.basename(f.file)}: ${(e as Error).message}`);
      scu = null;
    }
  }
  await scu?.release().catch(() => undefined);
  return answers;
}

function written(dir: string, o: HostileObject): StoreFileInput {
  const { file, dataSetOffset } = writeHostileFile(dir, o);
  return { file, sopClassUid: o.sopClassUid, sopInstanceUid: o.sopInstanceUid, transferSyntaxUid: o.transferSyntaxUid, dataSetOffset };
}

function asStoreInput(file: string): StoreFileInput {
  const h = readPart10Header(fs.readFileSync(file));
  return {
    file,
    sopClassUid: h.sopClassUid,
    sopInstanceUid: h.sopInstanceUid,
    transferSyntaxUid: h.transferSyntaxUid,
    dataSetOffset: h.datasetOffset,
  };
}

/** Until every series the node routed has had its job end, at least `minMs` from now, at most `maxMs`. */
async function jobsSettled(node: NodeProcess, minMs: number, maxMs: number): Promise<void> {
  const t0 = Date.now();
  let lastEnded = -1;
  let lastChange = t0;
  for (;;) {
    await sleep(200);
    const started = node.count(/job started/);
    const ended = node.count(/job done|job failed|job ended abnormally/);
    // Every routed series (one route here) makes one job; a job may not have started yet.
    // A routed series can still get no job (skipped): 15 s with none running ends the wait too.
    const routed = node.count(/series routed/);
    if (ended !== lastEnded) [lastEnded, lastChange] = [ended, Date.now()];
    const quiet = Date.now() - lastChange > 15_000;
    if (Date.now() - t0 >= minMs && started === ended && (ended >= routed || quiet)) return;
    if (Date.now() - t0 > maxMs) throw new Error(`jobs still running after ${maxMs} ms (${started} started, ${ended} ended)`);
  }
}

/** The times of the `k` largest values, for matching them with the node's log. */
function at(values: number[], times: number[], k: number): string {
  return values
    .map((v, i) => [v, times[i]!] as const)
    .sort((a, b) => b[0] - a[0])
    .slice(0, k)
    .map(([v, t]) => `${new Date(t).toISOString().slice(11, 23)} (${v.toFixed(0)})`)
    .join(', ');
}

function stats(v: number[]): string {
  if (v.length === 0) return 'n/a';
  const s = [...v].sort((a, b) => a - b);
  const p = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return `median ${p(0.5).toFixed(1)} / p99 ${p(0.99).toFixed(1)} / max ${s[s.length - 1]!.toFixed(1)} ms (n=${s.length})`;
}

async function main(): Promise<void> {
  const cli = path.resolve(arg('cli', CLI));
  const slices = Number(arg('slices', '120'));
  const bombMiB = Number(arg('bomb-mib', '512'));
  const idleMs = Number(arg('idle-seconds', '5')) * 1000;
  const skipBombs = process.argv.includes('--skip-bombs');
  // Without the normal job first, the bombs phase's RSS is what the bombs cost (a job's memory is
  // not all returned to the system right after it ends).
  const skipNormal = process.argv.includes('--skip-normal');
  const dir = tmpDir('hostile-bench');
  const port = await freePort();
  const config = writeConfig(dir, port, {
    series: { stableSeconds: 1 },
    inference: { modelsDir: path.join(PROJECT_ROOT, 'models'), providers: ['cpu'] },
    routes: [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'] }],
  });
  const node = await NodeProcess.start(cli, config);
  const rec = new Recorder();
  let stopping = false;
  const rss = setInterval(() => {
    const v = node.memory('VmRSS');
    if (Number.isFinite(v)) rec.add('rssMb', v);
  }, 100);
  const loops = [echoLoop(port, rec, () => stopping), storeLoop(port, path.join(dir, 'small'), rec, () => stopping)];
  let bombAnswers: string[] = [];
  try {
    await sleep(idleMs);

    if (!skipNormal) {
      rec.phase = 'normal';
      const phantom = writeChestPhantom({ outDir: path.join(dir, 'phantom'), seed: 4242, uidRoot: newUidRoot(), slices });
      const normalAnswers = await sendAll(port, phantom.files.map(asStoreInput));
      const refused = normalAnswers.filter((a) => !/: 0000$/.test(a));
      console.log(`phantom stored by ${new Date().toISOString()}`);
      if (refused.length > 0) throw new Error(`the phantom was not stored: ${refused.slice(0, 3).join('; ')}`);
      await jobsSettled(node, 3000, 600_000);
    }

    if (!skipBombs) {
      rec.phase = 'bombs';
      const bombDir = path.join(dir, 'bombs');
      const series = (n: number, make: (instance: number) => HostileObject): StoreFileInput[] =>
        Array.from({ length: n }, (_, i) => written(bombDir, make(i + 1)));
      const [trailer, claimed, huge, rle] = [newUidRoot(), newUidRoot(), newUidRoot(), newUidRoot()];
      const bombs = [
        ...series(3, (instance) => deflatedPixelBomb({ uidRoot: trailer, instance }, 'trailer', bombMiB * MIB)),
        ...series(3, (instance) => deflatedPixelBomb({ uidRoot: claimed, instance }, 'claimed', bombMiB * MIB)),
        ...series(1, (instance) => deflatedHugeElement({ uidRoot: huge, instance })),
        ...series(3, (instance) => rleSizeClaim({ uidRoot: rle, instance })),
      ];
      console.log(`bombs: ${bombs.map((b) => `${path.basename(b.file)} ${fs.statSync(b.file).size} bytes`).join(', ')}`);
      bombAnswers = await sendAll(port, bombs);
      await jobsSettled(node, 4000, 600_000);
    }
  } finally {
    stopping = true;
    await Promise.allSettled(loops);
    clearInterval(rss);
  }
  const hwm = node.memory('VmHWM');
  fs.writeFileSync(path.join(dir, 'node.log'), node.lines(/./).join('\n'));
  const jobLines = node.lines(/job (done|failed)/).map((l) => l.slice(0, 400));
  await node.stop();

  console.log(
    `\nnode: ${cli}\nphantom: ${slices} slices; bombs: ${skipBombs ? 'skipped' : `3 x ${bombMiB} MiB inflated, 0xFFFFFFF0 element, RLE 8192x8192`}`,
  );
  for (const p of PHASES) {
    const s = rec.samples.get(p)!;
    if (s.echo.length === 0 && s.rssMb.length === 0) continue;
    console.log(`\n[${p}]`);
    console.log(`  C-ECHO  ${stats(s.echo)}`);
    console.log(`  C-STORE ${stats(s.store)}`);
    console.log(
      `  peak RSS ${s.rssMb.length ? Math.max(...s.rssMb).toFixed(0) : 'n/a'} MB (sampled every 100 ms) at ${at(s.rssMb, s.rssAt, 1)}`,
    );
    console.log(`  slowest C-ECHOs at ${at(s.echo, s.echoAt, 3)}`);
  }
  console.log(`\nnode VmHWM over the run: ${hwm.toFixed(0)} MB; its log: ${path.join(dir, 'node.log')}`);
  if (bombAnswers.length) console.log(`bomb C-STORE answers:\n  ${bombAnswers.join('\n  ')}`);
  console.log(`jobs:\n  ${jobLines.join('\n  ')}`);
  if (rec.errors.length) console.log(`probe errors: ${[...new Set(rec.errors)].join('; ')}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

// Where one C-STORE's time goes in this node, stage by stage. Runs the node in this process (the
// same DicomNode, StorageScp and InstanceWriter as `serve`, fsync on), wraps the calls the ingest
// path makes (fs.writev, fs.fsync, fs.renameSync, readDatasetHeader, Store.recordInstance,
// InstanceWriter.write/end) with timers, pushes synthetic 512x512 CT instances with DCMTK storescu
// over one association, and prints per stage the median and p90 milliseconds and the share of the
// mean C-STORE cycle. In the same run, alternating, it times DCMTK storescp and the durable write
// alone (bench/durable-write.ts) on the same files, for comparison. Nothing in src/ changes: the
// wrappers exist only in this process. On demand only (`npm run bench:ingest-profile`).
//
// Stages of instance i (one association, storescu waits for each response before the next request):
//   receive        first data fragment handed to the writer -> last fragment (socket, PDU parsing,
//                  fragments queued; the file writes run meanwhile on the thread pool)
//   write drain    end() called -> the queued writes are done (what of the file write was not hidden)
//   fsync file, header read, rename, fsync folder, index row (getInstance + the group commit's
//                  transaction around recordInstance); the
//                  header read and the index lookup run while the file's writes and fsync are in
//                  flight, and are reported apart ("hidden") when they finish before that fsync
//   other in end() the rest of InstanceWriter.end (close, checks, mkdir cache, callbacks)
//   response+next  end() resolved -> next instance's first fragment: the C-STORE response is encoded
//                  and sent, storescu reads it and its next file, sends the command and first data PDU,
//                  and the node parses them (not measured for the last instance)
//
// Usage: node dist/bench/ingest-profile.js [--count N] [--rounds N] [--keep]

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { freePort } from '../test/helpers/child-node';
import { parseConfig } from '../src/config/config';
import { createLogger } from '../src/log/logger';
import { DicomNode } from '../src/node';
import { InstanceWriter } from '../src/ingest/instance-writer';
import * as datasetReader from '../src/dicom/dataset-reader';
import { Store } from '../src/store/store';
import { durableWriteAlone, type DurableWriteItem } from './durable-write';

const HELP = `bench/ingest-profile: per-stage timing of one C-STORE in this node (in-process, fsync on),
with storescp and the durable write alone on the same files, alternating

  --count N    synthetic 512x512 CT instances (default 300)
  --rounds N   rounds (default 3); stage figures pool every node round
  --keep       keep the temporary folder`;

interface Options {
  count: number;
  rounds: number;
  keep: boolean;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { count: 300, rounds: 3, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = () => {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a} needs a whole number >= 1`);
      return n;
    };
    if (a === '--count') o.count = num();
    else if (a === '--rounds') o.rounds = num();
    else if (a === '--keep') o.keep = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(HELP + '\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n\n${HELP}`);
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Timers around the ingest path. One association, one instance at a time: everything that happens
// between an instance's first fragment and the next instance's first fragment is charged to it.

const STAGES = [
  'receive',
  'write drain',
  'fsync file',
  'header read',
  'rename',
  'fsync folder',
  'index row',
  'other in end()',
  'response+next',
] as const;
type Stage = (typeof STAGES)[number];

interface InstanceTiming {
  firstFragment: number;
  endCalled: number;
  endDone: number;
  /** When end() made its first fsync call (the queued writes were done by then). */
  firstFsyncAt: number;
  /** When the file's fsync returned (0 before): CPU stages before that are hidden under the disk. */
  fileFsyncDoneAt: number;
  /** Stage -> ms spent while the file was still being written or fsync'd (off the critical path). */
  hidden: Partial<Record<Stage, number>>;
  /** Stage -> ms (stages inside end()). */
  ms: Partial<Record<Stage, number>>;
  /** Thread-pool time of the writev calls (overlaps receive). */
  writevMs: number;
  writevCalls: number;
  fragments: number;
}

let recording = false;
/** Index in `timings` of each node run's first instance (no 'response+next' across runs). */
const runStarts = new Set<number>();
const timings: InstanceTiming[] = [];
let current: InstanceTiming | null = null;
let inEnd = false;

/** Stages that end() runs while the file's writes and fsync are still in flight on the thread pool. */
const CAN_OVERLAP_FSYNC: ReadonlySet<Stage> = new Set<Stage>(['header read', 'index row']);

function charge(stage: Stage, ms: number): void {
  if (!current || !inEnd) return;
  const bucket = CAN_OVERLAP_FSYNC.has(stage) && current.fileFsyncDoneAt === 0 ? current.hidden : current.ms;
  bucket[stage] = (bucket[stage] ?? 0) + ms;
}

function installTimers(): void {
  const dirFds = new Set<number>();
  const origOpenSync = fs.openSync;
  const origCloseSync = fs.closeSync;
  const origFsync = fs.fsync;
  const origWritev = fs.writev;
  const origRenameSync = fs.renameSync;
  Object.assign(fs, {
    openSync(p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) {
      const fd = origOpenSync(p, flags ?? 'r', mode);
      if (typeof flags === 'number' && (flags & fs.constants.O_DIRECTORY) !== 0) dirFds.add(fd);
      return fd;
    },
    closeSync(fd: number) {
      dirFds.delete(fd);
      return origCloseSync(fd);
    },
    fsync(fd: number, cb: (err: NodeJS.ErrnoException | null) => void) {
      const t = performance.now();
      const stage: Stage = dirFds.has(fd) ? 'fsync folder' : 'fsync file';
      const who = current;
      if (who && inEnd && who.firstFsyncAt === 0) who.firstFsyncAt = t;
      origFsync(fd, (err) => {
        if (who && who === current) charge(stage, performance.now() - t);
        if (who && stage === 'fsync file') who.fileFsyncDoneAt = performance.now();
        cb(err);
      });
    },
    writev(fd: number, bufs: NodeJS.ArrayBufferView[], ...rest: unknown[]) {
      const cb = rest[rest.length - 1] as (err: NodeJS.ErrnoException | null, n: number, b: NodeJS.ArrayBufferView[]) => void;
      const t = performance.now();
      const who = current;
      origWritev(fd, bufs, (err, n, b) => {
        if (who) {
          who.writevMs += performance.now() - t;
          who.writevCalls++;
        }
        cb(err, n, b);
      });
    },
    renameSync(a: fs.PathLike, b: fs.PathLike) {
      const t = performance.now();
      origRenameSync(a, b);
      charge('rename', performance.now() - t);
    },
  });

  const origRead = Object.getOwnPropertyDescriptor(datasetReader, 'readDatasetHeader')!.value as typeof datasetReader.readDatasetHeader;
  Object.assign(datasetReader, {
    readDatasetHeader(...args: Parameters<typeof origRead>) {
      const t = performance.now();
      try {
        return origRead(...args);
      } finally {
        charge('header read', performance.now() - t);
      }
    },
  });

  const proto = Store.prototype;
  // The row is written by recordInstance inside the group commit's transaction (inOneTransaction,
  // src/ingest/index-commits.ts), whose COMMIT writes the WAL: time the whole transaction.
  for (const name of ['inOneTransaction', 'getInstance'] as const) {
    const orig = Object.getOwnPropertyDescriptor(proto, name)!.value as (...a: unknown[]) => unknown;
    Object.assign(proto, {
      [name](this: Store, ...args: unknown[]) {
        const t = performance.now();
        try {
          return orig.apply(this, args);
        } finally {
          charge('index row', performance.now() - t);
        }
      },
    });
  }

  const w = InstanceWriter.prototype;
  const origWrite = Object.getOwnPropertyDescriptor(w, 'write')!.value as (this: InstanceWriter, f: Buffer) => Promise<void>;
  const origEnd = Object.getOwnPropertyDescriptor(w, 'end')!.value as (this: InstanceWriter) => ReturnType<InstanceWriter['end']>;
  const firstSeen = new WeakSet<InstanceWriter>();
  Object.assign(w, {
    write(this: InstanceWriter, fragment: Buffer) {
      if (recording && !firstSeen.has(this)) {
        firstSeen.add(this);
        current = {
          firstFragment: performance.now(),
          endCalled: 0,
          endDone: 0,
          firstFsyncAt: 0,
          fileFsyncDoneAt: 0,
          hidden: {},
          ms: {},
          writevMs: 0,
          writevCalls: 0,
          fragments: 0,
        };
        timings.push(current);
      }
      if (current) current.fragments++;
      return origWrite.call(this, fragment);
    },
    async end(this: InstanceWriter) {
      const me = current;
      if (me) me.endCalled = performance.now();
      inEnd = true;
      try {
        return await origEnd.call(this);
      } finally {
        inEnd = false;
        if (me) me.endDone = performance.now();
      }
    },
  });
}

/** 'write drain' is not a call of its own: end()'s time before its first fsync is the wait for queued writes. */
function finishTimings(): void {
  for (const t of timings) {
    const endMs = t.endDone - t.endCalled;
    const named = STAGES.filter((s) => s !== 'receive' && s !== 'response+next' && s !== 'other in end()' && s !== 'write drain').reduce(
      (a, s) => a + (t.ms[s] ?? 0),
      0,
    );
    t.ms['receive'] = t.endCalled - t.firstFragment;
    // end() awaits the queued writes (and writes the last batch) before it fsyncs the file.
    const drain = t.firstFsyncAt > 0 ? t.firstFsyncAt - t.endCalled : 0;
    t.ms['write drain'] = drain;
    t.ms['other in end()'] = Math.max(0, endMs - named - drain);
  }
  for (let i = 0; i + 1 < timings.length; i++)
    if (!runStarts.has(i + 1)) timings[i]!.ms['response+next'] = timings[i + 1]!.firstFragment - timings[i]!.endDone;
}

// ---------------------------------------------------------------------------------------------

function quantile(xs: number[], q: number): number {
  const v = [...xs].sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const i = Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1));
  return v[i]!;
}

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length === 0 ? NaN : v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};

function push(dir: string, aec: string, port: number): Promise<number> {
  const env = { ...process.env, TCP_NODELAY: '1' };
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn('storescu', ['-aet', 'STORESCU', '-aec', aec, '+sd', '127.0.0.1', String(port), dir], { env, stdio: 'ignore' });
    c.once('error', reject);
    c.once('close', (code) => (code === 0 ? resolve((performance.now() - t0) / 1000) : reject(new Error(`storescu exit ${code}`))));
  });
}

async function runNode(dir: string, runDir: string, count: number): Promise<number> {
  const port = await freePort();
  const dataDir = path.join(runDir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const cfg = parseConfig(
    {
      node: { aeTitle: 'BENCH_NODE', host: '127.0.0.1', port, maxAssociations: 32, maxPduLength: 65536, fsync: true },
      callers: [{ aeTitle: 'STORESCU', hosts: ['127.0.0.1'] }],
      acceptAnyCaller: false,
      storage: { dataDir, minFreeMegabytes: 0 },
      series: { stableSeconds: 3600 },
      log: { level: 'warn', file: null },
      destinations: {},
      routes: [],
    },
    runDir,
  );
  const node = new DicomNode(cfg, createLogger({ level: 'warn', file: null }));
  await node.start();
  const before = timings.length;
  recording = true;
  let wall: number;
  try {
    wall = await push(dir, 'BENCH_NODE', port);
  } finally {
    recording = false;
    current = null;
    await node.stop();
  }
  if (timings.length - before !== count) throw new Error(`node run: ${timings.length - before} of ${count} instances seen`);
  runStarts.add(before);
  return wall;
}

async function runStorescp(dir: string, runDir: string): Promise<number> {
  const port = await freePort();
  const out = path.join(runDir, 'scp');
  fs.mkdirSync(out, { recursive: true });
  const env = { ...process.env, TCP_NODELAY: '1' };
  const scp = spawn('storescp', ['-aet', 'STORESCP', '-od', out, String(port)], { env, stdio: 'ignore' });
  try {
    for (let i = 0; i < 200; i++) {
      const r = spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { stdio: 'ignore' });
      if (r.status === 0) break;
      await new Promise((r2) => setTimeout(r2, 20));
    }
    return await push(dir, 'STORESCP', port);
  } finally {
    scp.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ingest-profile-'));
  try {
    const srcDir = path.join(root, 'src');
    const uidRoot = newUidRoot();
    const files = writeSyntheticCtSeries({ outDir: srcDir, count: opts.count, uidRoot });
    const items: DurableWriteItem[] = files.map((f, i) => ({ sopInstanceUid: `${uidRoot}.3.${i + 1}`, bytes: fs.readFileSync(f) }));
    const totalBytes = items.reduce((a, x) => a + x.bytes.length, 0);
    spawnSync('sync');
    installTimers();
    process.stdout.write(
      `bench/ingest-profile: ${opts.count} instances (${(totalBytes / 1e6).toFixed(1)} MB), ${opts.rounds} rounds; ` +
        `${os.cpus().length} CPUs, Node ${process.version}, load ${os.loadavg()[0]!.toFixed(2)}\n`,
    );
    const walls: Record<'node' | 'storescp' | 'durable', number[]> = { node: [], storescp: [], durable: [] };
    const kinds = ['node', 'storescp', 'durable'] as const;
    for (let round = 1; round <= opts.rounds; round++) {
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[(k + round - 1) % kinds.length]!;
        const runDir = path.join(root, `run-${kind}-${round}`);
        fs.mkdirSync(runDir);
        spawnSync('sync');
        let wall: number;
        if (kind === 'node') wall = await runNode(srcDir, runDir, opts.count);
        else if (kind === 'storescp') wall = await runStorescp(srcDir, runDir);
        else wall = durableWriteAlone(items, path.join(runDir, 'data'), `${uidRoot}.1`, `${uidRoot}.2`).wallS;
        walls[kind].push(wall);
        process.stdout.write(
          `round ${round} ${kind.padEnd(8)} ${wall.toFixed(2)} s  ${(opts.count / wall).toFixed(1)} inst/s  ${((wall * 1000) / opts.count).toFixed(2)} ms/inst\n`,
        );
        fs.rmSync(runDir, { recursive: true, force: true });
      }
    }
    finishTimings();

    // Per-stage table over every node instance (the last of each run has no 'response+next').
    const cycles = timings.map((t) => STAGES.reduce((a, s) => a + (t.ms[s] ?? 0), 0));
    const full = timings.filter((t) => t.ms['response+next'] !== undefined);
    const meanCycle = full.reduce((a, t) => a + STAGES.reduce((b, s) => b + (t.ms[s] ?? 0), 0), 0) / full.length;
    const rows: string[][] = [];
    for (const s of STAGES) {
      const xs = (s === 'response+next' ? full : timings).map((t) => t.ms[s] ?? 0);
      const mean = full.map((t) => t.ms[s] ?? 0).reduce((a, b) => a + b, 0) / full.length;
      rows.push([s, median(xs).toFixed(3), quantile(xs, 0.9).toFixed(3), mean.toFixed(3), `${((100 * mean) / meanCycle).toFixed(1)}%`]);
    }
    rows.push(['cycle (sum)', median(cycles).toFixed(3), quantile(cycles, 0.9).toFixed(3), meanCycle.toFixed(3), '100%']);
    const wv = timings.map((t) => t.writevMs);
    const head = ['stage', 'median ms', 'p90 ms', 'mean ms', 'share of mean cycle'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (c: string[]) => '| ' + c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join(' | ') + ' |';
    process.stdout.write(`\nPer C-STORE, node in-process, fsync on (${timings.length} instances over ${opts.rounds} runs)\n`);
    process.stdout.write(line(head) + '\n|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|\n');
    for (const r of rows) process.stdout.write(line(r) + '\n');
    process.stdout.write(
      `writev on the thread pool (overlaps receive): median ${median(wv).toFixed(3)} ms per instance in ` +
        `${median(timings.map((t) => t.writevCalls))} calls; ${median(timings.map((t) => t.fragments))} fragments per instance\n`,
    );
    const hidden = (s: Stage) => median(timings.map((t) => t.hidden[s] ?? 0)).toFixed(3);
    process.stdout.write(
      `hidden under the file's write + fsync (end() does them meanwhile, not in the cycle): header read median ` +
        `${hidden('header read')} ms, index lookup ${hidden('index row')} ms\n`,
    );
    const per = (xs: number[]) => (median(xs) * 1000) / opts.count;
    const node = per(walls.node);
    const scp = per(walls.storescp);
    const dw = per(walls.durable);
    process.stdout.write(
      `\nWhole runs (median of ${opts.rounds}), ms per instance: node ${node.toFixed(3)} (${(1000 / node).toFixed(1)} inst/s), ` +
        `storescp ${scp.toFixed(3)} (${(1000 / scp).toFixed(1)}), durable write alone ${dw.toFixed(3)} (${(1000 / dw).toFixed(1)}); ` +
        `storescp + durable write = ${(scp + dw).toFixed(3)} ms (R = ${(1000 / (scp + dw)).toFixed(1)} inst/s); ` +
        `node - (storescp + durable write) = ${(node - scp - dw).toFixed(3)} ms; node/R = ${((scp + dw) / node).toFixed(2)}\n`,
    );
  } finally {
    if (opts.keep) process.stdout.write(`kept ${root}\n`);
    else fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench/ingest-profile failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});

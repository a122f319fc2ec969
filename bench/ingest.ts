// Ingest benchmark: this node's Storage SCP against DCMTK storescp, both fed by DCMTK storescu over
// loopback. Run on demand (`npm run bench:ingest -- --rounds 5`), not part of the tests; it prints
// a table of medians, checks the targets of the ingest-performance issue and can write JSON.
//
// Every run gets a fresh receiver process and a fresh data folder; receivers alternate within a
// round and the starting receiver rotates between rounds. Between runs the bench calls sync(1)
// so that one run's dirty pages are not written back during the next one (storescp never fsyncs:
// its files would otherwise be flushed while the node is being measured).
//
// The single-association case also runs "the durable write alone" (bench/durable-write.ts): the
// same files written one at a time in the node's folder layout with write, fsync, rename, fsync
// folder, in this process, with no network. From it and storescp the bench derives
// R = 1 / (1/storescp_rate + 1/durable_write_rate): storescp's work and then the durable write, one
// after the other, which is what a receiver that fsyncs can be held to on one association.
// DCMTK tools run with TCP_NODELAY=1 (Debian's build leaves Nagle on otherwise).
//
// Peak RSS is VmHWM of the receiver process, read from /proc just before it is stopped. For
// `storescp --fork` that is the parent's; the children (one per association) are sampled every
// 25 ms while alive and their largest VmHWM seen is reported separately (a sample can miss the
// last moments of a child, so that number is a lower bound).
//
// Usage: node dist/bench/ingest.js [--rounds N] [--count N] [--big-frames N | --no-big]
//          [--fsync-off] [--cases single,concurrent,big] [--concurrency N] [--json PATH]
//          [--node-max-pdu N] [--storescp-max-pdu N] [--cpu-prof DIR] [--baseline-cli PATH] [--keep] [--verbose]
// Environment (overridden by flags): BENCH_ROUNDS, BENCH_COUNT, BENCH_BIG_FRAMES, BENCH_FSYNC_OFF=1,
//   BENCH_JSON.

import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { durableWriteAlone, durableWriteParallel, type DurableWriteItem } from './durable-write';
import { freePort } from '../test/helpers/child-node';

// ---------------------------------------------------------------------------------------------
// Options

type CaseName = 'single' | 'concurrent' | 'big';
const ALL_CASES: readonly CaseName[] = ['single', 'concurrent', 'big'];

interface Options {
  rounds: number;
  count: number;
  bigFrames: number;
  fsyncOff: boolean;
  cases: CaseName[];
  concurrency: number;
  json: string | null;
  nodeMaxPdu: number;
  storescpMaxPdu: number | null;
  cpuProfDir: string | null;
  /** Another build's dist/src/cli/main.js, measured alternately as "node (baseline build)". */
  baselineCli: string | null;
  /** Also run bench/ingest-floor.ts (the least a durable SCP costs in Node), single case only. */
  floor: boolean;
  keep: boolean;
  verbose: boolean;
}

const HELP = `bench/ingest: this node vs DCMTK storescp, fed by storescu over 127.0.0.1, and (single case)
the durable write alone (write temp, fsync, rename, fsync folder; in-process, no network) and
R = 1 / (1/storescp + 1/durable write); (concurrent case) the durable write alone with as many writers
as associations, each a worker thread with a data folder of its own

  --rounds N            runs per receiver and case (default 5, env BENCH_ROUNDS)
  --count N             synthetic 512x512 CT instances (default 500, env BENCH_COUNT)
  --big-frames N        frames of the big multi-frame instance (default 400 = ~210 MB, env BENCH_BIG_FRAMES)
  --no-big              skip the big-instance case
  --fsync-off           also run the node with fsync off, for comparison (env BENCH_FSYNC_OFF=1)
  --cases LIST          comma-separated subset of: ${ALL_CASES.join(',')}
  --concurrency N       associations in the concurrent case (default 4)
  --json PATH           also write every run and the summary as JSON (env BENCH_JSON)
  --node-max-pdu N      node.maxPduLength in the generated config (default 65536)
  --storescp-max-pdu N  pass -pdu N to storescp (default: storescp's own, 16384)
  --cpu-prof DIR        run the node with --cpu-prof, profiles written to DIR
  --baseline-cli PATH   also run another build of the node (its dist/src/cli/main.js, fsync on) in
                        every round, alternating, for a before/after comparison in one run
  --floor               also run bench/ingest-floor (a minimal durable SCP in Node, no index: the least
                        this runtime costs), with file work on the event loop and on the thread pool,
                        and two of its modes again with the header read and index row (--index)
  --keep                keep the temporary folder (printed at the end)
  --verbose             print every run as it finishes, with the storescu output of failures`;

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`${name}=${v} is not a whole number`);
  return n;
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    rounds: envInt('BENCH_ROUNDS') ?? 5,
    count: envInt('BENCH_COUNT') ?? 500,
    bigFrames: envInt('BENCH_BIG_FRAMES') ?? 400,
    fsyncOff: process.env['BENCH_FSYNC_OFF'] === '1',
    cases: [...ALL_CASES],
    concurrency: 4,
    json: process.env['BENCH_JSON'] || null,
    nodeMaxPdu: 65536,
    storescpMaxPdu: null,
    cpuProfDir: null,
    baselineCli: null,
    floor: false,
    keep: false,
    verbose: false,
  };
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) throw new Error(`${flag} needs a whole number >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--rounds':
        o.rounds = int(flag, value(), 1);
        break;
      case '--count':
        o.count = int(flag, value(), 1);
        break;
      case '--big-frames':
        o.bigFrames = int(flag, value(), 0);
        break;
      case '--no-big':
        o.bigFrames = 0;
        break;
      case '--fsync-off':
        o.fsyncOff = true;
        break;
      case '--concurrency':
        o.concurrency = int(flag, value(), 2);
        break;
      case '--json':
        o.json = value() ?? null;
        break;
      case '--node-max-pdu':
        o.nodeMaxPdu = int(flag, value(), 4096);
        break;
      case '--storescp-max-pdu':
        o.storescpMaxPdu = int(flag, value(), 4096);
        break;
      case '--cpu-prof':
        o.cpuProfDir = path.resolve(value() ?? '');
        break;
      case '--baseline-cli':
        o.baselineCli = path.resolve(value() ?? '');
        break;
      case '--floor':
        o.floor = true;
        break;
      case '--keep':
        o.keep = true;
        break;
      case '--verbose':
        o.verbose = true;
        break;
      case '--cases': {
        const list = (value() ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const bad = list.filter((c) => !ALL_CASES.includes(c as CaseName));
        if (bad.length > 0 || list.length === 0) throw new Error(`--cases takes a list of ${ALL_CASES.join(', ')}`);
        o.cases = list as CaseName[];
        break;
      }
      case '--help':
      case '-h':
        process.stdout.write(HELP + '\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${a}\n\n${HELP}`);
    }
  }
  if (o.bigFrames === 0) o.cases = o.cases.filter((c) => c !== 'big');
  return o;
}

// ---------------------------------------------------------------------------------------------
// Process and folder bookkeeping: everything started or created is undone on exit, also on errors.

const children = new Set<ChildProcess>();
const tmpDirs = new Set<string>();
let keepTmp = false;
let cleanedUp = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // receivers run in their own process group (storescp --fork children too)
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

function cleanup(): void {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const c of children) killGroup(c, 'SIGKILL');
  children.clear();
  if (keepTmp) return;
  for (const d of tmpDirs) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
}

process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    process.stderr.write(`\n${sig}: stopping receivers and removing temporary files\n`);
    cleanup();
    process.exit(130);
  });
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function makeTmp(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.add(d);
  return d;
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// /proc readings

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** VmHWM and VmRSS in KiB, or null when the process is gone. */
function memKb(pid: number): { hwm: number; rss: number } | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? NaN);
    return { hwm: get('VmHWM'), rss: get('VmRSS') };
  } catch {
    return null;
  }
}

/** CPU seconds of the process plus its reaped children (user + system). */
function cpuSeconds(pid: number): number | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // utime stime cutime cstime
    return ticks / CLK_TCK;
  } catch {
    return null;
  }
}

function childPids(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// Receivers

type ReceiverKind =
  | 'node'
  | 'node-nofsync'
  | 'node-baseline'
  | 'floor-sync'
  | 'floor-batch'
  | 'floor-async'
  | 'floor-async-batch'
  | 'floor-hybrid'
  | 'floor-batch-index'
  | 'floor-async-index'
  | 'storescp'
  | 'storescp-fork'
  | 'durable-write'
  | 'durable-write-parallel';

/** The receivers that are a build of this node (configured, checked with `status`, stopped with SIGTERM). */
function isNode(kind: ReceiverKind): boolean {
  return kind === 'node' || kind === 'node-nofsync' || kind === 'node-baseline';
}

/** bench/ingest-floor's arguments per floor receiver (--index: header read and index row too). */
const FLOOR_MODE: Partial<Record<ReceiverKind, string[]>> = {
  'floor-sync': ['sync'],
  'floor-batch': ['sync-batch'],
  'floor-async': ['async'],
  'floor-async-batch': ['async-batch'],
  'floor-hybrid': ['hybrid'],
  'floor-batch-index': ['sync-batch', '--index'],
  'floor-async-index': ['async', '--index'],
};

function isFloor(kind: ReceiverKind): boolean {
  return FLOOR_MODE[kind] !== undefined;
}

const RECEIVER_LABEL: Record<ReceiverKind, string> = {
  node: 'node (fsync on)',
  'node-nofsync': 'node (fsync off)',
  'node-baseline': 'node (baseline build)',
  storescp: 'storescp',
  'storescp-fork': 'storescp --fork',
  'durable-write': 'durable write alone',
  'durable-write-parallel': 'durable write alone, N writers',
  'floor-sync': 'Node floor (sync fs)',
  'floor-batch': 'Node floor (one writev)',
  'floor-async': 'Node floor (thread pool)',
  'floor-async-batch': 'Node floor (pool, one writev)',
  'floor-hybrid': 'Node floor (writev + tail worker)',
  'floor-batch-index': 'Node floor (one writev) + header + index row',
  'floor-async-index': 'Node floor (thread pool) + header + index row',
};

const NODE_AE = 'BENCH_NODE';
const STORESCP_AE = 'STORESCP';
const CALLING_AE = 'STORESCU';
const CLI = path.resolve(__dirname, '..', 'src', 'cli', 'main.js');
const FLOOR = path.resolve(__dirname, 'ingest-floor.js');

interface StopResult {
  hwmKb: number | null;
  /** CPU seconds used between "ready" and stop (start-up excluded). */
  cpuS: number | null;
  /** VmRSS once ready, before any traffic. */
  readyRssKb: number | null;
  /** storescp --fork: the largest VmHWM seen among its children (sampled). */
  childMaxHwmKb: number | null;
  exitedCleanly: boolean;
}

interface Receiver {
  kind: ReceiverKind;
  aeTitle: string;
  port: number;
  pid: number;
  dataDir: string;
  configPath: string | null;
  /** The node build's cli/main.js (for `status`); null for storescp. */
  cli: string | null;
  logPath: string;
  stop(): Promise<StopResult>;
  /** Whether the process died on its own before stop(). */
  died(): string | null;
}

function tcpReachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

function tail(file: string, bytes = 2000): string {
  try {
    const b = fs.readFileSync(file);
    return b.subarray(Math.max(0, b.length - bytes)).toString('utf8');
  } catch {
    return '';
  }
}

async function startReceiver(kind: ReceiverKind, runDir: string, opts: Options, profileName: string): Promise<Receiver> {
  const port = await freePort();
  const dataDir = path.join(runDir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const logPath = path.join(runDir, 'receiver.log');
  const logFd = fs.openSync(logPath, 'w');
  const env = { ...process.env, TCP_NODELAY: '1' };
  let child: ChildProcess;
  let configPath: string | null = null;
  let aeTitle: string;
  const cli = kind === 'node-baseline' ? opts.baselineCli! : isNode(kind) ? CLI : null;

  if (cli !== null) {
    aeTitle = NODE_AE;
    configPath = path.join(runDir, 'config.json');
    const config = {
      node: {
        aeTitle,
        host: '127.0.0.1',
        port,
        maxAssociations: 32,
        maxPduLength: opts.nodeMaxPdu,
        fsync: kind !== 'node-nofsync',
      },
      callers: [{ aeTitle: CALLING_AE, hosts: ['127.0.0.1'] }],
      acceptAnyCaller: false,
      storage: { dataDir, minFreeMegabytes: 0 },
      series: { stableSeconds: 3600 },
      log: { level: 'info', file: null },
      destinations: {},
      routes: [],
    };
    fs.writeFileSync(configPath, JSON.stringify(config, null, 2));
    const nodeArgs = opts.cpuProfDir
      ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir, '--cpu-prof-name', `${profileName}.cpuprofile`]
      : [];
    child = spawn(process.execPath, [...nodeArgs, cli, 'serve', '--config', configPath], {
      env,
      stdio: ['ignore', logFd, logFd],
      detached: true,
    });
  } else if (isFloor(kind)) {
    aeTitle = STORESCP_AE;
    const [mode, ...extra] = FLOOR_MODE[kind]!;
    const args = [FLOOR, '--port', String(port), '--dir', dataDir, '--mode', mode!, ...extra];
    child = spawn(process.execPath, args, { env, stdio: ['ignore', logFd, logFd], detached: true });
  } else {
    aeTitle = STORESCP_AE;
    const args = ['-aet', aeTitle, '-od', dataDir];
    if (kind === 'storescp-fork') args.push('--fork');
    if (opts.storescpMaxPdu !== null) args.push('-pdu', String(opts.storescpMaxPdu));
    args.push(String(port));
    child = spawn('storescp', args, { env, stdio: ['ignore', logFd, logFd], detached: true });
  }
  fs.closeSync(logFd);
  track(child);
  let spawnError: Error | null = null;
  child.once('error', (e) => (spawnError = e));
  const pid = child.pid;

  // Ready: the node says so in its log; storescp accepts a TCP connection.
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (spawnError) throw new Error(`cannot start ${RECEIVER_LABEL[kind]}: ${(spawnError as Error).message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${RECEIVER_LABEL[kind]} exited during start-up (${child.exitCode ?? child.signalCode}):\n${tail(logPath)}`);
    }
    const ready = aeTitle === NODE_AE ? tail(logPath, 1 << 16).includes('storage SCP listening') : await tcpReachable(port);
    if (ready && pid !== undefined) break;
    if (Date.now() > deadline) throw new Error(`${RECEIVER_LABEL[kind]} not ready after 20 s:\n${tail(logPath)}`);
    await sleep(20);
  }

  const cpuAtReady = cpuSeconds(pid);
  const readyRssKb = memKb(pid)?.rss ?? null;

  // Sample forked children's peak RSS while the receiver lives.
  let childMaxHwmKb: number | null = null;
  const sampler =
    kind === 'storescp-fork'
      ? setInterval(() => {
          for (const c of childPids(pid)) {
            const m = memKb(c);
            if (m && Number.isFinite(m.hwm)) childMaxHwmKb = Math.max(childMaxHwmKb ?? 0, m.hwm);
          }
        }, 25)
      : null;

  return {
    kind,
    aeTitle,
    port,
    pid: pid,
    dataDir,
    configPath,
    cli,
    logPath,
    died: () => (child.exitCode !== null || child.signalCode !== null ? `exited (${child.exitCode ?? child.signalCode})` : null),
    async stop(): Promise<StopResult> {
      if (sampler) clearInterval(sampler);
      // storescp --fork: give children that are finishing a moment to be reaped (they exit after release).
      if (kind === 'storescp-fork') {
        const until = Date.now() + 2000;
        while (childPids(pid).length > 0 && Date.now() < until) await sleep(10);
      }
      const mem = memKb(pid);
      const cpuNow = cpuSeconds(pid);
      const cpuS = cpuNow !== null && cpuAtReady !== null ? cpuNow - cpuAtReady : null;
      let exitedCleanly = false;
      if (isNode(kind)) {
        // Graceful: lets the node close its database and write a CPU profile if asked.
        killGroup(child, 'SIGTERM');
        exitedCleanly = await waitExit(child, 10_000);
      }
      if (!exitedCleanly) {
        killGroup(child, 'SIGKILL');
        await waitExit(child, 5_000);
      }
      return { hwmKb: mem && Number.isFinite(mem.hwm) ? mem.hwm : null, cpuS, readyRssKb, childMaxHwmKb, exitedCleanly };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Senders

interface PushResult {
  wallS: number;
  exitCodes: (number | string | null)[];
  output: string[];
}

async function push(dirs: string[], aeTitle: string, port: number): Promise<PushResult> {
  const env = { ...process.env, TCP_NODELAY: '1' };
  const t0 = performance.now();
  const runs = dirs.map(
    (dir) =>
      new Promise<{ code: number | string | null; out: string }>((resolve) => {
        const c = track(
          spawn('storescu', ['-aet', CALLING_AE, '-aec', aeTitle, '+sd', '127.0.0.1', String(port), dir], {
            env,
            stdio: ['ignore', 'pipe', 'pipe'],
          }),
        );
        let out = '';
        const keep = (b: Buffer) => {
          out = (out + b.toString('utf8')).slice(-4000);
        };
        c.stdout!.on('data', keep);
        c.stderr!.on('data', keep);
        c.once('error', (e) => resolve({ code: `spawn error: ${e.message}`, out }));
        c.once('close', (code, signal) => resolve({ code: code ?? signal, out }));
      }),
  );
  const results = await Promise.all(runs);
  const wallS = (performance.now() - t0) / 1000;
  return { wallS, exitCodes: results.map((r) => r.code), output: results.map((r) => r.out) };
}

// ---------------------------------------------------------------------------------------------
// Verification

function listFiles(dir: string, filter: (name: string) => boolean): number {
  let n = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += listFiles(p, filter);
    else if (e.isFile() && filter(e.name)) n++;
  }
  return n;
}

interface Verification {
  files: number;
  indexed: number | null;
  problem: string | null;
}

function verify(r: Receiver, expected: number): Verification {
  if (isFloor(r.kind)) {
    const files = listFiles(path.join(r.dataDir, 'instances'), (n) => n.endsWith('.dcm'));
    return { files, indexed: null, problem: files === expected ? null : `${files} of ${expected} files written` };
  }
  if (r.kind === 'storescp' || r.kind === 'storescp-fork') {
    const files = listFiles(r.dataDir, () => true);
    return { files, indexed: null, problem: files === expected ? null : `${files} of ${expected} files written` };
  }
  const files = listFiles(path.join(r.dataDir, 'instances'), (n) => n.endsWith('.dcm'));
  const st = spawnSync(process.execPath, [r.cli!, 'status', '--config', r.configPath!, '--json'], { encoding: 'utf8' });
  let indexed: number | null = null;
  try {
    const parsed = JSON.parse(st.stdout) as { series: { instanceCount: number }[] };
    indexed = parsed.series.reduce((s, x) => s + x.instanceCount, 0);
  } catch {
    indexed = null;
  }
  const partials = listFiles(path.join(r.dataDir, 'incoming'), () => true);
  const problems: string[] = [];
  if (files !== expected) problems.push(`${files} of ${expected} .dcm files under instances/`);
  if (indexed !== expected)
    problems.push(indexed === null ? `status --json failed: ${st.stderr.slice(0, 300)}` : `${indexed} of ${expected} indexed`);
  if (partials > 0) problems.push(`${partials} files left in incoming/`);
  return { files, indexed, problem: problems.length > 0 ? problems.join('; ') : null };
}

// ---------------------------------------------------------------------------------------------
// Runs

interface Dataset {
  dirs: string[];
  instances: number;
  bytes: number;
}

interface RunRecord {
  case: CaseName;
  receiver: ReceiverKind;
  round: number;
  associations: number;
  instances: number;
  bytes: number;
  wallS: number;
  instPerS: number;
  mbPerS: number;
  peakRssMiB: number | null;
  readyRssMiB: number | null;
  forkChildPeakRssMiB: number | null;
  receiverCpuS: number | null;
  storedFiles: number;
  indexed: number | null;
  ok: boolean;
  problem: string | null;
}

function syncDisks(): void {
  spawnSync('sync', [], { stdio: 'ignore' });
}

/** The single case's files, read into memory once, for the durable write alone; and their study/series UIDs. */
let durableInput: { items: DurableWriteItem[]; study: string; series: string } | null = null;

async function durableRun(c: CaseName, round: number, runDir: string, opts: Options, writers: number): Promise<RunRecord> {
  const input = durableInput!;
  const dataDir = path.join(runDir, 'data');
  const r =
    writers === 1
      ? durableWriteAlone(input.items, dataDir, input.study, input.series)
      : await durableWriteParallel(input.items, dataDir, input.study, input.series, writers);
  const files = listFiles(dataDir, (n) => n.endsWith('.dcm'));
  const ok = files === input.items.length;
  if (!opts.keep) fs.rmSync(runDir, { recursive: true, force: true });
  return {
    case: c,
    receiver: writers === 1 ? 'durable-write' : 'durable-write-parallel',
    round,
    associations: 0,
    instances: r.instances,
    bytes: r.bytes,
    wallS: r.wallS,
    instPerS: r.instances / r.wallS,
    mbPerS: r.bytes / 1e6 / r.wallS,
    peakRssMiB: null, // in this process: its RSS is the bench's, not a receiver's
    readyRssMiB: null,
    forkChildPeakRssMiB: null,
    receiverCpuS: null,
    storedFiles: files,
    indexed: null,
    ok,
    problem: ok ? null : `${files} of ${input.items.length} files written`,
  };
}

async function oneRun(c: CaseName, kind: ReceiverKind, round: number, data: Dataset, opts: Options, root: string): Promise<RunRecord> {
  const runDir = path.join(root, `run-${c}-${kind}-${round}`);
  fs.mkdirSync(runDir);
  syncDisks();
  if (kind === 'durable-write') return durableRun(c, round, runDir, opts, 1);
  if (kind === 'durable-write-parallel') return durableRun(c, round, runDir, opts, opts.concurrency);
  const r = await startReceiver(kind, runDir, opts, `node-${c}-${kind}-r${round}`);
  let pushed: PushResult;
  let stopped: StopResult;
  try {
    pushed = await push(data.dirs, r.aeTitle, r.port);
  } finally {
    const died = r.died();
    stopped = await r.stop();
    if (died) stopped.exitedCleanly = false;
  }
  const v = verify(r, data.instances);
  const problems: string[] = [];
  const died = r.died();
  pushed.exitCodes.forEach((code, i) => {
    if (code !== 0) problems.push(`storescu #${i + 1} exit ${code}: ${pushed.output[i]!.trim().split('\n').slice(-3).join(' | ')}`);
  });
  if (v.problem) problems.push(v.problem);
  if (isNode(kind) && !stopped.exitedCleanly) problems.push(`node did not stop on SIGTERM (${died ?? 'killed'})`);
  const rec: RunRecord = {
    case: c,
    receiver: kind,
    round,
    associations: data.dirs.length,
    instances: data.instances,
    bytes: data.bytes,
    wallS: pushed.wallS,
    instPerS: data.instances / pushed.wallS,
    mbPerS: data.bytes / 1e6 / pushed.wallS,
    peakRssMiB: stopped.hwmKb === null ? null : stopped.hwmKb / 1024,
    readyRssMiB: stopped.readyRssKb === null ? null : stopped.readyRssKb / 1024,
    forkChildPeakRssMiB: stopped.childMaxHwmKb === null ? null : stopped.childMaxHwmKb / 1024,
    receiverCpuS: stopped.cpuS,
    storedFiles: v.files,
    indexed: v.indexed,
    ok: problems.length === 0,
    problem: problems.length > 0 ? problems.join('; ') : null,
  };
  if (!rec.ok) {
    process.stderr.write(`  ! ${c}/${RECEIVER_LABEL[kind]} round ${round}: ${rec.problem}\n`);
    if (opts.verbose) process.stderr.write(`    receiver log tail:\n${tail(r.logPath, 1500)}\n`);
  }
  if (!opts.keep) fs.rmSync(runDir, { recursive: true, force: true });
  return rec;
}

// ---------------------------------------------------------------------------------------------
// Summary

function median(xs: number[]): number | null {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

function max(xs: (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  return v.length === 0 ? null : Math.max(...v);
}

interface CaseSummary {
  case: CaseName;
  receiver: ReceiverKind;
  runs: number;
  okRuns: number;
  medianWallS: number | null;
  medianInstPerS: number | null;
  medianMbPerS: number | null;
  medianPeakRssMiB: number | null;
  maxPeakRssMiB: number | null;
  maxForkChildPeakRssMiB: number | null;
  medianReceiverCpuS: number | null;
}

function summarize(runs: RunRecord[]): CaseSummary[] {
  const out: CaseSummary[] = [];
  const keys = [...new Set(runs.map((r) => `${r.case}|${r.receiver}`))];
  for (const k of keys) {
    const [c, kind] = k.split('|') as [CaseName, ReceiverKind];
    const rs = runs.filter((r) => r.case === c && r.receiver === kind);
    const good = rs.filter((r) => r.ok);
    const use = good.length > 0 ? good : rs;
    out.push({
      case: c,
      receiver: kind,
      runs: rs.length,
      okRuns: good.length,
      medianWallS: median(use.map((r) => r.wallS)),
      medianInstPerS: median(use.map((r) => r.instPerS)),
      medianMbPerS: median(use.map((r) => r.mbPerS)),
      medianPeakRssMiB: median(use.map((r) => r.peakRssMiB ?? NaN)),
      maxPeakRssMiB: max(rs.map((r) => r.peakRssMiB)),
      maxForkChildPeakRssMiB: max(rs.map((r) => r.forkChildPeakRssMiB)),
      medianReceiverCpuS: median(use.map((r) => r.receiverCpuS ?? NaN)),
    });
  }
  return out;
}

interface TargetResult {
  name: string;
  value: number | null;
  target: string;
  pass: boolean | null;
  detail: string;
}

/** R = 1 / (1/storescp + 1/durable write), from the medians of the case; null without both. */
function rateR(s: CaseSummary[], c: CaseName): number | null {
  const scp = s.find((x) => x.case === c && x.receiver === 'storescp')?.medianInstPerS;
  const dw = s.find((x) => x.case === c && x.receiver === 'durable-write')?.medianInstPerS;
  return scp && dw ? 1 / (1 / scp + 1 / dw) : null;
}

function ratioToR(s: CaseSummary[], c: CaseName, k: ReceiverKind): number | null {
  const r = rateR(s, c);
  const v = s.find((x) => x.case === c && x.receiver === k)?.medianInstPerS;
  return r && v ? v / r : null;
}

function evaluateTargets(s: CaseSummary[], runs: RunRecord[], opts: Options): TargetResult[] {
  const get = (c: CaseName, k: ReceiverKind) => s.find((x) => x.case === c && x.receiver === k);
  const ratio = (a?: CaseSummary, b?: CaseSummary) =>
    a?.medianInstPerS != null && b?.medianInstPerS != null ? a.medianInstPerS / b.medianInstPerS : null;
  const t: TargetResult[] = [];
  const verdict = (v: number | null, ok: (v: number) => boolean) => (v === null ? null : ok(v));

  if (opts.cases.includes('single')) {
    const rR = ratioToR(s, 'single', 'node');
    t.push({
      name: '1 association, fsync on: node/R throughput',
      value: rR,
      target: '>= 0.9x',
      pass: verdict(rR, (v) => v >= 0.9),
      detail: `R = 1/(1/storescp + 1/durable write) = ${fmt(rateR(s, 'single'), 1)} inst/s (storescp ${fmt(get('single', 'storescp')?.medianInstPerS, 1)}, durable write alone ${fmt(get('single', 'durable-write')?.medianInstPerS, 1)})`,
    });
    const r = ratio(get('single', 'node'), get('single', 'storescp'));
    t.push({
      name: '1 association, fsync on: node/storescp throughput',
      value: r,
      target: '>= 0.7x',
      pass: verdict(r, (v) => v >= 0.7),
      detail: `${fmt(get('single', 'node')?.medianInstPerS, 1)} vs ${fmt(get('single', 'storescp')?.medianInstPerS, 1)} inst/s`,
    });
  }
  if (opts.cases.includes('concurrent')) {
    const n = opts.concurrency;
    const r = ratio(get('concurrent', 'node'), get('concurrent', 'storescp'));
    t.push({
      name: `${n} associations: node/storescp throughput`,
      value: r,
      target: '>= 1.0x',
      pass: verdict(r, (v) => v >= 1.0),
      detail:
        `${fmt(get('concurrent', 'node')?.medianInstPerS, 1)} vs ${fmt(get('concurrent', 'storescp')?.medianInstPerS, 1)} inst/s (storescp serves one association at a time); ` +
        `the durable write alone with ${n} writers: ${fmt(get('concurrent', 'durable-write-parallel')?.medianInstPerS, 1)} inst/s`,
    });
    const rf = ratio(get('concurrent', 'node'), get('concurrent', 'storescp-fork'));
    t.push({
      name: `${n} associations: node/storescp --fork throughput`,
      value: rf,
      target: '>= 1.0x',
      pass: verdict(rf, (v) => v >= 1.0),
      detail: `${fmt(get('concurrent', 'node')?.medianInstPerS, 1)} vs ${fmt(get('concurrent', 'storescp-fork')?.medianInstPerS, 1)} inst/s (stricter reading: storescp with a process per association)`,
    });
  }
  const manyRuns = runs.filter((r) => r.receiver === 'node' && r.case !== 'big');
  if (manyRuns.length > 0) {
    const m = max(manyRuns.map((r) => r.peakRssMiB));
    t.push({
      name: `node peak RSS, ${opts.count}-instance runs (max of all runs)`,
      value: m,
      target: '< 200 MB',
      pass: verdict(m, (v) => v < 200),
      detail: `VmHWM, MiB; median ${fmt(median(manyRuns.map((r) => r.peakRssMiB ?? NaN)), 1)}`,
    });
  }
  if (opts.cases.includes('big')) {
    const node = get('big', 'node');
    const scp = get('big', 'storescp');
    t.push({
      name: 'big instance: node peak RSS (max of all runs)',
      value: node?.maxPeakRssMiB ?? null,
      target: '< 150 MB',
      pass: verdict(node?.maxPeakRssMiB ?? null, (v) => v < 150),
      detail: `time ${fmt(node?.medianWallS, 2)} s vs storescp ${fmt(scp?.medianWallS, 2)} s; storescp peak RSS ${fmt(scp?.maxPeakRssMiB, 1)} MiB`,
    });
  }
  const bad = runs.filter((r) => !r.ok && isNode(r.receiver));
  t.push({
    name: 'node stored and indexed every instance, every run',
    value: runs.filter((r) => isNode(r.receiver)).length - bad.length,
    target: 'all runs',
    pass: bad.length === 0,
    detail: bad.length === 0 ? '' : bad.map((r) => `${r.case} r${r.round}: ${r.problem}`).join('; '),
  });
  return t;
}

function fmt(v: number | null | undefined, digits: number): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

function caseLabel(c: CaseName, opts: Options, data: Record<CaseName, Dataset | undefined>): string {
  const d = data[c];
  const mb = d ? (d.bytes / 1e6).toFixed(1) : '?';
  if (c === 'single') return `${d?.instances ?? opts.count} inst, 1 assoc (${mb} MB)`;
  if (c === 'concurrent') return `${d?.instances ?? opts.count} inst, ${opts.concurrency} assoc (${mb} MB)`;
  return `1 multi-frame inst (${mb} MB)`;
}

function printTable(s: CaseSummary[], targets: TargetResult[], opts: Options, data: Record<CaseName, Dataset | undefined>): void {
  const head = [
    'case',
    'receiver',
    'ok/runs',
    'time s',
    'inst/s',
    'MB/s',
    'peak RSS MiB (med/max)',
    'rcv CPU s',
    'inst/s vs storescp',
    'vs R',
  ];
  const rows: string[][] = [];
  for (const c of opts.cases) {
    const base = s.find((x) => x.case === c && x.receiver === 'storescp');
    for (const x of s.filter((y) => y.case === c)) {
      const ratio = base?.medianInstPerS && x.medianInstPerS ? `${(x.medianInstPerS / base.medianInstPerS).toFixed(2)}x` : '-';
      let rss = `${fmt(x.medianPeakRssMiB, 1)} / ${fmt(x.maxPeakRssMiB, 1)}`;
      if (x.receiver === 'storescp-fork') rss += ` (parent; child ${fmt(x.maxForkChildPeakRssMiB, 1)})`;
      rows.push([
        caseLabel(c, opts, data),
        RECEIVER_LABEL[x.receiver],
        `${x.okRuns}/${x.runs}`,
        fmt(x.medianWallS, 2),
        fmt(x.medianInstPerS, 1),
        fmt(x.medianMbPerS, 1),
        rss,
        fmt(x.medianReceiverCpuS, 2),
        x.receiver === 'storescp' ? '1 (baseline)' : ratio,
        ratioToR(s, c, x.receiver) === null ? '-' : `${ratioToR(s, c, x.receiver)!.toFixed(2)}x`,
      ]);
    }
    const r = rateR(s, c);
    if (r !== null) {
      const d = data[c];
      rows.push([
        caseLabel(c, opts, data),
        'R (derived)',
        '-',
        d ? fmt(d.instances / r, 2) : '-',
        fmt(r, 1),
        d ? fmt((r * d.bytes) / d.instances / 1e6, 1) : '-',
        '-',
        '-',
        base?.medianInstPerS ? `${(r / base.medianInstPerS).toFixed(2)}x` : '-',
        '1 (baseline)',
      ]);
    }
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    '| ' + cells.map((c, i) => (i >= 2 && i !== 6 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ') + ' |';
  process.stdout.write('\nMedians per case (time = first storescu start to last storescu exit; receiver fresh per run)\n');
  process.stdout.write(line(head) + '\n');
  process.stdout.write('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|\n');
  for (const r of rows) process.stdout.write(line(r) + '\n');
  process.stdout.write(
    '\nPeak RSS = VmHWM of the receiver process read just before stopping it. For storescp --fork this is the\n' +
      'parent, which only accepts and forks; "child" is the largest VmHWM sampled (every 25 ms) among its\n' +
      'per-association children. rcv CPU = user+system seconds of the receiver from ready to stop (for --fork incl. reaped children).\n' +
      'durable write alone = the same files written one at a time in this process (write temp, fsync, rename, fsync\n' +
      'folder; no network, no RSS of its own). R = 1 / (1/storescp + 1/durable write). The node fsyncs; storescp does not.\n',
  );
  process.stdout.write('\nTargets\n');
  for (const t of targets) {
    const mark = t.pass === null ? 'N/A ' : t.pass ? 'PASS' : 'FAIL';
    const value =
      t.value === null
        ? '-'
        : t.target.includes('x')
          ? `${t.value.toFixed(2)}x`
          : t.target.includes('MB')
            ? `${t.value.toFixed(1)} MiB`
            : String(t.value);
    process.stdout.write(`  [${mark}] ${t.name}: ${value} (target ${t.target})${t.detail ? ` - ${t.detail}` : ''}\n`);
  }
}

// ---------------------------------------------------------------------------------------------
// Main

function checkTools(opts: Options): void {
  for (const tool of ['storescu', 'storescp']) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error)
      throw new Error(`${tool} (DCMTK) not found on PATH; install the dcmtk package`);
  }
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} missing: build first (npx tsc -p tsconfig.json)`);
  if (opts.baselineCli && !fs.existsSync(opts.baselineCli)) throw new Error(`--baseline-cli ${opts.baselineCli}: no such file`);
}

function loadavg(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((s, f) => s + fs.statSync(path.join(dir, f)).size, 0);
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  keepTmp = opts.keep;
  checkTools(opts);
  if (opts.cpuProfDir) fs.mkdirSync(opts.cpuProfDir, { recursive: true });
  const started = Date.now();
  const root = makeTmp('bench-ingest-');
  const runsRoot = path.join(root, 'runs');
  fs.mkdirSync(runsRoot);

  process.stdout.write(
    `bench/ingest: ${opts.count} instances, ${opts.rounds} rounds, cases ${opts.cases.join(', ')}` +
      `${opts.fsyncOff ? ', plus node with fsync off' : ''}; ${os.cpus().length} CPUs, Node ${process.version}, tmp ${root}\n` +
      `load average before: ${loadavg()} (other work on this machine skews the numbers; compare medians)\n`,
  );
  const loadBefore = os.loadavg();

  // Data, generated once.
  const data: Record<CaseName, Dataset | undefined> = { single: undefined, concurrent: undefined, big: undefined };
  let t = performance.now();
  const allDir = path.join(root, 'src', 'all');
  const uidRoot = newUidRoot();
  const files = writeSyntheticCtSeries({ outDir: allDir, count: opts.count, uidRoot });
  // writeSyntheticCtSeries names its UIDs <root>.1 (study), <root>.2 (series), <root>.3.<n> (instance n, file n).
  durableInput = {
    study: `${uidRoot}.1`,
    series: `${uidRoot}.2`,
    items: files.map((f, i) => ({ sopInstanceUid: `${uidRoot}.3.${i + 1}`, bytes: fs.readFileSync(f) })),
  };
  const allBytes = dirBytes(allDir);
  data.single = { dirs: [allDir], instances: files.length, bytes: allBytes };
  const parts: string[] = [];
  const per = Math.ceil(files.length / opts.concurrency);
  for (let i = 0; i < opts.concurrency; i++) {
    const d = path.join(root, 'src', `part${i + 1}`);
    fs.mkdirSync(d);
    for (const f of files.slice(i * per, (i + 1) * per)) fs.linkSync(f, path.join(d, path.basename(f)));
    parts.push(d);
  }
  data.concurrent = { dirs: parts.filter((d) => fs.readdirSync(d).length > 0), instances: files.length, bytes: allBytes };
  if (opts.cases.includes('big')) {
    const bigDir = path.join(root, 'src', 'big');
    writeSyntheticCtSeries({ outDir: bigDir, count: 1, uidRoot: newUidRoot(), frames: opts.bigFrames });
    data.big = { dirs: [bigDir], instances: 1, bytes: dirBytes(bigDir) };
  }
  syncDisks();
  process.stdout.write(
    `generated ${files.length} instances (${(allBytes / 1e6).toFixed(1)} MB)` +
      `${data.big ? ` and one ${opts.bigFrames}-frame instance (${(data.big.bytes / 1e6).toFixed(1)} MB)` : ''} in ${((performance.now() - t) / 1000).toFixed(1)} s\n`,
  );

  const receiversFor = (c: CaseName): ReceiverKind[] => {
    const k: ReceiverKind[] = ['node', 'storescp'];
    if (c === 'concurrent') k.push('storescp-fork', 'durable-write-parallel');
    if (c === 'single') k.push('durable-write');
    if (opts.fsyncOff) k.push('node-nofsync');
    if (opts.baselineCli) k.push('node-baseline');
    if (opts.floor && c === 'single') {
      k.push('floor-sync', 'floor-batch', 'floor-async', 'floor-async-batch', 'floor-hybrid', 'floor-batch-index', 'floor-async-index');
    }
    if (opts.floor && c === 'concurrent') k.push('floor-async', 'floor-hybrid');
    return k;
  };

  const runs: RunRecord[] = [];
  t = performance.now();
  for (let round = 1; round <= opts.rounds; round++) {
    for (const c of opts.cases) {
      const ks = receiversFor(c);
      // Alternate receivers; rotate which one goes first each round.
      const order = ks.map((_, i) => ks[(i + round - 1) % ks.length]!);
      for (const kind of order) {
        const rec = await oneRun(c, kind, round, data[c]!, opts, runsRoot);
        runs.push(rec);
        const msg =
          `round ${round} ${c.padEnd(10)} ${RECEIVER_LABEL[kind].padEnd(19)} ${rec.wallS.toFixed(2).padStart(6)} s ` +
          `${rec.instPerS.toFixed(1).padStart(7)} inst/s ${rec.mbPerS.toFixed(1).padStart(6)} MB/s ` +
          `RSS ${fmt(rec.peakRssMiB, 1).padStart(6)} MiB${rec.ok ? '' : '  FAILED'}\n`;
        process.stdout.write(msg);
      }
    }
  }
  const summary = summarize(runs);
  const targets = evaluateTargets(summary, runs, opts);
  printTable(summary, targets, opts, data);
  process.stdout.write(
    `\nruns took ${((performance.now() - t) / 1000).toFixed(0)} s; total ${((Date.now() - started) / 1000).toFixed(0)} s; load average after: ${loadavg()}\n`,
  );

  if (opts.json) {
    const out = {
      startedAt: new Date(started).toISOString(),
      loadAverage: { before: loadBefore, after: os.loadavg() },
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? null,
        memoryBytes: os.totalmem(),
        node: process.version,
        platform: `${os.type()} ${os.release()}`,
      },
      options: { ...opts, json: undefined },
      datasets: Object.fromEntries(
        Object.entries(data)
          .filter(([, d]) => d)
          .map(([k, d]) => [k, { associations: d!.dirs.length, instances: d!.instances, bytes: d!.bytes }]),
      ),
      runs,
      summary,
      targets,
    };
    fs.mkdirSync(path.dirname(path.resolve(opts.json)), { recursive: true });
    fs.writeFileSync(opts.json, JSON.stringify(out, null, 2) + '\n');
    process.stdout.write(`results written to ${path.resolve(opts.json)}\n`);
  }
  if (opts.keep) process.stdout.write(`kept ${root}\n`);
  if (opts.cpuProfDir) process.stdout.write(`CPU profiles of the node in ${opts.cpuProfDir}\n`);
  if (runs.some((r) => !r.ok)) process.exitCode = 1;
}

main().catch((e: unknown) => {
  process.stderr.write(`bench/ingest failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  cleanup();
  process.exitCode = 1;
});

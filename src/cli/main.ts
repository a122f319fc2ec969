#!/usr/bin/env node
// dicom-ai-node: the command line. `serve` runs the node; `status` reads the database; `echo` and
// `send` are the node's own SCU, for checking a destination and pushing files by hand.

// First: the thread pool is sized from the environment when it is first used.
import './thread-pool';
import { ConfigError, DEFAULT_CONFIG_PATH, NodeConfig, loadConfig } from '../config/config';
import { createLogger } from '../log/logger';
import { DicomNode, databasePath } from '../node';
import { Store } from '../store/store';
import { STATUS_LIMIT_DEFAULT, statusJson, statusReport, statusText } from './status';
import { ScuAssociation } from '../dimse/scu';
import { TlsFiles, tlsClientOptions } from '../dimse/tls';
import { VERIFICATION_SOP_CLASS, VERIFICATION_TRANSFER_SYNTAX_PREFERENCE } from '../dimse/uids';
import { expandPaths, isSuccessOrWarning, prepareFile, sendFiles, PreparedFile } from '../delivery/send-files';
import { echoDestination, echoLabel } from '../delivery/echo-destination';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, VERSION } from '../version';
import fs from 'node:fs';
import { Progress } from './progress';

const USAGE = `dicom-ai-node ${VERSION}

Usage:
  dicom-ai-node serve  [--config FILE]            run the DICOM node (Storage SCP)
  dicom-ai-node status [--config FILE] [--json] [--limit N]   totals and the newest N (100) series, jobs, deliveries
  dicom-ai-node config check FILE                 validate a configuration without starting
  dicom-ai-node retry JOB_ID [--config FILE]      put a failed or skipped job back in the queue
  dicom-ai-node retry delivery ID | retry deliveries --failed   send failed deliveries again
  dicom-ai-node render IN.dcm OUT.png [--window lung|C/W|auto] [--frame N]   windowed 8-bit PNG
  dicom-ai-node deid   IN OUT [--option NAME]... [--secret-file F]           PS3.15 de-identification
  dicom-ai-node sr-dump FILE                      an SR document's content tree, readable
  dicom-ai-node infer --model NAME FOLDER [--json] [--config FILE] [--models DIR]
                                                  run an installed model on a series folder
  dicom-ai-node echo   DESTINATION [--config FILE]  C-ECHO a destination named in the config (DICOMweb: a QIDO-RS search)
  dicom-ai-node echo   --to AE@HOST:PORT [--aet OURS] [TLS]        C-ECHO any DICOM peer
  dicom-ai-node send   PATH... --to AE@HOST:PORT [--aet OURS] [TLS]  C-STORE files/folders to a peer

TLS (DICOM TLS, BCP 195; the peer's certificate is verified):
  --tls-ca FILE [--tls-cert FILE --tls-key FILE]

Without --config, ${DEFAULT_CONFIG_PATH} is used.
Exit codes: 0 ok, 1 failure, 2 usage or configuration error.`;

interface Args {
  command: string;
  positional: string[];
  flags: Map<string, string | true>;
}

function parseArgs(argv: string[]): Args {
  const [command = 'help', ...rest] = argv;
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
      else if (['json', 'help', 'failed'].includes(a.slice(2))) flags.set(a.slice(2), true);
      else {
        const v = rest[i + 1];
        if (v === undefined) throw new UsageError(`${a} needs a value`);
        flags.set(a.slice(2), v);
        i++;
      }
    } else positional.push(a);
  }
  return { command, positional, flags };
}

class UsageError extends Error {}

function str(args: Args, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

function config(args: Args): NodeConfig {
  return loadConfig(str(args, 'config') ?? DEFAULT_CONFIG_PATH);
}

/** AE@HOST:PORT, host may be [v6]. */
export function parsePeer(s: string): { aeTitle: string; host: string; port: number } {
  const m = /^([^@]{1,16})@(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(s);
  if (!m) throw new UsageError(`"${s}" is not AE@HOST:PORT (for example ORTHANC@127.0.0.1:4242)`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new UsageError(`port ${port} is not a TCP port (1-65535)`);
  return { aeTitle: m[1]!, host: m[2]!.replace(/^\[|\]$/g, ''), port };
}

async function serve(args: Args): Promise<number> {
  const cfg = config(args);
  const log = createLogger({ level: cfg.log.level, file: cfg.log.file });
  const node = new DicomNode(cfg, log);
  await node.start();
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    await node.stop(5000);
    log.end();
    process.exitCode = 0;
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  return new Promise(() => undefined); // runs until a signal
}

function status(args: Args): number {
  const cfg = config(args);
  const raw = str(args, 'limit');
  const limit = raw === undefined ? STATUS_LIMIT_DEFAULT : Number(raw);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a whole number of 1 or more (got "${raw}")`);
  const file = databasePath(cfg);
  if (!fs.existsSync(file)) {
    if (args.flags.has('json')) process.stdout.write(JSON.stringify({ series: [], jobs: [] }, null, 2) + '\n');
    else process.stdout.write(`no database yet at ${file}: nothing received\n`);
    return 0;
  }
  const store = new Store(file);
  try {
    const report = statusReport(store, limit);
    process.stdout.write(args.flags.has('json') ? JSON.stringify(statusJson(report), null, 2) + '\n' : statusText(report));
  } finally {
    store.close();
  }
  return 0;
}

/** TLS files from --tls-ca/--tls-cert/--tls-key; undefined = plain TCP. */
function tlsFiles(args: Args): TlsFiles | undefined {
  const caFile = str(args, 'tls-ca');
  const certFile = str(args, 'tls-cert');
  const keyFile = str(args, 'tls-key');
  if (!caFile && !certFile && !keyFile) return undefined;
  if (Boolean(certFile) !== Boolean(keyFile)) throw new UsageError('--tls-cert and --tls-key go together');
  return { caFile, certFile, keyFile };
}

function tlsOptionsFor(args: Args, host: string) {
  const f = tlsFiles(args);
  return f ? tlsClientOptions(f, host) : undefined;
}

async function echo(args: Args): Promise<number> {
  const to = str(args, 'to');
  const name = args.positional[0];
  if (!to && !name) throw new UsageError('echo needs a destination name from the config, or --to AE@HOST:PORT');
  let peer: { aeTitle: string; host: string; port: number };
  let tls = to ? tlsOptionsFor(args, parsePeer(to).host) : undefined;
  let callingAeTitle = str(args, 'aet') ?? 'DICOM_AI';
  if (to) peer = parsePeer(to);
  else {
    // A destination as configured: its AE title, address, TLS files, and our own AE title.
    const cfg = config(args);
    const d = cfg.destinations[name!];
    if (!d)
      throw new UsageError(
        `no destination "${name}" in ${cfg.configPath}; configured: ${Object.keys(cfg.destinations).join(', ') || 'none'}`,
      );
    if (d.protocol === 'dicomweb') {
      const r = await echoDestination(d, cfg.node.aeTitle);
      process.stdout.write(
        `${echoLabel(d)} ${name!} (${d.url ?? ''}): ${r.ok ? 'reachable, credentials accepted' : `failed: ${r.error ?? ''}`} in ${r.ms} ms\n`,
      );
      return r.ok ? 0 : 1;
    }
    peer = { aeTitle: d.aeTitle, host: d.host, port: d.port };
    tls = d.tls ? tlsClientOptions(d.tls, d.host) : undefined;
    callingAeTitle = str(args, 'aet') ?? cfg.node.aeTitle;
  }
  const t0 = Date.now();
  const scu = await ScuAssociation.open({
    host: peer.host,
    port: peer.port,
    callingAeTitle,
    calledAeTitle: peer.aeTitle,
    contexts: [{ abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [...VERIFICATION_TRANSFER_SYNTAX_PREFERENCE] }],
    implementationClassUid: IMPLEMENTATION_CLASS_UID,
    implementationVersionName: IMPLEMENTATION_VERSION_NAME,
    limits: { maxPduLength: 65536, maxCommandBytes: 65536, maxAssociateLength: 1 << 20, maxDataSetBytes: 0 },
    timeouts: { artimMs: 10_000, idleMs: 30_000 },
    tls,
  });
  const rsp = await scu.echo();
  await scu.release();
  const ok = rsp.status === 0;
  process.stdout.write(
    `C-ECHO ${peer.aeTitle}@${peer.host}:${peer.port}: status 0x${(rsp.status ?? 0xffff).toString(16).padStart(4, '0')} in ${Date.now() - t0} ms\n`,
  );
  return ok ? 0 : 1;
}

async function send(args: Args): Promise<number> {
  const to = str(args, 'to');
  if (!to) throw new UsageError('send needs --to AE@HOST:PORT');
  if (args.positional.length === 0) throw new UsageError('send needs at least one file or folder');
  const peer = parsePeer(to);
  const prepared: PreparedFile[] = [];
  let skipped = 0;
  for (const f of expandPaths(args.positional)) {
    try {
      prepared.push(await prepareFile(f));
    } catch (e) {
      skipped++;
      process.stderr.write(`skipped ${f}: ${(e as Error).message}\n`);
    }
  }
  const t0 = Date.now();
  const progress = new Progress(prepared.length);
  const sizes = new Map(prepared.map((p) => [p.file, fs.statSync(p.file).size]));
  const results = await sendFiles({ ...peer, tls: tlsFiles(args) }, prepared, {
    callingAeTitle: str(args, 'aet') ?? 'DICOM_AI',
    onResult: (r) => {
      const ok = isSuccessOrWarning(r.status);
      if (!ok)
        process.stderr.write(
          `${process.stderr.isTTY ? '\n' : ''}failed ${r.file}: ${r.status === null ? r.error : `status 0x${r.status.toString(16)}`}\n`,
        );
      progress.step(sizes.get(r.file) ?? 0, ok);
    },
  });
  progress.finish();
  const ok = results.filter((r) => isSuccessOrWarning(r.status)).length;
  const failed = prepared.length - ok;
  const ms = Date.now() - t0;
  const mb = [...sizes.values()].reduce((a, b) => a + b, 0) / 1048576;
  process.stdout.write(
    `sent ${ok} of ${prepared.length} files to ${peer.aeTitle} in ${ms} ms (${mb.toFixed(1)} MB, ${(prepared.length / Math.max(ms / 1000, 0.001)).toFixed(1)} files/s); ${failed} failed, ${skipped} not DICOM\n`,
  );
  return failed === 0 && skipped === 0 ? 0 : 1;
}

/** `retry JOB_ID`: an operator puts a failed or skipped job back in the queue (works while the node runs: SQLite WAL). */
function retry(args: Args): number {
  if (args.positional[0] === 'delivery' || args.positional[0] === 'deliveries') return retryDeliveries(args);
  const id = Number(args.positional[0]);
  if (!Number.isInteger(id) || id < 1)
    throw new UsageError(
      'usage: dicom-ai-node retry JOB_ID | retry delivery ID | retry deliveries --failed  [--config FILE] (ids: status --json)',
    );
  const store = new Store(databasePath(config(args)));
  try {
    const r = store.retryJob(id, Date.now());
    if ('error' in r) {
      process.stderr.write(`${r.error}\n`);
      return 1;
    }
    store.recordAudit({
      at: Date.now(),
      event: 'job-retried',
      outcome: 'success',
      seriesInstanceUid: r.job.seriesInstanceUid,
      detail: `job ${id} (${r.job.route}) from the CLI`,
    });
    process.stdout.write(`job ${id} (${r.job.route}) queued again\n`);
    return 0;
  } finally {
    store.close();
  }
}

/**
 * `retry delivery ID` / `retry deliveries --failed`: a delivery that used up its attempts goes back
 * to the queue with its attempts reset; the running node's sweep sends it (within a minute).
 */
function retryDeliveries(args: Args): number {
  const all = args.positional[0] === 'deliveries';
  const id = Number(args.positional[1]);
  if (all ? args.flags.get('failed') !== true : !Number.isInteger(id) || id < 1) {
    throw new UsageError('usage: dicom-ai-node retry delivery ID | retry deliveries --failed [--config FILE]');
  }
  const store = new Store(databasePath(config(args)));
  try {
    const n = store.retryDeliveries(all ? 'all-failed' : id, Date.now());
    if (n === 0) {
      process.stderr.write(
        all ? 'no failed deliveries\n' : `delivery ${id} is not failed (or does not exist); only failed deliveries are retried\n`,
      );
      return 1;
    }
    store.recordAudit({
      at: Date.now(),
      event: 'delivery-retried',
      outcome: 'success',
      detail: `${all ? `${n} failed deliveries` : `delivery ${id}`} from the CLI`,
    });
    process.stdout.write(`${n} deliver${n === 1 ? 'y' : 'ies'} queued again; the node's delivery sweep sends ${n === 1 ? 'it' : 'them'}\n`);
    return 0;
  } finally {
    store.close();
  }
}

/** `config check FILE`: the same validation as at start-up, nothing started. */
function configCheck(args: Args): number {
  const [sub, file] = args.positional;
  if (sub !== 'check' || !file) throw new UsageError('usage: dicom-ai-node config check FILE');
  const cfg = loadConfig(file); // throws ConfigError (exit 2) with every problem
  const tls = cfg.node.tls ? `, DICOM TLS on port ${cfg.node.tls.port}` : '';
  process.stdout.write(
    `${cfg.configPath}: configuration OK — AE ${cfg.node.aeTitle} on ${cfg.node.port === null ? `${cfg.node.host} (no plain DICOM port)` : `${cfg.node.host}:${cfg.node.port}`}${tls}, ` +
      `${cfg.callers.length} caller(s)${cfg.acceptAnyCaller ? ' (any caller accepted)' : ''}, ` +
      `${Object.keys(cfg.destinations).length} destination(s), ${cfg.routes.length} route(s), data in ${cfg.storage.dataDir}\n`,
  );
  return 0;
}

/** `COMMAND --help`: that command's usage lines (and the notes that apply to it). */
export function commandHelp(command: string): string {
  const lines = USAGE.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith(`  dicom-ai-node ${command} `) && lines[i] !== `  dicom-ai-node ${command}`) continue;
    out.push(lines[i]!);
    // Continuation lines are indented further than the command lines.
    while (i + 1 < lines.length && /^ {4,}\S/.test(lines[i + 1]!) && !lines[i + 1]!.startsWith('  dicom-ai-node')) out.push(lines[++i]!);
  }
  if (out.length === 0) return USAGE;
  const notes = ['echo', 'send'].includes(command)
    ? USAGE.slice(USAGE.indexOf('TLS (DICOM TLS'))
    : USAGE.slice(USAGE.indexOf('Without --config'));
  return `Usage:\n${out.join('\n')}\n\n${notes}`;
}

async function main(argv: string[]): Promise<number> {
  // Stages with their own argument handling get the raw arguments.
  // Loaded on demand: `serve` should not pay for image codecs it does not use yet.
  if (argv[0] === 'render') return (await import('../imaging/render-cli')).runRenderCli(argv.slice(1));
  if (argv[0] === 'deid') return (await import('../deid/cli')).runDeidCli(argv.slice(1));
  const args = parseArgs(argv);
  if (args.command === 'help' || args.command === '--help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (args.flags.has('help')) {
    process.stdout.write(commandHelp(args.command) + '\n');
    return 0;
  }
  switch (args.command) {
    case 'serve':
      return serve(args);
    case 'status':
      return status(args);
    case 'echo':
      return echo(args);
    case 'send':
      return send(args);
    case 'config':
      return configCheck(args);
    case 'retry':
      return retry(args);
    case 'infer': {
      const model = str(args, 'model');
      if (!model || args.positional.length !== 1) throw new UsageError('usage: dicom-ai-node infer --model NAME FOLDER [--json]');
      // The models folder and providers of the config (the default one unless --config), or --models.
      const cfg = config(args);
      const { runInfer } = await import('../inference/infer-cli');
      return runInfer({
        model,
        folder: args.positional[0]!,
        json: args.flags.get('json') === true,
        modelsDir: str(args, 'models') ?? cfg.inference.modelsDir,
        providers: [...cfg.inference.providers],
        intraOpNumThreads: cfg.inference.intraOpNumThreads,
      });
    }
    case 'sr-dump': {
      // Loaded on demand, like render and deid.
      if (args.positional.length !== 1) throw new UsageError('usage: dicom-ai-node sr-dump FILE');
      const { srDump } = await import('../report/sr-dump');
      process.stdout.write(srDump(fs.readFileSync(args.positional[0]!)));
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${args.command}"`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      if (e instanceof UsageError) {
        process.stderr.write(`${e.message}\n\n${USAGE}\n`);
        process.exitCode = 2;
      } else if (e instanceof ConfigError) {
        process.stderr.write(`${e.message}\n`);
        process.exitCode = 2;
      } else {
        process.stderr.write(`error: ${(e as Error).message}\n`);
        process.exitCode = 1;
      }
    },
  );
}

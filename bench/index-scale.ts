/**
 * bench/index-scale: the SQLite index at a million instances against an empty one (issue 13).
 * Fills an index with synthetic rows through the store's own API (1,000,000 instances in 10,000
 * series, 100 each, four series a study, each series routed, reported and delivered; no instance
 * files, only the empty series folders), then measures on both indexes:
 *
 *   - C-STORE index commit: p50/p99 of Store.recordInstance, the call the SCP makes per instance;
 *   - the stability sweep (Store.markStableSeries with 20 series receiving: none due, then all 20);
 *   - GET /api/series and GET /api/jobs over HTTP: the first page and a page deep in the index
 *     (keyset cursor), and the jobs of one state (?state=failed);
 *   - `status --json`: its queries and JSON in process, and the CLI as a process of its own;
 *   - retention selection (Store.retentionCandidates);
 *   - start-up: the index's part in process (clean, and with the repair after an unclean stop), and
 *     `serve` until it listens (first start on the folder, clean, after an unclean stop).
 *
 *   npm run bench:index-scale -- [--series 10000] [--per-series 100] [--json FILE]
 *
 * Prints a table with both columns and the ratio, and whether the issue's targets hold: p99 commit
 * at 1 M within 2 x empty, every operator query under 100 ms, clean start-up under 5 s.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Store, type InstanceRecord } from '../src/store/store';
import { AdminServer } from '../src/admin/server';
import { createLogger } from '../src/log/logger';
import { instancePath } from '../src/ingest/instance-writer';
import { reconcileInstances } from '../src/ingest/reconcile';
import { tmpDir } from '../test/helpers/env';
import { run } from '../test/helpers/run';
import { statusJson, statusReport } from '../src/cli/status';
import { freePort, startChildNode, writeConfig } from '../test/helpers/child-node';

const CLI = path.resolve(__dirname, '..', 'src', 'cli', 'main.js');
const TOKEN = 'bench-token-0123456789abcdef';
const MODEL = 'bench-model';
const DAY = 86_400_000;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const quantile = (v: number[], q: number) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(q * v.length))]!;
const median = (v: number[]) => quantile(v, 0.5);

interface Figures {
  instances: number;
  commitP50: number;
  commitP99: number;
  sweepNothingDue: number;
  sweepTwentyDue: number;
  seriesFirstPage: number;
  seriesDeepPage: number;
  jobsFirstPage: number;
  jobsDeepPage: number;
  jobsStatePage: number;
  statusQuery: number;
  statusCli: number;
  retentionSelection: number;
  retentionAllBatches: number;
  retentionCandidates: number;
  firstStart: number;
  cleanStart: number;
  indexStartClean: number;
  indexStartUnclean: number;
  uncleanStart: number;
  repairFoldersRead: string;
}

/** A synthetic instance row of series `k` (its study: k / 4), as the SCP would record it. */
function instanceRow(dataDir: string, root: string, k: number, i: number, receivedAt: number): InstanceRecord {
  const study = `${root}.1.${k >> 2}`;
  const series = `${root}.2.${k}`;
  const sop = `${root}.3.${k}.${i}`;
  return {
    sopInstanceUid: sop,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    seriesInstanceUid: series,
    studyInstanceUid: study,
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    instanceNumber: i + 1,
    filePath: instancePath(dataDir, study, series, sop),
    sizeBytes: 525_000,
    callingAeTitle: 'STORESCU',
    callingHost: '127.0.0.1',
    associationId: `bench-${k}`,
    receivedAt,
    burnedInRisk: [],
  };
}

const ATTRS = { modality: 'CT', bodyPartExamined: 'CHEST', seriesDescription: 'bench', studyDescription: 'bench', patientId: 'BENCH' };

/**
 * Fills the index: `seriesCount` series of `perSeries` instances over the last 10 days, each routed,
 * its job done, its report delivered; an empty folder per series, modified before its last arrival.
 */
function fill(store: Store, dataDir: string, root: string, seriesCount: number, perSeries: number): void {
  const start = Date.now() - 10 * DAY;
  const step = Math.floor((9 * DAY) / seriesCount);
  const t0 = performance.now();
  for (let batch = 0; batch < seriesCount; batch += 100) {
    store.inOneTransaction(() => {
      for (let k = batch; k < Math.min(seriesCount, batch + 100); k++) {
        const t = start + k * step;
        for (let i = 0; i < perSeries; i++) store.recordInstance(instanceRow(dataDir, root, k, i, t + i * 100), ATTRS);
      }
    });
    if (batch % 1000 === 0)
      process.stdout.write(`\rfilling: ${batch * perSeries} instances (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  process.stdout.write(`\rfilled ${seriesCount * perSeries} instances in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  store.markStableSeries(Date.now(), Date.now());
  store.inOneTransaction(() => {
    for (let k = 0; k < seriesCount; k++) deliverReport(store, dataDir, root, k, start + k * step + perSeries * 100 + 60_000);
  });
  for (let k = 0; k < seriesCount; k++) {
    const last = start + k * step + (perSeries - 1) * 100;
    const dir = path.dirname(instanceRow(dataDir, root, k, 0, 0).filePath);
    fs.mkdirSync(dir, { recursive: true });
    fs.utimesSync(dir, new Date(last - 5), new Date(last - 5));
  }
  store.checkpoint();
}

/** Series k routed to one model, its job done, its SR queued and delivered at `at`. */
function deliverReport(store: Store, dataDir: string, root: string, k: number, at: number): void {
  const seriesUid = `${root}.2.${k}`;
  store.recordRouting(
    seriesUid,
    [{ route: 'chest-ct', model: MODEL, priority: 'normal', state: 'queued', reason: null, burnedInFlag: null }],
    '',
    at,
  );
  const job = store.claimNextJob([MODEL], new Set(), at);
  if (!job) throw new Error(`series ${k}: its job was not claimed`);
  const sop = `${root}.4.${k}`;
  const filePath = path.join(dataDir, 'reports', `${sop}.dcm`);
  store.recordReportAndDeliveries(
    job.id,
    [
      {
        sopInstanceUid: sop,
        sopClassUid: '1.2.840.10008.5.1.4.1.1.88.22',
        form: 'enhanced',
        seriesInstanceUid: seriesUid,
        model: MODEL,
        modelVersion: '1',
        revision: 1,
        instancesHash: 'h',
        srSeriesInstanceUid: `${root}.5.${k}`,
        jobId: job.id,
        resultId: 0,
        filePath,
      },
    ],
    [{ sopInstanceUid: sop, sopClassUid: '1.2.840.10008.5.1.4.1.1.88.22', filePath, destination: 'PACS', alternatives: [] }],
    at,
  );
  for (const d of store.claimDueDeliveries(at, 10)) store.markDelivered(d.id, 0, at);
}

function timeIt(fn: () => unknown, times: number): number {
  const v: number[] = [];
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    fn();
    v.push(performance.now() - t);
  }
  return median(v);
}

/** p50/p99 of recordInstance for `n` new instances in 20 new series (left receiving for the sweep). */
function commitLatency(store: Store, dataDir: string, root: string, n: number): { p50: number; p99: number } {
  const v: number[] = [];
  const now = Date.now();
  for (let j = 0; j < n; j++) {
    const row = instanceRow(dataDir, `${root}.9`, j % 20, j, now - n + j);
    const t = performance.now();
    store.recordInstance(row, ATTRS);
    v.push(performance.now() - t);
  }
  return { p50: median(v), p99: quantile(v, 0.99) };
}

function httpGet(port: number, p: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, headers: { Authorization: `Bearer ${TOKEN}` } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${p}: HTTP ${res.statusCode}: ${body}`))));
      })
      .on('error', reject);
  });
}

type PageTimes = { first: number; deep: number };

/**
 * The operator's paged queries through the real admin server: GET /api/series and GET /api/jobs,
 * each its first page and a page 50 pages deep, and the newest failed jobs (?state=failed).
 */
async function operatorPages(store: Store): Promise<{ series: PageTimes; jobs: PageTimes; failedJobs: number }> {
  const log = createLogger({ level: 'error', silentConsole: true });
  const admin = new AdminServer(
    { host: '127.0.0.1', port: 0, token: TOKEN },
    {
      readiness: () => [],
      metrics: () => '',
      series: (limit, after) => store.listSeriesPage(limit, after),
      audit: () => [],
      jobs: (limit, filter, afterId) => store.listJobsPage(limit, filter, afterId),
      models: () => [],
      retryJob: () => ({ error: 'not here' }),
    },
    log,
  );
  const { port } = await admin.start();
  try {
    const deepCursor = async (endpoint: string) => {
      let cursor: string | null = null;
      for (let p = 0; p < 50; p++) {
        const page = JSON.parse(await httpGet(port, `${endpoint}${cursor ? `?cursor=${cursor}` : ''}`)) as { next: string | null };
        if (!page.next) break;
        cursor = page.next;
      }
      return cursor;
    };
    const times = async (url: string) => {
      const v: number[] = [];
      for (let i = 0; i < 15; i++) {
        const t = performance.now();
        await httpGet(port, url);
        v.push(performance.now() - t);
      }
      return median(v);
    };
    const firstAndDeep = async (endpoint: string): Promise<PageTimes> => {
      const cursor = await deepCursor(endpoint);
      return { first: await times(endpoint), deep: await times(`${endpoint}${cursor ? `?cursor=${cursor}` : ''}`) };
    };
    return {
      series: await firstAndDeep('/api/series'),
      jobs: await firstAndDeep('/api/jobs'),
      failedJobs: await times('/api/jobs?state=failed'),
    };
  } finally {
    await admin.stop();
  }
}

async function statusCommand(configFile: string): Promise<number> {
  const v: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const r = await run(process.execPath, [CLI, 'status', '--json', '--config', configFile]);
    if (r.code !== 0) throw new Error(`status --json failed: ${r.stderr}`);
    v.push(performance.now() - t);
  }
  return median(v);
}

/**
 * The index's part of a start-up, in process (Node's own start and the model loading left out):
 * open and migrate, the stability sweep, jobs and deliveries re-queued; after an unclean stop, the
 * repair too. Medians of 5.
 */
function indexStartUp(dataDir: string): { clean: number; unclean: number } {
  const log = createLogger({ level: 'error', silentConsole: true });
  const once = (repair: boolean) => {
    const store = new Store(path.join(dataDir, 'dicom-ai-node.sqlite'));
    if (repair) reconcileInstances(dataDir, store, log);
    store.markStableSeries(Date.now() - 30_000, Date.now());
    store.requeueInterruptedJobs(Date.now());
    store.requeueInterruptedDeliveries(Date.now());
    store.close();
  };
  return { clean: timeIt(() => once(false), 5), unclean: timeIt(() => once(true), 5) };
}

/** `serve` until it listens, then a clean stop; with `unclean`, the previous run "died" (marker left). */
async function startUp(dir: string, configFile: string, unclean: boolean): Promise<{ ms: number; output: string }> {
  if (unclean) fs.writeFileSync(path.join(dir, 'data', '.running'), 'bench: an unclean stop\n');
  const t = performance.now();
  const node = await startChildNode(configFile, 120_000);
  const ms = performance.now() - t;
  node.proc.kill('SIGTERM');
  await node.exited;
  return { ms, output: node.output() };
}

async function measure(label: string, seriesCount: number, perSeries: number): Promise<Figures> {
  const dir = tmpDir(`index-scale-${label}`);
  const dataDir = path.join(dir, 'data');
  const modelsDir = path.join(dir, 'no-models');
  fs.mkdirSync(modelsDir, { recursive: true });
  const configFile = writeConfig(dir, await freePort(), { inference: { modelsDir, providers: ['cpu'] } });
  const root = '2.25.13';
  const store = new Store(path.join(dataDir, 'dicom-ai-node.sqlite'));
  let f: Omit<
    Figures,
    'statusCli' | 'firstStart' | 'cleanStart' | 'uncleanStart' | 'repairFoldersRead' | 'indexStartClean' | 'indexStartUnclean'
  >;
  try {
    if (seriesCount > 0) fill(store, dataDir, root, seriesCount, perSeries);
    const commit = commitLatency(store, dataDir, root, 2000);
    // The timer's sweep while the 20 series still receive (nothing due), then the one that finds them quiet.
    const nothingDue = timeIt(() => store.markStableSeries(Date.now() - DAY, Date.now()), 15);
    const t = performance.now();
    const due = store.markStableSeries(Date.now(), Date.now()).length;
    const twentyDue = performance.now() - t;
    if (due !== 20) throw new Error(`the sweep found ${due} series due, not 20`);
    const status = timeIt(() => JSON.stringify(statusJson(statusReport(store, 100)), null, 2), 15);
    const pages = await operatorPages(store);
    const cutoff = Date.now() - 5 * DAY;
    const retention = timeIt(() => store.retentionCandidates(cutoff), 15);
    const allBatches = timeIt(() => {
      for (let b = store.retentionCandidates(cutoff); b.length > 0; b = store.retentionCandidates(cutoff, 500, b.at(-1)));
    }, 5);
    f = {
      instances: seriesCount * perSeries,
      commitP50: commit.p50,
      commitP99: commit.p99,
      sweepNothingDue: nothingDue,
      sweepTwentyDue: twentyDue,
      statusQuery: status,
      seriesFirstPage: pages.series.first,
      seriesDeepPage: pages.series.deep,
      jobsFirstPage: pages.jobs.first,
      jobsDeepPage: pages.jobs.deep,
      jobsStatePage: pages.failedJobs,
      retentionSelection: retention,
      retentionAllBatches: allBatches,
      retentionCandidates: store.retentionCandidates(cutoff).length,
    };
  } finally {
    store.close();
  }
  const statusCli = await statusCommand(configFile);
  const index = indexStartUp(dataDir);
  // The first start on a data folder makes it private once (a walk of every folder and file).
  const first = await startUp(dir, configFile, false);
  const clean = await startUp(dir, configFile, false);
  const unclean = await startUp(dir, configFile, true);
  const repair = unclean.output
    .split('\n')
    .filter((l) => l.includes('start-up repair checked the stored series folders'))
    .map((l) => JSON.parse(l) as { seriesFolders: number; foldersRead: number })[0];
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    ...f,
    statusCli,
    firstStart: first.ms,
    indexStartClean: index.clean,
    indexStartUnclean: index.unclean,
    cleanStart: clean.ms,
    uncleanStart: unclean.ms,
    repairFoldersRead: repair ? `${repair.foldersRead} of ${repair.seriesFolders}` : 'no repair line',
  };
}

async function main(): Promise<void> {
  const seriesCount = Number(arg('series', '10000'));
  const perSeries = Number(arg('per-series', '100'));
  const empty = await measure('empty', 0, perSeries);
  const full = await measure('full', seriesCount, perSeries);
  const rows: [string, keyof Figures, string][] = [
    ['C-STORE index commit p50', 'commitP50', 'ms'],
    ['C-STORE index commit p99', 'commitP99', 'ms'],
    ['stability sweep, 20 series receiving, none due', 'sweepNothingDue', 'ms'],
    ['stability sweep marking 20 series stable (one run)', 'sweepTwentyDue', 'ms'],
    ['GET /api/series, first page (100)', 'seriesFirstPage', 'ms'],
    ['GET /api/series, 51st page (cursor)', 'seriesDeepPage', 'ms'],
    ['GET /api/jobs, first page (100)', 'jobsFirstPage', 'ms'],
    ['GET /api/jobs, 51st page (cursor)', 'jobsDeepPage', 'ms'],
    ['GET /api/jobs?state=failed, first page', 'jobsStatePage', 'ms'],
    ['status --json: queries + JSON (in process)', 'statusQuery', 'ms'],
    ['status --json: the CLI process (Node start-up included)', 'statusCli', 'ms'],
    ['retention selection, one batch (500)', 'retentionSelection', 'ms'],
    ['retention selection, every batch', 'retentionAllBatches', 'ms'],
    ['index work of a clean start (open, sweep, re-queue; in process)', 'indexStartClean', 'ms'],
    ['index work of a start after an unclean stop (+ repair; in process)', 'indexStartUnclean', 'ms'],
    ['first start-up on the data folder (one-time permission pass)', 'firstStart', 'ms'],
    ['clean start-up (serve until listening)', 'cleanStart', 'ms'],
    ['start-up after an unclean stop (repair)', 'uncleanStart', 'ms'],
  ];
  const fmt = (v: number) => (v < 10 ? v.toFixed(2) : v.toFixed(0));
  console.log(`\n| what | empty index | ${full.instances.toLocaleString('en')} instances | ratio |`);
  console.log('|---|---|---|---|');
  for (const [name, key, unit] of rows) {
    const a = empty[key] as number;
    const b = full[key] as number;
    console.log(`| ${name} | ${fmt(a)} ${unit} | ${fmt(b)} ${unit} | ${(b / a).toFixed(2)} |`);
  }
  console.log(`| retention candidates selected | ${empty.retentionCandidates} | ${full.retentionCandidates} | |`);
  console.log(`| series folders read by the repair | ${empty.repairFoldersRead} | ${full.repairFoldersRead} | |`);
  const queries = [
    full.sweepNothingDue,
    full.sweepTwentyDue,
    full.seriesFirstPage,
    full.seriesDeepPage,
    full.jobsFirstPage,
    full.jobsDeepPage,
    full.jobsStatePage,
    full.statusQuery,
    full.retentionSelection,
  ];
  console.log(`\ntargets at ${full.instances.toLocaleString('en')} instances:`);
  console.log(
    `  p99 commit <= 2 x empty: ${full.commitP99 <= 2 * empty.commitP99 ? 'yes' : 'NO'} (${(full.commitP99 / empty.commitP99).toFixed(2)} x)`,
  );
  console.log(`  operator queries < 100 ms: ${queries.every((q) => q < 100) ? 'yes' : 'NO'} (slowest ${fmt(Math.max(...queries))} ms)`);
  console.log(`  clean start-up < 5 s: ${full.cleanStart < 5000 ? 'yes' : 'NO'} (${fmt(full.cleanStart)} ms)`);
  const out = arg('json', '');
  if (out) fs.writeFileSync(out, JSON.stringify({ empty, full }, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

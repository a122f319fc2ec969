/**
 * bench/index-pages: how many database pages one C-STORE's index row writes to the WAL, and which
 * b-tree (table or index) each page belongs to (issue 13). Every WAL frame is one page written by
 * a commit (SQLite file format, "WAL File Format": a 24-byte frame header whose first field is the
 * page number, then the page); mapping page numbers to b-trees through the dbstat virtual table
 * tells which statement of Store.recordInstance caused it.
 *
 *   node dist/bench/index-pages.js [--instances 100] [--seed 5000] [--timed 3000]
 *
 * Two cases, on an index already holding `seed` instances (so the b-trees have interior pages):
 *   - one association: one instance per commit (one row per group commit);
 *   - four associations: four instances of four series per commit (a group commit of four);
 * then times `timed` single-instance commits (CPU per commit, wall p50/p99; checkpoints included).
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { Store, type IndexAttributes, type InstanceRecord } from '../src/store/store';
import { tmpDir } from '../test/helpers/env';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? Number(process.argv[i + 1]) : fallback;
}

const ATTRS: IndexAttributes = {
  patientId: 'BENCH-1',
  patientName: 'Bench^Pages',
  studyDate: '20260101',
  studyDescription: 'CT CHEST',
  modality: 'CT',
  bodyPartExamined: 'CHEST',
  seriesDescription: 'AXIAL',
  seriesNumber: 2,
  manufacturer: 'BENCH',
};

function row(series: number, n: number, at: number): InstanceRecord {
  const seriesUid = `1.2.826.0.1.3680043.10.9999.2.${series}`;
  // Random-looking SOP Instance UIDs, as real ones are: their primary-key entries land anywhere.
  const sop = `1.2.826.0.1.3680043.10.9999.3.${series}.${(n * 2654435761) % 4294967291}.${n}`;
  return {
    sopInstanceUid: sop,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    seriesInstanceUid: seriesUid,
    studyInstanceUid: `1.2.826.0.1.3680043.10.9999.1.${Math.floor(series / 4)}`,
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    instanceNumber: n,
    filePath: `/data/instances/${seriesUid}/${sop}.dcm`,
    sizeBytes: 525_000,
    callingAeTitle: 'BENCH',
    callingHost: '127.0.0.1',
    associationId: 'bench',
    receivedAt: at,
    burnedInRisk: [],
  };
}

/** The page number of every frame in the WAL after byte `from` (frame headers: big-endian u32). */
function walPages(walFile: string, from: number): number[] {
  const wal = fs.readFileSync(walFile);
  const pageSize = wal.readUInt32BE(8);
  const pages: number[] = [];
  for (let off = Math.max(from, 32); off + 24 + pageSize <= wal.length; off += 24 + pageSize) pages.push(wal.readUInt32BE(off));
  return pages;
}

function measure(label: string, dbFile: string, instances: number, perCommit: number, seed: number): void {
  const store = new Store(dbFile);
  const t0 = Date.now();
  let n = seed;
  // Arrivals continue series that already exist and are receiving (the steady state of a C-STORE).
  const warm = perCommit === 1 ? [0] : [0, 1, 2, 3];
  store.inOneTransaction(() => warm.forEach((s) => store.recordInstance(row(s, n++, t0), ATTRS)));
  const walFile = dbFile + '-wal';
  const before = fs.statSync(walFile).size;
  const commits = instances / perCommit;
  for (let c = 0; c < commits; c++) {
    store.inOneTransaction(() => {
      for (let k = 0; k < perCommit; k++) store.recordInstance(row(warm[k]!, n++, t0 + 1 + c), ATTRS);
    });
  }
  const pages = walPages(walFile, before);
  const reader = new Database(dbFile, { readonly: true });
  const owner = new Map(
    (reader.prepare('SELECT name, pageno FROM dbstat').all() as { name: string; pageno: number }[]).map((r) => [r.pageno, r.name]),
  );
  reader.close();
  store.close();
  const byTree = new Map<string, number>();
  for (const p of pages) {
    const name = owner.get(p) ?? `page ${p} (freelist or header)`;
    byTree.set(name, (byTree.get(name) ?? 0) + 1);
  }
  console.log(
    `\n${label}: ${commits} commits of ${perCommit}, ${pages.length} WAL frames = ${(pages.length / instances).toFixed(2)} pages per instance, ${(pages.length / commits).toFixed(2)} per commit`,
  );
  for (const [name, count] of [...byTree].sort((a, b) => b[1] - a[1]))
    console.log(`  ${name.padEnd(34)} ${(count / instances).toFixed(2)} per instance`);
}

/**
 * CPU per commit: `n` instances of one receiving series, one commit each (one association), on the
 * seeded index, with SQLite's automatic checkpoints included as they fall. Returns microseconds.
 */
function timeCommits(dbFile: string, n: number, seed: number): { cpuPerCommitUs: number; p50Us: number; p99Us: number } {
  const store = new Store(dbFile);
  const t0 = Date.now();
  const wall: number[] = [];
  const cpu = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const r = row(7, seed + i, t0 + i);
    const t = performance.now();
    store.inOneTransaction(() => store.recordInstance(r, ATTRS));
    wall.push(performance.now() - t);
  }
  const used = process.cpuUsage(cpu);
  store.close();
  wall.sort((a, b) => a - b);
  return {
    cpuPerCommitUs: (used.user + used.system) / n,
    p50Us: wall[Math.floor(n / 2)]! * 1000,
    p99Us: wall[Math.floor(n * 0.99)]! * 1000,
  };
}

function main(): void {
  const instances = arg('instances', 100);
  const seed = arg('seed', 5000);
  const dir = tmpDir('index-pages');
  const dbFile = path.join(dir, 'index.sqlite');
  const store = new Store(dbFile);
  const t = Date.now() - 60_000;
  // A seeded index: `seed` instances in series of 100, all stable, as an index in service holds.
  store.inOneTransaction(() => {
    for (let i = 0; i < seed; i++) store.recordInstance(row(100 + Math.floor(i / 100), i, t), ATTRS);
  });
  store.markStableSeries(Date.now(), Date.now());
  store.close(); // checkpoints and removes the WAL: what follows is the only thing in it
  measure('one association', dbFile, instances, 1, seed);
  measure('four associations (group commit of 4)', dbFile, instances, 4, seed + instances + 10);
  const timed = timeCommits(dbFile, arg('timed', 3000), seed + 2 * instances + 20);
  console.log(
    `\ntimed: ${arg('timed', 3000)} commits of 1 instance: CPU ${timed.cpuPerCommitUs.toFixed(0)} us per commit, wall p50 ${timed.p50Us.toFixed(0)} us, p99 ${timed.p99Us.toFixed(0)} us`,
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

main();

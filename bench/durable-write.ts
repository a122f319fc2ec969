// The durable write alone: what every instance costs the disk when it must be on disk before the
// sender hears success, with nothing else around it (no network, no parsing, no index). One file
// at a time, in the node's folder layout (incoming/<tmp> renamed to instances/<study>/<series>/<sop>.dcm):
// write the bytes to a temporary file, fsync it, rename it into place, fsync the folder. The first
// instance of the series also fsyncs the series' and the study's parent folders, as the node does
// once per new series. Used by bench/ingest.ts (the "durable write" row and the R ratio) and by
// bench/ingest-profile.ts.

import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';

export interface DurableWriteItem {
  sopInstanceUid: string;
  bytes: Buffer;
}

export interface DurableWriteResult {
  wallS: number;
  instances: number;
  bytes: number;
  /** Milliseconds per instance, in order. */
  perInstanceMs: number[];
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function writeAllSync(fd: number, b: Buffer): void {
  let off = 0;
  while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
}

/** Writes every item durably into dataDir, one after the other; the bytes are already in memory. */
export function durableWriteAlone(items: DurableWriteItem[], dataDir: string, study: string, series: string): DurableWriteResult {
  const incoming = path.join(dataDir, 'incoming');
  fs.mkdirSync(incoming, { recursive: true, mode: 0o700 });
  const seriesDir = path.join(dataDir, 'instances', study, series);
  const perInstanceMs: number[] = [];
  let bytes = 0;
  const t0 = performance.now();
  items.forEach((item, i) => {
    const t = performance.now();
    const tmp = path.join(incoming, `${i}.part`);
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      writeAllSync(fd, item.bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (i === 0) fs.mkdirSync(seriesDir, { recursive: true, mode: 0o700 });
    fs.renameSync(tmp, path.join(seriesDir, `${item.sopInstanceUid}.dcm`));
    fsyncDir(seriesDir);
    if (i === 0) for (const up of [path.dirname(seriesDir), path.dirname(path.dirname(seriesDir))]) fsyncDir(up);
    bytes += item.bytes.length;
    perInstanceMs.push(performance.now() - t);
  });
  return { wallS: (performance.now() - t0) / 1000, instances: items.length, bytes, perInstanceMs };
}

/**
 * The durable write alone with `writers` writers at once, each a worker thread writing its share
 * of the items, one after the other, into a data folder of its own (so no two writers share a
 * folder fsync: the most a disk gives several concurrent receivers). The clock runs from the
 * moment every writer holds its bytes to the last writer's end.
 */
export async function durableWriteParallel(
  items: DurableWriteItem[],
  root: string,
  study: string,
  series: string,
  writers: number,
): Promise<DurableWriteResult> {
  const per = Math.ceil(items.length / writers);
  const shares = Array.from({ length: writers }, (_, w) => items.slice(w * per, (w + 1) * per)).filter((s) => s.length > 0);
  const script = `
const { parentPort, workerData } = require('node:worker_threads');
const { durableWriteAlone } = require(${JSON.stringify(__filename)});
parentPort.once('message', () => {
  const items = workerData.items.map((i) => ({ sopInstanceUid: i.sopInstanceUid, bytes: Buffer.from(i.bytes) }));
  parentPort.postMessage(durableWriteAlone(items, workerData.dir, workerData.study, workerData.series));
});
parentPort.postMessage('ready');`;
  const workers = shares.map(
    (share, w) => new Worker(script, { eval: true, workerData: { items: share, dir: path.join(root, `writer${w + 1}`), study, series } }),
  );
  try {
    await Promise.all(workers.map((wk) => new Promise((resolve) => wk.once('message', resolve))));
    const t0 = performance.now();
    const results = await Promise.all(
      workers.map(
        (wk) =>
          new Promise<DurableWriteResult>((resolve, reject) => {
            wk.once('message', (r: DurableWriteResult) => resolve(r));
            wk.once('error', reject);
            wk.postMessage('go');
          }),
      ),
    );
    return {
      wallS: (performance.now() - t0) / 1000,
      instances: results.reduce((n, r) => n + r.instances, 0),
      bytes: results.reduce((n, r) => n + r.bytes, 0),
      perInstanceMs: results.flatMap((r) => r.perInstanceMs),
    };
  } finally {
    await Promise.all(workers.map((wk) => wk.terminate()));
  }
}

// After an unclean stop (crash, power loss), make the index agree with the files: every instance
// file that was made durable (and so may have been acknowledged) is indexed, even if the index
// row did not reach the disk. The file meta we wrote carries the calling AE title
// (Source Application Entity Title), so the recovered row still says who sent it.

import fs from 'node:fs';
import path from 'node:path';
import { readPart10Header } from '../dicom/part10';
import { readFileHead } from '../dicom/file-head';
import { readDatasetHeader } from '../dicom/dataset-reader';
import type { SeriesArrival, Store } from '../store/store';
import type { Logger } from '../log/logger';
import { headerBurnedInRisk, indexAttributes, instancePath, toInt } from './instance-writer';
import { PRIVATE_FILE_MODE } from '../private-files';

const MARKER = '.running';

/** Marks the data folder as in use; returns whether the previous run ended without a clean stop. */
export function markRunning(dataDir: string): boolean {
  const marker = path.join(dataDir, MARKER);
  const unclean = fs.existsSync(marker);
  const fd = fs.openSync(marker, 'w', PRIVATE_FILE_MODE);
  fs.writeSync(fd, `${process.pid} ${new Date().toISOString()}\n`);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  return unclean;
}

export function markStopped(dataDir: string): void {
  fs.rmSync(path.join(dataDir, MARKER), { force: true });
}

/** What the start-up repair did: folders looked at, folders read, instances re-indexed. */
export interface ReconcileReport {
  seriesFolders: number;
  foldersRead: number;
  recovered: number;
}

/**
 * Indexes stored files the database does not know, reading only the folders that can hold one.
 * An instance file is renamed into its series folder, then its row committed with a received time
 * taken after the rename; a rename (or removal) sets the folder's modification time. A power loss
 * can cost the last commits (synchronous=NORMAL), never an earlier one alone. So a folder is read
 * when the index does not know its series, when the series is still receiving (its last arrivals
 * may be lost), or when the folder changed after the series' latest indexed arrival. A stable
 * series' folder left alone could only hide a file whose commit waited longer than stableSeconds
 * after its rename while later instances of the series committed: the sweep calls a series stable
 * only after stableSeconds without a commit. With nothing missing, the repair stats one folder per
 * series instead of walking every stored file.
 */
export function reconcileInstances(dataDir: string, store: Store, log: Logger): ReconcileReport {
  const report: ReconcileReport = { seriesFolders: 0, foldersRead: 0, recovered: 0 };
  const root = path.join(dataDir, 'instances');
  if (!fs.existsSync(root)) return report;
  const indexed = new Map<string, SeriesArrival>();
  for (const s of store.seriesArrivals()) indexed.set(seriesFolder(dataDir, s.studyInstanceUid, s.seriesInstanceUid), s);
  for (const study of subfolders(root)) {
    for (const series of subfolders(path.join(root, study))) {
      const dir = path.join(root, study, series);
      report.seriesFolders++;
      const known = indexed.get(dir);
      if (known && known.state === 'stable' && fs.statSync(dir).mtimeMs <= known.lastReceivedAt) continue;
      report.foldersRead++;
      // A folder the index does not know is named after its series UID when that UID is conformant.
      report.recovered += recoverFolder(dir, store.seriesFilePaths(known?.seriesInstanceUid ?? series), store, log);
    }
  }
  if (report.recovered > 0) log.warn('re-indexed stored instances after an unclean stop', { count: report.recovered });
  log.info('start-up repair checked the stored series folders', { ...report });
  return report;
}

function seriesFolder(dataDir: string, studyUid: string, seriesUid: string): string {
  return path.dirname(instancePath(dataDir, studyUid, seriesUid, 'x'));
}

function subfolders(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
}

/** Re-indexes the instance files of one series folder that are not in `known`; returns how many. */
function recoverFolder(dir: string, known: ReadonlySet<string>, store: Store, log: Logger): number {
  let recovered = 0;
  for (const name of fs.readdirSync(dir)) {
    const file = path.join(dir, name);
    if (!name.endsWith('.dcm') || known.has(file)) continue;
    try {
      recoverOne(file, store);
      recovered++;
    } catch (e) {
      log.error('stored file could not be re-indexed', { file, error: (e as Error).message });
    }
  }
  return recovered;
}

function recoverOne(file: string, store: Store): void {
  const size = fs.statSync(file).size;
  for (let want = 256 * 1024; ; want *= 8) {
    const buf = readFileHead(file, Math.min(want, size));
    const meta = readPart10Header(buf);
    const ds = buf.subarray(meta.datasetOffset);
    const r = readDatasetHeader(ds, meta.transferSyntaxUid, { totalLength: size - meta.datasetOffset });
    if (r.stoppedAt === 'truncated' && buf.length < size) continue;
    const a = r.attributes;
    if (!a.StudyInstanceUID || !a.SeriesInstanceUID) throw new Error('no Study/Series Instance UID');
    const st = fs.statSync(file);
    store.recordInstance(
      {
        sopInstanceUid: a.SOPInstanceUID || meta.sopInstanceUid,
        sopClassUid: meta.sopClassUid,
        seriesInstanceUid: a.SeriesInstanceUID,
        studyInstanceUid: a.StudyInstanceUID,
        transferSyntaxUid: meta.transferSyntaxUid,
        instanceNumber: toInt(a.InstanceNumber),
        filePath: file,
        sizeBytes: size,
        callingAeTitle: meta.meta.SourceApplicationEntityTitle ?? '',
        callingHost: '',
        associationId: 'recovered',
        receivedAt: Math.round(st.mtimeMs),
        burnedInRisk: headerBurnedInRisk(r, meta.sopClassUid),
      },
      indexAttributes(a),
    );
    return;
  }
}

// After an unclean stop (crash, power loss), make the index agree with the files: every instance
// file that was made durable (and so may have been acknowledged) is indexed, even if the index
// row did not reach the disk. The file meta we wrote carries the calling AE title
// (Source Application Entity Title), so the recovered row still says who sent it.

import fs from 'node:fs';
import path from 'node:path';
import { readPart10Header } from '../dicom/part10';
import { readFileHead } from '../dicom/file-head';
import { readDatasetHeader } from '../dicom/dataset-reader';
import type { Store } from '../store/store';
import type { Logger } from '../log/logger';
import { headerBurnedInRisk, indexAttributes, toInt } from './instance-writer';
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

/** Indexes stored files the database does not know; returns how many were recovered. */
export function reconcileInstances(dataDir: string, store: Store, log: Logger): number {
  const root = path.join(dataDir, 'instances');
  if (!fs.existsSync(root)) return 0;
  const known = store.allFilePaths();
  let recovered = 0;
  for (const study of fs.readdirSync(root)) {
    const studyDir = path.join(root, study);
    if (!fs.statSync(studyDir).isDirectory()) continue;
    for (const series of fs.readdirSync(studyDir)) {
      const seriesDir = path.join(studyDir, series);
      if (!fs.statSync(seriesDir).isDirectory()) continue;
      for (const name of fs.readdirSync(seriesDir)) {
        const file = path.join(seriesDir, name);
        if (!name.endsWith('.dcm') || known.has(file)) continue;
        try {
          recoverOne(file, store);
          recovered++;
        } catch (e) {
          log.error('stored file could not be re-indexed', { file, error: (e as Error).message });
        }
      }
    }
  }
  if (recovered > 0) log.warn('re-indexed stored instances after an unclean stop', { count: recovered });
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

// Where a C-STORE becomes a file. The data set fragments are written, as received, after a File
// Meta Information header we build, to a temporary file; at the last fragment the file is
// fsync'd, checked, renamed into place, its folder fsync'd, and indexed in SQLite. Only then does
// the C-STORE response say success. Any failure removes the partial file and answers a failure
// status, so the sender knows the instance was not taken.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { DataSetSink } from '../dimse/association';
import type { StoreRequest } from '../dimse/scp';
import { STATUS } from '../dimse/command';
import { buildFileMetaInformation } from '../dicom/part10';
import { DEFAULT_HEADER_TAGS, DicomParseError, HeaderReadResult, InflateBudgetExceeded, readDatasetHeader } from '../dicom/dataset-reader';
import { isDeflatedTransferSyntax } from '../dicom/transfer-syntax';
import { inflatedSizeBudget, PIXEL_GEOMETRY_TAGS } from '../dicom/inflate-data-set';
import { DEFAULT_PIXEL_LIMITS, PixelBudgetExceeded, type PixelLimits } from '../dicom/pixel-budget';
import type { IndexAttributes, Store } from '../store/store';
import { indexCommitsFor } from './index-commits';
import { burnedInAnnotationRisk } from '../deid/burned-in';
import type { Logger } from '../log/logger';
import { mkdirPrivate, PRIVATE_FILE_MODE } from '../private-files';

export interface IngestSettings {
  dataDir: string;
  fsync: boolean;
  implementationClassUid: string;
  implementationVersionName: string;
  /** What a deflated data set's header may declare (`imaging` section); default DEFAULT_PIXEL_LIMITS. */
  pixelLimits?: PixelLimits;
}

/** Header attributes read at ingest: the index's, and the pixel geometry a deflated data set is judged by. */
const INGEST_HEADER_TAGS: Readonly<Record<string, number>> = { ...DEFAULT_HEADER_TAGS, ...PIXEL_GEOMETRY_TAGS };

/** How much of the data set we keep in memory to index it (the header before Pixel Data). */
const HEAD_BYTES = 256 * 1024;
/** Data gathered before one vectored write to the temporary file. */
const WRITE_BATCH_BYTES = 256 * 1024;
/** When the header is longer than that (enhanced multi-frame), read it back from disk in steps. */
const MAX_HEADER_BYTES = 256 * 1024 * 1024;

export interface StoredInstance {
  sopInstanceUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  filePath: string;
  sizeBytes: number;
}

/** Errors of the local system (disk full, I/O) that deserve "out of resources", not a parse failure. */
function isResourceError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return (
    typeof code === 'string' &&
    ['ENOSPC', 'SQLITE_FULL', 'SQLITE_IOERR', 'EIO', 'EDQUOT', 'EROFS', 'EMFILE', 'ENFILE', 'ENOMEM', 'EACCES', 'EPERM'].includes(code)
  );
}

const UID = /^[0-9]+(\.[0-9]+)*$/;

export function incomingDir(dataDir: string): string {
  return path.join(dataDir, 'incoming');
}

/**
 * Where an instance lives: instances/<study>/<series>/<sop>.dcm. Real-world UIDs are not always
 * conformant (anonymisers write hashes, some devices pad or use letters); such a UID still files
 * the instance, under a name derived from it that cannot escape the folder.
 */
export function instancePath(dataDir: string, study: string, series: string, sop: string): string {
  return path.join(dataDir, 'instances', safeName(study), safeName(series), `${safeName(sop)}.dcm`);
}

function safeName(uid: string): string {
  return UID.test(uid) && uid.length <= 64 ? uid : `x${createHash('sha256').update(uid, 'latin1').digest('hex').slice(0, 40)}`;
}

/** Numbers the temporary files of this process (cheaper than random bytes per instance). */
let partSequence = 0;

export class InstanceWriter implements DataSetSink {
  /**
   * Raw descriptor. Creating the file, writing and fsync run on the thread pool: a create waits
   * for the file system's journal whenever another fsync is committing it (0.6 ms per instance
   * measured on a busy disk), and the socket should be read meanwhile. Close and rename stay
   * synchronous (cheap, and their order with the fsyncs matters).
   */
  private fd: number | null = null;
  private readonly tmpPath: string;
  private chain: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  private head: Buffer[] = [];
  private headBytes = 0;
  private dataSetBytes = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private opening = false;
  private metaLength = 0;
  private done = false;

  constructor(
    private readonly req: StoreRequest,
    private readonly settings: IngestSettings,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly onStored: (s: StoredInstance) => void,
  ) {
    // The association's id is random; the sequence tells apart messages that reuse an ID (a
    // clash would only make the exclusive create fail, never mix two instances).
    const name = `${req.association.id}-${req.messageId}-${(++partSequence).toString(36)}.part`;
    this.tmpPath = path.join(incomingDir(settings.dataDir), name);
  }

  write(fragment: Buffer): Promise<void> {
    if (this.headBytes < HEAD_BYTES) {
      this.head.push(fragment);
      this.headBytes += fragment.length;
    }
    this.dataSetBytes += fragment.length;
    // Fragments are as small as the sender's PDUs (16 KB for storescu by default): gather them and
    // write in large vectored writes, not one syscall per PDU.
    this.pending.push(fragment);
    this.pendingBytes += fragment.length;
    // The temporary file is created with the first fragment (so a transfer in progress is visible
    // on disk, and a failure to create it is known early); data follow in batches.
    if (this.pendingBytes >= WRITE_BATCH_BYTES || !this.opening) this.flush();
    return this.chain;
  }

  private flush(): void {
    this.opening = true;
    const batch = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.chain = this.chain.then(async () => {
      if (this.failure || this.done) return;
      try {
        // The File Meta Information goes first, in the same vectored write as the first data.
        if (this.fd === null) batch.unshift(await this.create());
        await writeAll(this.fd!, batch);
      } catch (e) {
        this.failure = e instanceof Error ? e : new Error(String(e));
      }
    });
  }

  /** Creates the temporary file (exclusively, private); returns the File Meta Information to write first. */
  private async create(): Promise<Buffer> {
    const meta = buildFileMetaInformation({
      mediaStorageSopClassUid: this.req.sopClassUid,
      mediaStorageSopInstanceUid: this.req.sopInstanceUid,
      transferSyntaxUid: this.req.transferSyntaxUid,
      implementationClassUid: this.settings.implementationClassUid,
      implementationVersionName: this.settings.implementationVersionName,
      sourceApplicationEntityTitle: this.req.association.callingAeTitle || undefined,
      nonConformantInstanceUidAllowed: true,
    });
    this.metaLength = meta.length;
    this.fd = await new Promise<number>((resolve, reject) =>
      fs.open(this.tmpPath, 'wx', PRIVATE_FILE_MODE, (err, fd) => (err ? reject(err) : resolve(fd))),
    );
    return meta;
  }

  async end(): Promise<{ status: number; errorComment?: string }> {
    this.flush();
    // The file goes to disk (thread pool) while the header is read from memory and checked here:
    // both must be done before the rename, so the disk's time hides the CPU's, and nothing is
    // answered before the file is on disk.
    const durable = this.makeFileDurable();
    durable.catch(() => undefined); // awaited on every path below; not unhandled meanwhile
    try {
      const header = await this.readHeader(durable);
      this.checkDeflatedBudget(header);
      const a = header.attributes;
      const check = this.checkIdentity(a);
      if (check) {
        await durable; // a disk failure is the more useful answer (out of resources)
        await this.removeTmp();
        this.log.warn('C-STORE refused: data set not usable', { ...this.logContext(), reason: check });
        // PS3.4 B.2.3 A900: the data set lacks what every composite instance must carry (Type 1
        // identity attributes) or contradicts the request; the sender learns why in Error Comment.
        return { status: STATUS.DataSetDoesNotMatchSopClass, errorComment: check.slice(0, 64) };
      }

      const study = a.StudyInstanceUID!;
      const series = a.SeriesInstanceUID!;
      const finalPath = instancePath(this.settings.dataDir, study, series, this.req.sopInstanceUid);
      const dir = path.dirname(finalPath);
      const created = ensureDir(dir);
      const earlierCopy = this.store.getInstance(this.req.sopInstanceUid)?.filePath;
      await durable;
      fs.renameSync(this.tmpPath, finalPath);
      if (this.settings.fsync) {
        await fsyncDir(dir);
        // A new series (or study) folder: its own entry must be durable too (once per series).
        if (created) for (const up of [path.dirname(dir), path.dirname(path.dirname(dir))]) await fsyncDir(up);
      }

      const sizeBytes = this.metaLength + this.dataSetBytes;
      const { replacedFile } = await this.indexOrUnfile(finalPath, earlierCopy, () =>
        indexCommitsFor(this.store).record(
          {
            sopInstanceUid: this.req.sopInstanceUid,
            sopClassUid: this.req.sopClassUid,
            seriesInstanceUid: series,
            studyInstanceUid: study,
            transferSyntaxUid: this.req.transferSyntaxUid,
            instanceNumber: toInt(a.InstanceNumber),
            filePath: finalPath,
            sizeBytes,
            callingAeTitle: this.req.association.callingAeTitle,
            callingHost: this.req.association.remoteAddress,
            associationId: this.req.association.id,
            receivedAt: Date.now(),
            burnedInRisk: headerBurnedInRisk(header, this.req.sopClassUid),
          },
          indexAttributes(a),
        ),
      );
      if (replacedFile) fs.rmSync(replacedFile, { force: true });
      this.onStored({
        sopInstanceUid: this.req.sopInstanceUid,
        seriesInstanceUid: series,
        studyInstanceUid: study,
        filePath: finalPath,
        sizeBytes,
      });
      return { status: STATUS.Success };
    } catch (thrown) {
      // A failed write or fsync is what the sender should hear about, even when the header read
      // that ran meanwhile failed too (it was judged first before these steps overlapped).
      const diskError = await durable.then(
        () => null,
        (d: unknown) => d,
      );
      const e = diskError ?? thrown;
      await this.cleanup();
      const refusal = budgetRefusal(e);
      if (refusal) {
        this.log.warn('C-STORE refused: data set claims more than the limits allow', {
          ...this.logContext(),
          reason: (e as Error).message,
        });
        return { status: STATUS.CannotUnderstand, errorComment: refusal };
      }
      if (e instanceof DicomParseError) {
        this.log.warn('C-STORE refused: data set cannot be parsed', { ...this.logContext(), reason: e.message });
        return { status: STATUS.CannotUnderstand, errorComment: 'data set cannot be parsed' };
      }
      const code = (e as NodeJS.ErrnoException)?.code;
      this.log.error('C-STORE failed: instance not stored', { ...this.logContext(), error: (e as Error).message, code });
      if (isResourceError(e)) return { status: STATUS.OutOfResources, errorComment: `out of resources (${code})` };
      return { status: STATUS.OutOfResources, errorComment: 'instance could not be stored' };
    }
  }

  /** Waits for the queued writes, then fsyncs and closes the temporary file; rejects with the first write error. */
  private async makeFileDurable(): Promise<void> {
    await this.chain;
    this.done = true;
    if (this.failure) throw this.failure;
    if (this.fd === null) {
      // Not reached today (end() queues a write, which creates the file); kept so that every
      // instance, even an empty data set, leaves a file to judge.
      const meta = await this.create();
      await writeAll(this.fd!, [meta]);
    }
    if (this.settings.fsync) await fsyncFd(this.fd!);
    fs.closeSync(this.fd!);
    this.fd = null;
  }

  async abort(reason: string): Promise<void> {
    await this.chain;
    this.done = true;
    await this.cleanup();
    this.log.warn('C-STORE abandoned: partial instance removed', { ...this.logContext(), reason, bytes: this.dataSetBytes });
  }

  /**
   * A deflated data set is stored as received (its deflated bytes), but what it would inflate to
   * is judged now, from its header alone: pixel data over the limits, or a Pixel Data element
   * longer than the header declares, is refused before the job would inflate it. (Other transfer
   * syntaxes cost on the wire what they claim, or are judged when decoded: RLE/JPEG claims fail
   * their job, since a store-and-forward node should not refuse what its decoders need not read.)
   */
  private checkDeflatedBudget(header: HeaderReadResult): void {
    if (!isDeflatedTransferSyntax(this.req.transferSyntaxUid.replace(/[\0 ]+$/, ''))) return;
    inflatedSizeBudget(header, this.settings.pixelLimits ?? DEFAULT_PIXEL_LIMITS);
  }

  /**
   * Header attributes, from the bytes kept in memory or, for very long headers, from the file
   * (once `written` says it is complete).
   */
  private async readHeader(written: Promise<void>): Promise<HeaderReadResult> {
    // The header usually sits in the first fragment or two: try those before joining all we kept.
    const pieces = this.head;
    this.head = [];
    let head = pieces[0] ?? Buffer.alloc(0);
    let r = readDatasetHeader(head, this.req.transferSyntaxUid, { totalLength: this.dataSetBytes, tags: INGEST_HEADER_TAGS });
    for (const k of [4, pieces.length]) {
      if (r.stoppedAt !== 'truncated' || pieces.length <= 1) break;
      head = Buffer.concat(pieces.slice(0, k));
      r = readDatasetHeader(head, this.req.transferSyntaxUid, { totalLength: this.dataSetBytes, tags: INGEST_HEADER_TAGS });
    }
    let want = Math.max(head.length * 4, 4 * 1024 * 1024);
    if (r.stoppedAt === 'truncated') await written;
    while (r.stoppedAt === 'truncated' && want <= MAX_HEADER_BYTES) {
      const n = Math.min(want, this.dataSetBytes);
      const buf = Buffer.allocUnsafe(n);
      const fh = await fsp.open(this.tmpPath, 'r');
      try {
        const { bytesRead } = await fh.read(buf, 0, n, this.metaLength);
        r = readDatasetHeader(buf.subarray(0, bytesRead), this.req.transferSyntaxUid, {
          totalLength: this.dataSetBytes,
          tags: INGEST_HEADER_TAGS,
        });
      } finally {
        await fh.close();
      }
      if (n === this.dataSetBytes) break;
      want *= 4;
    }
    if (r.stoppedAt === 'truncated') throw new DicomParseError(`data set header longer than ${MAX_HEADER_BYTES} bytes or truncated`);
    return r;
  }

  /**
   * Indexes the renamed file; when that fails (database full, I/O error), takes the file back out
   * so that no unindexed copy stays behind, unless it replaced an earlier copy of the same
   * instance (whose row still points at this path).
   */
  private async indexOrUnfile<T>(finalPath: string, earlierCopy: string | undefined, index: () => Promise<T>): Promise<T> {
    try {
      return await index();
    } catch (e) {
      if (earlierCopy !== finalPath) fs.rmSync(finalPath, { force: true });
      throw e;
    }
  }

  /** Returns why the data set cannot be filed, or null. Never includes attribute values. */
  private checkIdentity(a: Record<string, string>): string | null {
    if (!a.SOPInstanceUID) return 'no SOP Instance UID (0008,0018) in the data set';
    if (a.SOPInstanceUID !== this.req.sopInstanceUid) return 'SOP Instance UID in the data set differs from the C-STORE request';
    if (a.SOPClassUID && a.SOPClassUID !== this.req.sopClassUid) return 'SOP Class UID in the data set differs from the C-STORE request';
    if (!a.StudyInstanceUID) return 'no Study Instance UID (0020,000D) in the data set';
    if (!a.SeriesInstanceUID) return 'no Series Instance UID (0020,000E) in the data set';
    return null;
  }

  private async cleanup(): Promise<void> {
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already unusable: removing the file is what matters
      }
      this.fd = null;
    }
    await this.removeTmp();
  }

  private async removeTmp(): Promise<void> {
    await fsp.rm(this.tmpPath, { force: true }).catch(() => undefined);
  }

  /** What a log line may say about this instance: no patient data, and no UIDs of the patient's study. */
  private logContext() {
    return {
      association: this.req.association.id,
      callingAe: this.req.association.callingAeTitle,
      remote: this.req.association.remoteAddress,
      sopClass: this.req.sopClassUid,
      transferSyntax: this.req.transferSyntaxUid,
      messageId: this.req.messageId,
    };
  }
}

/**
 * The Error Comment (at most 64 characters, no values) for an instance refused because of what it
 * claims: the limit's configuration key, or the inflate budget. Null for other errors.
 */
function budgetRefusal(e: unknown): string | null {
  if (e instanceof PixelBudgetExceeded) {
    return e.limitKey.startsWith('imaging.') ? `pixel data over the limit ${e.limitKey}` : 'impossible image size in the header';
  }
  if (e instanceof InflateBudgetExceeded) return 'deflated data set inflates beyond its header';
  return null;
}

/** Writes every buffer at the end of the file (vectored; short writes continue where they stopped). */
async function writeAll(fd: number, buffers: Buffer[]): Promise<void> {
  const bufs = buffers.filter((b) => b.length > 0);
  while (bufs.length > 0) {
    let written = await new Promise<number>((resolve, reject) => fs.writev(fd, bufs, (err, n) => (err ? reject(err) : resolve(n))));
    while (bufs.length > 0 && written >= bufs[0]!.length) written -= bufs.shift()!.length;
    if (bufs.length > 0 && written > 0) bufs[0] = bufs[0]!.subarray(written);
  }
}

function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * A rename is durable only once its folder's entry is on disk too. Instances of one series land in
 * one folder, often from several associations at once: a caller joins an fsync of the folder
 * that has not started yet (it will cover its rename), so concurrent instances share one journal
 * commit instead of queueing one each.
 */
const dirSyncs = new Map<string, { running: Promise<void> | null; queued: Promise<void> | null }>();

function fsyncDir(dir: string): Promise<void> {
  let st = dirSyncs.get(dir);
  if (!st) dirSyncs.set(dir, (st = { running: null, queued: null }));
  const state = st;
  if (state.queued) return state.queued;
  const start = (): Promise<void> => {
    const p = fsyncDirNow(dir).finally(() => {
      if (state.running === p) state.running = null;
      if (!state.running && !state.queued) dirSyncs.delete(dir);
    });
    state.running = p;
    return p;
  };
  if (!state.running) return start();
  // An fsync is in flight but may have started before our rename: queue the next one.
  const queued = state.running
    .catch(() => undefined)
    .then(() => {
      state.queued = null;
      return start();
    });
  state.queued = queued;
  return queued;
}

async function fsyncDirNow(dir: string): Promise<void> {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    await fsyncFd(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Series folders already made (a study's instances arrive in the same few folders). Returns whether it made one. */
const knownDirs = new Set<string>();
function ensureDir(dir: string): boolean {
  if (knownDirs.has(dir) && fs.existsSync(dir)) return false;
  const created = mkdirPrivate(dir) !== undefined;
  if (knownDirs.size > 10_000) knownDirs.clear();
  knownDirs.add(dir);
  return created;
}

export function toInt(v: string | undefined): number | null {
  if (v === undefined || v.trim() === '') return null;
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : null;
}

/**
 * The instance's burned-in annotation risk, judged from the header read for indexing, so that
 * routing judges a whole series with one query (any instance at risk puts the series at risk).
 */
export function headerBurnedInRisk(header: HeaderReadResult, sopClassUid: string): string[] {
  return burnedInAnnotationRisk({
    burnedInAnnotation: header.attributes.BurnedInAnnotation,
    modality: header.attributes.Modality,
    sopClassUid: header.attributes.SOPClassUID || sopClassUid,
    hasPixels: header.stoppedAt !== 'end',
  });
}

export function indexAttributes(a: Record<string, string>): IndexAttributes {
  const s = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);
  return {
    patientId: s(a.PatientID),
    patientName: s(a.PatientName),
    patientBirthDate: s(a.PatientBirthDate),
    patientSex: s(a.PatientSex),
    studyDate: s(a.StudyDate),
    studyTime: s(a.StudyTime),
    accessionNumber: s(a.AccessionNumber),
    studyDescription: s(a.StudyDescription),
    modality: s(a.Modality),
    bodyPartExamined: s(a.BodyPartExamined),
    seriesDescription: s(a.SeriesDescription),
    seriesNumber: toInt(a.SeriesNumber),
    manufacturer: s(a.Manufacturer),
  };
}

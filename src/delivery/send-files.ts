// Sends Part 10 files to a DICOM destination over one association: each file's data set bytes
// go out exactly as stored (no parsing beyond the file meta information, no re-encoding).
// Used by the CLI's `send` now and by report delivery later.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { ScuAssociation } from '../dimse/scu';
import { TlsFiles, tlsClientOptions } from '../dimse/tls';
import { readPart10Header } from '../dicom/part10';
import { readDatasetHeader } from '../dicom/dataset-reader';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../version';
import { tagsByKeyword } from '../dicom/tags';
import { isSuccessOrWarning } from '../dimse/command';

export interface Destination {
  aeTitle: string;
  host: string;
  port: number;
  /** DICOM TLS files (PEM); plain TCP when absent. */
  tls?: TlsFiles | null;
}

export interface SendOptions {
  callingAeTitle: string;
  maxPduLength?: number;
  timeoutSeconds?: number;
  onResult?: (r: SendResult) => void;
}

export interface SendResult {
  file: string;
  sopInstanceUid: string;
  status: number | null;
  error?: string;
  /** The peer accepted no presentation context for any form of it: its SOP class is not taken there. */
  refused?: boolean;
  /** Not sent: the object it references was not stored in this association (see PreparedFile.references). */
  heldBack?: boolean;
}

export interface PreparedFile {
  file: string;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  dataSetOffset: number;
  /**
   * Other encodings of the same content (e.g. the report as Basic Text SR when a PACS refuses
   * Comprehensive 3D SR), in order of preference: their SOP classes are proposed too, and the
   * first form the peer accepted is the one sent.
   */
  alternatives?: PreparedFile[];
  /**
   * This object references one sent earlier in the same call (an SR naming a Segmentation's
   * segments): it is sent only when that one was stored (success or warning); when the peer
   * refused that one's SOP class, `otherwise` (the variant without the references) is sent
   * instead; when it failed another way, nothing is sent (heldBack) and the caller decides.
   */
  references?: { sopInstanceUid: string; otherwise: PreparedFile };
}

/** Reads just enough of a file to know what to propose for it. */
export async function prepareFile(file: string): Promise<PreparedFile> {
  const fh = await fsp.open(file, 'r');
  try {
    let size = 8192;
    for (;;) {
      const buf = Buffer.alloc(size);
      const { bytesRead } = await fh.read(buf, 0, size, 0);
      try {
        const h = readPart10Header(buf.subarray(0, bytesRead));
        if (!h.transferSyntaxUid) throw new Error('file meta information lacks the transfer syntax');
        // The data set's own SOP Class/Instance UID identify the object (the file meta can be
        // stale after an edit); the request must carry those, or the receiver refuses it.
        const ds = datasetIdentity(buf.subarray(h.datasetOffset, bytesRead), h.transferSyntaxUid);
        const sopClassUid = ds.sopClassUid || h.sopClassUid;
        const sopInstanceUid = ds.sopInstanceUid || h.sopInstanceUid;
        if (!sopClassUid || !sopInstanceUid) throw new Error('no SOP Class or SOP Instance UID in the file');
        return { file, sopClassUid, sopInstanceUid, transferSyntaxUid: h.transferSyntaxUid, dataSetOffset: h.datasetOffset };
      } catch (e) {
        if (bytesRead < size || size >= 1 << 20) throw e;
        size *= 8;
      }
    }
  } finally {
    await fh.close();
  }
}

function datasetIdentity(head: Buffer, ts: string): { sopClassUid: string; sopInstanceUid: string } {
  try {
    const r = readDatasetHeader(head, ts, {
      tags: tagsByKeyword(['SOPClassUID', 'SOPInstanceUID']),
      totalLength: Number.MAX_SAFE_INTEGER,
    });
    return { sopClassUid: r.attributes.SOPClassUID ?? '', sopInstanceUid: r.attributes.SOPInstanceUID ?? '' };
  } catch {
    return { sopClassUid: '', sopInstanceUid: '' }; // unreadable head: the receiver will judge the data set
  }
}

/** Files under the given paths (folders recursively), in a stable order. */
export function expandPaths(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e));
    else if (st.isFile()) out.push(p);
  };
  for (const p of paths) walk(p);
  return out;
}

/** Sends the files; resolves with one result per file (status null = not sent). */
export async function sendFiles(dest: Destination, files: PreparedFile[], o: SendOptions): Promise<SendResult[]> {
  const keys = new Map<string, { abstractSyntax: string; transferSyntaxes: string[] }>();
  const forms = (x: PreparedFile): PreparedFile[] => [x, ...(x.alternatives ?? [])];
  for (const f of files.flatMap((x) => [...forms(x), ...(x.references ? forms(x.references.otherwise) : [])])) {
    keys.set(`${f.sopClassUid}|${f.transferSyntaxUid}`, { abstractSyntax: f.sopClassUid, transferSyntaxes: [f.transferSyntaxUid] });
  }
  if (keys.size > 128)
    throw new Error(
      `these files need ${keys.size} presentation contexts; one association carries at most 128 — send them in smaller groups`,
    );
  const timeoutMs = (o.timeoutSeconds ?? 30) * 1000;
  const scu = await ScuAssociation.open({
    host: dest.host,
    port: dest.port,
    callingAeTitle: o.callingAeTitle,
    calledAeTitle: dest.aeTitle,
    contexts: [...keys.values()],
    implementationClassUid: IMPLEMENTATION_CLASS_UID,
    implementationVersionName: IMPLEMENTATION_VERSION_NAME,
    limits: { maxPduLength: o.maxPduLength ?? 65536, maxCommandBytes: 64 * 1024, maxAssociateLength: 1024 * 1024, maxDataSetBytes: 0 },
    timeouts: { artimMs: timeoutMs, idleMs: timeoutMs },
    tls: dest.tls ? tlsClientOptions(dest.tls, dest.host) : undefined,
  });
  const results: SendResult[] = [];
  try {
    for (const file of files) {
      const wanted = dependentChoice(file, results);
      let r: SendResult;
      if (!wanted) {
        r = heldBackResult(file, 'in this association');
        results.push(r);
        o.onResult?.(r);
        continue;
      }
      // The first form of this content that the peer accepted a context for.
      const f = [wanted, ...(wanted.alternatives ?? [])].find((x) => scu.contextFor(x.sopClassUid, x.transferSyntaxUid));
      try {
        if (!f) throw new RefusedError(wanted);
        const rsp = await scu.storeFile(f);
        r = { file: f.file, sopInstanceUid: f.sopInstanceUid, status: rsp.status ?? null, error: rsp.errorComment };
      } catch (e) {
        const at = f ?? wanted;
        r = { file: at.file, sopInstanceUid: at.sopInstanceUid, status: null, error: (e as Error).message };
        if (e instanceof RefusedError) r.refused = true;
      }
      results.push(r);
      o.onResult?.(r);
      if (scu.assoc.isClosed()) break;
    }
    // The peer ended the association: what was not attempted is reported too, never dropped.
    for (const f of files.slice(results.length)) {
      const r: SendResult = {
        file: f.file,
        sopInstanceUid: f.sopInstanceUid,
        status: null,
        error: `not sent: association closed (${scu.assoc.closeReason})`,
      };
      results.push(r);
      o.onResult?.(r);
    }
  } finally {
    if (!scu.assoc.isClosed()) await scu.release().catch(() => scu.abort());
  }
  return results;
}

/** No form of the file has an accepted presentation context. */
class RefusedError extends Error {
  constructor(f: PreparedFile) {
    super(`the peer accepted no presentation context for SOP class ${f.sopClassUid} in transfer syntax ${f.transferSyntaxUid}`);
  }
}

/**
 * What to send for `file` given the results so far (of this association, or of the STOW-RS
 * request that went first): the file itself when it references nothing or its reference was
 * stored, its `otherwise` when the peer refused the reference's SOP class; null = hold it back.
 */
export function dependentChoice(file: PreparedFile, earlier: readonly SendResult[]): PreparedFile | null {
  if (!file.references) return file;
  const ref = earlier.find((r) => r.sopInstanceUid === file.references!.sopInstanceUid);
  if (ref && isSuccessOrWarning(ref.status)) return file;
  if (ref?.refused) return file.references.otherwise;
  return null;
}

/** The result of a file held back because its reference was not stored `where` (e.g. "in this association"). */
export function heldBackResult(file: PreparedFile, where: string): SendResult {
  const error = `held back: the object it references (${file.references?.sopInstanceUid ?? '?'}) was not stored ${where}`;
  return { file: file.file, sopInstanceUid: file.sopInstanceUid, status: null, heldBack: true, error };
}

export { isSuccessOrWarning };

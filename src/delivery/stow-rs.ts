// DICOMweb STOW-RS (PS3.18 §10.5): one POST to <url>/studies per batch, the body a
// multipart/related; type="application/dicom" message (RFC 2387) whose parts are the Part 10
// files exactly as stored. Each file is streamed from disk with backpressure, so a 200 MB
// multi-frame object never sits in memory. The answer is read per instance (stow-response.ts).
// Only node:http/https: the node's dependencies stay as they are.

import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DicomWebAuthConfig } from '../config/types';
import { tlsClientOptions, type TlsFiles } from '../dimse/tls';
import { dependentChoice, heldBackResult, type PreparedFile, type SendResult } from './send-files';
import { describeHttpFailure, parseStowResponse, StowRequestError } from './stow-response';

export interface DicomWebTarget {
  /** Base URL, no trailing slash: STOW-RS posts to `${url}/studies`. */
  readonly url: string;
  readonly auth: DicomWebAuthConfig;
  readonly tls: TlsFiles | null;
  readonly timeoutSeconds: number;
}

/** STOW-RS Failure Reason "SOP Class not supported" (PS3.18 §10.5.3): the DICOMweb form of a refused presentation context. */
const SOP_CLASS_NOT_SUPPORTED = 0x0122;

/**
 * Stores the files in two steps when some reference another in the batch (an SR naming a
 * Segmentation's segments, see PreparedFile.references): one STOW-RS request is not ordered, so
 * the referenced objects go first, and each referencing file follows only when its reference was
 * stored; when the server does not take that SOP class (Failure Reason 0x0122) its `otherwise`
 * (the variant without the references) goes instead; when the reference failed another way, the
 * referencing file is held back for the queue to decide, as sendFiles does.
 *
 * Throws StowRequestError only when the first request got no per-instance answer and nothing
 * depends on it; a later request that fails leaves what was already stored recorded as stored.
 */
export async function stowInDependencyOrder(target: DicomWebTarget, files: readonly PreparedFile[]): Promise<SendResult[]> {
  const outcome = new Map<PreparedFile, SendResult>();
  const first = files.filter((f) => !f.references);
  const dependents = files.filter((f) => f.references);
  if (first.length > 0) {
    // Without dependents, a request that failed as a whole is the queue's to retry (as an unreachable C-STORE peer).
    const results = dependents.length > 0 ? await stowOrFailEach(target, first) : await stowWithFallback(target, first);
    results.forEach((r, i) => outcome.set(first[i]!, r));
  }
  const stored = [...outcome.values()];
  const second: [PreparedFile, PreparedFile][] = [];
  for (const f of dependents) {
    const sent = dependentChoice(f, stored);
    if (sent) second.push([f, sent]);
    else outcome.set(f, heldBackResult(f, 'by the DICOMweb server'));
  }
  if (second.length > 0)
    (
      await stowOrFailEach(
        target,
        second.map(([, sent]) => sent),
      )
    ).forEach((r, i) => outcome.set(second[i]![0], r));
  return files.map((f) => outcome.get(f)!);
}

/** stowWithFallback, with a request that failed as a whole recorded against each of its files (status null). */
function stowOrFailEach(target: DicomWebTarget, files: readonly PreparedFile[]): Promise<SendResult[]> {
  return failEachOnError(files, () => stowWithFallback(target, files));
}

async function failEachOnError(files: readonly PreparedFile[], send: () => Promise<SendResult[]>): Promise<SendResult[]> {
  try {
    return await send();
  } catch (e) {
    if (!(e instanceof StowRequestError)) throw e;
    return files.map((f) => ({ file: f.file, sopInstanceUid: f.sopInstanceUid, status: null, error: e.message }));
  }
}

/**
 * Stores the files; each one the server refused with "SOP class not supported" (0x0122) is sent
 * again in its next form (PreparedFile.alternatives, e.g. Enhanced SR after Comprehensive 3D SR),
 * one further request per round, as DIMSE falls back on a refused presentation context. A file
 * refused in its last form is marked `refused`. Throws StowRequestError when the first request
 * got no per-instance answer; a later round's such failure is recorded against its files.
 */
async function stowWithFallback(target: DicomWebTarget, files: readonly PreparedFile[]): Promise<SendResult[]> {
  const results = await stowFiles(target, files);
  // Per file: the forms not tried yet.
  const remaining = files.map((f) => [...(f.alternatives ?? [])]);
  for (;;) {
    const retry = results.flatMap((r, i) => (r.status === SOP_CLASS_NOT_SUPPORTED && remaining[i]!.length > 0 ? [i] : []));
    if (retry.length === 0) break;
    const forms = retry.map((i) => remaining[i]!.shift()!);
    (await failEachOnError(forms, () => stowFiles(target, forms))).forEach((r, k) => (results[retry[k]!] = r));
  }
  for (const r of results) if (r.status === SOP_CLASS_NOT_SUPPORTED) r.refused = true;
  return results;
}

/** The largest answer read (a per-instance JSON list is a few hundred bytes per instance). */
const MAX_RESPONSE_BYTES = 8 << 20;

/** Stores the files with one STOW-RS request; one result per file. Throws StowRequestError when nothing per instance came back. */
export async function stowFiles(target: DicomWebTarget, files: readonly PreparedFile[]): Promise<SendResult[]> {
  const boundary = `dicom-ai-node-${crypto.randomBytes(12).toString('hex')}`;
  const parts = await Promise.all(files.map(async (f) => ({ file: f.file, size: (await fsp.stat(f.file)).size })));
  const head = (size: number) => Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\nContent-Length: ${size}\r\n\r\n`);
  const tail = Buffer.from(`--${boundary}--\r\n`);
  const length = parts.reduce((n, p) => n + head(p.size).length + p.size + 2, tail.length);
  const res = await request(
    target,
    'POST',
    '/studies',
    {
      'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
      'content-length': String(length),
      accept: 'application/dicom+json',
    },
    async function* body() {
      for (const p of parts) {
        yield head(p.size);
        // Exactly the bytes counted in Content-Length, even if the file grew meanwhile.
        if (p.size > 0) yield* fs.createReadStream(p.file, { start: 0, end: p.size - 1 });
        yield Buffer.from('\r\n');
      }
      yield tail;
    },
  );
  const outcomes = parseStowResponse(
    res.status,
    res.contentType,
    res.body,
    files.map((f) => f.sopInstanceUid),
  );
  return outcomes.map((o, i) => ({ file: files[i]!.file, sopInstanceUid: o.sopInstanceUid, status: o.status, error: o.error }));
}

export interface ProbeOutcome {
  readonly ok: boolean;
  readonly httpStatus: number | null;
  readonly error: string | null;
}

/** "Is it reachable, and are we let in?": an authenticated QIDO-RS search for one study (PS3.18 §10.6). */
export async function probeDicomWeb(target: DicomWebTarget): Promise<ProbeOutcome> {
  try {
    const res = await request(target, 'GET', '/studies?limit=1', { accept: 'application/dicom+json' });
    const ok = res.status === 200 || res.status === 204;
    return { ok, httpStatus: res.status, error: ok ? null : describeHttpFailure(res.status) };
  } catch (e) {
    return { ok: false, httpStatus: e instanceof StowRequestError ? e.httpStatus : null, error: (e as Error).message };
  }
}

interface Answer {
  status: number;
  contentType: string;
  body: Buffer;
}

/**
 * One HTTP exchange. Connection errors and timeouts (no progress for timeoutSeconds, either
 * way) become StowRequestError, so the queue retries them like an unreachable C-STORE peer.
 */
function request(
  target: DicomWebTarget,
  method: string,
  pathAndQuery: string,
  headers: Record<string, string>,
  body?: () => AsyncIterable<Buffer>,
): Promise<Answer> {
  const url = new URL(target.url + pathAndQuery);
  const where = `${method} ${url.origin}${url.pathname}`;
  const timeoutMs = target.timeoutSeconds * 1000;
  const options: https.RequestOptions = {
    method,
    headers: { ...headers, ...authorization(target.auth) },
    timeout: timeoutMs,
    ...(url.protocol === 'https:' ? tlsClientOptions(target.tls ?? {}, url.hostname) : {}),
  };
  return new Promise<Answer>((resolve, reject) => {
    const fail = (e: Error) => reject(e instanceof StowRequestError ? e : new StowRequestError(`${where}: ${e.message}`, null));
    const req = (url.protocol === 'https:' ? https : http).request(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) res.destroy(new Error(`answer larger than ${MAX_RESPONSE_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }),
      );
      res.on('error', fail);
    });
    req.on('timeout', () => req.destroy(new Error(`no progress for ${target.timeoutSeconds} s`)));
    req.on('error', fail);
    if (!body) req.end();
    // A server may answer (401, 413) before reading the whole body and close: that answer wins,
    // and the broken upload is not an error of its own.
    else pipeline(Readable.from(body()), req).catch((e: Error) => req.destroy(e));
  });
}

/** The Authorization header, with the secret read from its environment variable now (never stored or logged). */
function authorization(auth: DicomWebAuthConfig): Record<string, string> {
  if (auth.type === 'none') return {};
  const variable = auth.type === 'bearer' ? auth.tokenEnv : auth.passwordEnv;
  const secret = variable ? process.env[variable] : undefined;
  if (!secret)
    throw new StowRequestError(`the environment variable ${variable ?? '(none)'} is not set (or empty); cannot authenticate`, null);
  if (auth.type === 'bearer') return { authorization: `Bearer ${secret}` };
  return { authorization: `Basic ${Buffer.from(`${auth.user ?? ''}:${secret}`).toString('base64')}` };
}

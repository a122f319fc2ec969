// The floor of a durable Storage SCP written in Node on this machine: the least a C-STORE can cost
// in this runtime when it must be on disk before success is answered. Not the product: no caller
// policy, no index, no Part 10 meta header worth the name, no limits, no concurrency safety beyond
// one association at a time. bench/ingest.ts runs it (`--floor`) beside the node, storescp and the
// durable write alone, so that "is 0.9x R reachable in Node here?" is a measured number, not an
// opinion. Every step a durable receiver cannot skip is kept: the data set's bytes are written to
// a temporary file as they arrive, the file is fsync'd, renamed into a per-series folder, the
// folder is fsync'd, and only then the C-STORE-RSP goes out.
//
// Modes (where the file work runs):
//   sync         on the event loop, each piece written as it arrives (as storescp does, and as a
//                one-association receiver may);
//   sync-batch   on the event loop, one vectored write once the last byte is in;
//   async        every file operation through libuv's thread pool, pieces written as they arrive
//                (what a receiver serving several associations must do, so that one fsync does not
//                stall the others; the node's own design);
//   async-batch  through the thread pool, one vectored write at the end;
//   hybrid       written on the event loop at the end, the durable tail (fsync, rename, folder
//                fsync) as one job on a worker thread.
// Any calling AE title is accepted.
//
// --index adds what the issue requires of the node beyond the file: the data set's header is read
// from the bytes kept in memory (the node's reader and tags) and a row is committed to a real index
// (src/store, WAL, synchronous=NORMAL, the node's group commit) before the response. It answers
// "does a Node receiver that must also parse and index reach 0.9x R?", still without the caller
// checks, limits and DIMSE state machine of the node.
//
// Usage: node dist/bench/ingest-floor.js --port N --dir DATA [--mode MODE] [--index]

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { decodeAssociateRQ, encodeAssociateAC, encodePDataHeader, encodeReleaseRP, PC_RESULT, PDU_TYPE } from '../src/dimse/pdu';
import { fsyncDir } from './durable-write';
import { COMMAND_FIELD, decodeCommand, encodeCommand, NO_DATA_SET, type DimseCommand } from '../src/dimse/command';
import { readDatasetHeader } from '../src/dicom/dataset-reader';
import { Store } from '../src/store/store';
import { indexCommitsFor } from '../src/ingest/index-commits';
import { indexAttributes } from '../src/ingest/instance-writer';

const MODES = ['sync', 'sync-batch', 'async', 'async-batch', 'hybrid'] as const;
type Mode = (typeof MODES)[number];

interface Options {
  port: number;
  dir: string;
  mode: Mode;
  index: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { port: 0, dir: '', mode: 'sync', index: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--index') {
      o.index = true;
      continue;
    }
    const v = argv[++i] ?? '';
    if (a === '--port') o.port = Number(v);
    else if (a === '--dir') o.dir = path.resolve(v);
    else if (a === '--mode') {
      if (!(MODES as readonly string[]).includes(v)) throw new Error(`--mode takes one of ${MODES.join(', ')}`);
      o.mode = v as Mode;
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.port) || o.port <= 0 || o.dir === '') throw new Error('needs --port N --dir DATA');
  return o;
}

// A stand-in for the Part 10 preamble and meta header: the same order of bytes a real receiver writes first.
const FILE_HEAD = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), Buffer.alloc(200)]);

/** The file work of one instance: open, write pieces, then make it durable under its final name. */
interface FileSink {
  write(chunk: Buffer): void;
  finish(finalPath: string, done: (err: Error | null) => void): void;
}

/** fsync, close, rename into place, fsync the folder, all on the calling thread. */
function durableTailSync(fd: number, tmp: string, finalPath: string): void {
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, finalPath);
  fsyncDir(path.dirname(finalPath));
}

/** One vectored write of every piece (a short write goes on with the rest). */
function writevAllSync(fd: number, pieces: Buffer[]): void {
  let total = 0;
  for (const p of pieces) total += p.length;
  const off = fs.writevSync(fd, pieces);
  if (off < total) {
    const rest = Buffer.concat(pieces).subarray(off);
    for (let at = 0; at < rest.length;) at += fs.writeSync(fd, rest, at);
  }
}

function syncSink(tmp: string): FileSink {
  const fd = fs.openSync(tmp, 'wx', 0o600);
  const write = (b: Buffer): void => {
    let off = 0;
    while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
  };
  write(FILE_HEAD);
  return {
    write,
    finish(finalPath, done) {
      try {
        durableTailSync(fd, tmp, finalPath);
        done(null);
      } catch (e) {
        done(e as Error);
      }
    },
  };
}

/** Event-loop file work in one vectored write at the end (no copies: the socket's buffers are kept). */
function syncBatchSink(tmp: string): FileSink {
  const pieces: Buffer[] = [FILE_HEAD];
  return {
    write: (b) => void pieces.push(b),
    finish(finalPath, done) {
      try {
        const fd = fs.openSync(tmp, 'wx', 0o600);
        writevAllSync(fd, pieces);
        durableTailSync(fd, tmp, finalPath);
        done(null);
      } catch (e) {
        done(e as Error);
      }
    },
  };
}

// The durable tail (fsync, close, rename, folder fsync) as one job on a worker thread: one hop
// there and back instead of six through libuv's pool. The bytes are written on the event loop
// (a page-cache copy) into a file opened ahead of time on the pool.
const TAIL_WORKER = `
const fs = require('node:fs');
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => {
  let error = null;
  try {
    fs.fsyncSync(m.fd);
    fs.closeSync(m.fd);
    fs.renameSync(m.tmp, m.finalPath);
    const d = fs.openSync(m.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try { fs.fsyncSync(d); } finally { fs.closeSync(d); }
  } catch (e) { error = String(e); }
  parentPort.postMessage({ id: m.id, error });
});`;
let tailWorker: Worker | null = null;
let tailSeq = 0;
const tailWaiting = new Map<number, (err: Error | null) => void>();
function durableTail(fd: number, tmp: string, finalPath: string, done: (err: Error | null) => void): void {
  if (tailWorker === null) {
    tailWorker = new Worker(TAIL_WORKER, { eval: true });
    tailWorker.on('message', (m: { id: number; error: string | null }) => {
      const cb = tailWaiting.get(m.id)!;
      tailWaiting.delete(m.id);
      cb(m.error === null ? null : new Error(m.error));
    });
  }
  const id = tailSeq++;
  tailWaiting.set(id, done);
  tailWorker.postMessage({ id, fd, tmp, finalPath, dir: path.dirname(finalPath) });
}

function hybridSink(tmp: string): FileSink {
  const pieces: Buffer[] = [FILE_HEAD];
  let fd: number | null = null;
  let openError: Error | null = null;
  let finishing: (() => void) | null = null;
  fs.open(tmp, 'wx', 0o600, (e, f) => {
    if (e) openError = e;
    else fd = f;
    finishing?.();
  });
  return {
    write: (b) => void pieces.push(b),
    finish(finalPath, done) {
      finishing = () => {
        if (openError) return done(openError);
        try {
          writevAllSync(fd!, pieces);
        } catch (e) {
          return done(e as Error);
        }
        durableTail(fd!, tmp, finalPath, done);
      };
      if (fd !== null || openError) finishing();
    },
  };
}

/** fsync, close, rename into place, fsync the folder: each step a thread-pool job of its own. */
function durableTailOnPool(fd: number, tmp: string, finalPath: string, done: (err: Error | null) => void): void {
  fs.fsync(fd, (e1) => {
    fs.close(fd, () => {
      if (e1) return done(e1);
      fs.rename(tmp, finalPath, (e2) => {
        if (e2) return done(e2);
        fs.open(path.dirname(finalPath), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY, (e3, dfd) => {
          if (e3) return done(e3);
          fs.fsync(dfd, (e4) => fs.close(dfd, () => done(e4)));
        });
      });
    });
  });
}

/** Thread-pool file work, all of it once the last byte is in: open, one vectored write, fsync, rename, folder fsync. */
function asyncBatchSink(tmp: string): FileSink {
  const pieces: Buffer[] = [FILE_HEAD];
  return {
    write: (b) => void pieces.push(b),
    finish(finalPath, done) {
      fs.open(tmp, 'wx', 0o600, (e0, fd) => {
        if (e0) return done(e0);
        fs.writev(fd, pieces, (e1) => {
          if (e1) return fs.close(fd, () => done(e1));
          durableTailOnPool(fd, tmp, finalPath, done);
        });
      });
    },
  };
}

/** Thread-pool file work: writes queued in order (vectored when several wait), then fsync, rename, folder fsync. */
function asyncSink(tmp: string): FileSink {
  let fd: number | null = null;
  let queue: Buffer[] = [FILE_HEAD];
  let writing = false;
  let failed: Error | null = null;
  let finishing: (() => void) | null = null;
  const pump = (): void => {
    if (writing || fd === null || failed) return;
    if (queue.length === 0) {
      finishing?.();
      return;
    }
    const batch = queue;
    queue = [];
    writing = true;
    fs.writev(fd, batch, (err) => {
      writing = false;
      if (err) failed = err;
      pump();
    });
  };
  fs.open(tmp, 'wx', 0o600, (err, f) => {
    if (err) failed = err;
    else fd = f;
    pump();
  });
  return {
    write(b) {
      queue.push(b);
      pump();
    },
    finish(finalPath, done) {
      finishing = () => {
        finishing = null;
        durableTailOnPool(fd!, tmp, finalPath, done);
      };
      if (failed) return done(failed);
      if (!writing && fd !== null && queue.length === 0) finishing();
    },
  };
}

/** How much of each data set --index keeps in memory for its header (the node keeps 256 KB; a CT header fits in the first few KB). */
const HEAD_BYTES = 64 * 1024;

/** --index: the header read from memory, then the row committed as the node commits it. */
async function indexRow(
  store: Store,
  p: { cmd: DimseCommand; head: Buffer[]; bytes: number },
  transferSyntaxUid: string,
  filePath: string,
  callingHost: string,
): Promise<void> {
  const header = readDatasetHeader(Buffer.concat(p.head), transferSyntaxUid, { totalLength: p.bytes });
  const a = header.attributes;
  await indexCommitsFor(store).record(
    {
      sopInstanceUid: p.cmd.affectedSopInstanceUid ?? '',
      sopClassUid: p.cmd.affectedSopClassUid ?? '',
      seriesInstanceUid: a.SeriesInstanceUID ?? '',
      studyInstanceUid: a.StudyInstanceUID ?? '',
      transferSyntaxUid,
      instanceNumber: null,
      filePath,
      sizeBytes: p.bytes,
      callingAeTitle: 'FLOOR',
      callingHost,
      associationId: 'floor',
      receivedAt: Date.now(),
      burnedInRisk: [],
    },
    indexAttributes(a),
  );
}

const SINKS: Record<Options['mode'], (tmp: string) => FileSink> = {
  sync: syncSink,
  'sync-batch': syncBatchSink,
  async: asyncSink,
  'async-batch': asyncBatchSink,
  hybrid: hybridSink,
};

function serve(o: Options): void {
  const incoming = path.join(o.dir, 'incoming');
  const seriesDir = path.join(o.dir, 'instances', 'series');
  fs.mkdirSync(incoming, { recursive: true });
  fs.mkdirSync(seriesDir, { recursive: true });
  fsyncDir(path.join(o.dir, 'instances'));
  let seq = 0;
  const store = o.index ? new Store(path.join(o.dir, 'index.sqlite')) : null;

  net
    .createServer({ noDelay: true }, (sock) => {
      // PDU framing state, across socket reads.
      const head = Buffer.alloc(6);
      let headGot = 0;
      let pduType = 0;
      let pduLeft = 0;
      let body: Buffer[] = []; // non-P-DATA PDUs, collected whole
      const pdvHead = Buffer.alloc(6);
      let pdvHeadGot = 0;
      let pdvLeft = 0;
      let pdvIsCommand = false;
      let pdvIsLast = false;
      let pdvContext = 0;
      let command: Buffer[] = [];
      let pending: { cmd: DimseCommand; context: number; sink: FileSink; head: Buffer[]; headBytes: number; bytes: number } | null = null;
      const syntaxOf = new Map<number, string>(); // presentation context id -> accepted transfer syntax

      const respond = (cmd: DimseCommand, context: number, status: number): void => {
        const rsp = encodeCommand({
          commandField: cmd.commandField === COMMAND_FIELD.C_ECHO_RQ ? COMMAND_FIELD.C_ECHO_RSP : COMMAND_FIELD.C_STORE_RSP,
          messageIdBeingRespondedTo: cmd.messageId ?? 0,
          affectedSopClassUid: cmd.affectedSopClassUid ?? '',
          ...(cmd.affectedSopInstanceUid ? { affectedSopInstanceUid: cmd.affectedSopInstanceUid } : {}),
          commandDataSetType: NO_DATA_SET,
          status,
        });
        sock.write(Buffer.concat([encodePDataHeader(context, true, true, rsp.length), rsp]));
      };

      const onCommand = (): void => {
        const cmd = decodeCommand(Buffer.concat(command));
        command = [];
        if (cmd.commandDataSetType === NO_DATA_SET) return respond(cmd, pdvContext, 0);
        const tmp = path.join(incoming, `${seq++}.part`);
        pending = { cmd, context: pdvContext, sink: SINKS[o.mode](tmp), head: [], headBytes: 0, bytes: 0 };
      };

      const onDataEnd = (): void => {
        const p = pending!;
        pending = null;
        const finalPath = path.join(seriesDir, `${p.cmd.affectedSopInstanceUid ?? seq}.dcm`);
        p.sink.finish(finalPath, (err) => {
          if (err || !store) return respond(p.cmd, p.context, err ? 0xa700 : 0);
          indexRow(store, p, syntaxOf.get(p.context) ?? '', finalPath, sock.remoteAddress ?? '').then(
            () => respond(p.cmd, p.context, 0),
            () => respond(p.cmd, p.context, 0xa700),
          );
        });
      };

      const onWholePdu = (type: number, b: Buffer): void => {
        if (type === PDU_TYPE.AssociateRQ) {
          const rq = decodeAssociateRQ(b);
          const ac = encodeAssociateAC({
            protocolVersion: 1,
            calledAeTitle: rq.calledAeTitle,
            callingAeTitle: rq.callingAeTitle,
            applicationContext: rq.applicationContext,
            presentationContexts: rq.presentationContexts.map(
              (pc) => (
                syntaxOf.set(pc.id, pc.transferSyntaxes[0]!),
                {
                  id: pc.id,
                  result: PC_RESULT.acceptance,
                  transferSyntax: pc.transferSyntaxes[0]!,
                }
              ),
            ),
            userInformation: {
              maxPduLength: 65536,
              implementationClassUid: '1.2.826.0.1.3680043.9.7433.1.1',
              roleSelections: [],
              otherItems: [],
            },
          });
          sock.write(ac);
        } else if (type === PDU_TYPE.ReleaseRQ) {
          sock.end(encodeReleaseRP());
        } else if (type === PDU_TYPE.Abort) {
          sock.destroy();
        }
      };

      /** Bytes of a P-DATA body: PDV headers and values, possibly split anywhere. */
      const onPData = (b: Buffer, start: number, end: number): void => {
        let i = start;
        while (i < end) {
          if (pdvHeadGot < 6) {
            const n = Math.min(6 - pdvHeadGot, end - i);
            b.copy(pdvHead, pdvHeadGot, i, i + n);
            pdvHeadGot += n;
            i += n;
            if (pdvHeadGot < 6) return;
            pdvLeft = pdvHead.readUInt32BE(0) - 2;
            pdvContext = pdvHead[4]!;
            pdvIsCommand = (pdvHead[5]! & 1) === 1;
            pdvIsLast = (pdvHead[5]! & 2) === 2;
          }
          const n = Math.min(pdvLeft, end - i);
          const piece = b.subarray(i, i + n);
          if (pdvIsCommand) command.push(Buffer.from(piece));
          else {
            const p = pending!;
            p.sink.write(piece);
            p.bytes += n;
            if (store && p.headBytes < HEAD_BYTES) {
              p.head.push(piece);
              p.headBytes += n;
            }
          }
          pdvLeft -= n;
          i += n;
          if (pdvLeft === 0) {
            pdvHeadGot = 0;
            if (pdvIsLast) (pdvIsCommand ? onCommand : onDataEnd)();
          }
        }
      };

      sock.on('data', (chunk: Buffer) => {
        let i = 0;
        while (i < chunk.length) {
          if (headGot < 6) {
            const n = Math.min(6 - headGot, chunk.length - i);
            chunk.copy(head, headGot, i, i + n);
            headGot += n;
            i += n;
            if (headGot < 6) return;
            pduType = head[0]!;
            pduLeft = head.readUInt32BE(2);
          }
          const n = Math.min(pduLeft, chunk.length - i);
          if (pduType === PDU_TYPE.PData) onPData(chunk, i, i + n);
          else body.push(chunk.subarray(i, i + n));
          pduLeft -= n;
          i += n;
          if (pduLeft === 0) {
            headGot = 0;
            if (pduType !== PDU_TYPE.PData) {
              const whole = Buffer.concat(body);
              body = [];
              onWholePdu(pduType, whole);
            }
          }
        }
      });
      sock.on('error', () => sock.destroy());
    })
    .listen(o.port, '127.0.0.1');
}

serve(parseArgs(process.argv.slice(2)));

// One DICOM association over one socket, for either side (PS3.8 section 9.2 state machine, reduced
// to the states a Storage SCP/SCU passes through):
//
//   awaiting-rq ──RQ ok──▶ established ──release──▶ releasing ──▶ closed
//        │  (acceptor)        │  ▲ P-DATA                                 ▲
//        └──RQ refused──▶ closing (ARTIM) ───────────────────────────────┘
//   awaiting-ac (requestor) ──AC──▶ established;  ──RJ──▶ closed
//
// Timers that really fire: ARTIM while waiting for the association request or for the peer to
// close after a reject/release, and an idle timer while established. Every way out destroys the
// socket (a half-open peer never keeps a file descriptor).

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import {
  ABORT,
  AbortPdu,
  AssociateAC,
  AssociateRQ,
  PDU_TYPE,
  PduError,
  decodeAbort,
  decodeAssociateAC,
  decodeAssociateRJ,
  decodeAssociateRQ,
  decodePDataParts,
  PdvParts,
  encodeAbort,
  encodePDataHeader,
  encodeReleaseRP,
  encodeReleaseRQ,
  AssociateRJ,
  encodeAssociateAC,
  encodeAssociateRJ,
} from './pdu';
import { PduReader, RawPdu, pduBody } from './pdu-reader';
import { CommandError, DimseCommand, decodeCommand, encodeCommand, hasDataSet } from './command';

export type AssociationState = 'awaiting-rq' | 'awaiting-ac' | 'established' | 'releasing' | 'closing' | 'closed';

export interface AssociationTimeouts {
  /** ARTIM: how long we wait for an association request, or for the peer to close after RJ/RP. */
  artimMs: number;
  /** How long an established association may stay silent while we owe nothing. */
  idleMs: number;
}

export interface AssociationLimits {
  /** The maximum P-DATA PDU length we advertise and enforce on incoming PDUs. */
  maxPduLength: number;
  /** Largest command set accepted (commands are a few hundred bytes). */
  maxCommandBytes: number;
  /** Largest A-ASSOCIATE-RQ/AC accepted. */
  maxAssociateLength: number;
  /** Largest data set of one message; a bigger one aborts the association (and removes the partial file). */
  maxDataSetBytes: number;
}

export interface NegotiatedContext {
  id: number;
  abstractSyntax: string;
  transferSyntax: string;
}

export interface AssociationSummary {
  id: string;
  callingAeTitle: string;
  calledAeTitle: string;
  remoteAddress: string;
  remotePort: number;
  startedAt: number;
}

/** Receives the data set of one incoming message, fragment by fragment, in order. */
export interface DataSetSink {
  write(fragment: Buffer): Promise<void>;
  /** The last fragment arrived: finish and say what to answer. */
  end(): Promise<{ status: number; errorComment?: string }>;
  /** The message will never complete (abort, closed socket, limit): undo what was written. */
  abort(reason: string): Promise<void>;
}

/** What the acceptor-side owner (the server) decides for each incoming message. */
export interface MessageHandler {
  /** A command arrived; return a sink when it has a data set, and the response to send. */
  onCommand(
    assoc: Association,
    cmd: DimseCommand,
    context: NegotiatedContext,
  ): { sink?: DataSetSink; respond: (result?: { status: number; errorComment?: string }) => DimseCommand };
}

export class AssociationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssociationError';
  }
}

interface IncomingMessage {
  contextId: number;
  command?: DimseCommand;
  commandChunks: Buffer[];
  commandBytes: number;
  sink?: DataSetSink;
  dataBytes: number;
  respond?: (result?: { status: number; errorComment?: string }) => DimseCommand;
}

/** Bytes of data-set writes in flight before we stop reading the socket (backpressure). */
const WRITE_HIGH_WATER = 8 * 1024 * 1024;

export class Association extends EventEmitter {
  readonly id = randomBytes(4).toString('hex');
  readonly startedAt = Date.now();
  state: AssociationState;
  callingAeTitle = '';
  calledAeTitle = '';
  /** Negotiated max PDU the peer can receive (0 = unlimited). */
  peerMaxPduLength = 0;
  readonly contexts = new Map<number, NegotiatedContext>();
  instancesReceived = 0;
  bytesReceived = 0;
  closeReason = '';

  private readonly reader: PduReader;
  private artimTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private incoming: IncomingMessage | null = null;
  /** Responses are sent in order, each after its own message finished (durably). */
  private ops: Promise<void> = Promise.resolve();
  private opsPending = 0;
  private writesInFlight = 0;
  private paused = false;
  private handler: MessageHandler | null = null;
  private releaseWaiter: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private acWaiter: { resolve: (ac: AssociateAC) => void; reject: (e: Error) => void } | null = null;
  private responseWaiters = new Map<number, { resolve: (c: DimseCommand) => void; reject: (e: Error) => void }>();

  constructor(
    readonly socket: Socket,
    readonly role: 'acceptor' | 'requestor',
    private readonly limits: AssociationLimits,
    private readonly timeouts: AssociationTimeouts,
  ) {
    super();
    this.state = role === 'acceptor' ? 'awaiting-rq' : 'awaiting-ac';
    this.reader = new PduReader({ maxPDataLength: limits.maxPduLength, maxAssociateLength: limits.maxAssociateLength });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.onSocketGone(`socket error: ${err.message}`));
    socket.on('close', () => this.onSocketGone('connection closed by peer'));
    if (role === 'acceptor') this.startArtim('no A-ASSOCIATE-RQ within ARTIM timeout');
  }

  get remoteAddress(): string {
    return normalizeAddress(this.socket.remoteAddress ?? '');
  }

  get remotePort(): number {
    return this.socket.remotePort ?? 0;
  }

  isClosed(): boolean {
    return this.state === 'closed';
  }

  summary(): AssociationSummary {
    return {
      id: this.id,
      callingAeTitle: this.callingAeTitle,
      calledAeTitle: this.calledAeTitle,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      startedAt: this.startedAt,
    };
  }

  setHandler(h: MessageHandler): void {
    this.handler = h;
  }

  /** Requestor side: record the contexts the peer accepted in its A-ASSOCIATE-AC. */
  setContexts(contexts: NegotiatedContext[]): void {
    this.contexts.clear();
    for (const c of contexts) this.contexts.set(c.id, c);
  }

  // -------------------------------------------------------------------------------------------
  // Acceptor side: the server decides on the RQ and calls accept() or reject().

  accept(ac: AssociateAC, rq: AssociateRQ): void {
    this.clearArtim();
    for (const pc of ac.presentationContexts) {
      if (pc.result !== 0) continue;
      const proposed = rq.presentationContexts.find((p) => p.id === pc.id);
      if (proposed) this.contexts.set(pc.id, { id: pc.id, abstractSyntax: proposed.abstractSyntax, transferSyntax: pc.transferSyntax });
    }
    this.peerMaxPduLength = rq.userInformation.maxPduLength;
    this.state = 'established';
    this.send(encodeAssociateAC(ac));
    this.touch();
  }

  reject(rj: AssociateRJ): void {
    this.state = 'closing';
    this.send(encodeAssociateRJ(rj));
    this.closeReason = 'association rejected';
    // PS3.8 9.2.3: after A-ASSOCIATE-RJ the acceptor waits (ARTIM) for the requestor to close.
    this.startArtim('peer did not close after A-ASSOCIATE-RJ');
  }

  // -------------------------------------------------------------------------------------------
  // Requestor side

  /** Sends the RQ and resolves with the AC; rejects with the RJ reason or on abort/timeout. */
  request(rqBytes: Buffer): Promise<AssociateAC> {
    return new Promise((resolve, reject) => {
      this.acWaiter = { resolve, reject };
      this.startArtim('no answer to A-ASSOCIATE-RQ within ARTIM timeout');
      this.send(rqBytes);
    });
  }

  /** Sends a command (and optionally streams a data set) and resolves with the response. */
  async sendRequest(contextId: number, cmd: DimseCommand, dataSet?: AsyncIterable<Buffer>): Promise<DimseCommand> {
    if (this.state !== 'established') throw new AssociationError(`cannot send on an association in state ${this.state}`);
    const messageId = cmd.messageId ?? 0;
    const response = new Promise<DimseCommand>((resolve, reject) => this.responseWaiters.set(messageId, { resolve, reject }));
    response.catch(() => undefined); // observed by the caller below; avoid an unhandled rejection meanwhile
    await this.writeFragments(contextId, true, [encodeCommand(cmd)]);
    if (dataSet) await this.writeStream(contextId, dataSet);
    return response;
  }

  /** A-RELEASE: waits for RP (or ARTIM), then closes. */
  release(): Promise<void> {
    if (this.state !== 'established') {
      this.destroy('release requested in state ' + this.state);
      return Promise.resolve();
    }
    this.state = 'releasing';
    return new Promise((resolve, reject) => {
      this.releaseWaiter = { resolve, reject };
      this.startArtim('no A-RELEASE-RP within ARTIM timeout');
      this.send(encodeReleaseRQ());
    });
  }

  // -------------------------------------------------------------------------------------------
  // Both sides

  /** A-ABORT from our side: tell the peer why (as far as PS3.8 lets us), then drop the socket. */
  abort(reason: string, pduReason: number = ABORT.reason.notSpecified, source: number = ABORT.source.serviceProvider): void {
    if (this.state === 'closed') return;
    this.closeReason = reason;
    const pdu: AbortPdu = { source, reason: pduReason };
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(encodeAbort(pdu));
    this.destroy(reason);
  }

  private destroy(reason: string): void {
    if (this.state === 'closed') return;
    if (!this.closeReason) this.closeReason = reason;
    this.state = 'closed';
    this.clearArtim();
    this.clearIdle();
    // end() flushes what we queued (an A-ABORT, an RJ); destroy() right after guarantees that a
    // peer which never reads or never closes cannot keep the socket half-open.
    this.socket.end();
    setImmediate(() => this.socket.destroy());
    this.failIncoming(this.closeReason);
    const err = new AssociationError(this.closeReason);
    this.acWaiter?.reject(err);
    this.acWaiter = null;
    for (const w of this.responseWaiters.values()) w.reject(err);
    this.responseWaiters.clear();
    if (this.releaseWaiter) {
      // A release that ended with the peer closing is a normal release.
      if (this.closeReason.startsWith('released')) this.releaseWaiter.resolve();
      else this.releaseWaiter.reject(err);
      this.releaseWaiter = null;
    }
    this.ops.finally(() => this.emit('closed', this.closeReason));
  }

  private onSocketGone(reason: string): void {
    if (this.state === 'closed') return;
    if (this.state === 'closing' || this.state === 'releasing') {
      this.destroy(this.closeReason || 'released');
      return;
    }
    this.destroy(reason);
  }

  private send(buf: Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(buf);
  }

  // -------------------------------------------------------------------------------------------
  // Timers

  private startArtim(reason: string): void {
    this.clearArtim();
    this.artimTimer = setTimeout(() => this.abort(reason), this.timeouts.artimMs);
    this.artimTimer.unref();
  }

  private clearArtim(): void {
    if (this.artimTimer) clearTimeout(this.artimTimer);
    this.artimTimer = null;
  }

  private touch(): void {
    if (this.state !== 'established') return;
    this.clearIdle();
    this.idleTimer = setTimeout(() => this.onIdle(), this.timeouts.idleMs);
    this.idleTimer.unref();
  }

  private onIdle(): void {
    // While we still owe a response (fsync of a huge file...), the silence is ours, not theirs.
    if (this.opsPending > 0) return this.touch();
    this.abort(`idle for ${Math.round(this.timeouts.idleMs / 1000)} s${this.reader.midPdu ? ' in the middle of a PDU' : ''}`);
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  // -------------------------------------------------------------------------------------------
  // Incoming bytes

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.bytesReceived += chunk.length;
    this.touch();
    let pdus;
    try {
      pdus = this.reader.push(chunk);
    } catch (e) {
      const err = e as PduError;
      this.abort(`protocol error: ${err.message}`, err.abortReason ?? ABORT.reason.notSpecified);
      return;
    }
    for (const pdu of pdus) {
      if (this.isClosed()) return;
      try {
        this.onPdu(pdu);
      } catch (e) {
        const reason = e instanceof PduError ? e.abortReason : ABORT.reason.invalidPduParameterValue;
        this.abort(`protocol error: ${(e as Error).message}`, reason);
        return;
      }
    }
  }

  private onPdu(pdu: RawPdu): void {
    const type = pdu.type;
    if (type === PDU_TYPE.PData) {
      // P-DATA stays in the pieces it arrived in; the other PDUs are small and decoded from one buffer.
      if (this.state !== 'established' && this.state !== 'releasing')
        throw new PduError('P-DATA-TF outside an association', ABORT.reason.unexpectedPdu);
      for (const pdv of decodePDataParts(pdu.parts)) this.onPdv(pdv);
      return;
    }
    const body = pduBody(pdu);
    switch (type) {
      case PDU_TYPE.AssociateRQ: {
        if (this.state !== 'awaiting-rq') throw new PduError('unexpected A-ASSOCIATE-RQ', ABORT.reason.unexpectedPdu);
        const rq = decodeAssociateRQ(body);
        this.callingAeTitle = rq.callingAeTitle;
        this.calledAeTitle = rq.calledAeTitle;
        this.clearArtim();
        this.state = 'closing'; // until the server accepts: data before AC is a protocol error
        this.emit('associate-rq', rq);
        return;
      }
      case PDU_TYPE.AssociateAC: {
        if (this.state !== 'awaiting-ac') throw new PduError('unexpected A-ASSOCIATE-AC', ABORT.reason.unexpectedPdu);
        const ac = decodeAssociateAC(body);
        this.clearArtim();
        this.peerMaxPduLength = ac.userInformation.maxPduLength;
        this.state = 'established';
        this.touch();
        this.acWaiter?.resolve(ac);
        this.acWaiter = null;
        return;
      }
      case PDU_TYPE.AssociateRJ: {
        if (this.state !== 'awaiting-ac') throw new PduError('unexpected A-ASSOCIATE-RJ', ABORT.reason.unexpectedPdu);
        const rj = decodeAssociateRJ(body);
        const err = new AssociationError(`association rejected (result ${rj.result}, source ${rj.source}, reason ${rj.reason})`);
        Object.assign(err, { rejection: rj });
        this.acWaiter?.reject(err);
        this.acWaiter = null;
        this.destroy('association rejected by peer');
        return;
      }
      case PDU_TYPE.ReleaseRQ:
        if (this.state !== 'established') throw new PduError('unexpected A-RELEASE-RQ', ABORT.reason.unexpectedPdu);
        if (this.incoming) throw new PduError('A-RELEASE-RQ in the middle of a message', ABORT.reason.unexpectedPdu);
        this.state = 'releasing';
        // Answer only after every response we owe went out.
        this.ops = this.ops.then(() => {
          if (this.state === 'closed') return;
          this.send(encodeReleaseRP());
          this.closeReason = 'released';
          this.startArtim('peer did not close after A-RELEASE-RP');
        });
        return;
      case PDU_TYPE.ReleaseRP:
        if (this.state !== 'releasing') throw new PduError('unexpected A-RELEASE-RP', ABORT.reason.unexpectedPdu);
        this.closeReason = 'released';
        this.destroy('released');
        return;
      case PDU_TYPE.Abort: {
        const a = decodeAbort(body);
        this.destroy(`aborted by peer (source ${a.source}, reason ${a.reason})`);
        return;
      }
    }
  }

  private onPdv(pdv: PdvParts): void {
    const ctx = this.contexts.get(pdv.contextId);
    if (!ctx)
      throw new PduError(`PDV on presentation context ${pdv.contextId}, which was not accepted`, ABORT.reason.unexpectedPduParameter);
    if (this.role === 'requestor') return this.onResponsePdv(pdv);

    let msg = this.incoming;
    if (pdv.isCommand) {
      if (msg && (msg.command || msg.contextId !== pdv.contextId))
        throw new PduError('command fragment in the middle of another message', ABORT.reason.unexpectedPdu);
      if (!msg) msg = this.incoming = { contextId: pdv.contextId, commandChunks: [], commandBytes: 0, dataBytes: 0 };
      msg.commandBytes += pdv.length;
      if (msg.commandBytes > this.limits.maxCommandBytes)
        throw new PduError(`command set larger than ${this.limits.maxCommandBytes} bytes`);
      for (const d of pdv.data) msg.commandChunks.push(Buffer.from(d));
      if (pdv.isLast) this.onCommandComplete(msg, ctx);
      return;
    }
    if (!msg || !msg.command || !msg.sink)
      throw new PduError('data set fragment without a command expecting one', ABORT.reason.unexpectedPdu);
    if (msg.contextId !== pdv.contextId)
      throw new PduError('data set fragment on another presentation context than its command', ABORT.reason.unexpectedPdu);
    msg.dataBytes += pdv.length;
    if (msg.dataBytes > this.limits.maxDataSetBytes)
      throw new PduError(`data set larger than the ${this.limits.maxDataSetBytes} bytes allowed for one instance`);
    for (const d of pdv.data) this.trackWrite(msg.sink.write(d), d.length);
    if (pdv.isLast) {
      this.incoming = null;
      this.instancesReceived++;
      const { sink, respond } = msg;
      this.enqueue(async () => {
        const result = await sink.end();
        this.sendCommand(msg.contextId, respond!(result));
      });
    }
  }

  private onCommandComplete(msg: IncomingMessage, ctx: NegotiatedContext): void {
    let cmd: DimseCommand;
    try {
      cmd = decodeCommand(Buffer.concat(msg.commandChunks));
    } catch (e) {
      if (e instanceof CommandError) throw new PduError(`undecodable DIMSE command: ${e.message}`);
      throw e;
    }
    msg.command = cmd;
    msg.commandChunks = [];
    if (!this.handler) throw new PduError('no handler for DIMSE messages');
    const { sink, respond } = this.handler.onCommand(this, cmd, ctx);
    if (hasDataSet(cmd)) {
      if (!sink) throw new PduError('a data set was announced for a message that takes none', ABORT.reason.unexpectedPduParameter);
      msg.sink = sink;
      msg.respond = respond;
      return;
    }
    this.incoming = null;
    this.enqueue(async () => this.sendCommand(msg.contextId, respond()));
  }

  private onResponsePdv(pdv: PdvParts): void {
    if (!pdv.isCommand) throw new PduError('unexpected data set in a response', ABORT.reason.unexpectedPdu);
    let msg = this.incoming;
    if (!msg) msg = this.incoming = { contextId: pdv.contextId, commandChunks: [], commandBytes: 0, dataBytes: 0 };
    msg.commandBytes += pdv.length;
    if (msg.commandBytes > this.limits.maxCommandBytes)
      throw new PduError(`response command larger than ${this.limits.maxCommandBytes} bytes`);
    for (const d of pdv.data) msg.commandChunks.push(Buffer.from(d));
    if (!pdv.isLast) return;
    this.incoming = null;
    const rsp = decodeCommand(Buffer.concat(msg.commandChunks));
    const id = rsp.messageIdBeingRespondedTo ?? -1;
    const w = this.responseWaiters.get(id);
    if (!w) throw new PduError(`response to message ${id}, which we did not send`, ABORT.reason.unexpectedPdu);
    this.responseWaiters.delete(id);
    w.resolve(rsp);
  }

  private enqueue(op: () => Promise<void>): void {
    this.opsPending++;
    this.ops = this.ops
      .then(op)
      .catch((e: Error) => this.abort(`internal error while answering: ${e.message}`))
      .finally(() => {
        this.opsPending--;
        this.touch();
      });
  }

  private trackWrite(p: Promise<void>, n: number): void {
    this.writesInFlight += n;
    if (this.writesInFlight > WRITE_HIGH_WATER && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    p.catch(() => undefined).finally(() => {
      this.writesInFlight -= n;
      if (this.paused && this.writesInFlight <= WRITE_HIGH_WATER / 2) {
        this.paused = false;
        if (!this.socket.destroyed) this.socket.resume();
      }
    });
  }

  private failIncoming(reason: string): void {
    const msg = this.incoming;
    this.incoming = null;
    if (msg?.sink) {
      const sink = msg.sink;
      this.ops = this.ops.then(() => sink.abort(reason)).catch(() => undefined);
    }
  }

  private sendCommand(contextId: number, cmd: DimseCommand): void {
    if (this.state === 'closed') return;
    const body = encodeCommand(cmd);
    this.send(Buffer.concat([encodePDataHeader(contextId, true, true, body.length), body]));
    this.touch();
  }

  // -------------------------------------------------------------------------------------------
  // Outgoing fragments (requestor sends data sets; both send commands)

  /** The largest PDV data that fits in one P-DATA PDU the peer accepts. */
  private maxFragment(): number {
    const peer = this.peerMaxPduLength === 0 ? 1 << 20 : this.peerMaxPduLength;
    return Math.max(1, Math.min(peer, 1 << 20) - 6);
  }

  private async writeFragments(contextId: number, isCommand: boolean, parts: Buffer[]): Promise<void> {
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const max = this.maxFragment();
    // At least one PDV, even for empty data; the last one carries the "last fragment" bit.
    let off = 0;
    do {
      const piece = data.subarray(off, off + max);
      off += piece.length;
      await this.writePdu(encodePDataHeader(contextId, isCommand, off >= data.length, piece.length), piece);
    } while (off < data.length);
  }

  /** Streams a data set from an async source, cutting it into PDUs of the negotiated size. */
  private async writeStream(contextId: number, source: AsyncIterable<Buffer>): Promise<void> {
    const max = this.maxFragment();
    let carry: Buffer | null = null;
    for await (const chunk of source) {
      let buf: Buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
      carry = null;
      while (buf.length > max) {
        await this.writePdu(encodePDataHeader(contextId, false, false, max), buf.subarray(0, max));
        buf = buf.subarray(max);
      }
      carry = buf;
    }
    const rest = carry ?? Buffer.alloc(0);
    await this.writePdu(encodePDataHeader(contextId, false, true, rest.length), rest);
  }

  private writePdu(header: Buffer, data: Buffer): Promise<void> {
    if (this.state === 'closed' || this.socket.destroyed)
      return Promise.reject(new AssociationError(this.closeReason || 'association closed'));
    this.socket.write(header);
    const ok = this.socket.write(data);
    this.touch();
    if (ok) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        this.off('closed', onClosed);
        resolve();
      };
      const onClosed = () => {
        this.socket.off('drain', onDrain);
        reject(new AssociationError(this.closeReason || 'association closed'));
      };
      this.socket.once('drain', onDrain);
      this.once('closed', onClosed);
    });
  }
}

/** "::ffff:127.0.0.1" is how Node reports IPv4 peers on a dual-stack socket. */
export function normalizeAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

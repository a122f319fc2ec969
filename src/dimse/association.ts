// One DICOM association over one socket, for either side. Every received PDU, timer expiry,
// closed connection and local request is an event of the PS3.8 state machine (state-machine.ts):
// the transition table names the action, and the action (a method here) does the I/O and says
// which state follows.
//
//   acceptor:  Sta1 ─Evt5→ Sta2 ─RQ→ Sta3 ─accept→ Sta6 ─RQ→ Sta8 ─(responses out)→ RP, Sta13 ─close→ Sta1
//                                         └reject→ RJ, Sta13 ─close→ Sta1
//   requestor: Sta1 ─Evt1→ Sta4 ─send RQ→ Sta5 ─AC→ Sta6 ─release→ Sta7 ─RP→ Sta1
//   release collision (both sent A-RELEASE-RQ): Sta7 → Sta9/Sta10 → Sta11/Sta12 → released
//
// Timers that really fire: ARTIM (Evt18) while waiting for the association request or for the
// peer to close after RJ/RP; the idle timer while established, and our patience for an
// A-ASSOCIATE-AC or A-RELEASE-RP, which end in a local abort request (Evt15): PS3.8 leaves those
// waits to the user. Deliberate departures, both to keep a hostile peer from holding a socket:
// after sending an A-ABORT we close the connection at once instead of waiting for the peer to
// (ARTIM) in Sta13; and a peer that closes the connection during a release (Sta7 to Sta12)
// counts as released, since some peers close instead of sending A-RELEASE-RP.

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import {
  ABORT,
  AbortPdu,
  AssociateAC,
  AssociateRQ,
  AssociateRJ,
  PDU_NAME,
  PDU_TYPE,
  PduError,
  PdvParts,
  decodeAbort,
  decodeAssociateAC,
  decodeAssociateRJ,
  decodeAssociateRQ,
  decodePDataParts,
  encodeAbort,
  encodeAssociateAC,
  encodeAssociateRJ,
  encodePDataHeader,
  encodeReleaseRP,
  encodeReleaseRQ,
} from './pdu';
import { PduReader, RawPdu, pduBody } from './pdu-reader';
import { CommandError, DimseCommand, decodeCommand, encodeCommand, hasDataSet } from './command';
import { Action, EVENTS, Event, STATES, State, isNextStateOf, transition } from './state-machine';

export interface AssociationTimeouts {
  /** ARTIM: how long we wait for an association request, or for the peer to close after RJ/RP. */
  artimMs: number;
  /**
   * Acceptor only: how long a new connection may take to send its A-ASSOCIATE-RQ, when that
   * should be shorter than ARTIM (silent connections hold sockets other callers need).
   */
  associateRqMs?: number;
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

/** Why an association ended, in words: 'released' for a normal release, anything else for the rest. */
export type CloseReason = string;

/** One step of the state machine, for observers (logs, tests). */
export interface Transition {
  from: State;
  event: Event;
  action: Action;
  to: State;
}

/** The events an Association emits, with their listeners' arguments. */
export interface AssociationEvents {
  /** Acceptor: the peer's A-ASSOCIATE-RQ arrived (A-ASSOCIATE indication); answer with accept() or reject(). */
  'associate-rq': [rq: AssociateRQ];
  /** The association is over and its connection closed (Sta1 again). */
  closed: [reason: CloseReason];
  transition: [step: Transition];
}

export class AssociationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssociationError';
  }
}

/** An event of Table 9-10 with what it carries. */
export type Occurrence =
  | { event: 'Evt1' }
  | { event: 'Evt2'; rq: Buffer }
  | { event: 'Evt3'; ac: AssociateAC }
  | { event: 'Evt4'; rj: AssociateRJ }
  | { event: 'Evt5' }
  | { event: 'Evt6'; rq: AssociateRQ }
  | { event: 'Evt7'; ac: AssociateAC; rq: AssociateRQ }
  | { event: 'Evt8'; rj: AssociateRJ }
  | { event: 'Evt9'; header: Buffer; data: Buffer }
  | { event: 'Evt10'; pdvs: PdvParts[] }
  | { event: 'Evt11' }
  | { event: 'Evt12' }
  | { event: 'Evt13' }
  | { event: 'Evt14' }
  | { event: 'Evt15'; reason: string; source: number; pduReason: number }
  | { event: 'Evt16'; abort: AbortPdu }
  | { event: 'Evt17'; reason: string }
  | { event: 'Evt18' }
  | { event: 'Evt19'; error: PduError };

/** A received PDU as the event it is (decoding errors are thrown as PduError: Evt19). */
export function pduEvent(pdu: RawPdu): Occurrence {
  switch (pdu.type) {
    case PDU_TYPE.AssociateRQ:
      return { event: 'Evt6', rq: decodeAssociateRQ(pduBody(pdu)) };
    case PDU_TYPE.AssociateAC:
      return { event: 'Evt3', ac: decodeAssociateAC(pduBody(pdu)) };
    case PDU_TYPE.AssociateRJ:
      return { event: 'Evt4', rj: decodeAssociateRJ(pduBody(pdu)) };
    case PDU_TYPE.PData:
      // P-DATA stays in the pieces it arrived in; the other PDUs are small and decoded from one buffer.
      return { event: 'Evt10', pdvs: decodePDataParts(pdu.parts) };
    case PDU_TYPE.ReleaseRQ:
      return { event: 'Evt12' };
    case PDU_TYPE.ReleaseRP:
      return { event: 'Evt13' };
    case PDU_TYPE.Abort:
      return { event: 'Evt16', abort: decodeAbort(pduBody(pdu)) };
  }
}

/** The PDU behind a received-PDU event, for "unexpected X" messages. */
const PDU_OF_EVENT: Partial<Record<Event, string>> = {
  Evt3: PDU_NAME[PDU_TYPE.AssociateAC],
  Evt4: PDU_NAME[PDU_TYPE.AssociateRJ],
  Evt6: PDU_NAME[PDU_TYPE.AssociateRQ],
  Evt10: PDU_NAME[PDU_TYPE.PData],
  Evt12: PDU_NAME[PDU_TYPE.ReleaseRQ],
  Evt13: PDU_NAME[PDU_TYPE.ReleaseRP],
};

/** The states of an association being released, where a closed connection ends it as released. */
const RELEASING: ReadonlySet<State> = new Set<State>(['Sta7', 'Sta8', 'Sta9', 'Sta10', 'Sta11', 'Sta12']);

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

export class Association extends EventEmitter<AssociationEvents> {
  readonly id = randomBytes(4).toString('hex');
  readonly startedAt = Date.now();
  private current: State = 'Sta1';
  callingAeTitle = '';
  calledAeTitle = '';
  /** Negotiated max PDU the peer can receive (0 = unlimited). */
  peerMaxPduLength = 0;
  readonly contexts = new Map<number, NegotiatedContext>();
  instancesReceived = 0;
  bytesReceived = 0;
  closeReason: CloseReason = '';

  private readonly reader: PduReader;
  /** Events raised while an action runs wait here: each action runs to completion first. */
  private readonly queue: Occurrence[] = [];
  private stepping = false;
  private artimTimer: NodeJS.Timeout | null = null;
  private artimReason = '';
  /** Our patience for an A-ASSOCIATE-AC or A-RELEASE-RP; ends in a local abort. */
  private replyTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private incoming: IncomingMessage | null = null;
  /** Responses are sent in order, each after its own message finished (durably). */
  private ops: Promise<void> = Promise.resolve();
  private opsPending = 0;
  private writesInFlight = 0;
  /** The latest sink write promise being counted, and the bytes it covers so far. */
  private tracked: { promise: Promise<void>; bytes: number } | null = null;
  private paused = false;
  private handler: MessageHandler | null = null;
  private releaseWaiter: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private acWaiter: { resolve: (ac: AssociateAC) => void; reject: (e: Error) => void } | null = null;
  private responseWaiters = new Map<number, { resolve: (c: DimseCommand) => void; reject: (e: Error) => void }>();

  /** What each action of PS3.8 does here; each returns the state that follows. */
  private readonly actions: Record<Action, (o: Occurrence) => State> = {
    'AE-1': () => this.confirmTransport(),
    'AE-2': (o) => this.sendAssociateRq(o),
    'AE-3': (o) => this.associationAccepted(o),
    'AE-4': (o) => this.associationRejected(o),
    'AE-5': () => this.awaitAssociateRq(),
    'AE-6': (o) => this.indicateAssociateRq(o),
    'AE-7': (o) => this.sendAssociateAc(o),
    'AE-8': (o) => this.sendAssociateRj(o),
    'DT-1': (o) => this.sendPData(o, 'Sta6'),
    'DT-2': (o) => this.receivePData(o, 'Sta6'),
    'AR-1': () => this.sendReleaseRq(),
    'AR-2': () => this.indicateRelease(),
    'AR-3': () => this.releaseConfirmed(),
    'AR-4': () => this.sendReleaseRp(),
    'AR-5': () => this.connectionClosed(),
    'AR-6': (o) => this.receivePData(o, 'Sta7'),
    'AR-7': (o) => this.sendPData(o, 'Sta8'),
    'AR-8': () => this.releaseCollision(),
    'AR-9': () => this.sendCollisionReleaseRp(),
    'AR-10': () => this.collisionReleaseConfirmed(),
    'AA-1': (o) => this.sendAbort(o, ABORT.source.serviceUser),
    'AA-2': (o) => this.closeConnection(o),
    'AA-3': (o) => this.abortedByPeer(o),
    'AA-4': (o) => this.connectionLost(o),
    'AA-5': (o) => this.connectionLost(o),
    'AA-6': () => 'Sta13',
    'AA-7': (o) => this.sendAbortAgain(o),
    'AA-8': (o) => this.sendAbort(o, ABORT.source.serviceProvider),
  };

  constructor(
    readonly socket: Socket,
    readonly role: 'acceptor' | 'requestor',
    private readonly limits: AssociationLimits,
    private readonly timeouts: AssociationTimeouts,
  ) {
    super();
    this.reader = new PduReader({ maxPDataLength: limits.maxPduLength, maxAssociateLength: limits.maxAssociateLength });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fire({ event: 'Evt17', reason: `socket error: ${err.message}` }));
    socket.on('close', () => this.fire({ event: 'Evt17', reason: 'connection closed by peer' }));
    // The socket arrives connected: for the acceptor that is the transport connection
    // indication, for the requestor the A-ASSOCIATE request starts with it.
    this.fire({ event: role === 'acceptor' ? 'Evt5' : 'Evt1' });
  }

  /** The PS3.8 state (Sta1 to Sta13). */
  get state(): State {
    return this.current;
  }

  get remoteAddress(): string {
    return normalizeAddress(this.socket.remoteAddress ?? '');
  }

  get remotePort(): number {
    return this.socket.remotePort ?? 0;
  }

  /** The association no longer exists (Sta13: waiting for the connection to close; Sta1: closed). */
  isClosed(): boolean {
    return this.current === 'Sta1' || this.current === 'Sta13';
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
  // Local requests (primitives of the service user)

  /** Acceptor: A-ASSOCIATE response (accept), Evt7. */
  accept(ac: AssociateAC, rq: AssociateRQ): void {
    this.fire({ event: 'Evt7', ac, rq });
  }

  /** Acceptor: A-ASSOCIATE response (reject), Evt8. */
  reject(rj: AssociateRJ): void {
    this.fire({ event: 'Evt8', rj });
  }

  /** Requestor: sends the RQ and resolves with the AC; rejects with the RJ reason or on abort/timeout. */
  request(rqBytes: Buffer): Promise<AssociateAC> {
    if (!this.allows('Evt2')) return Promise.reject(new AssociationError(`cannot request an association in ${this.describeState()}`));
    return new Promise((resolve, reject) => {
      this.acWaiter = { resolve, reject };
      this.fire({ event: 'Evt2', rq: rqBytes });
    });
  }

  /** Sends a command (and optionally streams a data set) and resolves with the response. */
  async sendRequest(contextId: number, cmd: DimseCommand, dataSet?: AsyncIterable<Buffer>): Promise<DimseCommand> {
    if (this.current !== 'Sta6') throw new AssociationError(`cannot send on an association in ${this.describeState()}`);
    const messageId = cmd.messageId ?? 0;
    const response = new Promise<DimseCommand>((resolve, reject) => this.responseWaiters.set(messageId, { resolve, reject }));
    response.catch(() => undefined); // observed by the caller below; avoid an unhandled rejection meanwhile
    await this.writeFragments(contextId, true, [encodeCommand(cmd)]);
    if (dataSet) await this.writeStream(contextId, dataSet);
    return response;
  }

  /** A-RELEASE request (Evt11): resolves once released, also after a release collision. */
  release(): Promise<void> {
    if (!this.allows('Evt11')) {
      this.abort('release requested in ' + this.describeState());
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.releaseWaiter = { resolve, reject };
      this.fire({ event: 'Evt11' });
    });
  }

  /** A-ABORT request (Evt15): tell the peer why (as far as PS3.8 lets us), then drop the connection. */
  abort(reason: string, pduReason: number = ABORT.reason.notSpecified, source: number = ABORT.source.serviceProvider): void {
    // Elsewhere (Sta1, Sta2, Sta13) there is no association to abort: nothing to do.
    if (this.allows('Evt15')) this.fire({ event: 'Evt15', reason, source, pduReason });
  }

  // -------------------------------------------------------------------------------------------
  // The state machine

  private allows(event: Event): boolean {
    return transition(this.current, event) !== null;
  }

  private describeState(): string {
    return `state ${this.current} (${STATES[this.current]})`;
  }

  /** Feeds one event through Table 9-10. Events raised by an action are handled after it. */
  private fire(o: Occurrence): void {
    this.queue.push(o);
    if (this.stepping) return;
    this.stepping = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) this.step(next);
    } finally {
      this.stepping = false;
    }
  }

  private step(o: Occurrence): void {
    const from = this.current;
    const action = transition(from, o.event);
    // A blank cell: the event cannot happen in this state (a late socket event after the end,
    // a timer already stopped). Local requests are checked with allows() before they get here.
    if (!action) return;
    let to: State;
    try {
      to = this.actions[action](o);
    } catch (e) {
      // A PDU that is invalid in substance (unknown context, a command that does not decode...)
      // is Evt19 in the same state.
      if (o.event === 'Evt19') throw e;
      const error = e instanceof PduError ? e : new PduError((e as Error).message, ABORT.reason.invalidPduParameterValue);
      this.queue.unshift({ event: 'Evt19', error });
      return;
    }
    if (!isNextStateOf(action, to)) throw new Error(`state machine: ${action} cannot lead from ${from} to ${to}`);
    this.current = to;
    if (to !== 'Sta6') this.clearIdle();
    if (to === 'Sta1') this.afterClose();
    if (this.listenerCount('transition') > 0) this.emit('transition', { from, event: o.event, action, to });
  }

  /** The connection is gone: tell the owner once every response and clean-up we queued has run. */
  private afterClose(): void {
    this.clearArtim();
    this.clearReplyTimer();
    this.ended(this.closeReason || 'connection closed');
    // ops never rejects (each step catches), so this waits without failing.
    void this.ops.then(() => this.emit('closed', this.closeReason));
  }

  /**
   * The association no longer exists: settle every waiter and undo a half-received message.
   * The first reason given is the one that stays.
   */
  private ended(reason: CloseReason): void {
    if (!this.closeReason) this.closeReason = reason;
    this.clearIdle();
    this.clearReplyTimer();
    this.failIncoming(this.closeReason);
    const err = new AssociationError(this.closeReason);
    this.acWaiter?.reject(err);
    this.acWaiter = null;
    for (const w of this.responseWaiters.values()) w.reject(err);
    this.responseWaiters.clear();
    if (this.releaseWaiter) {
      if (this.closeReason === 'released') this.releaseWaiter.resolve();
      else this.releaseWaiter.reject(err);
      this.releaseWaiter = null;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Actions: association establishment (AE-1 to AE-8)

  /** AE-1: the caller opened the transport connection before handing us the socket. */
  private confirmTransport(): State {
    return 'Sta4';
  }

  /** AE-2 */
  private sendAssociateRq(o: Occurrence): State {
    if (o.event !== 'Evt2') throw new Error(`AE-2 on ${o.event}`);
    this.startReplyTimer('no answer to A-ASSOCIATE-RQ within ARTIM timeout');
    this.send(o.rq);
    return 'Sta5';
  }

  /** AE-3 */
  private associationAccepted(o: Occurrence): State {
    if (o.event !== 'Evt3') throw new Error(`AE-3 on ${o.event}`);
    this.clearReplyTimer();
    this.peerMaxPduLength = o.ac.userInformation.maxPduLength;
    this.acWaiter?.resolve(o.ac);
    this.acWaiter = null;
    this.touch('Sta6');
    return 'Sta6';
  }

  /** AE-4 */
  private associationRejected(o: Occurrence): State {
    if (o.event !== 'Evt4') throw new Error(`AE-4 on ${o.event}`);
    const { rj } = o;
    const err = new AssociationError(`association rejected (result ${rj.result}, source ${rj.source}, reason ${rj.reason})`);
    Object.assign(err, { rejection: rj });
    this.acWaiter?.reject(err);
    this.acWaiter = null;
    this.ended('association rejected by peer');
    this.closeTransport();
    return 'Sta1';
  }

  /** AE-5 */
  private awaitAssociateRq(): State {
    const ms = Math.min(this.timeouts.associateRqMs ?? Infinity, this.timeouts.artimMs);
    this.startArtim(ms < this.timeouts.artimMs ? `no A-ASSOCIATE-RQ within ${ms / 1000} s` : 'no A-ASSOCIATE-RQ within ARTIM timeout', ms);
    return 'Sta2';
  }

  /**
   * AE-6. The RQ decoded, so this layer finds it acceptable; what the standard leaves to the
   * provider here (protocol version) is judged by the owner with the rest, and answered with Evt8.
   */
  private indicateAssociateRq(o: Occurrence): State {
    if (o.event !== 'Evt6') throw new Error(`AE-6 on ${o.event}`);
    this.clearArtim();
    this.callingAeTitle = o.rq.callingAeTitle;
    this.calledAeTitle = o.rq.calledAeTitle;
    this.emit('associate-rq', o.rq);
    return 'Sta3';
  }

  /** AE-7 */
  private sendAssociateAc(o: Occurrence): State {
    if (o.event !== 'Evt7') throw new Error(`AE-7 on ${o.event}`);
    const { ac, rq } = o;
    for (const pc of ac.presentationContexts) {
      if (pc.result !== 0) continue;
      const proposed = rq.presentationContexts.find((p) => p.id === pc.id);
      if (proposed) this.contexts.set(pc.id, { id: pc.id, abstractSyntax: proposed.abstractSyntax, transferSyntax: pc.transferSyntax });
    }
    this.peerMaxPduLength = rq.userInformation.maxPduLength;
    this.send(encodeAssociateAC(ac));
    this.touch('Sta6');
    return 'Sta6';
  }

  /** AE-8 (PS3.8 9.2.3: after A-ASSOCIATE-RJ the acceptor waits, ARTIM, for the requestor to close). */
  private sendAssociateRj(o: Occurrence): State {
    if (o.event !== 'Evt8') throw new Error(`AE-8 on ${o.event}`);
    this.send(encodeAssociateRJ(o.rj));
    this.ended('association rejected');
    this.startArtim('peer did not close after A-ASSOCIATE-RJ');
    return 'Sta13';
  }

  // -------------------------------------------------------------------------------------------
  // Actions: data transfer (DT-1, DT-2, AR-6, AR-7)

  /** DT-1 and AR-7 */
  private sendPData(o: Occurrence, stay: 'Sta6' | 'Sta8'): State {
    if (o.event !== 'Evt9') throw new Error(`sending P-DATA on ${o.event}`);
    if (!this.socket.destroyed) {
      // One segment for header and data (with Nagle off, two writes are two segments and the peer
      // wakes up twice for a C-STORE-RSP).
      this.socket.cork();
      this.socket.write(o.header);
      this.socket.write(o.data);
      this.socket.uncork();
    }
    this.touch(stay);
    return stay;
  }

  /** DT-2 and AR-6 */
  private receivePData(o: Occurrence, stay: 'Sta6' | 'Sta7'): State {
    if (o.event !== 'Evt10') throw new Error(`receiving P-DATA on ${o.event}`);
    for (const pdv of o.pdvs) this.onPdv(pdv);
    return stay;
  }

  // -------------------------------------------------------------------------------------------
  // Actions: release (AR-1 to AR-10, less the data ones)

  /** AR-1 */
  private sendReleaseRq(): State {
    this.startReplyTimer('no A-RELEASE-RP within ARTIM timeout');
    this.send(encodeReleaseRQ());
    return 'Sta7';
  }

  /** AR-2: the owner's answer (Evt14) comes once every response we owe went out. */
  private indicateRelease(): State {
    if (this.incoming) throw new PduError('A-RELEASE-RQ in the middle of a message', ABORT.reason.unexpectedPdu);
    this.respondToReleaseWhenDone();
    return 'Sta8';
  }

  /** AR-3 */
  private releaseConfirmed(): State {
    this.ended('released');
    this.closeTransport();
    return 'Sta1';
  }

  /** AR-4 */
  private sendReleaseRp(): State {
    this.send(encodeReleaseRP());
    this.ended('released');
    this.startArtim('peer did not close after A-RELEASE-RP');
    return 'Sta13';
  }

  /** AR-5 */
  private connectionClosed(): State {
    this.clearArtim();
    return 'Sta1';
  }

  /** AR-8: both sides asked to release at once. We have nothing more to say, so we agree at once. */
  private releaseCollision(): State {
    if (this.role === 'requestor') {
      this.queue.push({ event: 'Evt14' });
      return 'Sta9';
    }
    return 'Sta10';
  }

  /** AR-9 */
  private sendCollisionReleaseRp(): State {
    this.send(encodeReleaseRP());
    return 'Sta11';
  }

  /** AR-10: the peer answered our RQ; now answer theirs (AR-4) once our responses are out. */
  private collisionReleaseConfirmed(): State {
    this.respondToReleaseWhenDone();
    return 'Sta12';
  }

  private respondToReleaseWhenDone(): void {
    this.ops = this.ops.then(() => this.fire({ event: 'Evt14' }));
  }

  // -------------------------------------------------------------------------------------------
  // Actions: abort (AA-1 to AA-8)

  /** AA-1 and AA-8: send A-ABORT, then (our choice, see the top) close instead of waiting. */
  private sendAbort(o: Occurrence, defaultSource: number): State {
    const { reason, source, pduReason } = this.abortCause(o, defaultSource);
    this.closeReason = reason;
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(encodeAbort({ source, reason: pduReason }));
    this.ended(reason);
    this.clearArtim();
    this.closeTransport();
    return 'Sta13';
  }

  private abortCause(o: Occurrence, defaultSource: number): { reason: string; source: number; pduReason: number } {
    if (o.event === 'Evt15') return { reason: o.reason, source: o.source, pduReason: o.pduReason };
    if (o.event === 'Evt19') return { reason: `protocol error: ${o.error.message}`, source: defaultSource, pduReason: o.error.abortReason };
    const what = PDU_OF_EVENT[o.event] ?? EVENTS[o.event];
    return { reason: `protocol error: unexpected ${what}`, source: defaultSource, pduReason: ABORT.reason.unexpectedPdu };
  }

  /** AA-2 */
  private closeConnection(o: Occurrence): State {
    if (o.event === 'Evt18') this.closeReason = this.artimReason;
    else if (o.event === 'Evt16') this.ended(abortedReason(o.abort));
    else if (o.event === 'Evt15') this.ended(o.reason);
    this.clearArtim();
    this.closeTransport();
    return 'Sta1';
  }

  /** AA-3 */
  private abortedByPeer(o: Occurrence): State {
    if (o.event !== 'Evt16') throw new Error(`AA-3 on ${o.event}`);
    this.ended(abortedReason(o.abort));
    this.closeTransport();
    return 'Sta1';
  }

  /** AA-4 and AA-5: the connection closed under us (during a release: released, see the top). */
  private connectionLost(o: Occurrence): State {
    if (o.event !== 'Evt17') throw new Error(`connection loss on ${o.event}`);
    this.ended(RELEASING.has(this.current) ? 'released' : o.reason);
    this.clearArtim();
    this.closeTransport();
    return 'Sta1';
  }

  /** AA-7 */
  private sendAbortAgain(o: Occurrence): State {
    const pduReason = o.event === 'Evt19' ? o.error.abortReason : ABORT.reason.unexpectedPdu;
    if (!this.socket.destroyed && this.socket.writable)
      this.socket.write(encodeAbort({ source: ABORT.source.serviceProvider, reason: pduReason }));
    return 'Sta13';
  }

  // -------------------------------------------------------------------------------------------
  // Transport and timers

  private send(buf: Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(buf);
  }

  /**
   * end() flushes what we queued (an A-ABORT, an RJ); destroy() right after guarantees that a
   * peer which never reads or never closes cannot keep the socket half-open.
   */
  private closeTransport(): void {
    this.socket.end();
    setImmediate(() => this.socket.destroy());
  }

  private startArtim(reason: string, ms = this.timeouts.artimMs): void {
    this.clearArtim();
    this.artimReason = reason;
    this.artimTimer = setTimeout(() => this.fire({ event: 'Evt18' }), ms);
    this.artimTimer.unref();
  }

  private clearArtim(): void {
    if (this.artimTimer) clearTimeout(this.artimTimer);
    this.artimTimer = null;
  }

  private startReplyTimer(reason: string): void {
    this.clearReplyTimer();
    this.replyTimer = setTimeout(() => this.abort(reason), this.timeouts.artimMs);
    this.replyTimer.unref();
  }

  private clearReplyTimer(): void {
    if (this.replyTimer) clearTimeout(this.replyTimer);
    this.replyTimer = null;
  }

  /** Restarts the idle timer while established (or about to be: `entering`). */
  private touch(entering: State = this.current): void {
    if (entering !== 'Sta6') return;
    // Called for every socket read and every PDU: restarting the running timer costs far less
    // than a new one each time (a 525 KB instance is ~30 of these calls).
    if (this.idleTimer) {
      this.idleTimer.refresh();
      return;
    }
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
    if (this.current === 'Sta1') return;
    this.bytesReceived += chunk.length;
    this.touch();
    let pdus: RawPdu[];
    try {
      pdus = this.reader.push(chunk);
    } catch (e) {
      this.fire({ event: 'Evt19', error: e instanceof PduError ? e : new PduError((e as Error).message, ABORT.reason.notSpecified) });
      return;
    }
    for (const pdu of pdus) {
      let occurrence: Occurrence;
      try {
        occurrence = pduEvent(pdu);
      } catch (e) {
        occurrence = { event: 'Evt19', error: e instanceof PduError ? e : new PduError((e as Error).message) };
      }
      this.fire(occurrence);
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
    this.enqueue(() => this.sendCommand(msg.contextId, respond()));
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

  private enqueue(op: () => void | Promise<void>): void {
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
    // A sink hands back the same promise for every fragment of one write batch (16 or so per
    // instance): one settlement handler per promise, counting all the bytes it covers.
    if (this.tracked?.promise === p) {
      this.tracked.bytes += n;
      return;
    }
    const entry = { promise: p, bytes: n };
    this.tracked = entry;
    p.catch(() => undefined).finally(() => {
      if (this.tracked === entry) this.tracked = null;
      this.writesInFlight -= entry.bytes;
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

  /** A response (P-DATA request, Evt9); dropped when the association ended while it was prepared. */
  private sendCommand(contextId: number, cmd: DimseCommand): void {
    if (!this.allows('Evt9')) return;
    const body = encodeCommand(cmd);
    this.fire({ event: 'Evt9', header: encodePDataHeader(contextId, true, true, body.length), data: body });
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

  /** One P-DATA-TF PDU (P-DATA request, Evt9); resolves when the socket takes more. */
  private writePdu(header: Buffer, data: Buffer): Promise<void> {
    if (!this.allows('Evt9') || this.socket.destroyed)
      return Promise.reject(new AssociationError(this.closeReason || `cannot send P-DATA in ${this.describeState()}`));
    this.fire({ event: 'Evt9', header, data });
    if (!this.socket.writableNeedDrain) return Promise.resolve();
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

function abortedReason(a: AbortPdu): CloseReason {
  return `aborted by peer (source ${a.source}, reason ${a.reason})`;
}

/** "::ffff:127.0.0.1" is how Node reports IPv4 peers on a dual-stack socket. */
export function normalizeAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

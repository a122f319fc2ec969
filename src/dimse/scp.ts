// The acceptor: a TCP server that turns connections into associations, applies the association
// policy it is given, negotiates presentation contexts and dispatches DIMSE messages. It knows
// nothing of files or databases: C-STORE data sets go to the sink that `onStore` returns.

import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter } from 'node:events';
import {
  Association,
  AssociationLimits,
  AssociationTimeouts,
  CloseReason,
  DataSetSink,
  NegotiatedContext,
  normalizeAddress,
} from './association';
import { PendingConnections, PendingLimits } from './pending-connections';
import { verifiedPeerNames } from './tls';
import { AcceptedContext, AssociateRQ, PC_RESULT, REJECT, AssociateRJ, RoleSelection } from './pdu';
import { COMMAND_FIELD, DimseCommand, NO_DATA_SET, STATUS } from './command';
import { APPLICATION_CONTEXT, VERIFICATION_SOP_CLASS, chooseTransferSyntax } from './uids';

export interface StoreRequest {
  association: Association;
  context: NegotiatedContext;
  messageId: number;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  priority: number;
  moveOriginatorAeTitle?: string;
}

/** How an association reached us: what a caller policy may require of it. */
export interface Transport {
  /** 'tls': over the DICOM TLS listener; 'plain': over plain TCP. */
  readonly kind: 'plain' | 'tls';
  /**
   * Subject CN and subjectAltName values of the client certificate, when one was presented and
   * verified against the trusted CAs; empty otherwise.
   */
  readonly certificateNames: readonly string[];
}

export type AssociationDecision = { accept: true } | { accept: false; rejection: AssociateRJ; why: string };

export interface ScpOptions {
  aeTitle: string;
  implementationClassUid: string;
  implementationVersionName: string;
  limits: AssociationLimits;
  timeouts: AssociationTimeouts;
  maxAssociations: number;
  /** Connections not associated yet: no A-ASSOCIATE-RQ, or rejected and not closed (separate from maxAssociations). */
  pending: PendingLimits;
  /** Transfer syntaxes accepted for an abstract syntax, best first; null = not supported. */
  transferSyntaxesFor(abstractSyntax: string): readonly string[] | null;
  /** Caller policy (beyond the called AE title and the association limit, checked here). */
  decide(rq: AssociateRQ, remoteAddress: string, transport: Transport): AssociationDecision;
  /** Opens the sink for one incoming C-STORE. */
  onStore(req: StoreRequest): DataSetSink;
}

/** One C-STORE answered (success or not), for metrics and audit. */
export interface StoreResultEvent {
  association: Association;
  sopClassUid: string;
  status: number;
  /** From the command to the response, including the durable write. */
  ms: number;
}

export interface RejectionEvent {
  callingAeTitle: string;
  calledAeTitle: string;
  remoteAddress: string;
  why: string;
  rejection: AssociateRJ;
}

/** A TLS handshake that failed (no or a bad client certificate, wrong protocol...). */
export interface TlsRefusedEvent {
  remoteAddress: string;
  why: string;
}

/** A connection closed at once: too many connections were not associated yet. */
export interface ConnectionRefusedEvent {
  remoteAddress: string;
  why: string;
}

/** A listener reported an error after it started (EMFILE on accept...); it keeps listening. */
export interface ListenerErrorEvent {
  listener: 'dicom' | 'dicom-tls';
  error: NodeJS.ErrnoException;
}

/** The events a StorageScp emits, with their listeners' arguments. */
export interface ScpEvents {
  /** An association was accepted; `contexts` are the answers to every proposed presentation context. */
  association: [association: Association, contexts: AcceptedContext[]];
  /** An accepted association ended ('released' when it was released normally). */
  'association-closed': [association: Association, reason: CloseReason];
  rejected: [rejection: RejectionEvent];
  /** A connection that never became an association ended (protocol errors, timeouts). */
  aborted: [association: Association, reason: CloseReason];
  'store-result': [result: StoreResultEvent];
  'tls-refused': [refusal: TlsRefusedEvent];
  /** Emitted for every connection refused (observers decide how often to log). */
  'connection-refused': [refusal: ConnectionRefusedEvent];
  'listener-error': [event: ListenerErrorEvent];
}

export class StorageScp extends EventEmitter<ScpEvents> {
  private servers: net.Server[] = [];
  private readonly active = new Set<Association>();
  private readonly sockets = new Set<net.Socket>();
  private readonly pending: PendingConnections;

  constructor(private readonly opts: ScpOptions) {
    super();
    this.pending = new PendingConnections(opts.pending);
  }

  /** The servers listening now (plain and TLS), for monitoring and tests. */
  get listeningServers(): readonly net.Server[] {
    return this.servers;
  }

  /** Connections not associated yet (TLS handshake, A-ASSOCIATE-RQ awaited, or rejected and not closed) now. */
  get pendingConnections(): number {
    return this.pending.count;
  }

  get activeAssociations(): number {
    return this.active.size;
  }

  listen(port: number, host: string): Promise<net.AddressInfo> {
    const server = net.createServer((socket) => {
      if (this.admit(socket)) this.onConnection(socket, () => ({ kind: 'plain', certificateNames: [] }));
    });
    return this.serve(server, 'dicom', port, host);
  }

  /**
   * DICOM TLS (PS3.15 B.1) on a port of its own. The association starts once the TLS handshake
   * succeeded; a caller without a valid certificate (when one is required) never gets that far.
   */
  listenTls(port: number, host: string, options: tls.TlsOptions): Promise<net.AddressInfo> {
    const server = tls.createServer(options, (socket) =>
      this.onConnection(socket, () => ({ kind: 'tls', certificateNames: verifiedPeerNames(socket) })),
    );
    server.on('tlsClientError', (err, socket) => {
      this.emit('tls-refused', { remoteAddress: normalizeAddress(socket.remoteAddress ?? ''), why: err.message } satisfies TlsRefusedEvent);
      socket.destroy();
    });
    // A connection over the pending limits must cost no TLS handshake: the TLS server's own
    // 'connection' listener (which starts the handshake) only sees the connections admitted.
    const startTls = server.listeners('connection');
    server.removeAllListeners('connection');
    server.on('connection', (socket: net.Socket) => {
      if (this.admit(socket)) for (const l of startTls) l.call(server, socket);
    });
    return this.serve(server, 'dicom-tls', port, host);
  }

  /** Counts a new connection as pending, or closes it at once when over a pending limit. */
  private admit(socket: net.Socket): boolean {
    const admission = this.pending.admit(socket);
    if (admission.admitted) return true;
    const remoteAddress = normalizeAddress(socket.remoteAddress ?? '');
    socket.destroy();
    this.emit('connection-refused', { remoteAddress, why: admission.why } satisfies ConnectionRefusedEvent);
    return false;
  }

  private serve(server: net.Server, listener: ListenerErrorEvent['listener'], port: number, host: string): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      // A few more sockets than associations, so that a caller over the limit still gets a
      // proper A-ASSOCIATE-RJ "local limit exceeded" instead of a refused connection; the
      // pending ones have their own, lower limits.
      server.maxConnections = this.opts.maxAssociations * 2 + 8 + this.opts.pending.maxPending;
      server.once('error', reject);
      server.listen({ port, host, exclusive: true }, () => {
        server.off('error', reject);
        // After listen(), errors are about one connection (EMFILE/ENFILE on accept): an 'error'
        // event without a listener would end the process. The server keeps listening.
        server.on('error', (error: NodeJS.ErrnoException) => this.emit('listener-error', { listener, error }));
        this.servers.push(server);
        resolve(server.address() as net.AddressInfo);
      });
    });
  }

  /** Stops accepting; aborts associations still open after `graceMs`. */
  async close(graceMs = 0): Promise<void> {
    const servers = this.servers;
    this.servers = [];
    await Promise.all(servers.map((server) => new Promise<void>((r) => server.close(() => r()))));
    if (graceMs > 0 && this.active.size > 0) {
      const deadline = Date.now() + graceMs;
      while (this.active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    }
    for (const a of this.active) a.abort('server shutting down');
    for (const s of this.sockets) s.destroy();
  }

  private onConnection(socket: net.Socket, transport: () => Transport): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    const assoc = new Association(socket, 'acceptor', this.opts.limits, this.opts.timeouts);
    assoc.on('associate-rq', (rq) => this.onAssociateRq(assoc, rq, transport()));
    assoc.on('closed', (reason) => {
      if (this.active.delete(assoc)) this.emit('association-closed', assoc, reason);
      else if (!reason.startsWith('association rejected')) this.emit('aborted', assoc, reason);
    });
  }

  private onAssociateRq(assoc: Association, rq: AssociateRQ, transport: Transport): void {
    const rejectWith = (rejection: AssociateRJ, why: string) => {
      this.emit('rejected', {
        callingAeTitle: rq.callingAeTitle,
        calledAeTitle: rq.calledAeTitle,
        remoteAddress: assoc.remoteAddress,
        why,
        rejection,
      } satisfies RejectionEvent);
      assoc.reject(rejection);
    };
    const permanentUser = (reason: number): AssociateRJ => ({ result: REJECT.result.permanent, source: REJECT.source.serviceUser, reason });

    if (rq.applicationContext !== APPLICATION_CONTEXT) {
      return rejectWith(
        permanentUser(REJECT.reason.user.applicationContextNotSupported),
        `application context ${rq.applicationContext} is not DICOM's`,
      );
    }
    if ((rq.protocolVersion & 1) === 0) {
      return rejectWith(
        {
          result: REJECT.result.permanent,
          source: REJECT.source.serviceProviderAcse,
          reason: REJECT.reason.acse.protocolVersionNotSupported,
        },
        `protocol version ${rq.protocolVersion} not supported`,
      );
    }
    if (rq.calledAeTitle !== this.opts.aeTitle) {
      return rejectWith(
        permanentUser(REJECT.reason.user.calledAeNotRecognized),
        `called AE title "${rq.calledAeTitle}" is not ours ("${this.opts.aeTitle}")`,
      );
    }
    const decision = this.opts.decide(rq, assoc.remoteAddress, transport);
    if (!decision.accept) return rejectWith(decision.rejection, decision.why);
    if (this.active.size >= this.opts.maxAssociations) {
      return rejectWith(
        {
          result: REJECT.result.transient,
          source: REJECT.source.serviceProviderPresentation,
          reason: REJECT.reason.presentation.localLimitExceeded,
        },
        `local limit exceeded: ${this.active.size} associations already open (maxAssociations ${this.opts.maxAssociations})`,
      );
    }

    const contexts = rq.presentationContexts.map((pc) => this.negotiate(pc.abstractSyntax, pc.transferSyntaxes, pc.id));
    // Pending until accepted: a rejected peer that keeps its connection open (ARTIM) still counts.
    this.pending.associated(assoc.socket);
    this.active.add(assoc);
    assoc.setHandler({ onCommand: (a, cmd, ctx) => this.onCommand(a, cmd, ctx) });
    assoc.accept(
      {
        protocolVersion: 1,
        calledAeTitle: rq.calledAeTitle,
        callingAeTitle: rq.callingAeTitle,
        applicationContext: APPLICATION_CONTEXT,
        presentationContexts: contexts,
        userInformation: {
          maxPduLength: this.opts.limits.maxPduLength,
          implementationClassUid: this.opts.implementationClassUid,
          implementationVersionName: this.opts.implementationVersionName,
          // We perform one operation at a time; say so when asked (PS3.7 D.3.3.3).
          asyncOpsWindow: rq.userInformation.asyncOpsWindow ? { invoked: 1, performed: 1 } : undefined,
          // We act as SCP for storage and verification and never take the SCP role for the
          // caller's SOP classes in reverse (no C-GET sub-operations): answer each proposal.
          roleSelections: rq.userInformation.roleSelections.map((r): RoleSelection => ({
            sopClassUid: r.sopClassUid,
            scuRole: r.scuRole,
            scpRole: false,
          })),
          otherItems: [],
        },
      },
      rq,
    );
    this.emit('association', assoc, contexts);
  }

  private negotiate(abstractSyntax: string, proposed: string[], id: number): AcceptedContext {
    const accepted = this.opts.transferSyntaxesFor(abstractSyntax);
    if (!accepted) return { id, result: PC_RESULT.abstractSyntaxNotSupported, transferSyntax: '' };
    const ts = chooseTransferSyntax(proposed, accepted);
    if (!ts) return { id, result: PC_RESULT.transferSyntaxesNotSupported, transferSyntax: '' };
    return { id, result: PC_RESULT.acceptance, transferSyntax: ts };
  }

  private onCommand(assoc: Association, cmd: DimseCommand, ctx: NegotiatedContext) {
    const response = (commandField: number, status: number, extra: Partial<DimseCommand> = {}): DimseCommand => ({
      commandField,
      messageIdBeingRespondedTo: cmd.messageId ?? 0,
      affectedSopClassUid: cmd.affectedSopClassUid ?? ctx.abstractSyntax,
      commandDataSetType: NO_DATA_SET,
      status,
      ...extra,
    });

    if (cmd.commandField === COMMAND_FIELD.C_ECHO_RQ) {
      return { respond: () => response(COMMAND_FIELD.C_ECHO_RSP, STATUS.Success) };
    }
    if (cmd.commandField === COMMAND_FIELD.C_STORE_RQ && ctx.abstractSyntax !== VERIFICATION_SOP_CLASS) {
      const sopClassUid = cmd.affectedSopClassUid ?? ctx.abstractSyntax;
      const sopInstanceUid = cmd.affectedSopInstanceUid ?? '';
      const rsp = (r?: { status: number; errorComment?: string }) =>
        response(COMMAND_FIELD.C_STORE_RSP, r?.status ?? STATUS.ProcessingFailure, {
          affectedSopInstanceUid: sopInstanceUid || undefined,
          errorComment: r?.errorComment,
        });
      // Non-conformant UIDs (hashes from anonymisers...) are still stored; empty or control
      // characters cannot identify anything.
      if (sopClassUid !== ctx.abstractSyntax || !/^[\x20-\x7e]{1,64}$/.test(sopInstanceUid)) {
        // The data set still arrives; swallow it and answer with a failure instead of storing
        // something filed under the wrong class or an unusable UID.
        const why =
          sopClassUid !== ctx.abstractSyntax
            ? 'Affected SOP Class UID differs from the presentation context'
            : 'Affected SOP Instance UID missing or invalid';
        return { sink: discardingSink(STATUS.CannotUnderstand, why), respond: rsp };
      }
      const sink = this.opts.onStore({
        association: assoc,
        context: ctx,
        messageId: cmd.messageId ?? 0,
        sopClassUid,
        sopInstanceUid,
        transferSyntaxUid: ctx.transferSyntax,
        priority: cmd.priority ?? 0,
        moveOriginatorAeTitle: cmd.moveOriginatorAeTitle,
      });
      const started = Date.now();
      return {
        sink,
        respond: (r?: { status: number; errorComment?: string }) => {
          this.emit('store-result', {
            association: assoc,
            sopClassUid,
            status: r?.status ?? STATUS.ProcessingFailure,
            ms: Date.now() - started,
          } satisfies StoreResultEvent);
          return rsp(r);
        },
      };
    }
    // Anything else (C-FIND, C-MOVE, ... on a context we accepted for storage): we do not provide
    // it. Answer "unrecognized operation" and discard a data set if one follows.
    return {
      sink: discardingSink(STATUS.UnrecognizedOperation, 'operation not supported'),
      respond: (r?: { status: number; errorComment?: string }) =>
        response((cmd.commandField | 0x8000) & 0xffff, STATUS.UnrecognizedOperation, { errorComment: r?.errorComment }),
    };
  }
}

/** Takes a data set and throws it away, then answers with the given status. */
export function discardingSink(status: number, errorComment: string): DataSetSink {
  return {
    write: () => Promise.resolve(),
    end: () => Promise.resolve({ status, errorComment }),
    abort: () => Promise.resolve(),
  };
}

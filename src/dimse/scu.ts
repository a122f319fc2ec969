// The requestor: opens an association, sends C-ECHO and C-STORE (a Part 10 file's data set bytes
// exactly as stored, streamed from disk in PDU-sized pieces), and releases. Many instances go over
// one association; nothing is parsed beyond the file meta information.

import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import { Association, AssociationLimits, AssociationTimeouts, NegotiatedContext } from './association';
import { AssociateAC, PC_RESULT, encodeAssociateRQ } from './pdu';
import { COMMAND_FIELD, DimseCommand, NO_DATA_SET } from './command';
import { APPLICATION_CONTEXT, TS, VERIFICATION_SOP_CLASS } from './uids';

export interface ScuOptions {
  host: string;
  port: number;
  callingAeTitle: string;
  calledAeTitle: string;
  /** Abstract syntax → transfer syntaxes we propose for it (one presentation context each). */
  contexts: { abstractSyntax: string; transferSyntaxes: string[] }[];
  implementationClassUid: string;
  implementationVersionName: string;
  limits: AssociationLimits;
  timeouts: AssociationTimeouts;
  connectTimeoutMs?: number;
  /** DICOM TLS: connect with these options (see tls.ts), or plain TCP when absent. */
  tls?: tls.ConnectionOptions;
  /** Local address to connect from (a host with several addresses; the peer may filter by it). */
  localAddress?: string;
}

export interface StoreFileInput {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  file: string;
  /** Where the data set starts in the file (after preamble and file meta information). */
  dataSetOffset: number;
}

export class ScuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScuError';
  }
}

export class ScuAssociation {
  private nextMessageId = 1;

  private constructor(
    readonly assoc: Association,
    readonly accepted: NegotiatedContext[],
    readonly ac: AssociateAC,
  ) {}

  static async open(o: ScuOptions): Promise<ScuAssociation> {
    if (o.contexts.length === 0 || o.contexts.length > 128)
      throw new ScuError(`between 1 and 128 presentation contexts can be proposed, not ${o.contexts.length}`);
    const socket = await connect(o.host, o.port, o.connectTimeoutMs ?? 10_000, o.tls, o.localAddress);
    const assoc = new Association(socket, 'requestor', o.limits, o.timeouts);
    const proposed = o.contexts.map((c, i) => ({ id: 2 * i + 1, abstractSyntax: c.abstractSyntax, transferSyntaxes: c.transferSyntaxes }));
    const rq = encodeAssociateRQ({
      protocolVersion: 1,
      calledAeTitle: o.calledAeTitle,
      callingAeTitle: o.callingAeTitle,
      applicationContext: APPLICATION_CONTEXT,
      presentationContexts: proposed,
      userInformation: {
        maxPduLength: o.limits.maxPduLength,
        implementationClassUid: o.implementationClassUid,
        implementationVersionName: o.implementationVersionName,
        roleSelections: [],
        otherItems: [],
      },
    });
    const ac = await assoc.request(rq);
    const accepted: NegotiatedContext[] = [];
    for (const pc of ac.presentationContexts) {
      const p = proposed.find((x) => x.id === pc.id);
      if (p && pc.result === PC_RESULT.acceptance)
        accepted.push({ id: pc.id, abstractSyntax: p.abstractSyntax, transferSyntax: pc.transferSyntax });
    }
    assoc.setContexts(accepted);
    return new ScuAssociation(assoc, accepted, ac);
  }

  /** The accepted context for a SOP class in exactly this transfer syntax, if any. */
  contextFor(sopClassUid: string, transferSyntaxUid: string): NegotiatedContext | undefined {
    return this.accepted.find((c) => c.abstractSyntax === sopClassUid && c.transferSyntax === transferSyntaxUid);
  }

  async echo(): Promise<DimseCommand> {
    const ctx = this.accepted.find((c) => c.abstractSyntax === VERIFICATION_SOP_CLASS);
    if (!ctx) throw new ScuError('the peer did not accept the Verification SOP Class');
    const messageId = this.takeMessageId();
    return this.assoc.sendRequest(ctx.id, {
      commandField: COMMAND_FIELD.C_ECHO_RQ,
      messageId,
      affectedSopClassUid: VERIFICATION_SOP_CLASS,
      commandDataSetType: NO_DATA_SET,
    });
  }

  /** Sends a stored file's data set as it is on disk; resolves with the C-STORE-RSP. */
  async storeFile(f: StoreFileInput, priority = 0): Promise<DimseCommand> {
    const ctx = this.contextFor(f.sopClassUid, f.transferSyntaxUid);
    if (!ctx) {
      throw new ScuError(
        `the peer accepted no presentation context for SOP class ${f.sopClassUid} in transfer syntax ${f.transferSyntaxUid}`,
      );
    }
    const messageId = this.takeMessageId();
    const stream = fs.createReadStream(f.file, { start: f.dataSetOffset, highWaterMark: 256 * 1024 });
    const size = (await fs.promises.stat(f.file)).size - f.dataSetOffset;
    // PS3.5 A.5: a deflated bit stream is padded with one trailing NUL to even length. Files
    // written without it exist (pydicom's image_dfl.dcm); DCMTK-based receivers abort on the odd
    // PDV, and the extra byte after the end of the deflate stream changes nothing inflated.
    const pad = size % 2 === 1 && f.transferSyntaxUid === TS.DeflatedExplicitVRLittleEndian;
    const source = pad ? withTrailingNul(stream) : (stream as AsyncIterable<Buffer>);
    try {
      return await this.assoc.sendRequest(
        ctx.id,
        {
          commandField: COMMAND_FIELD.C_STORE_RQ,
          messageId,
          affectedSopClassUid: f.sopClassUid,
          affectedSopInstanceUid: f.sopInstanceUid,
          priority,
          commandDataSetType: 0x0000,
        },
        source,
      );
    } finally {
      stream.destroy();
    }
  }

  release(): Promise<void> {
    return this.assoc.release();
  }

  abort(reason = 'aborted by user'): void {
    this.assoc.abort(reason, 0, 0);
  }

  private takeMessageId(): number {
    const id = this.nextMessageId;
    this.nextMessageId = (this.nextMessageId % 0xffff) + 1;
    return id;
  }
}

async function* withTrailingNul(source: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  for await (const chunk of source) yield chunk;
  yield Buffer.from([0]);
}

function connect(
  host: string,
  port: number,
  timeoutMs: number,
  tlsOptions?: tls.ConnectionOptions,
  localAddress?: string,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    // With TLS the association starts only after the handshake (and certificate check) succeeded.
    const where: net.TcpNetConnectOpts = { host, port, localAddress };
    const socket = tlsOptions ? tls.connect({ ...tlsOptions, ...where }) : net.connect(where);
    const ready = tlsOptions ? 'secureConnect' : 'connect';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ScuError(`could not connect to ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (e: Error) => {
      clearTimeout(timer);
      reject(new ScuError(`could not connect to ${host}:${port}${tlsOptions ? ' over TLS' : ''}: ${e.message}`));
    });
  });
}

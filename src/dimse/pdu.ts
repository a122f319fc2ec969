// PDU codec of the DICOM Upper Layer protocol (PS3.8 section 9.3). Pure functions over Buffers:
// no sockets, no state. Decoders throw PduError on anything structurally wrong so that the
// association can abort with the right reason instead of guessing.

export const PDU_TYPE = {
  AssociateRQ: 0x01,
  AssociateAC: 0x02,
  AssociateRJ: 0x03,
  PData: 0x04,
  ReleaseRQ: 0x05,
  ReleaseRP: 0x06,
  Abort: 0x07,
} as const;

export type PduType = (typeof PDU_TYPE)[keyof typeof PDU_TYPE];

export function isPduType(type: number): type is PduType {
  return type >= PDU_TYPE.AssociateRQ && type <= PDU_TYPE.Abort;
}

/** The standard's names of the PDUs, for messages. */
export const PDU_NAME: Record<PduType, string> = {
  [PDU_TYPE.AssociateRQ]: 'A-ASSOCIATE-RQ',
  [PDU_TYPE.AssociateAC]: 'A-ASSOCIATE-AC',
  [PDU_TYPE.AssociateRJ]: 'A-ASSOCIATE-RJ',
  [PDU_TYPE.PData]: 'P-DATA-TF',
  [PDU_TYPE.ReleaseRQ]: 'A-RELEASE-RQ',
  [PDU_TYPE.ReleaseRP]: 'A-RELEASE-RP',
  [PDU_TYPE.Abort]: 'A-ABORT',
};

/** Variable items of the A-ASSOCIATE PDUs and the sub-items of user information (PS3.8 9.3.2-9.3.3, Annex D; PS3.7 D.3.3). */
export const ITEM_TYPE = {
  ApplicationContext: 0x10,
  PresentationContextRQ: 0x20,
  PresentationContextAC: 0x21,
  AbstractSyntax: 0x30,
  TransferSyntax: 0x40,
  UserInformation: 0x50,
  MaximumLength: 0x51,
  ImplementationClassUid: 0x52,
  AsyncOperationsWindow: 0x53,
  RoleSelection: 0x54,
  ImplementationVersionName: 0x55,
  SopClassExtendedNegotiation: 0x56,
  SopClassCommonExtendedNegotiation: 0x57,
  UserIdentityRQ: 0x58,
  UserIdentityAC: 0x59,
} as const;

export const PDU_HEADER_LENGTH = 6;

/** A-ASSOCIATE-RJ result / source / reason values (PS3.8 Table 9-21). */
export const REJECT = {
  result: { permanent: 1, transient: 2 },
  source: { serviceUser: 1, serviceProviderAcse: 2, serviceProviderPresentation: 3 },
  reason: {
    user: { noReasonGiven: 1, applicationContextNotSupported: 2, callingAeNotRecognized: 3, calledAeNotRecognized: 7 },
    acse: { noReasonGiven: 1, protocolVersionNotSupported: 2 },
    presentation: { temporaryCongestion: 1, localLimitExceeded: 2 },
  },
} as const;

/** A-ABORT source and reason values (PS3.8 Table 9-26). */
export const ABORT = {
  source: { serviceUser: 0, serviceProvider: 2 },
  reason: {
    notSpecified: 0,
    unrecognizedPdu: 1,
    unexpectedPdu: 2,
    unrecognizedPduParameter: 4,
    unexpectedPduParameter: 5,
    invalidPduParameterValue: 6,
  },
} as const;

/** Presentation context result values in A-ASSOCIATE-AC (PS3.8 Table 9-18). */
export const PC_RESULT = {
  acceptance: 0,
  userRejection: 1,
  noReason: 2,
  abstractSyntaxNotSupported: 3,
  transferSyntaxesNotSupported: 4,
} as const;

export class PduError extends Error {
  constructor(
    message: string,
    readonly abortReason: number = ABORT.reason.invalidPduParameterValue,
  ) {
    super(message);
    this.name = 'PduError';
  }
}

export interface RoleSelection {
  sopClassUid: string;
  scuRole: boolean;
  scpRole: boolean;
}

export interface UserInformation {
  maxPduLength: number; // 0 = unlimited (PS3.8 D.1)
  implementationClassUid?: string;
  implementationVersionName?: string;
  asyncOpsWindow?: { invoked: number; performed: number };
  roleSelections: RoleSelection[];
  /** Sub-items we carry but do not interpret (user identity, extended negotiation...). */
  otherItems: { type: number; data: Buffer }[];
}

export interface ProposedContext {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

export interface AssociateRQ {
  protocolVersion: number;
  calledAeTitle: string;
  callingAeTitle: string;
  applicationContext: string;
  presentationContexts: ProposedContext[];
  userInformation: UserInformation;
}

export interface AcceptedContext {
  id: number;
  result: number;
  transferSyntax: string; // empty when not accepted
}

export interface AssociateAC {
  protocolVersion: number;
  calledAeTitle: string;
  callingAeTitle: string;
  applicationContext: string;
  presentationContexts: AcceptedContext[];
  userInformation: UserInformation;
}

export interface AssociateRJ {
  result: number;
  source: number;
  reason: number;
}

export interface AbortPdu {
  source: number;
  reason: number;
}

export interface Pdv {
  contextId: number;
  isCommand: boolean;
  isLast: boolean;
  data: Buffer;
}

// ---------------------------------------------------------------------------------------------
// Encoding

function header(type: number, bodyLength: number): Buffer {
  const h = Buffer.alloc(PDU_HEADER_LENGTH);
  h.writeUInt8(type, 0);
  h.writeUInt32BE(bodyLength, 2);
  return h;
}

function item(type: number, data: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt8(type, 0);
  h.writeUInt16BE(data.length, 2);
  return Buffer.concat([h, data]);
}

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

/** AE titles travel as 16 bytes, space padded (PS3.8 9.3.2). */
function aeField(ae: string): Buffer {
  const b = Buffer.alloc(16, 0x20);
  b.write(ae.slice(0, 16), 0, 'latin1');
  return b;
}

function encodeUserInformation(ui: UserInformation): Buffer {
  const subs: Buffer[] = [];
  const max = Buffer.alloc(4);
  max.writeUInt32BE(ui.maxPduLength >>> 0, 0);
  subs.push(item(ITEM_TYPE.MaximumLength, max));
  if (ui.implementationClassUid) subs.push(item(ITEM_TYPE.ImplementationClassUid, ascii(ui.implementationClassUid)));
  if (ui.asyncOpsWindow) {
    const w = Buffer.alloc(4);
    w.writeUInt16BE(ui.asyncOpsWindow.invoked, 0);
    w.writeUInt16BE(ui.asyncOpsWindow.performed, 2);
    subs.push(item(ITEM_TYPE.AsyncOperationsWindow, w));
  }
  for (const r of ui.roleSelections) {
    const uid = ascii(r.sopClassUid);
    const b = Buffer.alloc(2 + uid.length + 2);
    b.writeUInt16BE(uid.length, 0);
    uid.copy(b, 2);
    b.writeUInt8(r.scuRole ? 1 : 0, 2 + uid.length);
    b.writeUInt8(r.scpRole ? 1 : 0, 3 + uid.length);
    subs.push(item(ITEM_TYPE.RoleSelection, b));
  }
  if (ui.implementationVersionName) subs.push(item(ITEM_TYPE.ImplementationVersionName, ascii(ui.implementationVersionName.slice(0, 16))));
  return item(ITEM_TYPE.UserInformation, Buffer.concat(subs));
}

function associateFixed(protocolVersion: number, called: string, calling: string): Buffer {
  const b = Buffer.alloc(68);
  b.writeUInt16BE(protocolVersion, 0);
  aeField(called).copy(b, 4);
  aeField(calling).copy(b, 20);
  return b;
}

export function encodeAssociateRQ(rq: AssociateRQ): Buffer {
  const parts: Buffer[] = [associateFixed(rq.protocolVersion, rq.calledAeTitle, rq.callingAeTitle)];
  parts.push(item(ITEM_TYPE.ApplicationContext, ascii(rq.applicationContext)));
  for (const pc of rq.presentationContexts) {
    const fixed = Buffer.from([pc.id, 0, 0, 0]);
    const subs = [
      item(ITEM_TYPE.AbstractSyntax, ascii(pc.abstractSyntax)),
      ...pc.transferSyntaxes.map((ts) => item(ITEM_TYPE.TransferSyntax, ascii(ts))),
    ];
    parts.push(item(ITEM_TYPE.PresentationContextRQ, Buffer.concat([fixed, ...subs])));
  }
  parts.push(encodeUserInformation(rq.userInformation));
  const body = Buffer.concat(parts);
  return Buffer.concat([header(PDU_TYPE.AssociateRQ, body.length), body]);
}

export function encodeAssociateAC(ac: AssociateAC): Buffer {
  const parts: Buffer[] = [associateFixed(ac.protocolVersion, ac.calledAeTitle, ac.callingAeTitle)];
  parts.push(item(ITEM_TYPE.ApplicationContext, ascii(ac.applicationContext)));
  for (const pc of ac.presentationContexts) {
    const fixed = Buffer.from([pc.id, 0, pc.result, 0]);
    // PS3.8 9.3.3.2: the transfer syntax sub-item is always present; its value is not
    // significant when the context is rejected, so an empty one is sent.
    parts.push(item(ITEM_TYPE.PresentationContextAC, Buffer.concat([fixed, item(ITEM_TYPE.TransferSyntax, ascii(pc.transferSyntax))])));
  }
  parts.push(encodeUserInformation(ac.userInformation));
  const body = Buffer.concat(parts);
  return Buffer.concat([header(PDU_TYPE.AssociateAC, body.length), body]);
}

export function encodeAssociateRJ(rj: AssociateRJ): Buffer {
  return Buffer.concat([header(PDU_TYPE.AssociateRJ, 4), Buffer.from([0, rj.result, rj.source, rj.reason])]);
}

export function encodeReleaseRQ(): Buffer {
  return Buffer.concat([header(PDU_TYPE.ReleaseRQ, 4), Buffer.alloc(4)]);
}

export function encodeReleaseRP(): Buffer {
  return Buffer.concat([header(PDU_TYPE.ReleaseRP, 4), Buffer.alloc(4)]);
}

export function encodeAbort(a: AbortPdu): Buffer {
  return Buffer.concat([header(PDU_TYPE.Abort, 4), Buffer.from([0, 0, a.source, a.reason])]);
}

/**
 * Header of a P-DATA-TF PDU holding exactly one PDV of `dataLength` bytes. Returned separately
 * from the data so that callers can write a file chunk without copying it into a new Buffer.
 */
export function encodePDataHeader(contextId: number, isCommand: boolean, isLast: boolean, dataLength: number): Buffer {
  const b = Buffer.alloc(PDU_HEADER_LENGTH + 6);
  b.writeUInt8(PDU_TYPE.PData, 0);
  b.writeUInt32BE(dataLength + 6, 2);
  b.writeUInt32BE(dataLength + 2, 6);
  b.writeUInt8(contextId, 10);
  b.writeUInt8((isCommand ? 1 : 0) | (isLast ? 2 : 0), 11);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Decoding (bodies: the bytes after the 6-byte PDU header)

interface RawItem {
  type: number;
  data: Buffer;
}

function readItems(buf: Buffer, start: number, what: string): RawItem[] {
  const items: RawItem[] = [];
  let p = start;
  while (p < buf.length) {
    if (p + 4 > buf.length) throw new PduError(`${what}: item header truncated at offset ${p}`);
    const type = buf.readUInt8(p);
    const len = buf.readUInt16BE(p + 2);
    if (p + 4 + len > buf.length) throw new PduError(`${what}: item 0x${type.toString(16)} length ${len} runs past the PDU`);
    items.push({ type, data: buf.subarray(p + 4, p + 4 + len) });
    p += 4 + len;
  }
  return items;
}

/** UIDs are sometimes NUL or space padded by senders; neither is part of the UID. */
function uidText(b: Buffer): string {
  return b.toString('latin1').replace(/[\0 ]+$/, '');
}

function aeText(b: Buffer): string {
  return b.toString('latin1').replace(/\0/g, ' ').trim();
}

function decodeUserInformation(data: Buffer): UserInformation {
  const ui: UserInformation = { maxPduLength: 0, roleSelections: [], otherItems: [] };
  for (const sub of readItems(data, 0, 'user information')) {
    switch (sub.type) {
      case ITEM_TYPE.MaximumLength:
        if (sub.data.length !== 4) throw new PduError('maximum length sub-item must be 4 bytes');
        ui.maxPduLength = sub.data.readUInt32BE(0);
        break;
      case ITEM_TYPE.ImplementationClassUid:
        ui.implementationClassUid = uidText(sub.data);
        break;
      case ITEM_TYPE.AsyncOperationsWindow:
        if (sub.data.length !== 4) throw new PduError('asynchronous operations window sub-item must be 4 bytes');
        ui.asyncOpsWindow = { invoked: sub.data.readUInt16BE(0), performed: sub.data.readUInt16BE(2) };
        break;
      case ITEM_TYPE.RoleSelection: {
        if (sub.data.length < 4) throw new PduError('role selection sub-item truncated');
        const n = sub.data.readUInt16BE(0);
        if (2 + n + 2 > sub.data.length) throw new PduError('role selection UID length runs past the sub-item');
        ui.roleSelections.push({
          sopClassUid: uidText(sub.data.subarray(2, 2 + n)),
          scuRole: sub.data.readUInt8(2 + n) === 1,
          scpRole: sub.data.readUInt8(3 + n) === 1,
        });
        break;
      }
      case ITEM_TYPE.ImplementationVersionName:
        ui.implementationVersionName = aeText(sub.data);
        break;
      default:
        ui.otherItems.push({ type: sub.type, data: Buffer.from(sub.data) });
    }
  }
  return ui;
}

function decodeAssociateCommon(body: Buffer, what: string) {
  if (body.length < 68) throw new PduError(`${what} shorter than its fixed fields`);
  return {
    protocolVersion: body.readUInt16BE(0),
    calledAeTitle: aeText(body.subarray(4, 20)),
    callingAeTitle: aeText(body.subarray(20, 36)),
    items: readItems(body, 68, what),
  };
}

export function decodeAssociateRQ(body: Buffer): AssociateRQ {
  const c = decodeAssociateCommon(body, 'A-ASSOCIATE-RQ');
  let applicationContext = '';
  const presentationContexts: ProposedContext[] = [];
  let userInformation: UserInformation | undefined;
  for (const it of c.items) {
    if (it.type === ITEM_TYPE.ApplicationContext) applicationContext = uidText(it.data);
    else if (it.type === ITEM_TYPE.PresentationContextRQ) {
      if (it.data.length < 4) throw new PduError('presentation context item truncated');
      const pc: ProposedContext = { id: it.data.readUInt8(0), abstractSyntax: '', transferSyntaxes: [] };
      for (const sub of readItems(it.data, 4, 'presentation context')) {
        if (sub.type === ITEM_TYPE.AbstractSyntax) pc.abstractSyntax = uidText(sub.data);
        else if (sub.type === ITEM_TYPE.TransferSyntax) pc.transferSyntaxes.push(uidText(sub.data));
      }
      presentationContexts.push(pc);
    } else if (it.type === ITEM_TYPE.UserInformation) userInformation = decodeUserInformation(it.data);
  }
  if (!applicationContext) throw new PduError('A-ASSOCIATE-RQ has no application context item');
  if (!userInformation) throw new PduError('A-ASSOCIATE-RQ has no user information item');
  return { ...stripItems(c), applicationContext, presentationContexts, userInformation };
}

export function decodeAssociateAC(body: Buffer): AssociateAC {
  const c = decodeAssociateCommon(body, 'A-ASSOCIATE-AC');
  let applicationContext = '';
  const presentationContexts: AcceptedContext[] = [];
  let userInformation: UserInformation = { maxPduLength: 0, roleSelections: [], otherItems: [] };
  for (const it of c.items) {
    if (it.type === ITEM_TYPE.ApplicationContext) applicationContext = uidText(it.data);
    else if (it.type === ITEM_TYPE.PresentationContextAC) {
      if (it.data.length < 4) throw new PduError('presentation context item truncated');
      let transferSyntax = '';
      for (const sub of readItems(it.data, 4, 'presentation context'))
        if (sub.type === ITEM_TYPE.TransferSyntax) transferSyntax = uidText(sub.data);
      presentationContexts.push({ id: it.data.readUInt8(0), result: it.data.readUInt8(2), transferSyntax });
    } else if (it.type === ITEM_TYPE.UserInformation) userInformation = decodeUserInformation(it.data);
  }
  return { ...stripItems(c), applicationContext, presentationContexts, userInformation };
}

function stripItems(c: { protocolVersion: number; calledAeTitle: string; callingAeTitle: string }) {
  return { protocolVersion: c.protocolVersion, calledAeTitle: c.calledAeTitle, callingAeTitle: c.callingAeTitle };
}

export function decodeAssociateRJ(body: Buffer): AssociateRJ {
  if (body.length < 4) throw new PduError('A-ASSOCIATE-RJ truncated');
  return { result: body.readUInt8(1), source: body.readUInt8(2), reason: body.readUInt8(3) };
}

export function decodeAbort(body: Buffer): AbortPdu {
  if (body.length < 4) throw new PduError('A-ABORT truncated');
  return { source: body.readUInt8(2), reason: body.readUInt8(3) };
}

/** A PDV whose data may lie in several pieces (views into the received chunks, not copies). */
export interface PdvParts {
  contextId: number;
  isCommand: boolean;
  isLast: boolean;
  data: Buffer[];
  length: number;
}

/** Reads across a list of buffers without joining them. */
class PartsCursor {
  private i = 0;
  private off = 0;
  remaining: number;

  constructor(private readonly parts: Buffer[]) {
    this.remaining = parts.reduce((n, p) => n + p.length, 0);
  }

  /** The next n bytes as views, in order. */
  views(n: number): Buffer[] {
    const out: Buffer[] = [];
    this.remaining -= n;
    while (n > 0) {
      const p = this.parts[this.i]!;
      const k = Math.min(n, p.length - this.off);
      out.push(p.subarray(this.off, this.off + k));
      this.off += k;
      n -= k;
      if (this.off === p.length) {
        this.i++;
        this.off = 0;
      }
    }
    return out;
  }

  /** The next n bytes as one Buffer (a copy only when they span pieces; used for 6-byte headers). */
  bytes(n: number): Buffer {
    const v = this.views(n);
    return v.length === 1 ? v[0]! : Buffer.concat(v);
  }
}

/**
 * Splits a P-DATA-TF body, given as the pieces it arrived in, into its PDVs. A PDU larger than one
 * TCP read (the usual case at 64 KB) is never joined: the data stay views into the received chunks.
 */
export function decodePDataParts(parts: Buffer[]): PdvParts[] {
  const c = new PartsCursor(parts);
  const pdvs: PdvParts[] = [];
  let at = 0;
  while (c.remaining > 0) {
    if (c.remaining < 6) throw new PduError(`P-DATA-TF: PDV header truncated at offset ${at}`);
    const h = c.bytes(6);
    const len = h.readUInt32BE(0);
    if (len < 2 || len - 2 > c.remaining) throw new PduError(`P-DATA-TF: PDV length ${len} does not fit the PDU`);
    const mch = h.readUInt8(5);
    pdvs.push({ contextId: h.readUInt8(4), isCommand: (mch & 1) === 1, isLast: (mch & 2) === 2, data: c.views(len - 2), length: len - 2 });
    at += 4 + len;
  }
  if (pdvs.length === 0) throw new PduError('P-DATA-TF holds no PDV');
  return pdvs;
}

/** Splits a contiguous P-DATA-TF body into its PDVs. The data are views into `body`, not copies. */
export function decodePData(body: Buffer): Pdv[] {
  return decodePDataParts([body]).map((p) => ({
    contextId: p.contextId,
    isCommand: p.isCommand,
    isLast: p.isLast,
    data: p.data.length === 1 ? p.data[0]! : Buffer.concat(p.data, p.length),
  }));
}

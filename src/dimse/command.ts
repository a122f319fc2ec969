// DIMSE command sets (PS3.7 section 9.3 and Annex E): group 0000, always Implicit VR Little Endian.
import { TAG } from '../dicom/tags';

export const COMMAND_FIELD = {
  C_STORE_RQ: 0x0001,
  C_STORE_RSP: 0x8001,
  C_GET_RQ: 0x0010,
  C_FIND_RQ: 0x0020,
  C_MOVE_RQ: 0x0021,
  C_ECHO_RQ: 0x0030,
  C_ECHO_RSP: 0x8030,
  C_CANCEL_RQ: 0x0fff,
} as const;

/** (0000,0800): 0x0101 means "no data set follows"; anything else means one does. */
export const NO_DATA_SET = 0x0101;

export const STATUS = {
  Success: 0x0000,
  /** PS3.4 B.2.3: refused, out of resources. */
  OutOfResources: 0xa700,
  /** PS3.4 B.2.3: error, data set does not match SOP class. */
  DataSetDoesNotMatchSopClass: 0xa900,
  /** PS3.4 B.2.3: error, cannot understand. */
  CannotUnderstand: 0xc000,
  /** PS3.7 C.4: SOP class not supported. */
  SopClassNotSupported: 0x0122,
  /** PS3.7 C.4: unrecognised operation. */
  UnrecognizedOperation: 0x0211,
  /** PS3.7 C.4: processing failure. */
  ProcessingFailure: 0x0110,
} as const;

export interface DimseCommand {
  commandField: number;
  messageId?: number;
  messageIdBeingRespondedTo?: number;
  affectedSopClassUid?: string;
  affectedSopInstanceUid?: string;
  priority?: number;
  commandDataSetType: number;
  status?: number;
  errorComment?: string;
  moveOriginatorAeTitle?: string;
  moveOriginatorMessageId?: number;
}

type Kind = 'UI' | 'US' | 'UL' | 'AE' | 'LO';
const FIELDS: { tag: number; key: keyof DimseCommand; kind: Kind }[] = [
  { tag: TAG.AffectedSOPClassUID, key: 'affectedSopClassUid', kind: 'UI' },
  { tag: TAG.CommandField, key: 'commandField', kind: 'US' },
  { tag: TAG.MessageID, key: 'messageId', kind: 'US' },
  { tag: TAG.MessageIDBeingRespondedTo, key: 'messageIdBeingRespondedTo', kind: 'US' },
  { tag: TAG.Priority, key: 'priority', kind: 'US' },
  { tag: TAG.CommandDataSetType, key: 'commandDataSetType', kind: 'US' },
  { tag: TAG.Status, key: 'status', kind: 'US' },
  { tag: TAG.ErrorComment, key: 'errorComment', kind: 'LO' },
  { tag: TAG.AffectedSOPInstanceUID, key: 'affectedSopInstanceUid', kind: 'UI' },
  { tag: TAG.MoveOriginatorApplicationEntityTitle, key: 'moveOriginatorAeTitle', kind: 'AE' },
  { tag: TAG.MoveOriginatorMessageID, key: 'moveOriginatorMessageId', kind: 'US' },
];
const BY_TAG = new Map(FIELDS.map((f) => [f.tag, f]));

function element(tag: number, value: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(tag >>> 16, 0);
  h.writeUInt16LE(tag & 0xffff, 2);
  h.writeUInt32LE(value.length, 4);
  return Buffer.concat([h, value]);
}

function encodeValue(kind: Kind, v: string | number): Buffer {
  if (kind === 'US') {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(Number(v) & 0xffff, 0);
    return b;
  }
  if (kind === 'UL') {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(Number(v) >>> 0, 0);
    return b;
  }
  let s = String(v);
  if (s.length % 2 === 1) s += kind === 'UI' ? '\0' : ' ';
  return Buffer.from(s, 'latin1');
}

export function encodeCommand(cmd: DimseCommand): Buffer {
  const elements: Buffer[] = [];
  for (const f of FIELDS) {
    const v = cmd[f.key];
    if (v === undefined) continue;
    elements.push(element(f.tag, encodeValue(f.kind, v)));
  }
  const body = Buffer.concat(elements);
  const gl = Buffer.alloc(4);
  gl.writeUInt32LE(body.length, 0);
  return Buffer.concat([element(TAG.CommandGroupLength, gl), body]);
}

export class CommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandError';
  }
}

export function decodeCommand(buf: Buffer): DimseCommand {
  const out: Partial<Record<keyof DimseCommand, string | number>> = {};
  let p = 0;
  while (p < buf.length) {
    if (p + 8 > buf.length) throw new CommandError(`command set: element header truncated at offset ${p}`);
    const tag = ((buf.readUInt16LE(p) << 16) | buf.readUInt16LE(p + 2)) >>> 0;
    const len = buf.readUInt32LE(p + 4);
    if (len === 0xffffffff || p + 8 + len > buf.length)
      throw new CommandError(`command set: element (${hexTag(tag)}) length ${len} runs past the command`);
    const v = buf.subarray(p + 8, p + 8 + len);
    const f = BY_TAG.get(tag);
    if (f) {
      if (f.kind === 'US') out[f.key] = len >= 2 ? v.readUInt16LE(0) : 0;
      else if (f.kind === 'UL') out[f.key] = len >= 4 ? v.readUInt32LE(0) : 0;
      else
        out[f.key] = v
          .toString('latin1')
          .replace(/[\0 ]+$/, '')
          .replace(/^ +/, '');
    }
    p += 8 + len;
  }
  if (out.commandField === undefined) throw new CommandError('command set has no Command Field (0000,0100)');
  if (out.commandDataSetType === undefined) throw new CommandError('command set has no Command Data Set Type (0000,0800)');
  return out as unknown as DimseCommand;
}

function hexTag(tag: number): string {
  return `${(tag >>> 16).toString(16).padStart(4, '0')},${(tag & 0xffff).toString(16).padStart(4, '0')}`;
}

/** PS3.7 C.1: success 0000, warnings 0001 and Bxxx. */
export function isSuccessOrWarning(status: number | null | undefined): boolean {
  return status !== null && status !== undefined && (status === 0 || status === 1 || (status & 0xf000) === 0xb000);
}

export function hasDataSet(cmd: DimseCommand): boolean {
  return cmd.commandDataSetType !== NO_DATA_SET;
}

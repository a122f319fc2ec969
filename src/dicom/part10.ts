/**
 * DICOM Part 10 file framing: the 128-byte preamble, the "DICM" prefix and the
 * File Meta Information group (0002,xxxx), always explicit VR little endian
 * (PS3.10 7.1). The dataset that follows is carried through untouched.
 */
import { DicomParseError } from './errors';
import { LONG_VRS, SHORT_VRS } from './element-header';

export { DicomParseError } from './errors';

export interface FileMetaInput {
  mediaStorageSopClassUid: string;
  mediaStorageSopInstanceUid: string;
  transferSyntaxUid: string;
  implementationClassUid: string;
  implementationVersionName?: string;
  sourceApplicationEntityTitle?: string;
  /**
   * Ingest stores what it received: an instance whose SOP Instance UID is not conformant (a hash
   * from an anonymiser, letters...) still gets a file, with the UID carried as it came (printable
   * ASCII, at most 64 characters). Objects we create never set this.
   */
  nonConformantInstanceUidAllowed?: boolean;
}

export interface Part10Header {
  /** True when the 128-byte preamble is present before "DICM". */
  preamble: boolean;
  /** keyword (or "0002xxxx" for unknown elements) -> value; OB values as hex bytes "00\01". */
  meta: Record<string, string>;
  transferSyntaxUid: string;
  /** '' when (0002,0002) is absent. */
  sopClassUid: string;
  /** '' when (0002,0003) is absent. */
  sopInstanceUid: string;
  /** Offset of the first dataset byte in the buffer. */
  datasetOffset: number;
}

const PREAMBLE_LENGTH = 128;
const MAGIC = 'DICM';
const MAX_UID_LENGTH = 64;
const MAX_AE_LENGTH = 16;
const MAX_SH_LENGTH = 16;
/** Generous bound on any single meta element; real ones are < 100 bytes. */
const MAX_META_ELEMENT_LENGTH = 1 << 20;

const META_KEYWORDS: Readonly<Record<number, string>> = {
  0x0000: 'FileMetaInformationGroupLength',
  0x0001: 'FileMetaInformationVersion',
  0x0002: 'MediaStorageSOPClassUID',
  0x0003: 'MediaStorageSOPInstanceUID',
  0x0010: 'TransferSyntaxUID',
  0x0012: 'ImplementationClassUID',
  0x0013: 'ImplementationVersionName',
  0x0016: 'SourceApplicationEntityTitle',
  0x0017: 'SendingApplicationEntityTitle',
  0x0018: 'ReceivingApplicationEntityTitle',
  0x0026: 'SourcePresentationAddress',
  0x0027: 'SendingPresentationAddress',
  0x0028: 'ReceivingPresentationAddress',
  0x0031: 'RTVMetaInformationVersion',
  0x0032: 'RTVCommunicationSOPClassUID',
  0x0033: 'RTVCommunicationSOPInstanceUID',
  0x0035: 'RTVSourceIdentifier',
  0x0036: 'RTVFlowIdentifier',
  0x0037: 'RTVFlowRTPSamplingRate',
  0x0038: 'RTVFlowActualFrameDuration',
  0x0100: 'PrivateInformationCreatorUID',
  0x0102: 'PrivateInformation',
};

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/**
 * Builds preamble + "DICM" + File Meta Information. Append the dataset bytes
 * (encoded in `transferSyntaxUid`) to get a complete Part 10 file.
 */
export function buildFileMetaInformation(m: FileMetaInput): Buffer {
  validateUid('mediaStorageSopClassUid', m.mediaStorageSopClassUid);
  if (m.nonConformantInstanceUidAllowed) validateReceivedUid('mediaStorageSopInstanceUid', m.mediaStorageSopInstanceUid);
  else validateUid('mediaStorageSopInstanceUid', m.mediaStorageSopInstanceUid);
  validateUid('transferSyntaxUid', m.transferSyntaxUid);
  validateUid('implementationClassUid', m.implementationClassUid);
  if (m.implementationVersionName !== undefined) {
    validateShortText('implementationVersionName', m.implementationVersionName, MAX_SH_LENGTH);
  }
  if (m.sourceApplicationEntityTitle !== undefined) {
    validateShortText('sourceApplicationEntityTitle', m.sourceApplicationEntityTitle, MAX_AE_LENGTH);
    if (m.sourceApplicationEntityTitle.trim() === '') {
      throw new Error('sourceApplicationEntityTitle must not be empty or all spaces');
    }
  }

  const elements: Buffer[] = [
    encodeElement(0x0001, 'OB', Buffer.from([0x00, 0x01])),
    encodeElement(0x0002, 'UI', uidBytes(m.mediaStorageSopClassUid)),
    encodeElement(0x0003, 'UI', uidBytes(m.mediaStorageSopInstanceUid)),
    encodeElement(0x0010, 'UI', uidBytes(m.transferSyntaxUid)),
    encodeElement(0x0012, 'UI', uidBytes(m.implementationClassUid)),
  ];
  if (m.implementationVersionName !== undefined) {
    elements.push(encodeElement(0x0013, 'SH', textBytes(m.implementationVersionName)));
  }
  if (m.sourceApplicationEntityTitle !== undefined) {
    elements.push(encodeElement(0x0016, 'AE', textBytes(m.sourceApplicationEntityTitle)));
  }
  const body = Buffer.concat(elements);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length, 0);

  return Buffer.concat([Buffer.alloc(PREAMBLE_LENGTH), Buffer.from(MAGIC, 'latin1'), encodeElement(0x0000, 'UL', groupLength), body]);
}

/**
 * Validates a UID for writing (PS3.5 9.1). Messages name the field and its
 * length but never echo the value.
 */
function validateReceivedUid(field: string, uid: string): void {
  if (typeof uid !== 'string' || !/^[\x21-\x5b\x5d-\x7e][\x20-\x5b\x5d-\x7e]{0,63}$/.test(uid)) {
    throw new Error(`${field} must be 1-64 printable characters without backslash`);
  }
}

function validateUid(field: string, uid: string): void {
  if (typeof uid !== 'string' || uid.length === 0) throw new Error(`${field} must be a non-empty UID`);
  if (uid.length > MAX_UID_LENGTH) {
    throw new Error(`${field} is ${uid.length} characters long; UIDs are limited to ${MAX_UID_LENGTH}`);
  }
  if (!/^[0-9.]+$/.test(uid)) throw new Error(`${field} contains characters other than digits and '.'`);
  // Components with leading zeros are tolerated: they are common in UIDs from
  // real modalities, and refusing them would make us unable to store those
  // objects. Empty components, however, cannot be a UID at all.
  if (uid.split('.').some((part) => part === '')) {
    throw new Error(`${field} has an empty component (leading, trailing or doubled '.')`);
  }
}

/** SH / AE: default character repertoire, no backslash, bounded length. */
function validateShortText(field: string, value: string, maxLength: number): void {
  if (typeof value !== 'string') throw new Error(`${field} must be a string`);
  if (value.length > maxLength) {
    throw new Error(`${field} is ${value.length} characters long; the limit is ${maxLength}`);
  }
  if (!/^[\x20-\x7e]*$/.test(value) || value.includes('\\')) {
    throw new Error(`${field} must contain only printable ASCII characters other than backslash`);
  }
}

/** UIDs are padded to even length with a single NUL. */
function uidBytes(uid: string): Buffer {
  const b = Buffer.from(uid, 'latin1');
  return b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.from([0x00])]);
}

/** SH/AE are padded to even length with a single space. */
function textBytes(text: string): Buffer {
  const b = Buffer.from(text, 'latin1');
  return b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.from(' ', 'latin1')]);
}

/** Encodes one group 0002 element in explicit VR little endian. */
function encodeElement(element: number, vr: string, value: Buffer): Buffer {
  const long = LONG_VRS.has(vr);
  const header = Buffer.alloc(long ? 12 : 8);
  header.writeUInt16LE(0x0002, 0);
  header.writeUInt16LE(element, 2);
  header.write(vr, 4, 'latin1');
  if (long) header.writeUInt32LE(value.length, 8);
  else header.writeUInt16LE(value.length, 6);
  return Buffer.concat([header, value]);
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/**
 * Parses preamble + "DICM" + group 0002 of a Part 10 file (or a head of one).
 *
 * Elements are read while their group is 0002, so a missing or wrong
 * (0002,0000) group length is tolerated. A file without the 128-byte
 * preamble but starting with "DICM" is accepted (preamble: false).
 */
export function readPart10Header(buf: Buffer): Part10Header {
  const preamble = hasMagicAt(buf, PREAMBLE_LENGTH);
  if (!preamble && !hasMagicAt(buf, 0)) {
    throw new DicomParseError(`no "DICM" prefix at offset ${PREAMBLE_LENGTH} (or 0); not a DICOM Part 10 file`);
  }
  let pos = (preamble ? PREAMBLE_LENGTH : 0) + MAGIC.length;

  const meta: Record<string, string> = {};
  while (pos + 4 <= buf.length && buf.readUInt16LE(pos) === 0x0002) {
    pos = readMetaElement(buf, pos, meta);
  }
  if (pos + 4 > buf.length && pos !== buf.length) {
    throw new DicomParseError('data ends before the end of the File Meta Information could be determined', {
      offset: pos,
    });
  }

  const transferSyntaxUid = meta.TransferSyntaxUID;
  if (transferSyntaxUid === undefined || transferSyntaxUid === '') {
    throw new DicomParseError('File Meta Information has no Transfer Syntax UID (0002,0010)', { offset: pos });
  }
  return {
    preamble,
    meta,
    transferSyntaxUid,
    sopClassUid: meta.MediaStorageSOPClassUID ?? '',
    sopInstanceUid: meta.MediaStorageSOPInstanceUID ?? '',
    datasetOffset: pos,
  };
}

function hasMagicAt(buf: Buffer, offset: number): boolean {
  return buf.length >= offset + MAGIC.length && buf.toString('latin1', offset, offset + MAGIC.length) === MAGIC;
}

/** Reads one explicit VR LE group 0002 element into `meta`; returns the next offset. */
function readMetaElement(buf: Buffer, pos: number, meta: Record<string, string>): number {
  const element = buf.readUInt16LE(pos + 2);
  const tag = (0x0002 << 16) | element;
  if (pos + 8 > buf.length) throw new DicomParseError('file ends inside a meta element header', { tag, offset: pos });
  const vr = buf.toString('latin1', pos + 4, pos + 6);
  let length: number;
  let valueOffset: number;
  if (LONG_VRS.has(vr)) {
    if (pos + 12 > buf.length) {
      throw new DicomParseError('file ends inside a meta element header', { tag, offset: pos });
    }
    length = buf.readUInt32LE(pos + 8);
    valueOffset = pos + 12;
  } else if (SHORT_VRS.has(vr)) {
    length = buf.readUInt16LE(pos + 6);
    valueOffset = pos + 8;
  } else {
    // File meta is always explicit VR LE; anything else is malformed.
    throw new DicomParseError('invalid VR in File Meta Information (must be explicit VR little endian)', {
      tag,
      offset: pos,
    });
  }
  if (length > MAX_META_ELEMENT_LENGTH) {
    throw new DicomParseError(`meta element length ${length} is implausible`, { tag, offset: pos });
  }
  if (valueOffset + length > buf.length) {
    throw new DicomParseError(`meta element value of ${length} bytes runs past the end of the data`, {
      tag,
      offset: pos,
    });
  }
  const key = META_KEYWORDS[element] ?? `0002${element.toString(16).padStart(4, '0').toUpperCase()}`;
  meta[key] = renderMetaValue(vr, buf.subarray(valueOffset, valueOffset + length));
  return valueOffset + length;
}

function renderMetaValue(vr: string, value: Buffer): string {
  switch (vr) {
    case 'UL':
      return value.length >= 4 ? String(value.readUInt32LE(0)) : '';
    case 'US':
      return value.length >= 2 ? String(value.readUInt16LE(0)) : '';
    case 'OB':
    case 'OW':
    case 'UN':
      return [...value].map((b) => b.toString(16).padStart(2, '0')).join('\\');
    case 'UI':
      return value.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
    default:
      return value.toString('latin1').replace(/[ \0]+$/, '');
  }
}

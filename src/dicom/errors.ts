/**
 * Error raised when DICOM bytes are structurally invalid (bad prefix, impossible
 * lengths, invalid VRs, broken sequence nesting, ...).
 *
 * Privacy rule: the message and the structured fields only ever carry
 * *structural* facts - tags, byte offsets, lengths, VR codes. Never put an
 * attribute value in here: these errors end up in logs, and values may be
 * patient data (names, IDs, dates).
 */
export class DicomParseError extends Error {
  /** Tag of the element being parsed, as "(gggg,eeee)", when known. */
  readonly tag?: string;
  /** Byte offset (in the buffer being parsed) where the problem was detected. */
  readonly offset?: number;

  constructor(message: string, details: { tag?: number; offset?: number } = {}) {
    const where: string[] = [];
    if (details.tag !== undefined) where.push(`tag ${formatTag(details.tag)}`);
    if (details.offset !== undefined) where.push(`offset ${details.offset}`);
    super(where.length > 0 ? `${message} (${where.join(', ')})` : message);
    this.name = 'DicomParseError';
    if (details.tag !== undefined) this.tag = formatTag(details.tag);
    if (details.offset !== undefined) this.offset = details.offset;
  }
}

/** Formats a 32-bit tag (group << 16 | element) as "(gggg,eeee)". */
export function formatTag(tag: number): string {
  const hex = (tag >>> 0).toString(16).padStart(8, '0').toUpperCase();
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

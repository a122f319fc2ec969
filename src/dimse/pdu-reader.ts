// Reassembles PDUs from a TCP byte stream. Incoming lengths are checked against limits *before*
// anything is buffered, so a peer that claims a 2 GB PDU is cut off at its header, not after it
// has filled our memory. Chunks are kept in a list and joined once per PDU (not once per chunk).

import { ABORT, PDU_HEADER_LENGTH, PDU_TYPE, PduError, PduType, isPduType } from './pdu';

export interface RawPdu {
  type: PduType;
  /**
   * The body as the pieces it arrived in (views, not copies): a 64 KB P-DATA PDU spans two TCP
   * reads, and joining them would copy every byte of every instance once more.
   */
  parts: Buffer[];
  length: number;
}

/** The body in one Buffer (for the small PDUs whose decoders want that). */
export function pduBody(p: RawPdu): Buffer {
  return p.parts.length === 1 ? p.parts[0]! : Buffer.concat(p.parts, p.length);
}

export interface PduLimits {
  /** Largest P-DATA-TF PDU accepted: the maximum length we advertised. */
  maxPDataLength: number;
  /** Largest A-ASSOCIATE-RQ/AC accepted (many presentation contexts make them big, but not huge). */
  maxAssociateLength: number;
}

const FIXED_LENGTH_PDUS = new Set<PduType>([PDU_TYPE.AssociateRJ, PDU_TYPE.ReleaseRQ, PDU_TYPE.ReleaseRP, PDU_TYPE.Abort]);

export class PduReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private pending: { type: PduType; length: number } | null = null;

  constructor(private readonly limits: PduLimits) {}

  /** Bytes held waiting for the rest of a PDU (for tests and metrics). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** True while a PDU has been started but not completed (a half-sent PDU). */
  get midPdu(): boolean {
    return this.buffered > 0;
  }

  /** Feeds bytes; returns every PDU completed by them. Throws PduError on a PDU we refuse. */
  push(chunk: Buffer): RawPdu[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: RawPdu[] = [];
    for (;;) {
      if (!this.pending) {
        if (this.buffered < PDU_HEADER_LENGTH) break;
        const h = this.take(PDU_HEADER_LENGTH);
        const type = h.readUInt8(0);
        const length = h.readUInt32BE(2);
        this.pending = { type: this.check(type, length), length };
      }
      if (this.buffered < this.pending.length) break;
      out.push({ type: this.pending.type, parts: this.takeViews(this.pending.length), length: this.pending.length });
      this.pending = null;
    }
    return out;
  }

  /** The PDU type, once the header is one we take. */
  private check(type: number, length: number): PduType {
    if (!isPduType(type)) {
      throw new PduError(`unrecognised PDU type 0x${type.toString(16).padStart(2, '0')}`, ABORT.reason.unrecognizedPdu);
    }
    if (FIXED_LENGTH_PDUS.has(type) && length !== 4) {
      throw new PduError(`PDU type 0x0${type} must be 4 bytes long, claims ${length}`, ABORT.reason.invalidPduParameterValue);
    }
    if (type === PDU_TYPE.PData && length > this.limits.maxPDataLength) {
      throw new PduError(
        `P-DATA-TF PDU of ${length} bytes exceeds the maximum length of ${this.limits.maxPDataLength} we negotiated`,
        ABORT.reason.invalidPduParameterValue,
      );
    }
    if ((type === PDU_TYPE.AssociateRQ || type === PDU_TYPE.AssociateAC) && length > this.limits.maxAssociateLength) {
      throw new PduError(`association PDU of ${length} bytes exceeds our limit of ${this.limits.maxAssociateLength}`);
    }
    return type;
  }

  /** Removes exactly n buffered bytes as views into the chunks they arrived in. */
  private takeViews(n: number): Buffer[] {
    this.buffered -= n;
    const out: Buffer[] = [];
    while (n > 0) {
      const c = this.chunks[0]!;
      if (c.length <= n) {
        out.push(c);
        this.chunks.shift();
        n -= c.length;
      } else {
        out.push(c.subarray(0, n));
        this.chunks[0] = c.subarray(n);
        n = 0;
      }
    }
    return out;
  }

  /** Removes exactly n buffered bytes; copies only when they span several chunks. */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }
}

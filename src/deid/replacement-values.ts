/**
 * Values written in place of identifying ones: dummies valid for each VR (action D), keyed
 * replacement UIDs (action U), keyed pseudonyms and per-patient date shifts (Retain Longitudinal
 * Temporal Information with Modified Dates). Everything keyed uses HMAC-SHA256 with the
 * installation's secret so that the same input always gives the same output on one installation
 * and nobody without the secret can recompute (or dictionary-attack) the mapping.
 */
import { createHmac } from 'node:crypto';

const MAX_UID_LENGTH = 64;

function hmac(secret: Buffer, purpose: string, data: Buffer | string): Buffer {
  return createHmac('sha256', secret).update(purpose).update('\0').update(data).digest();
}

/**
 * New UID for `uid`: "2.25." + the decimal form of a 128-bit value derived from HMAC-SHA256 of the
 * original UID, with the RFC 9562 version (8, vendor-specific) and variant bits set so that the
 * result is a well-formed UUID-derived UID (PS3.5 B.2). At most 5 + 39 = 44 characters, well under
 * the 64-character limit.
 */
export function replacementUid(secret: Buffer, uid: string): string {
  const h = Buffer.from(hmac(secret, 'uid', uid).subarray(0, 16));
  h[6] = ((h[6] as number) & 0x0f) | 0x80; // version 8
  h[8] = ((h[8] as number) & 0x3f) | 0x80; // variant 10
  const n = BigInt('0x' + h.toString('hex'));
  const out = `2.25.${n.toString(10)}`;
  if (out.length > MAX_UID_LENGTH) throw new Error('replacement UID exceeds 64 characters'); // cannot happen
  return out;
}

/** Keyed pseudonym for Patient ID: stable per installation, so one patient's studies stay linked. */
export function pseudonymousId(secret: Buffer, original: Buffer): string {
  return 'ANON' + hmac(secret, 'patient-id', original).toString('hex').slice(0, 16).toUpperCase();
}

/**
 * Days to move every date of one patient back by (1..3650), derived from the original Patient ID
 * so that intervals between a patient's studies survive across runs and files.
 */
export function dateShiftDays(secret: Buffer, patientId: Buffer): number {
  return 1 + (hmac(secret, 'date-shift', patientId).readUInt32BE(0) % 3650);
}

/** Shifts one DA value (YYYYMMDD) back by `days`; undefined when it is not a valid date. */
export function shiftDa(value: string, days: number): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(value);
  if (!m) return undefined;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const d = new Date(t - days * 86_400_000);
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1) return undefined;
  const check = new Date(t);
  if (check.getUTCMonth() !== Number(m[2]) - 1 || check.getUTCDate() !== Number(m[3])) return undefined;
  return (
    String(d.getUTCFullYear()).padStart(4, '0') + String(d.getUTCMonth() + 1).padStart(2, '0') + String(d.getUTCDate()).padStart(2, '0')
  );
}

/**
 * Shifts the date part of a DT value (YYYYMMDD[HHMMSS[.F]][&ZZXX]) by whole days; time and
 * offset stay. Undefined when the value has no full date.
 */
export function shiftDt(value: string, days: number): string | undefined {
  const date = shiftDa(value.slice(0, 8), days);
  if (date === undefined) return undefined;
  return date + value.slice(8);
}

/** Dummy value for action D, by VR. Text dummies are ASCII, valid in every character set. */
export function dummyValue(vr: string, littleEndian: boolean): Buffer {
  switch (vr) {
    case 'PN':
    case 'LO':
    case 'SH':
    case 'LT':
    case 'ST':
    case 'UT':
    case 'UC':
    case 'CS':
    case 'AE':
      return textValue('ANONYMOUS');
    case 'DA':
      return textValue('19000101');
    case 'DT':
      return textValue('19000101000000');
    case 'TM':
      return textValue('000000');
    case 'AS':
      return textValue('000Y');
    case 'DS':
    case 'IS':
      return textValue('0');
    case 'UR':
      return textValue('urn:anonymous');
    case 'US':
    case 'SS':
      return Buffer.alloc(2);
    case 'UL':
    case 'SL':
    case 'FL':
    case 'AT':
      return Buffer.alloc(4);
    case 'FD':
    case 'SV':
    case 'UV':
    case 'OD':
    case 'OV':
      return Buffer.alloc(8);
    case 'OB':
    case 'OW':
    case 'OF':
    case 'OL':
    case 'UN':
      return Buffer.alloc(4);
    default:
      void littleEndian; // all dummies are zeros or text: byte order does not matter
      return textValue('ANONYMOUS');
  }
}

/** ASCII text padded to even length with a space (PS3.5 6.2). */
export function textValue(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  return b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.from(' ')]);
}

/** UID value(s) padded to even length with NUL. */
export function uidValue(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  return b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.from([0])]);
}

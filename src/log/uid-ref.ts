// Study, series and instance UIDs never appear in application log lines or in audit free text:
// a UID there becomes `uid:` and 16 hex digits, the same for the same UID on this installation,
// so lines about one series can still be followed and matched against the index by someone who
// holds the installation's secret (uidRef of a UID from the database), and by nobody else.
//
// The reference is an HMAC keyed by the node's de-identification secret (domain-separated, so it
// reveals nothing about de-identified UIDs): a plain hash of the UID could be reversed by anyone
// holding a list of candidate UIDs (a PACS export). Until the node has set the key (the first
// lines of a start-up), a random per-process key is used: still unlinkable, just not stable.

import { createHmac, randomBytes } from 'node:crypto';

let key: Buffer = randomBytes(32);

/** Sets the key of uidRef from the installation's secret (src/deid/secret.ts). */
export function setUidRefKey(secret: Buffer): void {
  key = createHmac('sha256', secret).update('dicom-ai-node log uid reference v1').digest();
}

/** The stable, non-reversible reference that stands for a UID in logs and audit free text. */
export function uidRef(uid: string): string {
  return `uid:${createHmac('sha256', key).update(uid).digest('hex').slice(0, 16)}`;
}

/**
 * A UID as it appears in free text, paths included: five or more numeric components. IPv4
 * addresses have four and version numbers fewer, so neither is taken for one.
 */
const UID_IN_TEXT = /(?<![\d.])\d+(?:\.\d+){4,}(?!\.?\d)/g;
/** UIDs the standard defines (SOP classes, transfer syntaxes) say nothing about a patient: kept. */
const STANDARD_UID = /^1\.2\.840\.10008\./;

/** Replaces every study/series/instance UID in `text` by its uidRef. */
export function hashUidsIn(text: string): string {
  return text.replace(UID_IN_TEXT, (uid) => (STANDARD_UID.test(uid) ? uid : uidRef(uid)));
}

/** Applies hashUidsIn to every string in a log record's values (arrays and plain objects too). */
export function hashUidsDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return hashUidsIn(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => hashUidsDeep(v, depth + 1));
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hashUidsDeep(v, depth + 1)]));
}

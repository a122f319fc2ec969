// UIDs the transport itself needs to know (PS3.5 Annex A, PS3.6 Table A-1, PS3.7 Annex A), and the
// node's transfer syntax preferences. The transfer syntax UIDs themselves come from the leaf
// vocabulary module src/dicom/transfer-syntax.ts (see README.md here for the import rule).
// Storage SOP classes live in dicom-dictionary/ (derived from the standard's tables) because the
// accepted list is policy of the node, not of the transport.

import { TRANSFER_SYNTAX, transferSyntaxProperties } from '../dicom/transfer-syntax';

export const APPLICATION_CONTEXT = '1.2.840.10008.3.1.1.1';
export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';

/** The transfer syntaxes by PS3.6 keyword; the vocabulary itself lives in src/dicom/transfer-syntax.ts. */
export const TS = TRANSFER_SYNTAX;

export const TRANSFER_SYNTAX_NAMES: Readonly<Record<string, string>> = {
  [TS.ImplicitVRLittleEndian]: 'Implicit VR Little Endian',
  [TS.ExplicitVRLittleEndian]: 'Explicit VR Little Endian',
  [TS.DeflatedExplicitVRLittleEndian]: 'Deflated Explicit VR Little Endian',
  [TS.ExplicitVRBigEndian]: 'Explicit VR Big Endian (retired)',
  [TS.JPEGBaseline8Bit]: 'JPEG Baseline (Process 1)',
  [TS.JPEGExtended12Bit]: 'JPEG Extended (Process 2 & 4)',
  [TS.JPEGLossless]: 'JPEG Lossless, Non-Hierarchical (Process 14)',
  [TS.JPEGLosslessSV1]: 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])',
  [TS.JPEGLSLossless]: 'JPEG-LS Lossless Image Compression',
  [TS.JPEGLSNearLossless]: 'JPEG-LS Lossy (Near-Lossless) Image Compression',
  [TS.JPEG2000Lossless]: 'JPEG 2000 Image Compression (Lossless Only)',
  [TS.JPEG2000]: 'JPEG 2000 Image Compression',
  [TS.RLELossless]: 'RLE Lossless',
};

/** Lossy compressions: never chosen when the caller offers a lossless syntax we accept. */
export const LOSSY_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set(
  Object.values(TS).filter((uid) => transferSyntaxProperties(uid)?.lossy === true),
);
/**
 * The transfer syntaxes the Storage SCP accepts, best first. When a caller proposes several for
 * one presentation context we take the first of this list that it proposed, whatever order it
 * proposed them in (the same policy as DCMTK's storescp and Orthanc):
 * - Explicit VR Little Endian first: every sender can produce it, it is cheapest to decode, and a
 *   sender offering it beside a compression it cannot encode (DCMTK's storescu +C -xs) still works;
 * - then the lossless compressions (same pixels, less on the wire), then the other native ones;
 * - lossy syntaxes last, so that a sender holding original pixels is never asked for lossy ones.
 * Senders that hold compressed data propose it in a context of its own (DCMTK does), where it is
 * the only choice and is stored byte for byte.
 */
export const STORAGE_TRANSFER_SYNTAX_PREFERENCE: readonly string[] = [
  TS.ExplicitVRLittleEndian,
  TS.JPEG2000Lossless,
  TS.JPEGLSLossless,
  TS.JPEGLosslessSV1,
  TS.JPEGLossless,
  TS.RLELossless,
  TS.DeflatedExplicitVRLittleEndian,
  TS.ImplicitVRLittleEndian,
  TS.ExplicitVRBigEndian,
  TS.JPEGLSNearLossless,
  TS.JPEG2000,
  TS.JPEGExtended12Bit,
  TS.JPEGBaseline8Bit,
];

/** Verification (C-ECHO) carries no dataset; the uncompressed syntaxes are all that make sense. */
export const VERIFICATION_TRANSFER_SYNTAX_PREFERENCE: readonly string[] = [
  TS.ExplicitVRLittleEndian,
  TS.ImplicitVRLittleEndian,
  TS.ExplicitVRBigEndian,
];

/** Picks our most preferred syntax among all those proposed, or null when we accept none of them. */
export function chooseTransferSyntax(proposed: readonly string[], preference: readonly string[]): string | null {
  const offered = new Set(proposed);
  return preference.find((ts) => offered.has(ts)) ?? null;
}

/**
 * Transfer syntax UIDs and the data set encoding each implies (VR explicit or not, byte order).
 * Every reader of raw data sets (header reader, structural parser) maps UIDs through here.
 */

export const TS_IMPLICIT_LE = '1.2.840.10008.1.2';
export const TS_EXPLICIT_LE = '1.2.840.10008.1.2.1';
export const TS_EXPLICIT_BE = '1.2.840.10008.1.2.2';
export const TS_DEFLATED_LE = '1.2.840.10008.1.2.1.99';
/** JPIP Referenced Deflate: the dataset is deflated exactly like 1.2.1.99. */
export const TS_JPIP_REFERENCED_DEFLATE = '1.2.840.10008.1.2.4.95';

/** How the elements of a data set are encoded. */
export interface Syntax {
  explicit: boolean;
  littleEndian: boolean;
}

export const IMPLICIT_LE: Syntax = { explicit: false, littleEndian: true };
export const EXPLICIT_LE: Syntax = { explicit: true, littleEndian: true };
export const EXPLICIT_BE: Syntax = { explicit: true, littleEndian: false };

/** The element encoding of a data set in `transferSyntaxUid` (after inflation, if deflated). */
export function syntaxFor(transferSyntaxUid: string): Syntax {
  switch (transferSyntaxUid) {
    case TS_IMPLICIT_LE:
      return IMPLICIT_LE;
    case TS_EXPLICIT_BE:
      return EXPLICIT_BE;
    default:
      // Explicit LE, deflated, and every encapsulated (compressed) syntax.
      return EXPLICIT_LE;
  }
}

export function isDeflatedTransferSyntax(transferSyntaxUid: string): boolean {
  return transferSyntaxUid === TS_DEFLATED_LE || transferSyntaxUid === TS_JPIP_REFERENCED_DEFLATE;
}

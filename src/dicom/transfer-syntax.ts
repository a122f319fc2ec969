/**
 * Transfer syntaxes: their UIDs and keywords (PS3.6 Table A-1) and the encoding each implies
 * (PS3.5 Section 10 and Annex A): how the data set is encoded, how Pixel Data is, whether the
 * compression can lose information. Every reader of raw data sets (header reader, structural
 * parser, pixel decoders) and the network layer's preference lists map UIDs through here.
 *
 * Checked row by row against dicom-dictionary/transfer-syntaxes.json (scripts/derive-dictionary.js)
 * by test/dictionary.test.ts.
 *
 * Leaf module: it imports nothing, so the network layer (src/dimse) may use it too.
 */

/** How the elements of a data set are encoded; deflated data sets are explicit VR LE once inflated. */
export type DataSetEncoding = 'implicit-le' | 'explicit-le' | 'explicit-be' | 'deflated-le';
/** Pixel Data as native samples, as encapsulated fragments, or absent and referenced through JPIP. */
export type PixelDataEncoding = 'native' | 'encapsulated' | 'referenced';

type Row = readonly [
  keyword: string,
  uid: string,
  dataSet: DataSetEncoding,
  pixelData: PixelDataEncoding,
  compression: 'lossless' | 'lossy',
  status?: 'retired',
];

const ROWS = [
  ['ImplicitVRLittleEndian', '1.2.840.10008.1.2', 'implicit-le', 'native', 'lossless'],
  ['ExplicitVRLittleEndian', '1.2.840.10008.1.2.1', 'explicit-le', 'native', 'lossless'],
  ['EncapsulatedUncompressedExplicitVRLittleEndian', '1.2.840.10008.1.2.1.98', 'explicit-le', 'encapsulated', 'lossless'],
  ['DeflatedExplicitVRLittleEndian', '1.2.840.10008.1.2.1.99', 'deflated-le', 'native', 'lossless'],
  ['ExplicitVRBigEndian', '1.2.840.10008.1.2.2', 'explicit-be', 'native', 'lossless', 'retired'],
  ['JPEGBaseline8Bit', '1.2.840.10008.1.2.4.50', 'explicit-le', 'encapsulated', 'lossy'],
  ['JPEGExtended12Bit', '1.2.840.10008.1.2.4.51', 'explicit-le', 'encapsulated', 'lossy'],
  ['JPEGExtended35', '1.2.840.10008.1.2.4.52', 'explicit-le', 'encapsulated', 'lossy', 'retired'],
  ['JPEGSpectralSelectionNonHierarchical68', '1.2.840.10008.1.2.4.53', 'explicit-le', 'encapsulated', 'lossy', 'retired'],
  ['JPEGSpectralSelectionNonHierarchical79', '1.2.840.10008.1.2.4.54', 'explicit-le', 'encapsulated', 'lossy', 'retired'],
  ['JPEGFullProgressionNonHierarchical1012', '1.2.840.10008.1.2.4.55', 'explicit-le', 'encapsulated', 'lossy', 'retired'],
  ['JPEGFullProgressionNonHierarchical1113', '1.2.840.10008.1.2.4.56', 'explicit-le', 'encapsulated', 'lossy', 'retired'],
  ['JPEGLossless', '1.2.840.10008.1.2.4.57', 'explicit-le', 'encapsulated', 'lossless'],
  ['JPEGLosslessNonHierarchical15', '1.2.840.10008.1.2.4.58', 'explicit-le', 'encapsulated', 'lossless', 'retired'],
  ['JPEGExtendedHierarchical1618', '1.2.840.10008.1.2.4.59', 'explicit-le', 'encapsulated', 'lossy', 'retired'],
  ['JPEGExtendedHierarchical1719', '1.2.840.10008.1.2.4.60', 'explicit-le', 'encapsulated', 'lossy', 'retired'],
  ['JPEGSpectralSelectionHierarchical2022', '1.2.840.10008.1.2.4.61', 'explicit-le', 'encapsulated', 'lossy', 'retired'],
  ['JPEGSpectralSelectionHierarchical2123', '1.2.840.10008.1.2.4.62', 'explicit-le', 'encapsulated', 'lossy', 'retired'],
  ['JPEGFullProgressionHierarchical2426', '1.2.840.10008.1.2.4.63', 'explicit-le', 'encapsulated', 'lossy', 'retired'],
  ['JPEGFullProgressionHierarchical2527', '1.2.840.10008.1.2.4.64', 'explicit-le', 'encapsulated', 'lossy', 'retired'],
  ['JPEGLossless28', '1.2.840.10008.1.2.4.65', 'explicit-le', 'encapsulated', 'lossless', 'retired'],
  ['JPEGLossless29', '1.2.840.10008.1.2.4.66', 'explicit-le', 'encapsulated', 'lossless', 'retired'],
  ['JPEGLosslessSV1', '1.2.840.10008.1.2.4.70', 'explicit-le', 'encapsulated', 'lossless'],
  ['JPEGLSLossless', '1.2.840.10008.1.2.4.80', 'explicit-le', 'encapsulated', 'lossless'],
  ['JPEGLSNearLossless', '1.2.840.10008.1.2.4.81', 'explicit-le', 'encapsulated', 'lossy'],
  ['JPEG2000Lossless', '1.2.840.10008.1.2.4.90', 'explicit-le', 'encapsulated', 'lossless'],
  ['JPEG2000', '1.2.840.10008.1.2.4.91', 'explicit-le', 'encapsulated', 'lossy'],
  ['JPEG2000MCLossless', '1.2.840.10008.1.2.4.92', 'explicit-le', 'encapsulated', 'lossless'],
  ['JPEG2000MC', '1.2.840.10008.1.2.4.93', 'explicit-le', 'encapsulated', 'lossy'],
  ['JPIPReferenced', '1.2.840.10008.1.2.4.94', 'explicit-le', 'referenced', 'lossless'],
  ['JPIPReferencedDeflate', '1.2.840.10008.1.2.4.95', 'deflated-le', 'referenced', 'lossless'],
  ['MPEG2MPML', '1.2.840.10008.1.2.4.100', 'explicit-le', 'encapsulated', 'lossy'],
  ['MPEG2MPMLF', '1.2.840.10008.1.2.4.100.1', 'explicit-le', 'encapsulated', 'lossy'],
  ['MPEG2MPHL', '1.2.840.10008.1.2.4.101', 'explicit-le', 'encapsulated', 'lossy'],
  ['MPEG2MPHLF', '1.2.840.10008.1.2.4.101.1', 'explicit-le', 'encapsulated', 'lossy'],
  ['MPEG4HP41', '1.2.840.10008.1.2.4.102', 'explicit-le', 'encapsulated', 'lossy'],
  ['MPEG4HP41F', '1.2.840.10008.1.2.4.102.1', 'explicit-le', 'encapsulated', 'lossy'],
  ['MPEG4HP41BD', '1.2.840.10008.1.2.4.103', 'explicit-le', 'encapsulated', 'lossy'],
  ['MPEG4HP41BDF', '1.2.840.10008.1.2.4.103.1', 'explicit-le', 'encapsulated', 'lossy'],
  ['MPEG4HP422D', '1.2.840.10008.1.2.4.104', 'explicit-le', 'encapsulated', 'lossy'],
  ['MPEG4HP422DF', '1.2.840.10008.1.2.4.104.1', 'explicit-le', 'encapsulated', 'lossy'],
  ['MPEG4HP423D', '1.2.840.10008.1.2.4.105', 'explicit-le', 'encapsulated', 'lossy'],
  ['MPEG4HP423DF', '1.2.840.10008.1.2.4.105.1', 'explicit-le', 'encapsulated', 'lossy'],
  ['MPEG4HP42STEREO', '1.2.840.10008.1.2.4.106', 'explicit-le', 'encapsulated', 'lossy'],
  ['MPEG4HP42STEREOF', '1.2.840.10008.1.2.4.106.1', 'explicit-le', 'encapsulated', 'lossy'],
  ['HEVCMP51', '1.2.840.10008.1.2.4.107', 'explicit-le', 'encapsulated', 'lossy'],
  ['HEVCM10P51', '1.2.840.10008.1.2.4.108', 'explicit-le', 'encapsulated', 'lossy'],
  ['JPEGXLLossless', '1.2.840.10008.1.2.4.110', 'explicit-le', 'encapsulated', 'lossless'],
  ['JPEGXLJPEGRecompression', '1.2.840.10008.1.2.4.111', 'explicit-le', 'encapsulated', 'lossy'],
  ['JPEGXL', '1.2.840.10008.1.2.4.112', 'explicit-le', 'encapsulated', 'lossy'],
  ['HTJ2KLossless', '1.2.840.10008.1.2.4.201', 'explicit-le', 'encapsulated', 'lossless'],
  ['HTJ2KLosslessRPCL', '1.2.840.10008.1.2.4.202', 'explicit-le', 'encapsulated', 'lossless'],
  ['HTJ2K', '1.2.840.10008.1.2.4.203', 'explicit-le', 'encapsulated', 'lossy'],
  ['JPIPHTJ2KReferenced', '1.2.840.10008.1.2.4.204', 'explicit-le', 'referenced', 'lossless'],
  ['JPIPHTJ2KReferencedDeflate', '1.2.840.10008.1.2.4.205', 'deflated-le', 'referenced', 'lossless'],
  ['RLELossless', '1.2.840.10008.1.2.5', 'explicit-le', 'encapsulated', 'lossless'],
  ['RFC2557MIMEEncapsulation', '1.2.840.10008.1.2.6.1', 'explicit-le', 'native', 'lossless', 'retired'],
  ['XMLEncoding', '1.2.840.10008.1.2.6.2', 'explicit-le', 'native', 'lossless', 'retired'],
  ['SMPTEST211020UncompressedProgressiveActiveVideo', '1.2.840.10008.1.2.7.1', 'explicit-le', 'encapsulated', 'lossless'],
  ['SMPTEST211020UncompressedInterlacedActiveVideo', '1.2.840.10008.1.2.7.2', 'explicit-le', 'encapsulated', 'lossless'],
  ['SMPTEST211030PCMDigitalAudio', '1.2.840.10008.1.2.7.3', 'explicit-le', 'encapsulated', 'lossless'],
  ['DeflatedImageFrameCompression', '1.2.840.10008.1.2.8.1', 'explicit-le', 'encapsulated', 'lossless'],
  ['Papyrus3ImplicitVRLittleEndian', '1.2.840.10008.1.20', 'implicit-le', 'native', 'lossless', 'retired'],
] as const satisfies readonly Row[];

export type TransferSyntaxKeyword = (typeof ROWS)[number][0];

/** Transfer syntax UIDs by PS3.6 keyword. */
export const TRANSFER_SYNTAX: Readonly<Record<TransferSyntaxKeyword, string>> = Object.freeze(
  Object.fromEntries(ROWS.map(([keyword, uid]) => [keyword, uid])) as Record<TransferSyntaxKeyword, string>,
);

export interface TransferSyntaxProperties {
  uid: string;
  keyword: TransferSyntaxKeyword;
  dataSet: DataSetEncoding;
  pixelData: PixelDataEncoding;
  /** The compression may lose information (PS3.5 Section 8.2): never chosen over a lossless one. */
  lossy: boolean;
  retired: boolean;
}

const PROPERTIES: ReadonlyMap<string, TransferSyntaxProperties> = new Map(
  ROWS.map((row): [string, TransferSyntaxProperties] => {
    const [keyword, uid, dataSet, pixelData, compression] = row;
    const retired = row.length > 5;
    return [uid, Object.freeze({ uid, keyword, dataSet, pixelData, lossy: compression === 'lossy', retired })];
  }),
);

/** What the standard says about `transferSyntaxUid`; undefined for a UID that is not a transfer syntax. */
export function transferSyntaxProperties(transferSyntaxUid: string): TransferSyntaxProperties | undefined {
  return PROPERTIES.get(transferSyntaxUid);
}

/** Every transfer syntax of PS3.6 Table A-1, in the table's order. */
export function allTransferSyntaxes(): TransferSyntaxProperties[] {
  return [...PROPERTIES.values()];
}

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
  switch (PROPERTIES.get(transferSyntaxUid)?.dataSet) {
    case 'implicit-le':
      return IMPLICIT_LE;
    case 'explicit-be':
      return EXPLICIT_BE;
    default:
      // Explicit LE, deflated, every encapsulated (compressed) syntax, and syntaxes we do not know
      // (PS3.5 Section 10: every syntax defined since is explicit VR little endian).
      return EXPLICIT_LE;
  }
}

/** The data set itself is deflated (Deflated Explicit VR LE and the JPIP Referenced Deflate syntaxes). */
export function isDeflatedTransferSyntax(transferSyntaxUid: string): boolean {
  return PROPERTIES.get(transferSyntaxUid)?.dataSet === 'deflated-le';
}

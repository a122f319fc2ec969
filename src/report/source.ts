/**
 * Patient and study identity of the source series, read from one original instance and decoded
 * through its Specific Character Set (the header reader's decoders: single-byte ISO 8859 sets,
 * GB18030/GBK, UTF-8, and ISO 2022 code extensions such as IR 58, IR 87, IR 149), so that the
 * report can carry them as UTF-8 (ISO_IR 192).
 */
import { readDatasetHeader } from '../dicom/dataset-reader';
import { readPart10Header } from '../dicom/part10';

/** The identity attributes read from the source; the report writers use these tags too (common-modules.ts). */
export const IDENTITY_TAGS = {
  SpecificCharacterSet: 0x00080005,
  StudyDate: 0x00080020,
  StudyTime: 0x00080030,
  AccessionNumber: 0x00080050,
  Modality: 0x00080060,
  ReferringPhysicianName: 0x00080090,
  StudyDescription: 0x00081030,
  PatientName: 0x00100010,
  PatientID: 0x00100020,
  IssuerOfPatientID: 0x00100021,
  PatientBirthDate: 0x00100030,
  PatientSex: 0x00100040,
  OtherPatientIDs: 0x00101000,
  BodyPartExamined: 0x00180015,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
  StudyID: 0x00200010,
} as const;

export type SourceIdentity = { readonly [K in Exclude<keyof typeof IDENTITY_TAGS, 'SpecificCharacterSet'>]?: string } & {
  /** As found, for diagnostics; the values above are already decoded. */
  readonly specificCharacterSet?: string;
};

/** Reads the identity attributes of a Part 10 source instance. Errors name what is missing, never values. */
export function readSourceIdentity(file: Buffer): SourceIdentity {
  let head;
  try {
    head = readPart10Header(file);
  } catch (e) {
    throw new Error(`report source instance is not a DICOM Part 10 file: ${(e as Error).message}`);
  }
  const r = readDatasetHeader(file.subarray(head.datasetOffset), head.transferSyntaxUid, { tags: IDENTITY_TAGS });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.attributes)) {
    if (k !== 'SpecificCharacterSet') out[k] = v;
  }
  if (!out.StudyInstanceUID) throw new Error('report source instance has no Study Instance UID (0020,000D)');
  return { ...out, specificCharacterSet: r.specificCharacterSet };
}

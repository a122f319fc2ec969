/**
 * Patient and study identity of the source series, read from one original instance and decoded
 * through its Specific Character Set (the header reader's decoders: single-byte ISO 8859 sets,
 * GB18030/GBK, UTF-8, and ISO 2022 code extensions such as IR 58, IR 87, IR 149), so that the
 * report can carry them as UTF-8 (ISO_IR 192).
 */
import { readDatasetHeader } from '../dicom/dataset-reader';
import { readPart10Header } from '../dicom/part10';
import { tagsByKeyword } from '../dicom/tags';

/** The identity attributes read from the source; the report writers use these tags too (common-modules.ts). */
export const IDENTITY_TAGS = tagsByKeyword([
  'SpecificCharacterSet',
  'StudyDate',
  'StudyTime',
  'AccessionNumber',
  'Modality',
  'ReferringPhysicianName',
  'StudyDescription',
  'PatientName',
  'PatientID',
  'IssuerOfPatientID',
  'PatientBirthDate',
  'PatientSex',
  'OtherPatientIDs',
  'BodyPartExamined',
  'StudyInstanceUID',
  'SeriesInstanceUID',
  'StudyID',
] as const);

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

// What the plausibility contract needs from the ORIGINAL header of a series' first instance, read
// by the job before anything is de-identified: the patient's age (the model never sees it; it only
// picks the age band of the expected ranges), modality, body part and slice thickness.

import { readDatasetHeader } from '../dicom/dataset-reader';
import { readPart10Header } from '../dicom/part10';
import { tagsByKeyword } from '../dicom/tags';
import type { SeriesFacts } from '../inference/plausibility';

const FACT_TAGS = tagsByKeyword([
  'SpecificCharacterSet',
  'PatientAge',
  'PatientBirthDate',
  'StudyDate',
  'Modality',
  'BodyPartExamined',
  'SliceThickness',
] as const);

/** The facts of one original Part 10 instance; an unreadable value is left out, never guessed. */
export function originalFacts(original: Buffer): SeriesFacts {
  const head = readPart10Header(original);
  const a = readDatasetHeader(original.subarray(head.datasetOffset), head.transferSyntaxUid, { tags: FACT_TAGS }).attributes;
  const thickness = Number(a['SliceThickness']);
  const age = patientAgeYears(a['PatientAge'], a['PatientBirthDate'], a['StudyDate']);
  return {
    ...(a['Modality'] ? { modality: a['Modality'] } : {}),
    ...(a['BodyPartExamined'] ? { bodyPart: a['BodyPartExamined'] } : {}),
    ...(a['SliceThickness'] && Number.isFinite(thickness) && thickness > 0 ? { sliceThicknessMm: thickness } : {}),
    ...(age !== undefined ? { ageYears: age } : {}),
  };
}

/**
 * Age in years: Patient's Age (0010,1010) when stated (AS, PS3.5 Table 6.2-1: "nnnD", "nnnW",
 * "nnnM" or "nnnY"), else from Patient's Birth Date and Study Date (DA, YYYYMMDD). Undefined when
 * neither gives a sensible age (a de-identified or test header often has neither).
 */
export function patientAgeYears(age?: string, birthDate?: string, studyDate?: string): number | undefined {
  const m = /^\s*(\d{1,3})\s*([DWMY])\s*$/i.exec(age ?? '');
  if (m) {
    const n = Number(m[1]);
    const perYear = { D: 365.25, W: 365.25 / 7, M: 12, Y: 1 }[m[2]!.toUpperCase() as 'D' | 'W' | 'M' | 'Y'];
    return n / perYear;
  }
  const birth = parseDa(birthDate);
  const study = parseDa(studyDate);
  if (birth === undefined || study === undefined || study < birth) return undefined;
  const years = (study - birth) / (365.25 * 24 * 3600 * 1000);
  return years <= 150 ? years : undefined;
}

function parseDa(v: string | undefined): number | undefined {
  const m = /^\s*(\d{4})(\d{2})(\d{2})\s*$/.exec(v ?? '');
  if (!m) return undefined;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const d = new Date(t);
  // 20230231 is not a date: Date.UTC would roll it into March.
  return d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]) ? t : undefined;
}

/**
 * Coded concepts the report writer uses, with the standard's meanings (PS3.16 Annex D for DCM,
 * SNOMED CT, LOINC). No private codes: provenance is written as labelled Comment text, which every
 * receiver displays and no validator flags as an unknown coding scheme. Code meanings stay English whatever the report language: they are the
 * standard's strings, which receivers match on; only free-text values are localised.
 */
import { Code } from '../inference/findings';

const dcm = (value: string, meaning: string): Code => ({ value, scheme: 'DCM', meaning });
const sct = (value: string, meaning: string): Code => ({ value, scheme: 'SCT', meaning });
const ln = (value: string, meaning: string): Code => ({ value, scheme: 'LN', meaning });

export const C = {
  // TID 1500 / TID 2000 document titles
  imagingMeasurementReport: dcm('126000', 'Imaging Measurement Report'),
  diagnosticImagingReport: ln('18748-4', 'Diagnostic Imaging Report'),
  // TID 1204 language
  language: dcm('121049', 'Language of Content Item and Descendants'),
  countryOfLanguage: dcm('121046', 'Country of Language'),
  // TID 1002 / 1004 observer context
  observerType: dcm('121005', 'Observer Type'),
  device: dcm('121007', 'Device'),
  deviceObserverUid: dcm('121012', 'Device Observer UID'),
  deviceObserverName: dcm('121013', 'Device Observer Name'),
  deviceObserverManufacturer: dcm('121014', 'Device Observer Manufacturer'),
  deviceObserverModelName: dcm('121015', 'Device Observer Model Name'),
  // TID 1500 body
  procedureReported: dcm('121058', 'Procedure reported'),
  imageLibrary: dcm('111028', 'Image Library'),
  imageLibraryGroup: dcm('126200', 'Image Library Group'),
  imagingMeasurements: dcm('126010', 'Imaging Measurements'),
  measurementGroup: dcm('125007', 'Measurement Group'),
  // TID 1411 Volumetric ROI Measurements: the region is a segment of a Segmentation.
  referencedSegment: dcm('121214', 'Referenced Segment'),
  sourceSeriesForSegmentation: dcm('121232', 'Source series for segmentation'),
  trackingIdentifier: dcm('112039', 'Tracking Identifier'),
  trackingUid: dcm('112040', 'Tracking Unique Identifier'),
  finding: dcm('121071', 'Finding'),
  findingSite: sct('363698007', 'Finding Site'),
  laterality: sct('272741003', 'Laterality'),
  right: sct('24028007', 'Right'),
  left: sct('7771000', 'Left'),
  imageRegion: dcm('111030', 'Image Region'),
  sourceOfMeasurement: dcm('121112', 'Source of Measurement'),
  center: dcm('111010', 'Center'),
  /** CID 6048; TID 4104 row 12 writes it as NUM in percent. */
  certaintyOfFinding: dcm('111012', 'Certainty of Finding'),
  qualitativeEvaluations: { value: 'C0034375', scheme: 'UMLS', meaning: 'Qualitative Evaluations' } as Code,
  impression: dcm('121073', 'Impression'),
  comment: dcm('121106', 'Comment'),
  // TID 4019 algorithm identification
  algorithmName: dcm('111001', 'Algorithm Name'),
  algorithmVersion: dcm('111003', 'Algorithm Version'),
  algorithmParameters: dcm('111002', 'Algorithm Parameters'),
  // TID 2000 section headings (CID 7001)
  findings: dcm('121070', 'Findings'),
  impressions: dcm('121072', 'Impressions'),
} as const;

export const UCUM_PERCENT: Code = { value: '%', scheme: 'UCUM', meaning: 'Percent' };

/** RFC 5646 language and ISO 3166-1 country of TID 1204 (CID 5000 / CID 5001). */
export const LANGUAGES = {
  en: {
    language: { value: 'en', scheme: 'RFC5646', meaning: 'English' },
    country: { value: 'US', scheme: 'ISO3166_1', meaning: 'United States' },
  },
  'zh-CN': {
    language: { value: 'zh', scheme: 'RFC5646', meaning: 'Chinese' },
    country: { value: 'CN', scheme: 'ISO3166_1', meaning: 'China' },
  },
} as const satisfies Record<string, { language: Code; country: Code }>;

/**
 * Procedure Reported (CID 100 "Quantitative Diagnostic Imaging Procedures", LOINC) from the
 * source's Modality and Body Part Examined. Unknown combinations fall back to the modality's
 * "unspecified body region" code; unknown modalities to the generic imaging procedure.
 */
export function procedureReported(modality: string | undefined, bodyPart: string | undefined): Code {
  const m = (modality ?? '').toUpperCase();
  const b = (bodyPart ?? '').toUpperCase();
  if (m === 'CT' && (b === 'CHEST' || b === 'LUNG' || b === 'THORAX')) return ln('24627-2', 'CT Chest');
  switch (m) {
    case 'CT':
      return ln('25045-6', 'CT unspecified body region');
    case 'MR':
      return ln('25056-3', 'MRI unspecified body region');
    case 'PT':
      return ln('44136-0', 'PET unspecified body region');
    case 'NM':
      return ln('49118-3', 'NM unspecified body region');
    default:
      // SNOMED CT "Imaging procedure" (dcmqi's fallback too): the source modality has no CID 100 entry.
      return sct('363679005', 'Imaging procedure');
  }
}

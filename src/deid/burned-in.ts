// Burned-in annotation risk: pixel data that may show identifying text, which de-identification of
// the header cannot remove. Used by de-identification (reported with each result) and by routing
// (a route's `burnedInAnnotation` policy: skip such series, or process and flag them).

const SECONDARY_CAPTURE_CLASSES = /^1\.2\.840\.10008\.5\.1\.4\.1\.1\.7(\.\d)?$/;

export interface BurnedInInput {
  /** (0028,0301) Burned In Annotation, YES or NO when present. */
  burnedInAnnotation?: string;
  modality?: string;
  sopClassUid?: string;
  hasPixels: boolean;
}

/** Reasons why pixel data may carry burned-in identifying text (empty: no known risk). */
export function burnedInAnnotationRisk(i: BurnedInInput): string[] {
  if (!i.hasPixels) return [];
  const reasons: string[] = [];
  const b = i.burnedInAnnotation?.trim().toUpperCase();
  const m = (i.modality ?? '').trim().toUpperCase();
  if (b === 'YES') reasons.push('Burned In Annotation (0028,0301) is YES');
  if (m === 'US') reasons.push('modality US: ultrasound images commonly carry burned-in patient text');
  if (m === 'SC') reasons.push('modality SC: secondary captures are often screenshots with patient text');
  if (i.sopClassUid && SECONDARY_CAPTURE_CLASSES.test(i.sopClassUid) && m !== 'SC') {
    reasons.push('Secondary Capture SOP class: often screenshots with patient text');
  }
  if (m === 'XA' && b !== 'NO') reasons.push('modality XA without Burned In Annotation (0028,0301) = NO');
  return reasons;
}

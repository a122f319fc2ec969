/**
 * The plausibility contract of a model (the manifest's `plausibility` section and its
 * `applicability`): what a result may be for a patient of a given age, and what a series must be
 * for the result to mean anything. A result outside its expected range, or an input failing a
 * check, is never reported as a plain confident number: it is flagged "low confidence — outside
 * the expected range" with what, the value, the range and the age band (issue 17).
 *
 * Pure functions: the job runner gathers the facts (the patient's age from the ORIGINAL header,
 * the de-identified volume's geometry) and calls these. The patient's age is an input here, never
 * an output: issues name the age band, never the age, so they may go into logs.
 */
import type { Finding, SeriesResult } from './findings';
import type { Manifest } from './manifest';
import type { SeriesVolume } from './series-volume';

/** One age band of an expected range: [fromYears, toYears) with the range and where it comes from. */
export interface AgeBand {
  readonly name: string;
  readonly fromYears: number;
  /** Exclusive; null = no upper limit. */
  readonly toYears: number | null;
  readonly min: number;
  readonly max: number;
  /** The published study (or studies) the range is taken from. */
  readonly source: string;
}

/** Expected values of one measurement of one output label, by age band. */
export interface ExpectedRange {
  readonly label: string;
  /** The measurement key of the finding (volumeMl, diameterMm, ...). */
  readonly measurement: string;
  readonly bands: readonly AgeBand[];
}

/** Checks on the series itself, beyond `applicability` (modality, body part). */
export interface InputChecks {
  /** Fewer slices than this (after localizers are left out): the job is skipped. */
  readonly minSlices?: number;
  /** Slice thickness or spacing above this (mm): the result is flagged. */
  readonly maxSliceThicknessMm?: number;
  /** Extent of the volume along each patient axis (mm), so that the organ is covered: flagged when short. */
  readonly minCoverageMm?: Partial<Record<PatientAxis, number>>;
}

export interface Plausibility {
  readonly ranges: readonly ExpectedRange[];
  readonly inputChecks: InputChecks;
}

export const PATIENT_AXES = ['leftRight', 'anteriorPosterior', 'headFoot'] as const;
export type PatientAxis = (typeof PATIENT_AXES)[number];

/** Measurement keys a range may name (the post-processors' keys), with the unit written after a value. */
export const RANGE_MEASUREMENTS: Readonly<Record<string, string>> = {
  volumeMl: 'ml',
  volumeMm3: 'mm³',
  diameterMm: 'mm',
  areaMm2: 'mm²',
  meanHu: 'HU',
};

export type IssueCheck = 'range' | 'age-band' | 'modality' | 'body-part' | 'slices' | 'slice-thickness' | 'coverage';

/** One thing outside the contract. `skip`: the result would be meaningless, the job ends skipped. */
export interface PlausibilityIssue {
  readonly check: IssueCheck;
  /** The output label (range), the patient axis (coverage), or '' for the others. */
  readonly subject: string;
  /** Range checks: the measurement key (volumeMl ...). */
  readonly measurement?: string;
  readonly value: number | string;
  readonly unit: string;
  readonly expected: { readonly min?: number; readonly max?: number; readonly oneOf?: readonly string[] };
  /** The age band whose range applied (range checks). */
  readonly band?: string;
  readonly skip: boolean;
}

/** What the plausibility contract made of one result; recorded in the result JSON. */
export interface PlausibilityOutcome {
  /** The age band used, "age unknown ..." when the header gave none. */
  readonly band: string;
  readonly ageKnown: boolean;
  readonly issues: readonly PlausibilityIssue[];
}

/** What the job knows of the series before the model runs: from the ORIGINAL first instance's header. */
export interface SeriesFacts {
  readonly modality?: string;
  readonly bodyPart?: string;
  readonly sliceThicknessMm?: number;
  /** Years, fractional; undefined when the header states neither age nor birth and study dates. */
  readonly ageYears?: number;
}

export const UNKNOWN_AGE_BAND = 'age unknown: union of all age bands';
const OUTSIDE_BANDS = "age outside the model's age bands: union of all age bands";

// ---------------------------------------------------------------------------
// Input checks
// ---------------------------------------------------------------------------

/**
 * Checks from the header alone (before the series is decoded): modality and body part against the
 * manifest's applicability. A Body Part Examined that is absent is not held against the series (many
 * scanners leave it empty); one that names another part is.
 */
export function headerIssues(
  applicability: { modalities: readonly string[]; bodyParts: readonly string[] },
  facts: SeriesFacts,
): PlausibilityIssue[] {
  const out: PlausibilityIssue[] = [];
  const modality = facts.modality?.trim().toUpperCase() ?? '';
  if (applicability.modalities.length > 0 && !applicability.modalities.includes(modality)) {
    out.push({
      check: 'modality',
      subject: '',
      value: modality || '(none)',
      unit: '',
      expected: { oneOf: applicability.modalities },
      skip: true,
    });
  }
  const part = facts.bodyPart?.trim().toUpperCase() ?? '';
  if (applicability.bodyParts.length > 0 && part !== '' && !applicability.bodyParts.includes(part)) {
    out.push({ check: 'body-part', subject: '', value: part, unit: '', expected: { oneOf: applicability.bodyParts }, skip: true });
  }
  return out;
}

/** Checks on the decoded volume: slice count (skip), slice thickness and coverage (flag). */
export function volumeIssues(checks: InputChecks, volume: SeriesVolume, facts: SeriesFacts): PlausibilityIssue[] {
  const out: PlausibilityIssue[] = [];
  const slices = volume.slices.length;
  if (checks.minSlices !== undefined && slices < checks.minSlices) {
    // A scout or a handful of 2D images: the model's volume result would be meaningless.
    out.push({ check: 'slices', subject: '', value: slices, unit: '', expected: { min: checks.minSlices }, skip: true });
  }
  if (checks.maxSliceThicknessMm !== undefined) {
    // Thickness from the header when stated; the spacing between slices when larger (gaps).
    const thickness = Math.max(facts.sliceThicknessMm ?? 0, slices > 1 ? volume.sliceSpacing : 0);
    if (thickness > checks.maxSliceThicknessMm) {
      out.push({
        check: 'slice-thickness',
        subject: '',
        value: round2(thickness),
        unit: 'mm',
        expected: { max: checks.maxSliceThicknessMm },
        skip: false,
      });
    }
  }
  if (checks.minCoverageMm) {
    const have = coverageMm(volume);
    for (const axis of PATIENT_AXES) {
      const need = checks.minCoverageMm[axis];
      if (need !== undefined && have[axis] < need) {
        out.push({ check: 'coverage', subject: axis, value: Math.round(have[axis]), unit: 'mm', expected: { min: need }, skip: false });
      }
    }
  }
  return out;
}

/**
 * Extent of the volume's bounding box along the patient axes (DICOM LPS: x left-right, y
 * anterior-posterior, z head-foot), whatever the acquisition plane: each edge of the voxel grid
 * (rows x spacing along the column direction, columns x spacing along the row direction, slices x
 * spacing along the normal) contributes |direction cosine| x length to each axis.
 */
export function coverageMm(volume: SeriesVolume): Record<PatientAxis, number> {
  const o = volume.orientation;
  const acrossRow = volume.columns * volume.pixelSpacing[1];
  const downColumn = volume.rows * volume.pixelSpacing[0];
  const through = volume.slices.length * (volume.slices.length > 1 ? volume.sliceSpacing : 0);
  const row = [o[0], o[1], o[2]] as const;
  const column = [o[3], o[4], o[5]] as const;
  const along = (k: 0 | 1 | 2): number =>
    Math.abs(row[k]) * acrossRow + Math.abs(column[k]) * downColumn + Math.abs(volume.normal[k]) * through;
  return { leftRight: along(0), anteriorPosterior: along(1), headFoot: along(2) };
}

// ---------------------------------------------------------------------------
// Expected ranges
// ---------------------------------------------------------------------------

/** The age band name the ranges use for this age (the first range's bands decide the name). */
export function bandName(p: Plausibility, ageYears: number | undefined): string {
  if (ageYears === undefined) return UNKNOWN_AGE_BAND;
  const first = p.ranges[0];
  if (!first) return 'no age bands';
  return bandFor(first.bands, ageYears)?.name ?? OUTSIDE_BANDS;
}

function bandFor(bands: readonly AgeBand[], ageYears: number): AgeBand | undefined {
  return bands.find((b) => ageYears >= b.fromYears && (b.toYears === null || ageYears < b.toYears));
}

/** The range for an age: its band's, or the union of all bands when the age is unknown or outside them. */
export function rangeFor(r: ExpectedRange, ageYears: number | undefined): { min: number; max: number; band: string } {
  const b = ageYears === undefined ? undefined : bandFor(r.bands, ageYears);
  if (b) return { min: b.min, max: b.max, band: b.name };
  return {
    min: Math.min(...r.bands.map((x) => x.min)),
    max: Math.max(...r.bands.map((x) => x.max)),
    band: ageYears === undefined ? UNKNOWN_AGE_BAND : OUTSIDE_BANDS,
  };
}

/** Each ranged measurement of the findings against its range for the patient's age. */
export function rangeIssues(p: Plausibility, findings: readonly Finding[], ageYears: number | undefined): PlausibilityIssue[] {
  const out: PlausibilityIssue[] = [];
  if (p.ranges.length > 0 && ageYears !== undefined && p.ranges.every((r) => bandFor(r.bands, ageYears) === undefined)) {
    // A patient younger or older than every band: the ranges were not made for them.
    const from = Math.min(...p.ranges.flatMap((r) => r.bands.map((b) => b.fromYears)));
    const tos = p.ranges.flatMap((r) => r.bands.map((b) => b.toYears));
    const to = tos.includes(null) ? undefined : Math.max(...(tos as number[]));
    out.push({
      check: 'age-band',
      subject: '',
      value: '',
      unit: 'y',
      expected: { min: from, ...(to !== undefined ? { max: to } : {}) },
      skip: false,
    });
  }
  for (const r of p.ranges) {
    const { min, max, band } = rangeFor(r, ageYears);
    const unit = RANGE_MEASUREMENTS[r.measurement] ?? '';
    const values = findings.filter((f) => f.label === r.label).flatMap((f) => f.measurements.filter((m) => m.key === r.measurement));
    // A segmentation that found none of a label measured 0 of it.
    const measured = values.length > 0 ? values.map((m) => m.value) : [0];
    for (const v of measured) {
      if (v < min || v > max) {
        out.push({
          check: 'range',
          subject: r.label,
          measurement: r.measurement,
          value: round2(v),
          unit,
          expected: { min, max },
          band,
          skip: false,
        });
      }
    }
  }
  return out;
}

/** The whole outcome for a result: the band used and every issue (input checks first). */
export function plausibilityOutcome(
  p: Plausibility | undefined,
  findings: readonly Finding[],
  ageYears: number | undefined,
  inputIssues: readonly PlausibilityIssue[],
): PlausibilityOutcome {
  const ranges = p ? rangeIssues(p, findings, ageYears) : [];
  return { band: p ? bandName(p, ageYears) : 'no expected ranges', ageKnown: ageYears !== undefined, issues: [...inputIssues, ...ranges] };
}

// ---------------------------------------------------------------------------
// Words (English: logs, /api/jobs, audit; the SR's languages are in report/wording.ts)
// ---------------------------------------------------------------------------

const MEASUREMENT_WORDS: Readonly<Record<string, string>> = {
  volumeMl: 'volume',
  volumeMm3: 'volume',
  diameterMm: 'diameter',
  areaMm2: 'area',
  meanHu: 'mean attenuation',
};
const AXIS_WORDS: Readonly<Record<string, string>> = {
  leftRight: 'left-right',
  anteriorPosterior: 'anterior-posterior',
  headFoot: 'head-foot',
};

/** "200–450 ml", "at least 100", "at most 1.5 mm", "one of MR"; `words` gives the language's connectives. */
export function expectedText(
  i: PlausibilityIssue,
  words: { atLeast: string; atMost: string; oneOf: string; sep: string } = {
    atLeast: 'at least',
    atMost: 'at most',
    oneOf: 'one of',
    sep: ', ',
  },
): string {
  const u = i.unit ? ` ${i.unit}` : '';
  const e = i.expected;
  if (e.oneOf) return `${words.oneOf} ${e.oneOf.join(words.sep)}`;
  if (e.min !== undefined && e.max !== undefined) return `${fmt(e.min)}–${fmt(e.max)}${u}`;
  if (e.min !== undefined) return `${words.atLeast} ${fmt(e.min)}${u}`;
  return `${words.atMost} ${fmt(e.max ?? 0)}${u}`;
}

/** One issue in English: "white matter volume 193.8 ml, expected 200–450 ml (child 1–5 y)". */
export function describeIssue(i: PlausibilityIssue): string {
  const u = i.unit ? ` ${i.unit}` : '';
  switch (i.check) {
    case 'range':
      return `${i.subject} ${MEASUREMENT_WORDS[i.measurement ?? ''] ?? i.measurement} ${fmtValue(i.value)}${u}, expected ${expectedText(i)} (${i.band ?? ''})`;
    case 'age-band':
      return `patient age outside the model's age bands (${expectedText(i)}); the union of all bands was used`;
    case 'modality':
      return `modality ${i.value}, expected ${expectedText(i)}`;
    case 'body-part':
      return `body part ${i.value}, expected ${expectedText(i)}`;
    case 'slices':
      return `${i.value} slices, expected ${expectedText(i)}`;
    case 'slice-thickness':
      return `slice thickness ${fmtValue(i.value)}${u}, expected ${expectedText(i)}`;
    case 'coverage':
      return `${AXIS_WORDS[i.subject] ?? i.subject} coverage ${fmtValue(i.value)}${u}, expected ${expectedText(i)}`;
  }
}

/** The flag sentence of a result with issues: "low confidence — outside the expected range: ...; ...". */
export function lowConfidenceText(issues: readonly PlausibilityIssue[]): string {
  return `low confidence — outside the expected range: ${issues.map(describeIssue).join('; ')}`;
}

function fmt(v: number): string {
  return String(Number(v.toFixed(2)));
}

function fmtValue(v: number | string): string {
  return typeof v === 'number' ? fmt(v) : v;
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

// ---------------------------------------------------------------------------
// The verdict on a result
// ---------------------------------------------------------------------------

/**
 * The result with the plausibility contract applied: `plausibility` recorded, `lowConfidence` set
 * when anything is outside it (or the uncertainty was already over the threshold), and the reason
 * in words. Input issues that skip a job never reach here (the job ends before the model runs).
 */
export function applyPlausibility(
  result: SeriesResult,
  manifest: Pick<Manifest, 'plausibility' | 'uncertaintyThreshold'>,
  ageYears: number | undefined,
  inputIssues: readonly PlausibilityIssue[],
): SeriesResult {
  const outcome = plausibilityOutcome(manifest.plausibility, result.findings, ageYears, inputIssues);
  const reasons: string[] = [];
  if (result.lowConfidence)
    reasons.push(
      `low confidence — series uncertainty ${result.uncertainty.toFixed(3)} above the model's threshold ${manifest.uncertaintyThreshold}`,
    );
  if (outcome.issues.length > 0) reasons.push(lowConfidenceText(outcome.issues));
  const applied = manifest.plausibility !== undefined || outcome.issues.length > 0;
  return {
    ...result,
    lowConfidence: reasons.length > 0,
    ...(applied ? { plausibility: outcome } : {}),
    ...(reasons.length > 0 ? { lowConfidenceReason: reasons.join('; ') } : {}),
  };
}

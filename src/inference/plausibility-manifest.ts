/**
 * The manifest's `plausibility` section, validated like the rest of model.json (manifest.ts):
 * every problem at once, each naming its key path, in words a hospital IT person can act on.
 *
 *   "plausibility": {
 *     "ranges": {
 *       "white matter": { "measurement": "volumeMl", "bands": [
 *         { "band": "child 3 y", "fromYears": 3, "toYears": 4, "range": [215, 630], "source": "Zhang H et al. 2022 ..." } ] } },
 *     "inputChecks": { "minSlices": 100, "maxSliceThicknessMm": 1.5,
 *                      "minCoverageMm": { "leftRight": 110, "anteriorPosterior": 130, "headFoot": 90 } }
 *   }
 *
 * Every band must cite its source: a range nobody can trace is worse than none.
 */
import { closestMatch, describeValue, indexPath, isCommentKey, isPlainObject, keyPath } from '../config/problems';
import {
  PATIENT_AXES,
  RANGE_MEASUREMENTS,
  type AgeBand,
  type ExpectedRange,
  type InputChecks,
  type Plausibility,
  type PatientAxis,
} from './plausibility';

type Add = (at: string, message: string) => void;
type Obj = Record<string, unknown>;

const SECTION = 'plausibility';
const KEYS = ['ranges', 'inputChecks'];
const RANGE_KEYS = ['measurement', 'bands'];
const BAND_KEYS = ['band', 'fromYears', 'toYears', 'range', 'source'];
const CHECK_KEYS = ['minSlices', 'maxSliceThicknessMm', 'minCoverageMm'];

/** Validates `raw` (the value of the "plausibility" key); problems go to `add`. */
export function readPlausibility(raw: unknown, labels: readonly string[] | undefined, add: Add): Plausibility | undefined {
  if (!isPlainObject(raw)) {
    add(SECTION, `${describeValue(raw)} is not an object {"ranges": ..., "inputChecks": ...}`);
    return undefined;
  }
  unknownKeys(raw, SECTION, KEYS, add);
  const ranges: ExpectedRange[] = [];
  if (raw['ranges'] !== undefined) {
    const r = raw['ranges'];
    if (!isPlainObject(r)) add(`${SECTION}.ranges`, `${describeValue(r)} is not an object {"<output label>": {...}}`);
    else {
      for (const [label, spec] of Object.entries(r)) {
        if (isCommentKey(label)) continue;
        const range = readRange(label, spec, labels, add);
        if (range) ranges.push(range);
      }
    }
  }
  const inputChecks = raw['inputChecks'] === undefined ? {} : readInputChecks(raw['inputChecks'], add);
  return inputChecks ? { ranges, inputChecks } : undefined;
}

function unknownKeys(obj: Obj, at: string, allowed: readonly string[], add: Add): void {
  for (const key of Object.keys(obj)) {
    if (isCommentKey(key) || allowed.includes(key)) continue;
    const guess = closestMatch(key, allowed);
    add(keyPath(at, key), `unknown key${guess ? `; did you mean "${guess}"?` : `; allowed here: ${allowed.join(', ')}`}`);
  }
}

function readRange(label: string, spec: unknown, labels: readonly string[] | undefined, add: Add): ExpectedRange | undefined {
  const at = keyPath(`${SECTION}.ranges`, label);
  if (labels && !labels.includes(label)) {
    const guess = closestMatch(label, labels);
    add(at, `"${label}" is not one of output.labels${guess ? `; did you mean "${guess}"?` : ` (${labels.join(', ')})`}`);
    return undefined;
  }
  if (!isPlainObject(spec)) {
    add(at, `${describeValue(spec)} is not an object {"measurement": "volumeMl", "bands": [...]}`);
    return undefined;
  }
  unknownKeys(spec, at, RANGE_KEYS, add);
  const known = Object.keys(RANGE_MEASUREMENTS);
  const measurement = spec['measurement'];
  let ok = true;
  if (typeof measurement !== 'string' || !known.includes(measurement)) {
    add(keyPath(at, 'measurement'), `${describeValue(measurement)} is not a measurement the node reports; use one of ${known.join(', ')}`);
    ok = false;
  }
  const rawBands = spec['bands'];
  if (!Array.isArray(rawBands) || rawBands.length === 0) {
    add(
      keyPath(at, 'bands'),
      `${describeValue(rawBands)} is not a non-empty list of age bands [{"band": ..., "fromYears": ..., "range": [min, max], "source": ...}]`,
    );
    return undefined;
  }
  const bands: AgeBand[] = [];
  rawBands.forEach((b: unknown, i: number) => {
    const band = readBand(b, indexPath(keyPath(at, 'bands'), i), add);
    if (band) bands.push(band);
    else ok = false;
  });
  overlaps(bands, keyPath(at, 'bands'), add);
  return ok && typeof measurement === 'string' ? { label, measurement, bands } : undefined;
}

function readBand(raw: unknown, at: string, add: Add): AgeBand | undefined {
  if (!isPlainObject(raw)) {
    add(at, `${describeValue(raw)} is not an age band {"band": ..., "fromYears": ..., "toYears": ..., "range": [min, max], "source": ...}`);
    return undefined;
  }
  unknownKeys(raw, at, BAND_KEYS, add);
  let bad = 0;
  const count: Add = (a, m) => {
    bad++;
    add(a, m);
  };
  const name = text(raw, 'band', at, count, 'a name such as "adult 18+ y"');
  const source = text(raw, 'source', at, count, 'the published study the range comes from (authors, year, journal)');
  const fromYears = raw['fromYears'];
  if (typeof fromYears !== 'number' || !Number.isFinite(fromYears) || fromYears < 0)
    count(keyPath(at, 'fromYears'), `${describeValue(fromYears)} is not an age in years from 0`);
  const toYears = raw['toYears'] ?? null;
  if (
    toYears !== null &&
    (typeof toYears !== 'number' || !Number.isFinite(toYears) || (typeof fromYears === 'number' && toYears <= fromYears))
  )
    count(keyPath(at, 'toYears'), `${describeValue(toYears)} is not an age in years above fromYears (leave it out for no upper limit)`);
  const range = raw['range'];
  const okRange =
    Array.isArray(range) &&
    range.length === 2 &&
    range.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0) &&
    (range[0] as number) < (range[1] as number);
  const shown = Array.isArray(range) ? JSON.stringify(range) : describeValue(range);
  if (!okRange) count(keyPath(at, 'range'), `${shown} is not [min, max] with 0 <= min < max`);
  if (bad > 0 || name === undefined || source === undefined) return undefined;
  const [min, max] = range as [number, number];
  return { name, source, fromYears: fromYears as number, toYears: toYears as number | null, min, max };
}

function text(obj: Obj, key: string, at: string, add: Add, what: string): string | undefined {
  const v = obj[key];
  if (typeof v === 'string' && v.trim() !== '') return v.trim();
  add(keyPath(at, key), v === undefined ? `missing; give ${what}` : `${describeValue(v)} is not a non-empty text`);
  return undefined;
}

/** Two bands of one range covering the same age would make the band chosen depend on their order. */
function overlaps(bands: readonly AgeBand[], at: string, add: Add): void {
  const sorted = [...bands].sort((a, b) => a.fromYears - b.fromYears);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (prev.toYears === null || prev.toYears > cur.fromYears) add(at, `age bands "${prev.name}" and "${cur.name}" overlap`);
  }
}

function readInputChecks(raw: unknown, add: Add): InputChecks | undefined {
  const at = `${SECTION}.inputChecks`;
  if (!isPlainObject(raw)) {
    add(at, `${describeValue(raw)} is not an object {"minSlices": ..., "maxSliceThicknessMm": ..., "minCoverageMm": {...}}`);
    return undefined;
  }
  unknownKeys(raw, at, CHECK_KEYS, add);
  let ok = true;
  const out: { minSlices?: number; maxSliceThicknessMm?: number; minCoverageMm?: Partial<Record<PatientAxis, number>> } = {};
  const minSlices = raw['minSlices'];
  if (minSlices !== undefined) {
    if (typeof minSlices === 'number' && Number.isInteger(minSlices) && minSlices >= 1) out.minSlices = minSlices;
    else {
      ok = false;
      add(keyPath(at, 'minSlices'), `${describeValue(minSlices)} is not a whole number of slices from 1`);
    }
  }
  const maxThick = raw['maxSliceThicknessMm'];
  if (maxThick !== undefined) {
    if (typeof maxThick === 'number' && Number.isFinite(maxThick) && maxThick > 0) out.maxSliceThicknessMm = maxThick;
    else {
      ok = false;
      add(keyPath(at, 'maxSliceThicknessMm'), `${describeValue(maxThick)} is not a thickness in mm above 0`);
    }
  }
  const cov = raw['minCoverageMm'];
  if (cov !== undefined) {
    const cat = keyPath(at, 'minCoverageMm');
    if (!isPlainObject(cov)) {
      ok = false;
      add(cat, `${describeValue(cov)} is not an object {"leftRight": mm, "anteriorPosterior": mm, "headFoot": mm}`);
    } else {
      unknownKeys(cov, cat, PATIENT_AXES, add);
      const c: Partial<Record<PatientAxis, number>> = {};
      for (const axis of PATIENT_AXES) {
        const v = cov[axis];
        if (v === undefined) continue;
        if (typeof v === 'number' && Number.isFinite(v) && v > 0) c[axis] = v;
        else {
          ok = false;
          add(keyPath(cat, axis), `${describeValue(v)} is not a length in mm above 0`);
        }
      }
      out.minCoverageMm = c;
    }
  }
  return ok ? out : undefined;
}

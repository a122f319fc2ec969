/**
 * The plausibility contract (issue 17 item 2): age from the original header, expected ranges by
 * age band with the union for an unknown age, input checks, manifest validation naming the key,
 * and the "low confidence — outside the expected range" statement in every SR form and language.
 * Pure and fast: no model runs here (the real T1 end to end is brain-t1-e2e.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, tmpDir } from './helpers/env';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { writeChestPhantom } from '../fixtures/chest-phantom';
import { parseManifest, ManifestError, type Manifest } from '../src/inference/manifest';
import {
  applyPlausibility,
  coverageMm,
  describeIssue,
  headerIssues,
  rangeFor,
  rangeIssues,
  volumeIssues,
  UNKNOWN_AGE_BAND,
} from '../src/inference/plausibility';
import { originalFacts, patientAgeYears } from '../src/pipeline/original-facts';
import { buildReport } from '../src/report/build-sr';
import { srDump } from '../src/report/sr-dump';
import { readSourceIdentity } from '../src/report/source';
import { REPORT_FORMS, REPORT_LANGUAGES } from '../src/report/forms';
import { readPart10Header } from '../src/dicom/part10';
import { UCUM_ML, type Finding, type SeriesResult } from '../src/inference/findings';
import type { SeriesVolume } from '../src/inference/series-volume';
import { inferText } from '../src/inference/infer-cli';

const MESHNET_MANIFEST = path.join(PROJECT_ROOT, 'models', 'meshnet-gwm', 'model.json');
const NODULE_MANIFEST = path.join(PROJECT_ROOT, 'models', 'lung-nodule-reference', 'model.json');

function manifestAt(file: string): Manifest {
  return parseManifest(JSON.parse(fs.readFileSync(file, 'utf8')), path.relative(PROJECT_ROOT, file));
}

function volumeFinding(id: number, label: string, ml: number): Finding {
  return {
    id,
    label,
    code: { value: '0', scheme: '99DAIN', meaning: label },
    text: `${label} volume ${ml} ml`,
    confidence: 0.9,
    measurements: [{ key: 'volumeMl', concept: { value: '118565006', scheme: 'SCT', meaning: 'Volume' }, value: ml, unit: UCUM_ML }],
  };
}

function brainResult(wm: number, gm: number, lowConfidence = false): SeriesResult {
  return {
    findings: [volumeFinding(1, 'grey matter', gm), volumeFinding(2, 'white matter', wm)],
    impression: `Grey matter volume ${gm} ml`,
    uncertainty: lowConfidence ? 0.4 : 0.1,
    lowConfidence,
    provenance: {
      modelName: 'meshnet-gwm',
      modelVersion: '1.0.0',
      modelSha256: '0'.repeat(64),
      executionProvider: 'cpu',
      preprocessing: 'test',
      deidentification: 'test',
      nodeVersion: '0.0.0',
      durationMs: 1,
    },
  };
}

/** A volume header without pixels: what the input checks look at. */
function fakeVolume(o: {
  slices: number;
  spacing: number;
  orientation: SeriesVolume['orientation'];
  normal: SeriesVolume['normal'];
}): SeriesVolume {
  return {
    modality: 'MR',
    rows: 256,
    columns: 256,
    pixelSpacing: [0.86, 0.86],
    sliceSpacing: o.spacing,
    orientation: o.orientation,
    normal: o.normal,
    slices: Array.from({ length: o.slices }, () => ({}) as SeriesVolume['slices'][number]),
    values: [],
    warnings: [],
  };
}

test('age: Patient Age (D/W/M/Y) first, else birth and study dates; nothing sensible gives undefined', () => {
  assert.equal(patientAgeYears('003Y'), 3);
  assert.equal(patientAgeYears('036M'), 3);
  assert.ok(Math.abs(patientAgeYears('052W')! - 52 / (365.25 / 7)) < 1e-9);
  assert.ok(Math.abs(patientAgeYears('010D')! - 10 / 365.25) < 1e-9);
  // The header's age wins over the dates.
  assert.equal(patientAgeYears('040Y', '20090701', '20130308'), 40);
  const fromDates = patientAgeYears('', '20090701', '20130308')!;
  assert.ok(fromDates > 3.6 && fromDates < 3.7, String(fromDates));
  assert.equal(patientAgeYears(undefined, '20230231', '20240101'), undefined, 'no 31 February');
  assert.equal(patientAgeYears(undefined, '20250101', '20240101'), undefined, 'study before birth');
  assert.equal(patientAgeYears('3 years', undefined, undefined), undefined);
  assert.equal(patientAgeYears(), undefined);
});

test('original facts: age, modality, body part and slice thickness from an original header', () => {
  const [file] = writeChestPhantom({ outDir: tmpDir('facts'), seed: 3, uidRoot: newUidRoot(), slices: 2 }).files;
  const facts = originalFacts(fs.readFileSync(file!));
  assert.equal(facts.modality, 'CT');
  assert.equal(facts.bodyPart, 'CHEST');
  assert.equal(facts.sliceThicknessMm, 2.5);
  // PHANTOM_PATIENT: born 1960-07-04, studied 2026-01-15.
  assert.ok(facts.ageYears! > 65.5 && facts.ageYears! < 65.6, String(facts.ageYears));
});

test('age bands: the band of the age, the union when the age is unknown or outside every band', () => {
  const m = manifestAt(MESHNET_MANIFEST);
  const wm = m.plausibility!.ranges.find((r) => r.label === 'white matter')!;
  for (const b of wm.bands) assert.match(b.source, /\d{4}/, `band "${b.name}" cites a dated source`);
  assert.deepEqual(rangeFor(wm, 3.7), { min: 215, max: 630, band: 'child 3 y' });
  assert.equal(rangeFor(wm, 1.5).band, 'child 1 y');
  assert.deepEqual(rangeFor(wm, 5.99), { min: 245, max: 700, band: 'child 5 y' });
  assert.deepEqual(rangeFor(wm, 6), { min: 225, max: 735, band: 'child 6-12 y' }, 'toYears is exclusive');
  assert.equal(rangeFor(wm, 56).band, 'adult 18+ y');
  assert.deepEqual(rangeFor(wm, undefined), { min: 150, max: 870, band: UNKNOWN_AGE_BAND });
  assert.equal(rangeFor(wm, 0.5).min, 150);
  assert.match(rangeFor(wm, 0.5).band, /outside the model's age bands/);
});

test('MeshNet ranges: each band is derived from its quoted reference by the stated rule, or says APPROXIMATE', () => {
  // The rule written in model.json: [0.8 x reference low, 1.2 x (reference high + 140 ml cerebellum)],
  // rounded outward to 5 ml. A band that could not be read from its source must say so.
  const p = manifestAt(MESHNET_MANIFEST).plausibility!;
  let derived = 0;
  for (const r of p.ranges) {
    for (const b of r.bands) {
      const ref = /reference (\d+(?:\.\d+)?)-(\d+(?:\.\d+)?) ml/.exec(b.source);
      if (!ref) {
        assert.match(b.source, /^APPROXIMATE/, `${r.label} ${b.name}: no reference numbers, so it must say APPROXIMATE`);
        continue;
      }
      derived++;
      const low = Math.floor((0.8 * Number(ref[1])) / 5) * 5;
      const high = Math.ceil((1.2 * (Number(ref[2]) + 140)) / 5) * 5;
      assert.deepEqual([b.min, b.max], [low, high], `${r.label} ${b.name}: range from reference ${ref[1]}-${ref[2]} ml`);
    }
  }
  assert.equal(
    derived,
    16,
    'WM and GM of 1-5 y by year (Zhang 2022), 6-12 y (Caviness 1996), 13-17 y (Healthy Brain Network) and 18+ y (Bethlehem 2022) are derived',
  );
});

test('expected ranges: a child WM of a min-max-only pipeline is flagged with what, value, range and band; in range is not', () => {
  const p = manifestAt(MESHNET_MANIFEST).plausibility!;
  // mr-t1-sag (3-year-old): FreeSurfer conform 247.5 / 638.0 ml; min-max only 193.8 / 589.0 ml.
  // Its WM 247.5 ml is under the 3 y reference's 2.5th centile (272.0 ml, Zhang 2022): inside the range only through the rule's 20 % margin.
  assert.deepEqual(rangeIssues(p, brainResult(247.5, 638).findings, 3.7), []);
  const bad = rangeIssues(p, brainResult(193.8, 589).findings, 3.7);
  assert.equal(bad.length, 1);
  assert.equal(describeIssue(bad[0]!), 'white matter volume 193.8 ml, expected 215–630 ml (child 3 y)');
  // The same numbers for an adult: WM 193.8 is under the adult 260 (BrainChart); GM 589 is inside 275-830.
  assert.deepEqual(
    rangeIssues(p, brainResult(193.8, 589).findings, 40).map((i) => i.subject),
    ['white matter'],
  );
  // The held-back adult scan: min-max gave GM 304 / WM 81. WM is flagged, also when the age is unknown;
  // GM 304 is not: the adult range derived from BrainChart's cortical GMV centiles (lower end 348 ml,
  // less the 20 % margin) goes down to 275 ml, so the flag rests on the white matter alone.
  const unknown = rangeIssues(p, brainResult(81, 304).findings, undefined);
  assert.deepEqual(unknown.map((i) => i.subject).sort(), ['white matter']);
  assert.deepEqual(
    rangeIssues(p, brainResult(81, 304).findings, 40).map((i) => i.subject),
    ['white matter'],
  );
  assert.ok(unknown.every((i) => i.band === UNKNOWN_AGE_BAND));
  // A label the segmentation did not find at all measured 0.
  const missing = rangeIssues(p, [volumeFinding(1, 'grey matter', 600)], 30);
  assert.equal(describeIssue(missing[0]!), 'white matter volume 0 ml, expected 260–870 ml (adult 18+ y)');
  // An infant: outside every band, flagged as such (never the age itself), the union range used.
  const infant = rangeIssues(p, brainResult(250, 500).findings, 0.5);
  assert.deepEqual(
    infant.map((i) => describeIssue(i)),
    ["patient age outside the model's age bands (at least 1 y); the union of all bands was used"],
  );
});

test('applyPlausibility: low confidence with the reason; the uncertainty flag keeps its own reason', () => {
  const m = manifestAt(MESHNET_MANIFEST);
  const ok = applyPlausibility(brainResult(247.5, 638), m, 3.7, []);
  assert.equal(ok.lowConfidence, false);
  assert.equal(ok.lowConfidenceReason, undefined);
  assert.deepEqual(ok.plausibility, { band: 'child 3 y', ageKnown: true, issues: [] });
  const flagged = applyPlausibility(brainResult(193.8, 589), m, 3.7, []);
  assert.equal(flagged.lowConfidence, true);
  assert.equal(
    flagged.lowConfidenceReason,
    'low confidence — outside the expected range: white matter volume 193.8 ml, expected 215–630 ml (child 3 y)',
  );
  const uncertain = applyPlausibility(brainResult(247.5, 638, true), m, undefined, []);
  assert.equal(uncertain.lowConfidence, true);
  assert.match(uncertain.lowConfidenceReason!, /series uncertainty 0\.400 above the model's threshold 0\.3/);
  assert.equal(uncertain.plausibility!.band, UNKNOWN_AGE_BAND);
  assert.equal(uncertain.plausibility!.ageKnown, false);
  // The infer CLI's text says the contract was checked when nothing was outside it, and why when something was.
  assert.match(inferText(ok, true), /^Within the model's expected ranges \(child 3 y\)\.$/m);
  assert.doesNotMatch(inferText(flagged, true), /Within the model's expected ranges/);
  assert.match(inferText(ok, false), /^Within the model's input checks\.$/m, 'no ranges: no band named');
  assert.match(inferText(flagged, true), /^low confidence — outside the expected range: white matter volume 193\.8 ml/m);
});

test('input checks: wrong modality or body part and too few slices skip; thick slices and short coverage flag', () => {
  const m = manifestAt(MESHNET_MANIFEST);
  assert.deepEqual(headerIssues(m.applicability, { modality: 'MR', bodyPart: 'BRAIN' }), []);
  assert.deepEqual(headerIssues(m.applicability, { modality: 'MR' }), [], 'an absent body part is not held against the series');
  const ct = headerIssues(m.applicability, { modality: 'CT', bodyPart: 'CHEST' });
  assert.deepEqual(
    ct.map((i) => [describeIssue(i), i.skip]),
    [
      ['modality CT, expected one of MR', true],
      ['body part CHEST, expected one of BRAIN, HEAD', true],
    ],
  );
  // A sagittal MPRAGE like mr-t1-sag: 193 slices of 0.9 mm across left-right.
  const sagittal = { orientation: [0, 1, 0, 0, 0, -1] as const, normal: [1, 0, 0] as const };
  const good = fakeVolume({ slices: 193, spacing: 0.9, ...sagittal });
  const cov = coverageMm(good);
  assert.ok(Math.abs(cov.leftRight - 193 * 0.9) < 1e-9 && Math.abs(cov.anteriorPosterior - 220.16) < 1e-9, JSON.stringify(cov));
  assert.deepEqual(volumeIssues(m.plausibility!.inputChecks, good, { sliceThicknessMm: 0.9 }), []);
  // A scout-like series: 3 images. Skipped, and its coverage is short too.
  const scout = volumeIssues(m.plausibility!.inputChecks, fakeVolume({ slices: 3, spacing: 0.9, ...sagittal }), {});
  assert.equal(scout[0]!.skip, true);
  assert.equal(describeIssue(scout[0]!), '3 slices, expected at least 100');
  assert.ok(scout.some((i) => describeIssue(i) === 'left-right coverage 3 mm, expected at least 100 mm' && !i.skip));
  // A 2D stack of 5 mm slices: flagged for thickness (the header's, or the spacing when larger).
  const thick = volumeIssues(m.plausibility!.inputChecks, fakeVolume({ slices: 120, spacing: 5, ...sagittal }), { sliceThicknessMm: 4 });
  assert.deepEqual(
    thick.map((i) => [describeIssue(i), i.skip]),
    [['slice thickness 5 mm, expected at most 2 mm', false]],
  );
  // The nodule model: CT chest only; slices over 3 mm flagged.
  const n = manifestAt(NODULE_MANIFEST);
  assert.deepEqual(headerIssues(n.applicability, { modality: 'CT', bodyPart: 'CHEST' }), []);
  assert.equal(headerIssues(n.applicability, { modality: 'MR', bodyPart: 'BRAIN' }).length, 2);
  const axial = { orientation: [1, 0, 0, 0, 1, 0] as const, normal: [0, 0, 1] as const };
  assert.deepEqual(
    volumeIssues(n.plausibility!.inputChecks, fakeVolume({ slices: 60, spacing: 5, ...axial }), { sliceThicknessMm: 5 }).map(describeIssue),
    ['slice thickness 5 mm, expected at most 3 mm'],
  );
});

test('manifest plausibility: every problem at once, each naming its key', () => {
  const base = JSON.parse(fs.readFileSync(MESHNET_MANIFEST, 'utf8')) as Record<string, unknown>;
  const bad = {
    ...base,
    plausibility: {
      ranges: {
        'white mater': { measurement: 'volumeMl', bands: [{ band: 'x', fromYears: 0, range: [1, 2], source: 's' }] },
        'grey matter': {
          measurement: 'volumeLitres',
          bands: [
            { band: 'a', fromYears: 0, toYears: 10, range: [500, 400], source: 'Someone 2001' },
            { band: 'b', fromYears: 5, range: [1, 2] },
            { band: 'c', fromYears: 20, toYears: 10, range: [1, 2], source: 'x', colour: 'red' },
          ],
        },
      },
      inputChecks: { minSlices: 0.5, maxSliceThicknessMm: -1, minCoverageMm: { headFeet: 10, leftRight: 'wide' } },
      extra: true,
    },
  };
  let err: unknown;
  try {
    parseManifest(bad, 'models/m/model.json');
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ManifestError, String(err));
  const problems = err.problems.map((p) => p.replace('models/m/model.json: ', ''));
  const expect = [
    'plausibility.extra: unknown key',
    'plausibility.ranges["white mater"]: "white mater" is not one of output.labels; did you mean "white matter"?',
    'plausibility.ranges["grey matter"].measurement: "volumeLitres" is not a measurement the node reports',
    'plausibility.ranges["grey matter"].bands[0].range: [500,400] is not [min, max] with 0 <= min < max',
    'plausibility.ranges["grey matter"].bands[1].source: missing; give the published study',
    'plausibility.ranges["grey matter"].bands[2].colour: unknown key',
    'plausibility.ranges["grey matter"].bands[2].toYears: 10 is not an age in years above fromYears',
    'plausibility.inputChecks.minSlices: 0.5 is not a whole number',
    'plausibility.inputChecks.maxSliceThicknessMm: -1 is not a thickness',
    'plausibility.inputChecks.minCoverageMm.headFeet: unknown key; did you mean "headFoot"?',
    'plausibility.inputChecks.minCoverageMm.leftRight: "wide" is not a length',
  ];
  for (const e of expect) {
    assert.ok(
      problems.some((p) => p.startsWith(e) || p.replace(/\s+/g, ' ').startsWith(e)),
      `expected a problem starting with\n  ${e}\ngot:\n  ${problems.join('\n  ')}`,
    );
  }
  // Overlapping bands are named too (a and b both cover 5-10 y).
  const overlap = {
    ...base,
    plausibility: {
      ranges: {
        'grey matter': {
          measurement: 'volumeMl',
          bands: [
            { band: 'a', fromYears: 0, toYears: 10, range: [1, 2], source: 'A 2001' },
            { band: 'b', fromYears: 5, range: [1, 2], source: 'B 2002' },
          ],
        },
      },
    },
  };
  assert.throws(() => parseManifest(overlap, 'm.json'), /plausibility\.ranges\["grey matter"\]\.bands: age bands "a" and "b" overlap/);
});

test('the flag in every SR form and both languages: what, value, expected range and band', () => {
  const files = writeSyntheticCtSeries({ outDir: tmpDir('plaus-sr'), count: 2, uidRoot: newUidRoot(), rows: 16, columns: 16 });
  const heads = files.map((f) => readPart10Header(fs.readFileSync(f)));
  const m = manifestAt(MESHNET_MANIFEST);
  const result = applyPlausibility(brainResult(193.8, 589), m, 3.7, []);
  const expected = {
    en: 'Low confidence — outside the expected range: white matter volume 193.8 ml, expected 215–630 ml (child 3 y).',
    'zh-CN': '置信度低——超出预期范围：白质体积 193.8 ml，预期 215–630 ml（年龄段 child 3 y）。',
  };
  for (const form of REPORT_FORMS) {
    for (const language of REPORT_LANGUAGES) {
      const r = buildReport({
        form,
        language,
        sourceFile: fs.readFileSync(files[0]!),
        sourceInstances: heads.map((h) => ({ sopClassUid: h.sopClassUid, sopInstanceUid: h.sopInstanceUid })),
        sourceSeriesInstanceUid: readSourceIdentity(fs.readFileSync(files[0]!)).SeriesInstanceUID!,
        result,
        device: { aeTitle: 'DICOM_AI', deviceUid: '2.25.1', manufacturer: 'test', modelName: 'test', softwareVersion: '0' },
        revision: 1,
        contentDateTime: new Date('2026-03-04T05:06:07Z'),
      });
      const dump = srDump(r.bytes);
      assert.ok(dump.includes(expected[language]), `${form} ${language}:\n${dump}`);
    }
  }
});

/**
 * The SR writer (src/report): reports for a realistic two-nodule result and for a result without
 * findings, from a real CT series of the shared corpus and from a synthetic series, in every form
 * and language. Each report is checked by dicom3tools' dciodvfy (no errors, no warnings) and
 * DCMTK's dsrdump (reads it, prints the expected values), and by the project's own reader
 * (identity copied from the source, evidence complete, references exact). Sources with non-UTF-8
 * character sets (GB18030, ISO 2022 IR 58 / IR 87, Latin-1) must arrive as UTF-8.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { CLI, SHARED_DICOM, tmpDir } from './helpers/env';
import { run } from './helpers/run';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { buildReport, BuiltReport, reportUids, ReportInput } from '../src/report/build-sr';
import type { ReportForm, ReportLanguage } from '../src/report/forms';
import { srDump } from '../src/report/sr-dump';
import { readDatasetHeader } from '../src/dicom/dataset-reader';
import { buildFileMetaInformation, readPart10Header } from '../src/dicom/part10';
import { DataSet, parseDicomFile } from '../src/imaging/dataset';
import { Finding, SeriesResult, UCUM_HU, UCUM_MM } from '../src/inference/findings';

const hasTools =
  spawnSync('dciodvfy', [], { stdio: 'ignore' }).error === undefined &&
  spawnSync('dsrdump', ['--version'], { stdio: 'ignore' }).error === undefined;
const hasData = fs.existsSync(SHARED_DICOM);
const skipTools = !hasTools ? 'dciodvfy/dsrdump not installed' : false;
const skipCorpus = !hasData ? 'shared/data/dicom not found' : skipTools;

const FORMS: ReportForm[] = ['comprehensive3d', 'comprehensive', 'basic-text'];
const LANGUAGES = ['en', 'zh-CN'] as const;
const SR_CLASS: Record<ReportForm, string> = {
  comprehensive3d: '1.2.840.10008.5.1.4.1.1.88.34',
  comprehensive: '1.2.840.10008.5.1.4.1.1.88.33',
  'basic-text': '1.2.840.10008.5.1.4.1.1.88.11',
};
const DEVICE = {
  aeTitle: 'DICOM_AI',
  deviceUid: '2.25.318298118532367137530218463208612345',
  manufacturer: 'dicom-ai-node project',
  modelName: 'dicom-ai-node',
  softwareVersion: '0.1.0',
};
const WHEN = new Date('2026-03-04T05:06:07.890Z');
const DISCLAIMER = {
  en: 'AI-generated result, not verified by a physician. Not for diagnostic use without review.',
  'zh-CN': 'AI 生成的结果，未经医师核实。未经审核不得用于诊断。',
};
const LOW_CONFIDENCE = { en: 'Low confidence — correlate clinically.', 'zh-CN': '置信度低——请结合临床。' };

// ---------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------

interface Source {
  name: string;
  files: string[];
  instances: { sopClassUid: string; sopInstanceUid: string }[];
  seriesUid: string;
  frameOfReferenceUid?: string;
}

function header(file: string | Buffer): Record<string, string> {
  const bytes = typeof file === 'string' ? fs.readFileSync(file) : file;
  const h = readPart10Header(bytes);
  return readDatasetHeader(bytes.subarray(h.datasetOffset), h.transferSyntaxUid, {
    tags: {
      SOPClassUID: 0x00080016,
      SOPInstanceUID: 0x00080018,
      PatientName: 0x00100010,
      PatientID: 0x00100020,
      StudyInstanceUID: 0x0020000d,
      SeriesInstanceUID: 0x0020000e,
      FrameOfReferenceUID: 0x00200052,
      AccessionNumber: 0x00080050,
      StudyDate: 0x00080020,
      StudyTime: 0x00080030,
      StudyID: 0x00200010,
      SpecificCharacterSet: 0x00080005,
      Modality: 0x00080060,
      InstanceNumber: 0x00200013,
      SeriesNumber: 0x00200011,
    },
  }).attributes;
}

function sourceOf(name: string, files: string[]): Source {
  const heads = files.map((f) => header(f));
  const seriesUid = heads[0]!.SeriesInstanceUID!;
  assert.ok(
    heads.every((h) => h.SeriesInstanceUID === seriesUid),
    `${name}: files of one series`,
  );
  return {
    name,
    files,
    seriesUid,
    instances: heads.map((h) => ({ sopClassUid: h.SOPClassUID!, sopInstanceUid: h.SOPInstanceUID! })),
    frameOfReferenceUid: heads[0]!.FrameOfReferenceUID || undefined,
  };
}

function corpusCt(): Source {
  const dir = path.join(SHARED_DICOM, 'pydicom', 'dicomdirtests', '77654033', 'CT2');
  return sourceOf(
    'corpus CT (pydicom dicomdirtests CT2)',
    fs
      .readdirSync(dir)
      .sort()
      .map((f) => path.join(dir, f)),
  );
}

function syntheticCt(): Source {
  const files = writeSyntheticCtSeries({
    outDir: path.join(tmpDir('report-src'), 'ct'),
    count: 5,
    uidRoot: newUidRoot(),
    rows: 16,
    columns: 16,
  });
  return sourceOf('synthetic CT', files);
}

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

const LUNG = { value: '39607008', scheme: 'SCT', meaning: 'Lung' };
const NODULE = { value: '27925004', scheme: 'SCT', meaning: 'Nodule' };
const DIAMETER = { value: '81827009', scheme: 'SCT', meaning: 'Diameter' };
const MEAN = { value: '373098007', scheme: 'SCT', meaning: 'Mean' };

function provenance() {
  return {
    modelName: 'lung-nodule-det',
    modelVersion: '2.1.0',
    modelSha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    executionProvider: 'cpu',
    preprocessing: 'window lung (C -600 / W 1500), 512x512, slice-wise, batch 8',
    deidentification: 'DICOM PS3.15 Basic Application Level Confidentiality Profile',
    nodeVersion: '0.1.0',
    durationMs: 1834.4,
  };
}

/** Two nodules: one POINT on the second instance, one CIRCLE on the last; right and left lung. */
function twoNodules(src: Source): SeriesResult {
  const on = (i: number) => src.instances[Math.min(i, src.instances.length - 1)]!;
  const finding = (id: number, over: Partial<Finding>): Finding => ({
    id,
    label: 'nodule',
    code: NODULE,
    text: 'Solid pulmonary nodule.',
    confidence: 0.5,
    measurements: [],
    ...over,
  });
  return {
    findings: [
      finding(1, {
        confidence: 0.93,
        measurements: [
          { key: 'diameterMm', concept: DIAMETER, value: 8.25, unit: UCUM_MM },
          { key: 'meanHu', concept: MEAN, value: 37, unit: UCUM_HU },
        ],
        site: { code: LUNG, laterality: 'right', text: 'right upper zone' },
        region: { sopClassUid: on(1).sopClassUid, sopInstanceUid: on(1).sopInstanceUid, graphicType: 'POINT', graphicData: [7.5, 6] },
        centre: {
          x: -42.5,
          y: 18.75,
          z: -120.5,
          ...(src.frameOfReferenceUid ? { frameOfReferenceUid: src.frameOfReferenceUid } : { frameOfReferenceUid: '2.25.1001' }),
        },
      }),
      finding(2, {
        confidence: 0.71,
        text: 'Ground-glass nodule.',
        measurements: [
          { key: 'diameterMm', concept: DIAMETER, value: 5.4, unit: UCUM_MM },
          { key: 'meanHu', concept: MEAN, value: -612, unit: UCUM_HU },
        ],
        site: { code: LUNG, laterality: 'left', text: 'left lower zone' },
        region: {
          sopClassUid: on(9).sopClassUid,
          sopInstanceUid: on(9).sopInstanceUid,
          graphicType: 'CIRCLE',
          graphicData: [4, 4, 6.5, 4],
        },
        centre: { x: 51, y: 30.5, z: -160 }, // no frame of reference: no SCOORD3D for this one
      }),
    ],
    impression: 'Two pulmonary nodules, the largest 8.25 mm in the right upper zone.',
    uncertainty: 0.41,
    lowConfidence: true,
    provenance: provenance(),
  };
}

function noFindings(): SeriesResult {
  return { findings: [], impression: 'No pulmonary nodules detected.', uncertainty: 0.05, lowConfidence: false, provenance: provenance() };
}

function input(
  src: Source,
  result: SeriesResult,
  form: ReportForm,
  language: ReportLanguage,
  over: Partial<ReportInput> = {},
): ReportInput {
  return {
    form,
    language,
    sourceFile: fs.readFileSync(src.files[0]!),
    sourceInstances: src.instances,
    sourceSeriesInstanceUid: src.seriesUid,
    result,
    device: DEVICE,
    revision: 1,
    contentDateTime: WHEN,
    ...over,
  };
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

async function dciodvfy(file: string): Promise<{ errors: string[]; warnings: string[] }> {
  const r = await run('dciodvfy', [file]);
  const lines = (r.stdout + r.stderr).split('\n');
  return { errors: lines.filter((l) => l.includes('Error')), warnings: lines.filter((l) => l.includes('Warning')) };
}

async function dsrdump(file: string): Promise<string> {
  // +Pl: long text values in full, so the sentences can be compared.
  const r = await run('dsrdump', ['+Pl', file]);
  assert.equal(r.code, 0, `dsrdump failed on ${path.basename(file)}: ${r.stderr}`);
  return r.stdout;
}

/** Every content item of the tree (depth first), with its parent. */
function walk(ds: DataSet, out: { item: DataSet; parent?: DataSet }[] = [], parent?: DataSet): { item: DataSet; parent?: DataSet }[] {
  for (const child of ds.items(0x0040a730)) {
    out.push({ item: child, parent });
    walk(child, out, child);
  }
  return out;
}

const meaningOf = (ds: DataSet): string | undefined => ds.items(0x0040a043)[0]?.string(0x00080104);

function evidenceUids(ds: DataSet, seqTag: number): string[] {
  const out: string[] = [];
  for (const study of ds.items(seqTag)) {
    for (const series of study.items(0x00081115)) for (const ref of series.items(0x00081199)) out.push(ref.string(0x00081155)!);
  }
  return out;
}

/**
 * Writes the report, runs dciodvfy (no errors; no warnings except "needed to build DICOMDIR" for a
 * study attribute the source itself leaves empty: the report copies study identity, it does not
 * invent a study date) and dsrdump.
 */
async function writeAndValidate(
  t: { diagnostic: (m: string) => void },
  dir: string,
  name: string,
  report: BuiltReport,
  sourceFile: string,
): Promise<{ file: string; dump: string }> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, report.bytes);
  const v = await dciodvfy(file);
  for (const w of v.warnings) t.diagnostic(`${name}: dciodvfy ${w}`);
  assert.deepEqual(v.errors, [], `${name}: dciodvfy errors`);
  const src = header(sourceFile);
  const inherited = (w: string): boolean => {
    const m = /Missing attribute or value that would be needed to build DICOMDIR - Study (ID|Date|Time)$/.exec(w);
    return m !== null && !src[`Study${m[1]}`];
  };
  // Every warning we could fix is fixed; a new one should be looked at, not accumulate.
  assert.deepEqual(
    v.warnings.filter((w) => !inherited(w)),
    [],
    `${name}: dciodvfy warnings`,
  );
  return { file, dump: await dsrdump(file) };
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

for (const [label, makeSource] of [
  ['corpus CT', corpusCt],
  ['synthetic CT', syntheticCt],
] as const) {
  test(
    `SR reports from ${label}: every form and language passes dciodvfy and dsrdump, identity and evidence copied`,
    { skip: label === 'corpus CT' ? skipCorpus : skipTools },
    async (t) => {
      const src = makeSource();
      const dir = tmpDir('report');
      const result = twoNodules(src);
      const srcHead = header(src.files[0]!);
      for (const form of FORMS) {
        for (const language of LANGUAGES) {
          const name = `${form}-${language}.dcm`;
          const report = buildReport(input(src, result, form, language));
          assert.equal(report.sopClassUid, SR_CLASS[form]);
          const { file, dump } = await writeAndValidate(t, dir, name, report, src.files[0]!);

          // Identity: patient and study exactly as in the source.
          const h = header(file);
          assert.equal(h.PatientName, srcHead.PatientName, `${name}: patient name`);
          assert.equal(h.PatientID, srcHead.PatientID, `${name}: patient ID`);
          assert.equal(h.StudyInstanceUID, srcHead.StudyInstanceUID, `${name}: study UID`);
          assert.equal(report.studyInstanceUid, srcHead.StudyInstanceUID);
          assert.equal(h.AccessionNumber, srcHead.AccessionNumber ?? '', `${name}: accession number`);
          assert.equal(h.SpecificCharacterSet, 'ISO_IR 192');
          assert.equal(h.Modality, 'SR');
          assert.equal(h.SeriesInstanceUID, report.seriesInstanceUid);
          assert.notEqual(h.SeriesInstanceUID, src.seriesUid, 'the report is a new series');
          assert.equal(h.InstanceNumber, '1');

          // Evidence: every source instance, exactly once, under the source study and series.
          const { dataSet: ds } = parseDicomFile(fs.readFileSync(file));
          const evidence = ds.items(0x0040a375);
          assert.equal(evidence.length, 1);
          assert.equal(evidence[0]!.string(0x0020000d), srcHead.StudyInstanceUID);
          assert.equal(evidence[0]!.items(0x00081115)[0]!.string(0x0020000e), src.seriesUid);
          assert.deepEqual(
            evidenceUids(ds, 0x0040a375).sort(),
            src.instances.map((i) => i.sopInstanceUid).sort(),
            `${name}: evidence lists all source instances`,
          );
          assert.equal(ds.string(0x0040a491), 'PARTIAL');
          assert.equal(ds.string(0x0040a493), 'UNVERIFIED');
          assert.ok(!ds.has(0x0040a360), 'no predecessor for revision 1');

          // Content, as DCMTK reads it.
          assert.match(dump, form === 'basic-text' ? /Diagnostic Imaging Report/ : /Imaging Measurement Report/);
          assert.ok(dump.includes('8.25'), `${name}: diameter in dsrdump output`);
          assert.ok(dump.includes(DISCLAIMER[language]), `${name}: AI disclaimer round-trips`);
          assert.ok(dump.includes(LOW_CONFIDENCE[language]), `${name}: low-confidence notice`);
          assert.ok(dump.includes('Completion Flag     : PARTIAL') && dump.includes('Verification Flag   : UNVERIFIED'));
          if (language === 'zh-CN') {
            assert.ok(
              dump.includes('(zh,RFC5646,"Chinese")') && dump.includes('(CN,ISO3166_1,"China")'),
              `${name}: language zh / country CN`,
            );
            assert.ok(
              dump.includes('发现 1：结节；右上肺野；直径 8.25 mm，平均密度 37 HU；AI 置信度 93%。'),
              `${name}: Chinese finding sentence`,
            );
          } else {
            assert.ok(dump.includes('(en,RFC5646,"English")'));
            assert.ok(
              dump.includes(
                'Finding 1: Solid pulmonary nodule; diameter 8.25 mm, mean attenuation 37 HU; site: right upper zone; AI confidence 93%.',
              ),
            );
          }

          const items = walk(ds);
          const types = items.map((i) => i.item.string(0x0040a040));
          if (form === 'basic-text') {
            // Basic Text SR: no NUM, no coordinates; image references as IMAGE leaves.
            assert.deepEqual([...new Set(types)].sort(), ['CODE', 'CONTAINER', 'IMAGE', 'TEXT', 'UIDREF']);
            const images = items
              .filter((i) => i.item.string(0x0040a040) === 'IMAGE')
              .map((i) => i.item.items(0x00081199)[0]!.string(0x00081155));
            assert.deepEqual(
              images,
              result.findings.map((f) => f.region!.sopInstanceUid),
            );
            assert.ok(dump.includes('Impressions') && dump.includes('Findings'));
            continue;
          }
          // Image Library: one IMAGE per source instance.
          const library = items.filter((i) => i.parent && meaningOf(i.parent) === 'Image Library Group');
          assert.deepEqual(
            library.map((i) => i.item.items(0x00081199)[0]!.string(0x00081155)).sort(),
            src.instances.map((i) => i.sopInstanceUid).sort(),
          );
          // One measurement group per finding, with a tracking UID and its region on the exact source instance.
          const groups = items.filter((i) => meaningOf(i.item) === 'Measurement Group').map((i) => i.item);
          assert.equal(groups.length, 2);
          const trackingUids = new Set<string>();
          groups.forEach((g, k) => {
            const f = result.findings[k]!;
            const children = g.items(0x0040a730);
            const byName = (m: string) => children.filter((c) => meaningOf(c) === m);
            trackingUids.add(byName('Tracking Unique Identifier')[0]!.string(0x0040a124)!);
            assert.equal(byName('Finding')[0]!.items(0x0040a168)[0]!.string(0x00080100), '27925004');
            const site = byName('Finding Site')[0]!;
            assert.equal(
              site.items(0x0040a730)[0]!.items(0x0040a168)[0]!.string(0x00080104),
              f.site!.laterality === 'right' ? 'Right' : 'Left',
            );
            const scoord = byName('Image Region')[0]!;
            assert.equal(scoord.string(0x00700023), f.region!.graphicType);
            assert.deepEqual(scoord.numbers(0x00700022), f.region!.graphicData);
            const selected = scoord.items(0x0040a730)[0]!;
            assert.equal(selected.string(0x0040a010), 'SELECTED FROM');
            assert.equal(selected.items(0x00081199)[0]!.string(0x00081155), f.region!.sopInstanceUid);
            const diameter = byName('Diameter')[0]!.items(0x0040a300)[0]!;
            assert.equal(diameter.string(0x0040a30a), String(f.measurements[0]!.value));
            assert.equal(diameter.items(0x004008ea)[0]!.string(0x00080100), 'mm');
            assert.equal(
              byName('Certainty of Finding')[0]!.items(0x0040a300)[0]!.string(0x0040a30a),
              String(Math.round(f.confidence * 100)),
            );
            assert.equal(byName('Algorithm Name')[0]!.string(0x0040a160), 'lung-nodule-det');
            const centre = byName('Center');
            if (form === 'comprehensive3d' && f.centre?.frameOfReferenceUid) {
              assert.equal(centre.length, 1, `${name}: SCOORD3D centre of finding ${f.id}`);
              assert.equal(centre[0]!.string(0x0040a040), 'SCOORD3D');
              assert.equal(centre[0]!.string(0x30060024), f.centre.frameOfReferenceUid);
              assert.deepEqual(centre[0]!.numbers(0x00700022), [f.centre.x, f.centre.y, f.centre.z]);
            } else {
              assert.equal(centre.length, 0, `${name}: no SCOORD3D for finding ${f.id}`);
            }
          });
          assert.equal(trackingUids.size, 2, 'tracking UIDs differ per finding');
          if (form === 'comprehensive') assert.ok(!types.includes('SCOORD3D'), 'Comprehensive SR has no SCOORD3D');
        }
      }
    },
  );
}

test('a result without findings still makes a valid report in every form', { skip: skipTools }, async (t) => {
  const src = syntheticCt();
  const dir = tmpDir('report-empty');
  for (const form of FORMS) {
    for (const language of LANGUAGES) {
      const name = `${form}-${language}-empty.dcm`;
      const report = buildReport(input(src, noFindings(), form, language));
      const { dump } = await writeAndValidate(t, dir, name, report, src.files[0]!);
      assert.ok(!dump.includes('Measurement Group'), `${name}: no measurement groups`);
      assert.ok(!dump.includes(LOW_CONFIDENCE[language]), `${name}: no low-confidence notice when not flagged`);
      assert.ok(dump.includes(DISCLAIMER[language]));
      assert.ok(dump.includes(language === 'en' ? 'No pulmonary nodules detected.' : 'AI 未检出异常发现。'), `${name}: impression`);
    }
  }
});

test('UIDs and bytes are deterministic; a revision supersedes its predecessor', { skip: skipTools }, async (t) => {
  const src = syntheticCt();
  const dir = tmpDir('report-rev');
  const result = twoNodules(src);
  const a = buildReport(input(src, result, 'comprehensive3d', 'en'));
  const b = buildReport(input(src, result, 'comprehensive3d', 'en', { sourceInstances: [...src.instances].reverse() }));
  assert.ok(a.bytes.equals(b.bytes), 'same input (instances in any order) -> identical bytes');
  const later = buildReport(input(src, result, 'comprehensive3d', 'en', { contentDateTime: new Date(WHEN.getTime() + 1000) }));
  assert.ok(!a.bytes.equals(later.bytes), 'content time is in the bytes');
  assert.equal(later.sopInstanceUid, a.sopInstanceUid, 'a resend of the same revision keeps its UID');

  const ids = reportUids(src.seriesUid, 'lung-nodule-det', '2.1.0', 1);
  assert.deepEqual(ids, { seriesInstanceUid: a.seriesInstanceUid, sopInstanceUid: a.sopInstanceUid });
  for (const u of [a.seriesInstanceUid, a.sopInstanceUid]) {
    assert.match(u, /^2\.25\.[1-9][0-9]*$/);
    assert.ok(u.length <= 64);
  }
  assert.notEqual(
    reportUids(src.seriesUid, 'lung-nodule-det', '2.1.1', 1).seriesInstanceUid,
    a.seriesInstanceUid,
    'another model version is another series',
  );
  assert.notEqual(reportUids(src.seriesUid, 'other-model', '2.1.0', 1).seriesInstanceUid, a.seriesInstanceUid);

  // Revision 2 without an explicit predecessor: revision 1 of the same form is superseded.
  const r2 = buildReport(
    input(src, result, 'comprehensive3d', 'en', {
      revision: 2,
      sourceInstances: [
        ...src.instances,
        { sopClassUid: src.instances[0]!.sopClassUid, sopInstanceUid: src.instances[0]!.sopInstanceUid + '.99' },
      ],
    }),
  );
  assert.equal(r2.seriesInstanceUid, a.seriesInstanceUid, 'same series');
  assert.notEqual(r2.sopInstanceUid, a.sopInstanceUid, 'new instance');
  assert.equal(r2.sopInstanceUid, reportUids(src.seriesUid, 'lung-nodule-det', '2.1.0', 2).sopInstanceUid);
  const { file, dump } = await writeAndValidate(t, dir, 'rev2.dcm', r2, src.files[0]!);
  assert.ok(dump.includes('Predecessor Docs    : 1'), 'dsrdump sees the predecessor');
  const { dataSet: ds } = parseDicomFile(fs.readFileSync(file));
  assert.deepEqual(evidenceUids(ds, 0x0040a360), [a.sopInstanceUid]);
  const pred = ds.items(0x0040a360)[0]!;
  assert.equal(pred.items(0x00081115)[0]!.string(0x0020000e), a.seriesInstanceUid);
  assert.equal(pred.items(0x00081115)[0]!.items(0x00081199)[0]!.string(0x00081150), a.sopClassUid);
  assert.equal(evidenceUids(ds, 0x0040a375).length, src.instances.length + 1, 'the late instance is in the evidence');
  assert.equal(header(file).InstanceNumber, '2');
  // Tracking UIDs follow the finding across revisions.
  const tracking = (bytes: Buffer) =>
    walk(parseDicomFile(bytes).dataSet)
      .filter((i) => meaningOf(i.item) === 'Tracking Unique Identifier')
      .map((i) => i.item.string(0x0040a124));
  assert.deepEqual(tracking(r2.bytes), tracking(a.bytes));

  // An explicit predecessor (e.g. a Basic Text report) is used as given.
  const basic = buildReport(input(src, result, 'basic-text', 'en'));
  const r2b = buildReport(
    input(src, result, 'comprehensive3d', 'en', {
      revision: 2,
      predecessor: {
        sopClassUid: basic.sopClassUid,
        sopInstanceUid: basic.sopInstanceUid,
        seriesInstanceUid: basic.seriesInstanceUid,
        studyInstanceUid: basic.studyInstanceUid,
      },
    }),
  );
  const pds = parseDicomFile(r2b.bytes).dataSet.items(0x0040a360)[0]!;
  assert.equal(pds.items(0x00081115)[0]!.items(0x00081199)[0]!.string(0x00081150), SR_CLASS['basic-text']);
});

test('bad input is refused with context', () => {
  const src = syntheticCt();
  const result = twoNodules(src);
  assert.throws(() => buildReport(input(src, result, 'comprehensive3d', 'en', { revision: 0 })), /revision must be an integer >= 1/);
  assert.throws(
    () => buildReport(input(src, result, 'comprehensive3d', 'en', { sourceInstances: src.instances.slice(0, 1) })),
    /finding 1: its image region references an instance that is not among sourceInstances/,
  );
  assert.throws(() => buildReport(input(src, result, 'comprehensive3d', 'en', { sourceSeriesInstanceUid: '1.2.3' })), /another series/);
  const bad = {
    ...result,
    findings: [{ ...result.findings[0]!, region: { ...result.findings[0]!.region!, graphicType: 'CIRCLE' as const, graphicData: [1, 2] } }],
  };
  assert.throws(() => buildReport(input(src, bad, 'comprehensive', 'en')), /finding 1: 2 graphic data values do not make a CIRCLE/);
  assert.throws(
    () => buildReport(input(src, result, 'comprehensive', 'en', { sourceFile: Buffer.from('not dicom') })),
    /not a DICOM Part 10 file/,
  );
});

// ---------------------------------------------------------------------------
// Character sets
// ---------------------------------------------------------------------------

/** A minimal Secondary Capture header whose Patient's Name uses ISO 2022 IR 58 (GB 2312 in G1). */
function iso2022Ir58Source(dir: string): { file: string; expected: string } {
  const esc = Buffer.from([0x1b, 0x24, 0x29, 0x41]); // ESC $ ) A: GB 2312 into G1
  const name = Buffer.concat([
    Buffer.from('Zhang^San='),
    esc,
    Buffer.from([0xd5, 0xc5]),
    Buffer.from('^'),
    esc,
    Buffer.from([0xc8, 0xfd]),
    Buffer.from('='),
  ]);
  const root = newUidRoot();
  const el = (g: number, e: number, vr: string, v: Buffer | string): Buffer => {
    let value = typeof v === 'string' ? Buffer.from(v, 'latin1') : v;
    if (value.length % 2) value = Buffer.concat([value, Buffer.from(vr === 'UI' ? [0] : [0x20])]);
    const h = Buffer.alloc(8);
    h.writeUInt16LE(g, 0);
    h.writeUInt16LE(e, 2);
    h.write(vr, 4, 'latin1');
    h.writeUInt16LE(value.length, 6);
    return Buffer.concat([h, value]);
  };
  const ds = Buffer.concat([
    el(0x0008, 0x0005, 'CS', '\\ISO 2022 IR 58'),
    el(0x0008, 0x0016, 'UI', '1.2.840.10008.5.1.4.1.1.7'),
    el(0x0008, 0x0018, 'UI', `${root}.3`),
    el(0x0008, 0x0060, 'CS', 'OT'),
    el(0x0010, 0x0010, 'PN', name),
    el(0x0010, 0x0020, 'LO', 'IR58-0001'),
    el(0x0020, 0x000d, 'UI', `${root}.1`),
    el(0x0020, 0x000e, 'UI', `${root}.2`),
  ]);
  const meta = buildFileMetaInformation({
    mediaStorageSopClassUid: '1.2.840.10008.5.1.4.1.1.7',
    mediaStorageSopInstanceUid: `${root}.3`,
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    implementationClassUid: '2.25.1',
  });
  const file = path.join(dir, 'ir58.dcm');
  fs.writeFileSync(file, Buffer.concat([meta, ds]));
  return { file, expected: 'Zhang^San=张^三=' };
}

test('patient names in GB18030, ISO 2022 IR 58 / IR 87 and Latin-1 sources arrive as UTF-8', { skip: skipCorpus }, async (t) => {
  const dir = tmpDir('report-charset');
  const charsets = path.join(SHARED_DICOM, 'pydicom', 'charset_files');
  const cases = [
    // Expected names: pydicom's charset_files/FileInfo.txt, decoded by hand.
    { file: path.join(charsets, 'chrX2.dcm'), charset: 'GB18030', expected: 'Wang^XiaoDong=王^小东=' },
    { file: path.join(charsets, 'chrH31.dcm'), charset: '\\ISO 2022 IR 87', expected: 'Yamada^Tarou=山田^太郎=やまだ^たろう' },
    { file: path.join(charsets, 'chrFren.dcm'), charset: 'ISO_IR 100', expected: 'Buc^Jérôme' },
    { ...iso2022Ir58Source(dir), charset: '\\ISO 2022 IR 58' },
  ];
  for (const c of cases) {
    const h = header(c.file);
    assert.equal(h.SpecificCharacterSet, c.charset, `${path.basename(c.file)} is the charset this case is about`);
    const src = sourceOf(path.basename(c.file), [c.file]);
    const result: SeriesResult = { ...noFindings(), impression: 'No findings.' };
    for (const form of ['comprehensive3d', 'basic-text'] as const) {
      const name = `${path.basename(c.file, '.dcm')}-${form}.dcm`;
      const report = buildReport(input(src, result, form, 'zh-CN'));
      const { file, dump } = await writeAndValidate(t, dir, name, report, src.files[0]!);
      // The raw bytes: UTF-8 of the expected name, and never the source's encoding of it.
      assert.ok(report.bytes.includes(Buffer.from(c.expected, 'utf8')), `${name}: name as UTF-8 bytes`);
      assert.ok(!report.bytes.includes(0x1b), `${name}: no ISO 2022 escape left`);
      // DCMTK's view and ours.
      assert.ok(dump.includes(c.expected), `${name}: dsrdump prints the decoded name`);
      assert.equal(header(file).PatientName, c.expected);
      const d = await run('dcmdump', ['+P', '0010,0010', file]);
      assert.ok(d.stdout.includes(`[${c.expected}]`), `${name}: dcmdump prints the name`);
    }
  }
});

// ---------------------------------------------------------------------------
// sr-dump
// ---------------------------------------------------------------------------

test('sr-dump CLI prints our reports and the shared TID 1500 samples', { skip: skipCorpus }, async () => {
  const src = syntheticCt();
  const dir = tmpDir('report-dump');
  const file = path.join(dir, 'ours.dcm');
  fs.writeFileSync(file, buildReport(input(src, twoNodules(src), 'comprehensive3d', 'zh-CN')).bytes);
  const ours = await run(process.execPath, [CLI, 'sr-dump', file]);
  assert.equal(ours.code, 0, ours.stderr);
  const out = ours.stdout;
  assert.match(out, /^Comprehensive 3D SR Storage \(1\.2\.840\.10008\.5\.1\.4\.1\.1\.88\.34\)/);
  assert.ok(out.includes('CONTAINER "Imaging Measurement Report" = SEPARATE [DCMR TID 1500]'));
  assert.ok(out.includes('  has concept mod CODE "Language of Content Item and Descendants" = (zh, RFC5646, "Chinese")'));
  assert.ok(
    out.includes('    has concept mod CODE "Country of Language" = (CN, ISO3166_1, "China")'),
    'children indented one level deeper',
  );
  assert.ok(out.includes('contains NUM "Diameter" = 8.25 mm (millimeter)'));
  assert.ok(out.includes(`contains SCOORD "Image Region" = POINT (7.5, 6)`));
  assert.ok(out.includes(`selected from IMAGE = CT Image Storage ${src.instances[1]!.sopInstanceUid}`));
  assert.ok(out.includes(`contains SCOORD3D "Center" = POINT (-42.5, 18.75, -120.5) in frame of reference 2.25.1001`));
  assert.ok(out.includes(`"${DISCLAIMER['zh-CN']}"`), 'UTF-8 text decoded');
  assert.ok(out.includes(`Evidence:      ${src.instances.length} instance(s)`));
  assert.equal(srDump(fs.readFileSync(file)), out, 'the CLI prints what the library returns');

  const sample = path.join(SHARED_DICOM, 'highdicom', 'sr_document.dcm');
  const hd = await run(process.execPath, [CLI, 'sr-dump', sample]);
  assert.equal(hd.code, 0, hd.stderr);
  assert.ok(hd.stdout.includes('CONTAINER "Imaging Measurement Report"'));
  assert.ok(hd.stdout.includes('has obs context TEXT "Tracking Identifier" = "Planar ROI Measurements"'));
  assert.match(hd.stdout, /contains SCOORD "Image Region" = CIRCLE \(\d/);
  assert.match(hd.stdout, /contains NUM "Area of defined region" = 1\.7 cm2/);

  const multi = path.join(SHARED_DICOM, 'highdicom', 'sr_document_with_multiple_groups.dcm');
  const hm = await run(process.execPath, [CLI, 'sr-dump', multi]);
  assert.equal(hm.code, 0, hm.stderr);
  assert.ok(hm.stdout.includes('contains SCOORD3D "Volume Surface" = POINT (123.5, 234.1, -23.7) in frame of reference'));

  const notSr = await run(process.execPath, [CLI, 'sr-dump', src.files[0]!]);
  assert.equal(notSr.code, 1);
  assert.match(notSr.stderr, /not an SR document/);
  const usage = await run(process.execPath, [CLI, 'sr-dump']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage: dicom-ai-node sr-dump FILE/);
});

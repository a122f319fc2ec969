// The job runner's stages, each alone: the pure planning ones (burned-in decision, report set,
// revision, predecessor, deliveries, report rows, result row) and the time limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { burnedInDecision } from '../src/pipeline/burned-in-check';
import { formsNeeded, formUids, planReportSet, predecessorFor, reportRevision } from '../src/pipeline/report-set';
import { destinationsWithoutSegmentation, planDeliveries, reportRows } from '../src/pipeline/delivery-plan';
import { resultRecord } from '../src/pipeline/record-result';
import { seriesInstances, instancesHash } from '../src/pipeline/series-instances';
import { withTimeLimit } from '../src/pipeline/time-limit';
import type { ReportSet, WrittenReport } from '../src/pipeline/write-report-set';
import type { ReportForm } from '../src/report/forms';
import type { InstanceRecord, ReportRecord } from '../src/store/store';
import type { SeriesResult } from '../src/inference/findings';
import { sourceLabelsOrWhyNot } from '../src/inference/source-labels';
import type { PostprocessContext } from '../src/inference/postprocess/types';

const SERIES = '1.2.3.4';

test('burned-in decision: no risk queues plainly; "skip" skips with the reason; "flag" queues with reason and typed flag', () => {
  assert.deepEqual(burnedInDecision([], 'skip'), { state: 'queued', reason: null, burnedInFlag: null });
  assert.deepEqual(burnedInDecision([], 'flag'), { state: 'queued', reason: null, burnedInFlag: null });
  assert.deepEqual(burnedInDecision(['modality US', 'YES'], 'skip'), {
    state: 'skipped',
    reason: 'skipped: burned-in annotation risk (modality US; YES)',
    burnedInFlag: null,
  });
  const flagged = burnedInDecision(['modality US'], 'flag');
  assert.equal(flagged.state, 'queued');
  assert.equal(flagged.burnedInFlag, 'flagged: burned-in annotation risk (modality US)');
  assert.equal(flagged.reason, flagged.burnedInFlag, 'the reason still says so, for a reader of the job list');
});

test('forms needed: every form of every destination of the route, once, in order; Comprehensive 3D when none is named', () => {
  const destinations = {
    A: { reportForms: ['comprehensive3d', 'basic-text'] as ReportForm[] },
    B: { reportForms: ['comprehensive', 'basic-text'] as ReportForm[] },
  };
  assert.deepEqual(formsNeeded(['A', 'B'], destinations), ['comprehensive3d', 'basic-text', 'comprehensive']);
  assert.deepEqual(formsNeeded(['B'], destinations), ['comprehensive', 'basic-text']);
  assert.deepEqual(formsNeeded([], destinations), ['comprehensive3d']);
  assert.deepEqual(formsNeeded(['gone'], destinations), ['comprehensive3d']);
});

test('report revision: 1 at first, the same for the same instances (a rerun), the next for changed instances', () => {
  assert.equal(reportRevision([], 'h1'), 1);
  assert.equal(reportRevision([{ revision: 2, instancesHash: 'h1' }], 'h1'), 2);
  assert.equal(reportRevision([{ revision: 2, instancesHash: 'h1' }], 'h2'), 3);
});

function report(form: string, revision: number, sop: string): ReportRecord {
  return {
    sopInstanceUid: sop,
    sopClassUid: `class-of-${form}`,
    form,
    seriesInstanceUid: SERIES,
    model: 'm',
    modelVersion: '1',
    revision,
    instancesHash: 'h',
    srSeriesInstanceUid: 'sr-series',
    jobId: 1,
    resultId: 1,
    filePath: `/r/${sop}.dcm`,
    createdAt: 1,
  };
}

test('predecessor: the same form of the previous revision, else its most capable SR form, never the key image', () => {
  const previous = [report('basic-text', 1, 'p-basic'), report('key-image', 1, 'p-key'), report('comprehensive', 1, 'p-comp')];
  assert.equal(predecessorFor(previous, 'basic-text', 'study')?.sopInstanceUid, 'p-basic');
  assert.deepEqual(predecessorFor(previous, 'comprehensive3d', 'study'), {
    sopClassUid: 'class-of-comprehensive',
    sopInstanceUid: 'p-comp',
    seriesInstanceUid: 'sr-series',
    studyInstanceUid: 'study',
  });
  assert.equal(predecessorFor([report('key-image', 1, 'p-key')], 'comprehensive3d', 'study'), undefined);
  assert.equal(predecessorFor([], 'comprehensive3d', 'study'), undefined);
});

test('report set plan: deterministic UIDs per form in one SR series, predecessors from revision - 1, key image UIDs when asked', () => {
  const input = {
    seriesInstanceUid: SERIES,
    model: 'm',
    modelVersion: '1',
    revision: 2,
    forms: ['comprehensive3d', 'basic-text'] as ReportForm[],
    previousRevision: [report('comprehensive3d', 1, 'p-3d')],
    studyInstanceUid: 'study',
    withKeyImage: true,
  };
  const plan = planReportSet(input);
  assert.deepEqual(planReportSet(input), plan, 'a rerun plans the very same objects');
  assert.equal(plan.revision, 2);
  assert.deepEqual(
    plan.srs.map((s) => s.form),
    ['comprehensive3d', 'basic-text'],
  );
  const [c3d, basic] = plan.srs;
  assert.ok(c3d && basic);
  assert.equal(c3d.uids.seriesInstanceUid, plan.srSeriesInstanceUid);
  assert.equal(basic.uids.seriesInstanceUid, plan.srSeriesInstanceUid);
  assert.notEqual(c3d.uids.sopInstanceUid, basic.uids.sopInstanceUid, 'different SOP classes, different instances');
  assert.deepEqual(formUids(c3d.uids, 'comprehensive3d'), c3d.uids, 'Comprehensive 3D keeps the base UID');
  assert.equal(c3d.predecessor?.sopInstanceUid, 'p-3d');
  assert.equal(basic.predecessor?.sopInstanceUid, 'p-3d', 'no basic-text before: it supersedes the most capable form');
  assert.ok(plan.keyImage);
  assert.notEqual(plan.keyImage.seriesInstanceUid, plan.srSeriesInstanceUid, 'the key image has a series of its own');
  assert.equal(planReportSet({ ...input, withKeyImage: false }).keyImage, null);
  const first = planReportSet({ ...input, revision: 1, previousRevision: [] });
  assert.equal(first.srSeriesInstanceUid, plan.srSeriesInstanceUid, 'revisions share the SR series');
  assert.notEqual(first.srs[0]?.uids.sopInstanceUid, c3d.uids.sopInstanceUid);
  assert.equal(first.srs[0]?.predecessor, undefined);
});

function written(sop: string): WrittenReport {
  return { sopInstanceUid: sop, sopClassUid: `class-${sop}`, filePath: `/r/${sop}.dcm`, studyInstanceUid: 'study' };
}

function reportSet(keyImage: boolean, segmentation = false): ReportSet {
  return {
    revision: 1,
    srSeriesInstanceUid: 'sr-series',
    srs: new Map<ReportForm, WrittenReport>([
      ['comprehensive3d', written('c3d')],
      ['comprehensive', written('comp')],
      ['basic-text', written('basic')],
    ]),
    keyImage: keyImage ? written('key') : null,
    segmentation: segmentation ? written('seg') : null,
    srsWithoutSegmentation: new Map<ReportForm, WrittenReport>(
      segmentation
        ? [
            ['comprehensive3d', written('c3d-noseg')],
            ['comprehensive', written('comp-noseg')],
          ]
        : [],
    ),
  };
}

test('delivery plan and rows: the Segmentation goes to each destination BEFORE its SR, and is recorded as form "seg"', () => {
  const destinations = { A: { reportForms: ['comprehensive3d'] as ReportForm[] }, B: { reportForms: ['basic-text'] as ReportForm[] } };
  const set = reportSet(true, true);
  assert.deepEqual(
    planDeliveries(['A', 'B'], destinations, set).map((d) => [d.destination, d.sopInstanceUid]),
    [
      ['A', 'seg'],
      ['A', 'c3d'],
      ['A', 'key'],
      ['B', 'seg'],
      ['B', 'basic'],
      ['B', 'key'],
    ],
  );
  const rows = reportRows(set, { jobId: 1, resultId: 2, seriesInstanceUid: SERIES, model: 'm', modelVersion: '1', instancesHash: 'h' });
  assert.deepEqual(
    rows
      .filter((r) => !r.form.endsWith('-without-seg'))
      .map((r) => [r.form, r.sopInstanceUid])
      .at(-1),
    ['seg', 'seg'],
  );
  assert.deepEqual(
    rows.filter((r) => r.form.endsWith('-without-seg')).map((r) => [r.form, r.sopInstanceUid]),
    [
      ['comprehensive3d-without-seg', 'c3d-noseg'],
      ['comprehensive-without-seg', 'comp-noseg'],
    ],
    'the SR variants without segment references are report rows of their own',
  );
});

test('delivery plan with a SEG: a destination that does not take SEG gets the SR variant and no SEG; the others the SEG, then the SR with the variant as a marked fallback', () => {
  const destinations = {
    A: { reportForms: ['comprehensive3d'] as ReportForm[], acceptsSegmentation: true },
    NOSEG: { reportForms: ['comprehensive3d', 'basic-text'] as ReportForm[], acceptsSegmentation: false },
    B: { reportForms: ['basic-text'] as ReportForm[] },
  };
  const set = reportSet(false, true);
  const plan = planDeliveries(['A', 'NOSEG', 'B'], destinations, set);
  assert.deepEqual(
    plan.map((d) => [d.destination, d.sopInstanceUid, d.alternatives.map((a) => [a.sopInstanceUid, a.whenSegmentationMissing])]),
    [
      ['A', 'seg', []],
      ['A', 'c3d', [['c3d-noseg', 'seg']]],
      // Never the SEG, never an SR pointing at it: the variant first, Basic Text (which references no SEG) as fallback.
      ['NOSEG', 'c3d-noseg', [['basic', undefined]]],
      // Basic Text references no SEG: nothing to wait for, no variant.
      ['B', 'seg', []],
      ['B', 'basic', []],
    ],
  );
  assert.deepEqual(destinationsWithoutSegmentation(['A', 'NOSEG', 'B'], destinations, set), ['NOSEG']);
  assert.deepEqual(destinationsWithoutSegmentation(['NOSEG'], destinations, reportSet(false)), [], 'no SEG made: nothing to say');
  assert.deepEqual(
    planDeliveries(['NOSEG'], destinations, reportSet(false)).map((d) => d.sopInstanceUid),
    ['c3d'],
    'without a SEG the destination gets the plain SR',
  );
});

test('report set plan with a SEG: each TID 1500 form also without segment references, under its own deterministic UID in the SR series', () => {
  const input = {
    seriesInstanceUid: SERIES,
    model: 'm',
    modelVersion: '1',
    revision: 2,
    forms: ['comprehensive3d', 'comprehensive', 'basic-text'] as ReportForm[],
    previousRevision: [report('comprehensive3d', 1, 'p-3d'), report('comprehensive3d-without-seg', 1, 'p-3d-noseg')],
    studyInstanceUid: 'study',
    withKeyImage: false,
    withSegmentation: true,
  };
  const plan = planReportSet(input);
  assert.deepEqual(planReportSet(input), plan, 'a rerun plans the very same variants');
  assert.deepEqual(
    plan.srsWithoutSegmentation.map((s) => s.form),
    ['comprehensive3d', 'comprehensive'],
    'Basic Text never references the SEG',
  );
  const uids = [...plan.srs, ...plan.srsWithoutSegmentation].map((s) => s.uids.sopInstanceUid);
  assert.equal(new Set(uids).size, uids.length, 'every object its own SOP Instance UID');
  for (const v of plan.srsWithoutSegmentation) assert.equal(v.uids.seriesInstanceUid, plan.srSeriesInstanceUid);
  assert.equal(plan.srsWithoutSegmentation[0]?.predecessor?.sopInstanceUid, 'p-3d-noseg', 'supersedes what that destination got');
  assert.equal(plan.srsWithoutSegmentation[1]?.predecessor?.sopInstanceUid, 'p-3d', 'else the usual rule');
  assert.deepEqual(planReportSet({ ...input, withSegmentation: false }).srsWithoutSegmentation, []);
  assert.deepEqual(planReportSet({ ...input, revision: 3 }).srsWithoutSegmentation[0]?.uids.seriesInstanceUid, plan.srSeriesInstanceUid);
  assert.notEqual(planReportSet({ ...input, revision: 3 }).srsWithoutSegmentation[0]?.uids.sopInstanceUid, uids[3]);
});

test('delivery plan: each destination its preferred form with the others as fallbacks in order, plus the key image', () => {
  const destinations = {
    A: { reportForms: ['comprehensive3d', 'basic-text'] as ReportForm[] },
    B: { reportForms: ['basic-text'] as ReportForm[] },
  };
  const plan = planDeliveries(['A', 'B', 'gone'], destinations, reportSet(true));
  assert.deepEqual(plan, [
    {
      sopInstanceUid: 'c3d',
      sopClassUid: 'class-c3d',
      filePath: '/r/c3d.dcm',
      destination: 'A',
      alternatives: [{ sopInstanceUid: 'basic', sopClassUid: 'class-basic', filePath: '/r/basic.dcm' }],
    },
    { sopInstanceUid: 'key', sopClassUid: 'class-key', filePath: '/r/key.dcm', destination: 'A', alternatives: [] },
    { sopInstanceUid: 'basic', sopClassUid: 'class-basic', filePath: '/r/basic.dcm', destination: 'B', alternatives: [] },
    { sopInstanceUid: 'key', sopClassUid: 'class-key', filePath: '/r/key.dcm', destination: 'B', alternatives: [] },
  ]);
  assert.equal(planDeliveries(['B'], destinations, reportSet(false)).length, 1, 'no key image, no second delivery');
  const partial: ReportSet = { ...reportSet(false), srs: new Map([['basic-text', written('basic')]]) };
  assert.throws(() => planDeliveries(['A'], destinations, partial), /destination A takes the comprehensive3d form/);
});

test('report rows: the SR forms in order, then the key image, all of one revision and result', () => {
  const rows = reportRows(reportSet(true), {
    jobId: 7,
    resultId: 9,
    seriesInstanceUid: SERIES,
    model: 'm',
    modelVersion: '1',
    instancesHash: 'h',
  });
  assert.deepEqual(
    rows.map((r) => [r.form, r.sopInstanceUid]),
    [
      ['comprehensive3d', 'c3d'],
      ['comprehensive', 'comp'],
      ['basic-text', 'basic'],
      ['key-image', 'key'],
    ],
  );
  for (const r of rows) {
    assert.equal(r.jobId, 7);
    assert.equal(r.resultId, 9);
    assert.equal(r.revision, 1);
    assert.equal(r.srSeriesInstanceUid, 'sr-series');
  }
});

function instance(sop: string): InstanceRecord {
  return {
    sopInstanceUid: sop,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    seriesInstanceUid: SERIES,
    studyInstanceUid: 'study',
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    instanceNumber: null,
    filePath: `/in/${sop}.dcm`,
    sizeBytes: 1,
    callingAeTitle: 'SCU',
    callingHost: '127.0.0.1',
    associationId: 'a',
    receivedAt: 1,
  };
}

test('series instances: the hash does not depend on arrival order; an empty series is refused', () => {
  const ab = seriesInstances(SERIES, [instance('1.1'), instance('1.2')]);
  const ba = seriesInstances(SERIES, [instance('1.2'), instance('1.1')]);
  assert.equal(ab.instancesHash, ba.instancesHash);
  assert.notEqual(ab.instancesHash, instancesHash([{ sopInstanceUid: '1.1' }]));
  assert.throws(() => seriesInstances(SERIES, []), /the series has no stored instances/);
});

test('result row: provenance and counts from the result; the flag and the key image in the JSON when present', () => {
  const result: SeriesResult = {
    findings: [],
    impression: 'No findings.',
    uncertainty: 0.5,
    lowConfidence: true,
    provenance: {
      modelName: 'm',
      modelVersion: '1',
      modelSha256: 'abc',
      executionProvider: 'cpu',
      preprocessing: 'window lung',
      deidentification: 'PS3.15',
      nodeVersion: '0',
      durationMs: 12,
    },
  };
  const series = seriesInstances(SERIES, [instance('1.1'), instance('1.2')]);
  const base = { jobId: 3, model: { name: 'm', version: '1', sha256: 'abc' }, series, result };
  const flagged = resultRecord({ ...base, burnedInFlag: 'flagged: burned-in annotation risk (modality US)', keyImagePath: '/k.png' });
  assert.equal(flagged.instanceCount, 2);
  assert.equal(flagged.instancesHash, series.instancesHash);
  assert.equal(flagged.lowConfidence, true);
  assert.equal(flagged.executionProvider, 'cpu');
  assert.equal(flagged.durationMs, 12);
  const json = JSON.parse(flagged.resultJson) as Record<string, unknown>;
  assert.equal(json.flag, 'flagged: burned-in annotation risk (modality US)');
  assert.equal(json.keyImage, '/k.png');
  assert.equal(json.impression, 'No findings.');
  const plain = JSON.parse(resultRecord({ ...base, burnedInFlag: null, keyImagePath: null }).resultJson) as Record<string, unknown>;
  assert.ok(!('flag' in plain) && !('keyImage' in plain));
});

test('time limit: the work is told to stop and the run fails naming the setting; work in time passes its value through', async () => {
  let aborted: unknown = null;
  await assert.rejects(
    withTimeLimit(0.05, 'inference.timeLimitSeconds', (signal) => {
      signal.addEventListener('abort', () => {
        aborted = signal.reason as unknown;
      });
      return new Promise<never>(() => undefined); // never settles on its own
    }),
    /time limit exceeded \(0\.05 s, inference\.timeLimitSeconds\)/,
  );
  assert.ok(aborted instanceof Error);
  assert.equal(await withTimeLimit(5, 'x', () => Promise.resolve(42)), 42);
  await assert.rejects(
    withTimeLimit(5, 'x', () => Promise.reject(new Error('model failed'))),
    /model failed/,
  );
});

test('SEG wiring: a classification model gives no labels and says why; a planned SEG has UIDs of its own, stable across reruns', () => {
  const ctx = { manifest: { name: 'chest-classifier' } } as unknown as PostprocessContext;
  const why = sourceLabelsOrWhyNot('(classification)', ctx, { findings: [], uncertainty: 0 });
  assert.equal(
    why,
    'model chest-classifier gives no per-voxel label map (post-processing "(classification)"), so there is no Segmentation to send',
  );
  const input = {
    seriesInstanceUid: SERIES,
    model: 'meshnet-gwm',
    modelVersion: '1',
    revision: 1,
    forms: ['comprehensive3d'] as ReportForm[],
    previousRevision: [],
    studyInstanceUid: 'study',
    withKeyImage: false,
  };
  assert.equal(planReportSet(input).segmentation, null, 'no SEG unless asked');
  const plan = planReportSet({ ...input, withSegmentation: true });
  assert.ok(plan.segmentation);
  assert.deepEqual(
    planReportSet({ ...input, withSegmentation: true }).segmentation,
    plan.segmentation,
    'a rerun replaces, never duplicates',
  );
  assert.notEqual(plan.segmentation.seriesInstanceUid, plan.srSeriesInstanceUid, 'the SEG is a series of its own');
  assert.notEqual(
    planReportSet({ ...input, revision: 2, withSegmentation: true }).segmentation?.sopInstanceUid,
    plan.segmentation.sopInstanceUid,
  );
});

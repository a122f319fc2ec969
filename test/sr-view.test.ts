// The dashboard's SR view in the report's language: an SR the node writes in Simplified Chinese
// (and one in English), read back with the node's SR reader, shows its sentences as they are,
// marked with the language the document itself declares (TID 1204: zh + CN -> lang="zh-CN"),
// while the standard's English concept names stay English; measurements keep their units.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildReport } from '../src/report/build-sr';
import type { ReportLanguage } from '../src/report/forms';
import { srContentTree } from '../src/report/sr-dump';
import { declaredLanguage, srView } from '../src/admin/ui/sr-view';
import { UCUM_MM, type SeriesResult } from '../src/inference/findings';
import { writeSyntheticCtSeries, newUidRoot } from '../fixtures/synthetic-ct';
import { tmpDir } from './helpers/env';
import { readDatasetHeader } from '../src/dicom/dataset-reader';
import { readPart10Header } from '../src/dicom/part10';

const files = writeSyntheticCtSeries({
  outDir: path.join(tmpDir('sr-view'), 'ct'),
  count: 3,
  uidRoot: newUidRoot(),
  rows: 16,
  columns: 16,
});
/** Each synthetic instance's UIDs, read with the node's own header reader. */
const heads = files.map((f) => {
  const bytes = fs.readFileSync(f);
  const h = readPart10Header(bytes);
  return readDatasetHeader(bytes.subarray(h.datasetOffset), h.transferSyntaxUid, {
    tags: { SOPInstanceUID: 0x00080018, SeriesInstanceUID: 0x0020000e },
  }).attributes;
});
const uids = heads.map((h) => h.SOPInstanceUID!);

function result(sopInstanceUid: string): SeriesResult {
  return {
    findings: [
      {
        id: 1,
        label: 'nodule',
        code: { value: '27925004', scheme: 'SCT', meaning: 'Nodule' },
        text: 'Solid pulmonary nodule.',
        confidence: 0.93,
        measurements: [
          { key: 'diameterMm', concept: { value: '81827009', scheme: 'SCT', meaning: 'Diameter' }, value: 8.25, unit: UCUM_MM },
        ],
        site: { code: { value: '39607008', scheme: 'SCT', meaning: 'Lung' }, laterality: 'right', text: 'right upper zone' },
        region: { sopClassUid: CT_IMAGE, sopInstanceUid, graphicType: 'POINT', graphicData: [7.5, 6] },
      },
    ],
    impression: 'One pulmonary nodule, 8.25 mm.',
    uncertainty: 0.1,
    lowConfidence: false,
    provenance: {
      modelName: 'lung-nodule-det',
      modelVersion: '2.1.0',
      modelSha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      executionProvider: 'cpu',
      preprocessing: 'window lung (C -600 / W 1500)',
      deidentification: 'DICOM PS3.15 Basic Application Level Confidentiality Profile',
      nodeVersion: '0.1.0',
      durationMs: 1834.4,
    },
  };
}

const CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2';

function viewOf(language: ReportLanguage): { markup: string; declared: string | undefined } {
  const built = buildReport({
    form: 'comprehensive3d',
    language,
    sourceFile: fs.readFileSync(files[0]!),
    sourceInstances: uids.map((u) => ({ sopClassUid: CT_IMAGE, sopInstanceUid: u })),
    sourceSeriesInstanceUid: heads[0]!.SeriesInstanceUID!,
    result: result(uids[1]!),
    device: {
      aeTitle: 'DICOM_AI',
      deviceUid: '2.25.1',
      manufacturer: 'dicom-ai-node project',
      modelName: 'dicom-ai-node',
      softwareVersion: '0.1.0',
    },
    revision: 1,
    contentDateTime: new Date('2026-03-04T05:06:07Z'),
  });
  const doc = srContentTree(built.bytes);
  // The fallback is deliberately the other language: the document's own declaration must win.
  return { markup: srView(doc, language === 'en' ? 'zh-CN' : 'en').markup, declared: declaredLanguage(doc) };
}

test('a zh-CN SR is shown in Chinese, its sentences marked lang="zh-CN" from the document itself', () => {
  const { markup, declared } = viewOf('zh-CN');
  assert.equal(declared, 'zh-CN');
  assert.ok(markup.includes('<span lang="zh-CN">AI 生成的结果，未经医师核实。未经审核不得用于诊断。</span>'), 'the disclaimer, in Chinese');
  assert.match(markup, /<span lang="zh-CN">发现 1：结节；右上肺野；直径 8\.25 mm[^<]*<\/span>/, 'the finding sentence, in Chinese');
  assert.match(markup, /Diameter<\/strong>: <span class="num">8\.25 mm<\/span>/, 'the measurement with its unit');
  assert.doesNotMatch(markup, /lang="en"/);
});

test('an English SR is marked lang="en", whatever report.language says now', () => {
  const { markup, declared } = viewOf('en');
  assert.equal(declared, 'en-US');
  assert.ok(markup.includes('AI-generated result, not verified by a physician.'));
  assert.doesNotMatch(markup, /lang="zh-CN"/);
});

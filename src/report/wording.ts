/**
 * Every sentence the report writes as a text value, in English and Simplified Chinese. Coded
 * concept meanings are not here: they stay the standard's English strings in both languages.
 */
import { Finding, Measurement, SeriesResult } from '../inference/findings';
import type { ReportLanguage } from './forms';
import { describeIssue, expectedText, UNKNOWN_AGE_BAND, type PlausibilityIssue } from '../inference/plausibility';
import type { StackSummary } from '../imaging/stacks';

interface Wording {
  disclaimer: string;
  lowConfidence: string;
  /** One plausibility issue as its own statement: "Low confidence — outside the expected range: ...". */
  outsideRange: (i: PlausibilityIssue) => string;
  noFindings: string;
  completionDescription: string;
  seriesDescription: (model: string, version: string) => string;
  findingSentence: (f: Finding) => string;
  impression: (r: SeriesResult) => string;
  trackingIdentifier: (f: Finding) => string;
  durationText: (ms: number) => string;
  /** Labels of the provenance lines ("Model SHA-256: ..."). */
  provenance: Record<
    'modelSha256' | 'executionProvider' | 'preprocessing' | 'deidentification' | 'nodeVersion' | 'duration' | 'uncertainty',
    string
  >;
  labelled: (label: string, value: string) => string;
  /** The provenance line naming the stack of the series the model was given. */
  stackUsed: (s: StackSummary) => string;
  /** Which grid the volumes were counted on, when a Segmentation (on the source grid) goes with the report. */
  volumeGrid: (preprocessing: string) => string;
}

/** Readable names of measurement keys; anything else falls back to the concept meaning. */
const MEASUREMENT_NAMES: Record<ReportLanguage, Record<string, string>> = {
  en: { diameterMm: 'diameter', meanHu: 'mean attenuation', volumeMl: 'volume', volumeMm3: 'volume', areaMm2: 'area' },
  'zh-CN': { diameterMm: '直径', meanHu: '平均密度', volumeMl: '体积', volumeMm3: '体积', areaMm2: '面积' },
};

const LABELS_ZH: Record<string, string> = {
  nodule: '结节',
  mass: '肿块',
  'ground-glass': '磨玻璃影',
  consolidation: '实变',
  effusion: '积液',
  'white-matter': '白质病变',
};

const LATERALITY_ZH = { right: '右侧', left: '左侧' } as const;

/** Anatomic sites by SNOMED CT code. */
const SITES_ZH: Record<string, string> = { '39607008': '肺', '12738006': '脑', '10200004': '肝', '64033007': '肾' };

/** "right upper zone" -> 右上肺野; other site texts keep the English zone in brackets. */
function siteZh(site: NonNullable<Finding['site']>): string {
  const zone = /^(right|left)\s+(upper|middle|lower)\s+zone$/i.exec(site.text.trim());
  if (zone) {
    const side = zone[1]!.toLowerCase() === 'right' ? '右' : '左';
    const level = { upper: '上', middle: '中', lower: '下' }[zone[2]!.toLowerCase() as 'upper' | 'middle' | 'lower'];
    return `${side}${level}肺野`;
  }
  const lat = site.laterality ? LATERALITY_ZH[site.laterality] : '';
  const name = SITES_ZH[site.code.value] ?? site.code.meaning;
  return site.text ? `${lat}${name}（${site.text}）` : `${lat}${name}`;
}

/** "8.2 mm", "35 HU": UCUM code as a reader expects it. */
function unitText(m: Measurement): string {
  if (m.unit.value === "[hnsf'U]") return 'HU';
  if (m.unit.value === '1') return '';
  return m.unit.value;
}

export function formatValue(v: number): string {
  // At most two decimals (8.25 mm stays 8.25, as in the NUM item), no trailing zeros.
  return String(Number(v.toFixed(2)));
}

function measurementList(f: Finding, lang: ReportLanguage): string {
  return f.measurements
    .map((m) => {
      const name = MEASUREMENT_NAMES[lang][m.key] ?? m.concept.meaning;
      const u = unitText(m);
      return `${name} ${formatValue(m.value)}${u ? ' ' + u : ''}`;
    })
    .join(lang === 'en' ? ', ' : '，');
}

const LABELS_ZH_PLAIN: Record<string, string> = { 'white matter': '白质', 'grey matter': '灰质', nodule: '结节' };
const AXES_ZH: Record<string, string> = { leftRight: '左右方向', anteriorPosterior: '前后方向', headFoot: '头足方向' };

/** A plausibility issue in Chinese (describeIssue is the English). */
function issueZh(i: PlausibilityIssue): string {
  const expected = expectedText(i, { atLeast: '至少', atMost: '至多', oneOf: '以下之一：', sep: '、' });
  const value = `${typeof i.value === 'number' ? formatValue(i.value) : i.value}${i.unit ? ' ' + i.unit : ''}`;
  switch (i.check) {
    case 'range': {
      const what = `${LABELS_ZH_PLAIN[i.subject] ?? i.subject}${MEASUREMENT_NAMES['zh-CN'][i.measurement ?? ''] ?? ''}`;
      const band = i.band === UNKNOWN_AGE_BAND ? '年龄未知：采用所有年龄段的合并范围' : `年龄段 ${i.band ?? ''}`;
      return `${what} ${value}，预期 ${expected}（${band}）`;
    }
    case 'age-band':
      return `患者年龄超出模型的年龄段（${expected}）；采用所有年龄段的合并范围`;
    case 'modality':
      return `模态 ${value}，预期${expected}`;
    case 'body-part':
      return `检查部位 ${value}，预期${expected}`;
    case 'slices':
      return `层数 ${value}，预期${expected}`;
    case 'slice-thickness':
      return `层厚 ${value}，预期${expected}`;
    case 'coverage':
      return `${AXES_ZH[i.subject] ?? i.subject}覆盖范围 ${value}，预期${expected}`;
  }
}

const percent = (c: number): string => `${Math.round(c * 100)}%`;

const EN: Wording = {
  disclaimer: 'AI-generated result, not verified by a physician. Not for diagnostic use without review.',
  lowConfidence: 'Low confidence — correlate clinically.',
  outsideRange: (i) => `Low confidence — outside the expected range: ${describeIssue(i)}.`,
  noFindings: 'No findings detected by the AI model.',
  completionDescription: 'AI-generated, unverified',
  seriesDescription: (model, version) => `AI report: ${model} ${version}`,
  findingSentence: (f) => {
    const parts = [f.text.trim().replace(/\.$/, '')];
    const ms = measurementList(f, 'en');
    if (ms) parts.push(ms);
    if (f.site) parts.push(`site: ${f.site.text}`);
    parts.push(`AI confidence ${percent(f.confidence)}`);
    return `Finding ${f.id}: ${parts.join('; ')}.`;
  },
  impression: (r) => r.impression.trim(),
  trackingIdentifier: (f) => `Finding ${f.id} (${f.label})`,
  volumeGrid: (pre) =>
    `Volumes measured on the model's grid (${pre}); the Segmentation's frames lie on the source slices (labels resampled by nearest neighbour), so its voxel counts differ slightly.`,
  durationText: (ms) => `${Math.round(ms)} ms`,
  provenance: {
    modelSha256: 'Model SHA-256',
    executionProvider: 'Execution provider',
    preprocessing: 'Preprocessing',
    deidentification: 'De-identification before inference',
    nodeVersion: 'dicom-ai-node version',
    duration: 'Inference duration',
    uncertainty: 'Series uncertainty',
  },
  labelled: (label, value) => `${label}: ${value}`,
  stackUsed: (s) => {
    const parts = [`stack ${s.number} of ${s.of}`, s.plane, `${s.slices} slices`];
    if (s.spacingMm !== null) parts.push(`${formatValue(s.spacingMm)} mm apart`);
    if (s.echoNumber !== undefined) parts.push(`echo ${s.echoNumber}`);
    if (s.temporalPosition !== undefined) parts.push(`temporal position ${s.temporalPosition}`);
    if (s.stackId !== undefined) parts.push(`stack ID ${s.stackId}`);
    if (s.tiltCorrectedDeg !== undefined) parts.push(`gantry tilt ${formatValue(s.tiltCorrectedDeg)}° resampled onto an orthogonal grid`);
    return `Image stack used: ${parts.join(', ')}`;
  },
};

const ZH: Wording = {
  disclaimer: 'AI 生成的结果，未经医师核实。未经审核不得用于诊断。',
  lowConfidence: '置信度低——请结合临床。',
  outsideRange: (i) => `置信度低——超出预期范围：${issueZh(i)}。`,
  noFindings: 'AI 模型未检出异常发现。',
  completionDescription: 'AI 生成，未经核实',
  seriesDescription: (model, version) => `AI 报告：${model} ${version}`,
  findingSentence: (f) => {
    const what = LABELS_ZH[f.label] ?? f.code.meaning;
    const parts: string[] = [];
    if (f.site) parts.push(siteZh(f.site));
    const ms = measurementList(f, 'zh-CN');
    if (ms) parts.push(ms);
    parts.push(`AI 置信度 ${percent(f.confidence)}`);
    return `发现 ${f.id}：${what}；${parts.join('；')}。`;
  },
  impression: (r) => {
    if (r.findings.length === 0) return 'AI 未检出异常发现。';
    const counts = new Map<string, number>();
    for (const f of r.findings) {
      const what = LABELS_ZH[f.label] ?? f.code.meaning;
      counts.set(what, (counts.get(what) ?? 0) + 1);
    }
    const list = [...counts].map(([what, n]) => `${what} ${n} 处`).join('，');
    return `AI 共检出 ${r.findings.length} 处发现：${list}。`;
  },
  trackingIdentifier: (f) => `发现 ${f.id}（${LABELS_ZH[f.label] ?? f.label}）`,
  volumeGrid: (pre) => `体积在模型网格上测量（${pre}）；分割对象的帧位于原始层面上（标签按最近邻重采样），其体素计数略有差异。`,
  durationText: (ms) => `${Math.round(ms)} 毫秒`,
  provenance: {
    modelSha256: '模型 SHA-256',
    executionProvider: '推理执行环境',
    preprocessing: '预处理',
    deidentification: '推理前去标识化',
    nodeVersion: 'dicom-ai-node 版本',
    duration: '推理耗时',
    uncertainty: '序列不确定度',
  },
  labelled: (label, value) => `${label}：${value}`,
  stackUsed: (s) => {
    const plane = { axial: '轴位', coronal: '冠状位', sagittal: '矢状位', oblique: '斜位' }[s.plane];
    const parts = [`第 ${s.number} 组（共 ${s.of} 组）`, plane, `${s.slices} 层`];
    if (s.spacingMm !== null) parts.push(`层间距 ${formatValue(s.spacingMm)} mm`);
    if (s.echoNumber !== undefined) parts.push(`回波 ${s.echoNumber}`);
    if (s.temporalPosition !== undefined) parts.push(`时相 ${s.temporalPosition}`);
    if (s.stackId !== undefined) parts.push(`堆栈 ID ${s.stackId}`);
    if (s.tiltCorrectedDeg !== undefined) parts.push(`机架倾斜 ${formatValue(s.tiltCorrectedDeg)}° 已重采样至正交网格`);
    return `所用图像堆栈：${parts.join('，')}`;
  },
};

export function wording(lang: ReportLanguage): Wording {
  return lang === 'zh-CN' ? ZH : EN;
}

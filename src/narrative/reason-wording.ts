/**
 * Why a narrative was not used, as data, worded in every report language. The English wording is
 * what the log, the audit trail and /api/jobs carry; the SR's Comment is worded in the report's
 * own language, so a Chinese report does not explain itself in English. A leaf module, like
 * outcome.ts: report/ words these without depending on the HTTP client.
 */
import type { ReportLanguage } from '../report/forms';

export type Side = 'left' | 'right';
export type Level = 'upper' | 'middle' | 'lower';
export type Dimension = 'length' | 'area' | 'volume' | 'density' | 'percent';
export type OrganName = 'lung' | 'brain' | 'liver' | 'kidney';

export type NarrativeReason =
  | { readonly problem: 'too-long'; readonly length: number; readonly max: number }
  | { readonly problem: 'no-sections' }
  | {
      readonly problem: 'unmatched-number';
      /** The number and unit as the text wrote them. */
      readonly written: string;
      readonly unit: string;
      readonly dimension: Dimension;
      /** The findings' values in that dimension, in its canonical unit (mm, mm², ml, HU, %). */
      readonly measured: readonly number[];
    }
  | { readonly problem: 'side-without-finding'; readonly side: Side }
  | { readonly problem: 'lobe-without-finding'; readonly side?: Side; readonly level: Level }
  | { readonly problem: 'organ-without-finding'; readonly organ: OrganName }
  | { readonly problem: 'claims-no-findings'; readonly findings: number }
  | { readonly problem: 'silent-on-no-findings' }
  | { readonly problem: 'burned-in-risk' }
  | { readonly problem: 'timeout'; readonly seconds: number };

const CANONICAL_UNIT: Record<Dimension, string> = { length: 'mm', area: 'mm²', volume: 'ml', density: 'HU', percent: '%' };

function measuredList(r: Extract<NarrativeReason, { problem: 'unmatched-number' }>, separator: string): string {
  return r.measured.map((v) => `${Number(v.toFixed(2))} ${CANONICAL_UNIT[r.dimension]}`).join(separator);
}

function english(r: NarrativeReason): string {
  switch (r.problem) {
    case 'too-long':
      return `the text is ${r.length} characters long (at most ${r.max})`;
    case 'no-sections':
      return 'the text lacks a FINDINGS or an IMPRESSION section';
    case 'unmatched-number': {
      const measured =
        r.measured.length > 0 ? `measured: ${measuredList(r, ', ')}` : `nothing was measured in ${CANONICAL_UNIT[r.dimension]}`;
      return `"${r.written} ${r.unit}" matches no measured value (${measured})`;
    }
    case 'side-without-finding':
      return `the text names the ${r.side} side, but no finding is on the ${r.side}`;
    case 'lobe-without-finding':
      return `the text names the ${r.side ? `${r.side} ` : ''}${r.level} lung, where no finding is`;
    case 'organ-without-finding':
      return `the text names the ${r.organ}, where no finding is`;
    case 'claims-no-findings':
      return `the text claims there are no findings, but the model reported ${r.findings}`;
    case 'silent-on-no-findings':
      return 'the model reported no findings, but the text does not say so';
    case 'burned-in-risk':
      return 'the series may have burned-in patient data in its pixels, so no image is sent to the narrative model';
    case 'timeout':
      return `no answer within timeoutSeconds (${r.seconds} s)`;
  }
}

const SIDE_ZH: Record<Side, string> = { left: '左', right: '右' };
const LEVEL_ZH: Record<Level, string> = { upper: '上', middle: '中', lower: '下' };
const ORGAN_ZH: Record<OrganName, string> = { lung: '肺', brain: '脑', liver: '肝', kidney: '肾' };

function chinese(r: NarrativeReason): string {
  switch (r.problem) {
    case 'too-long':
      return `文本长 ${r.length} 个字符（上限 ${r.max}）`;
    case 'no-sections':
      return '文本缺少“影像所见”（FINDINGS）或“诊断意见”（IMPRESSION）部分';
    case 'unmatched-number': {
      const measured = r.measured.length > 0 ? `测量值：${measuredList(r, '、')}` : `没有以 ${CANONICAL_UNIT[r.dimension]} 为单位的测量值`;
      return `“${r.written} ${r.unit}”与任何测量值都不符（${measured}）`;
    }
    case 'side-without-finding':
      return `文本提到${SIDE_ZH[r.side]}侧，但${SIDE_ZH[r.side]}侧没有发现`;
    case 'lobe-without-finding':
      return `文本提到${r.side ? SIDE_ZH[r.side] : ''}${LEVEL_ZH[r.level]}肺，但该处没有发现`;
    case 'organ-without-finding':
      return `文本提到${ORGAN_ZH[r.organ]}，但该处没有发现`;
    case 'claims-no-findings':
      return `文本称未见异常，但模型报告了 ${r.findings} 个发现`;
    case 'silent-on-no-findings':
      return '模型未报告任何发现，但文本未说明这一点';
    case 'burned-in-risk':
      return '该序列的像素中可能含有烧录的患者信息，因此未向叙述模型发送任何图像';
    case 'timeout':
      return `在 timeoutSeconds（${r.seconds} 秒）内没有回答`;
  }
}

/** One wording per report language: a language added to REPORT_LANGUAGES must be given its own. */
const WORDING: Record<ReportLanguage, (reason: NarrativeReason) => string> = { en: english, 'zh-CN': chinese };

/** The reason in the given report language. */
export function wordReason(reason: NarrativeReason, language: ReportLanguage): string {
  return WORDING[language](reason);
}

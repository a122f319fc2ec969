/**
 * Grounding: a drafted report text is used only when it says nothing the measurements do not
 * support. Checked, in English and Simplified Chinese:
 *
 *  1. it has a FINDINGS and an IMPRESSION section (and nothing absurdly long);
 *  2. every number written with a unit (mm, cm, ml, cm³, mm², HU, %, 毫米, 厘米, 毫升, ...) equals a
 *     measured value of some finding in that dimension, within the rounding the text used
 *     (8 mm for 8.24 mm is fine, 9 mm is not; 0.8 cm is 8 mm); "8 x 6 mm" checks both numbers;
 *  3. side words (left/right/bilateral, 左/右/双侧) name only sides some finding is on, lobe or
 *     zone words (right upper lobe, 右上肺) only (side, level) pairs of the findings, and organ
 *     words only the findings' sites;
 *  4. "no findings" is not claimed when there are findings ("no other nodules" is allowed), and
 *     when there are none, the text says so.
 *
 * Counts written as words ("two nodules") are not checked; the structured groups beside the
 * text in the SR carry the count.
 */
import type { Finding, Measurement } from '../inference/findings';
import type { ReportLanguage } from '../report/forms';
import { wordReason, type Dimension, type Level, type NarrativeReason, type OrganName, type Side } from './reason-wording';

export interface NarrativeSections {
  readonly findings: string;
  readonly impression: string;
}

export type GroundingVerdict =
  | { readonly ok: true; readonly sections: NarrativeSections }
  /** reason: `why` worded in English (logs, audit, /api/jobs); the SR words `why` in its own language. */
  | { readonly ok: false; readonly reason: string; readonly why: NarrativeReason };

/** Longest text accepted (characters): a report, not an essay. */
const MAX_TEXT = 8000;

/** Unit words -> dimension and factor to the canonical unit (mm, mm², ml, HU, %). Longest first. */
const UNITS: ReadonlyArray<readonly [RegExp, Dimension, number]> = [
  [/^(?:立方厘米|cubic centimet(?:er|re)s?|cm3|cm³|cc)/i, 'volume', 1],
  [/^(?:立方毫米|cubic millimet(?:er|re)s?|mm3|mm³)/i, 'volume', 0.001],
  [/^(?:平方毫米|square millimet(?:er|re)s?|mm2|mm²)/i, 'area', 1],
  [/^(?:平方厘米|square centimet(?:er|re)s?|cm2|cm²)/i, 'area', 100],
  [/^(?:毫升|millilit(?:er|re)s?|ml)/i, 'volume', 1],
  [/^(?:毫米|millimet(?:er|re)s?|mm)/i, 'length', 1],
  [/^(?:厘米|centimet(?:er|re)s?|cm)/i, 'length', 10],
  [/^(?:Hounsfield units?|HU)/i, 'density', 1],
  [/^(?:%|percent|per cent)/i, 'percent', 1],
];

/** A number, optionally more numbers joined by x / by / to / -, then a unit. */
const NUMBER_RUN = /(\d+(?:\.\d+)?)((?:\s*(?:x|×|\*|by|to|-|–|~|～|至|或)\s*\d+(?:\.\d+)?)*)\s*/gi;

export function parseSections(text: string): NarrativeSections | undefined {
  const clean = text.replace(/<think>[\s\S]*?<\/think>/gi, '').replace(/\*\*/g, '');
  const heading = (words: string): RegExp => new RegExp(`(?:^|\\n)\\s*#*\\s*(?:${words})\\s*[:：]?`, 'i');
  const f = heading('FINDINGS|影像所见|所见').exec(clean);
  const i = heading('IMPRESSION|诊断意见|印象').exec(clean);
  if (!f || !i || i.index <= f.index) return undefined;
  const findings = clean.slice(f.index + f[0].length, i.index).trim();
  const impression = clean.slice(i.index + i[0].length).trim();
  if (findings === '' || impression === '') return undefined;
  return { findings, impression };
}

export function ground(text: string, findings: readonly Finding[], language: ReportLanguage): GroundingVerdict {
  const rejected = (why: NarrativeReason): GroundingVerdict => ({ ok: false, reason: wordReason(why, 'en'), why });
  if (text.length > MAX_TEXT) return rejected({ problem: 'too-long', length: text.length, max: MAX_TEXT });
  const sections = parseSections(text);
  if (!sections) return rejected({ problem: 'no-sections' });
  const body = `${sections.findings}\n${sections.impression}`;
  const why =
    unmatchedNumber(body, findings) ??
    sideProblem(body, findings, language) ??
    organProblem(body, findings) ??
    claimProblem(body, findings);
  return why === undefined ? { ok: true, sections } : rejected(why);
}

// ---------------------------------------------------------------------------
// Numbers with units
// ---------------------------------------------------------------------------

interface Measured {
  readonly dimension: Dimension;
  readonly value: number;
}

function measuredValues(findings: readonly Finding[]): Measured[] {
  const out: Measured[] = [];
  for (const f of findings) {
    out.push({ dimension: 'percent', value: f.confidence * 100 });
    for (const m of f.measurements) {
      const d = dimensionOf(m);
      if (d) out.push(d);
    }
  }
  return out;
}

function dimensionOf(m: Measurement): Measured | undefined {
  switch (m.unit.value) {
    case 'mm':
      return { dimension: 'length', value: m.value };
    case 'cm':
      return { dimension: 'length', value: m.value * 10 };
    case 'mm2':
      return { dimension: 'area', value: m.value };
    case 'mm3':
      return { dimension: 'volume', value: m.value / 1000 };
    case 'ml':
    case 'mL':
    case 'cm3':
      return { dimension: 'volume', value: m.value };
    case "[hnsf'U]":
      return { dimension: 'density', value: m.value };
    default:
      return undefined;
  }
}

/** The first number-with-unit that matches no measurement; undefined when all match. */
function unmatchedNumber(body: string, findings: readonly Finding[]): NarrativeReason | undefined {
  const measured = measuredValues(findings);
  for (const match of body.matchAll(NUMBER_RUN)) {
    const after = body.slice(match.index + match[0].length);
    const unit = UNITS.find(([re]) => re.test(after));
    if (!unit) continue;
    const [re, dimension, factor] = unit;
    const unitText = re.exec(after)![0];
    // "8 mmol" or "5 cmH2O" are not these units.
    if (/^[A-Za-z]/.test(unitText) && /^[A-Za-z0-9]/.test(after.slice(unitText.length))) continue;
    const numbers = [match[1]!, ...(match[2] ?? '').split(/[^\d.]+/).filter((s) => /\d/.test(s))];
    for (const written of numbers) {
      if (!matchesSome(written, factor, dimension, measured)) {
        const values = measured.filter((m) => m.dimension === dimension).map((m) => m.value);
        return { problem: 'unmatched-number', written, unit: unitText, dimension, measured: values };
      }
    }
  }
  return undefined;
}

/** Equal within the rounding the text used: "8" stands for [7.5, 8.5), "8.2" for [8.15, 8.25). */
function matchesSome(written: string, factor: number, dimension: Dimension, measured: readonly Measured[]): boolean {
  const value = Number(written);
  const decimals = written.includes('.') ? written.split('.')[1]!.length : 0;
  const half = 0.5 * 10 ** -decimals + 1e-9;
  return measured.some((m) => m.dimension === dimension && Math.abs(m.value / factor - value) <= half);
}

// ---------------------------------------------------------------------------
// Sides, lobes and organs
// ---------------------------------------------------------------------------

function sideOf(f: Finding): Side | undefined {
  if (f.site?.laterality) return f.site.laterality;
  const m = /\b(left|right)\b/i.exec(f.site?.text ?? '');
  return m ? (m[1]!.toLowerCase() as Side) : undefined;
}

function levelOf(f: Finding): Level | undefined {
  const m = /\b(upper|middle|lower)\b/i.exec(f.site?.text ?? '');
  return m ? (m[1]!.toLowerCase() as Level) : undefined;
}

function sidesNamed(body: string, language: ReportLanguage): Set<Side> {
  const sides = new Set<Side>();
  const en = body.toLowerCase();
  if (/\bleft\b/.test(en)) sides.add('left');
  if (/\bright\b/.test(en)) sides.add('right');
  if (/\bbilateral(ly)?\b|\bboth lungs\b/.test(en)) sides.add('left').add('right');
  if (language === 'zh-CN' || /[\u4e00-\u9fff]/.test(body)) {
    // 左右 after a number means "about" (8 毫米左右), not a side.
    const zh = body.replace(/左右/g, '');
    if (zh.includes('左')) sides.add('left');
    if (zh.includes('右')) sides.add('right');
    if (/双侧|双肺|两肺/.test(zh)) sides.add('left').add('right');
  }
  return sides;
}

function sideProblem(body: string, findings: readonly Finding[], language: ReportLanguage): NarrativeReason | undefined {
  // Without findings, "both lungs are clear" names sides truthfully; the claim check decides.
  if (findings.length === 0) return undefined;
  const onSide = new Set(findings.map(sideOf).filter((s): s is Side => s !== undefined));
  for (const side of sidesNamed(body, language)) {
    if (!onSide.has(side)) return { problem: 'side-without-finding', side };
  }
  const sites = new Set(findings.map((f) => `${sideOf(f) ?? ''} ${levelOf(f) ?? ''}`));
  const anyLevel = findings.some((f) => levelOf(f) !== undefined);
  if (!anyLevel) return undefined;
  for (const [side, level] of lobesNamed(body)) {
    const known = side ? sites.has(`${side} ${level}`) : findings.some((f) => levelOf(f) === level);
    if (!known) return side ? { problem: 'lobe-without-finding', side, level } : { problem: 'lobe-without-finding', level };
  }
  return undefined;
}

/** (side, level) of every lobe or zone named: "right upper lobe", "left lower zone", "lingula", 右上肺, 左肺下叶. */
function lobesNamed(body: string): Array<readonly [Side | undefined, Level]> {
  const out: Array<readonly [Side | undefined, Level]> = [];
  for (const m of body.matchAll(/\b(?:(left|right)\s+)?(upper|middle|lower)\s+(?:lobe|zone|lung)/gi))
    out.push([m[1]?.toLowerCase() as Side | undefined, m[2]!.toLowerCase() as Level]);
  if (/\blingula/i.test(body)) out.push(['left', 'upper']);
  const zhLevel = { 上: 'upper', 中: 'middle', 下: 'lower' } as const;
  for (const m of body.matchAll(/([左右])(?:侧)?(?:肺)?([上中下])(?:叶|肺|野)/g))
    out.push([m[1] === '左' ? 'left' : 'right', zhLevel[m[2] as '上' | '中' | '下']]);
  return out;
}

/** Organ words -> SNOMED CT site codes (as the findings carry them). */
const ORGANS: ReadonlyArray<readonly [RegExp, string, OrganName]> = [
  [/\b(lungs?|pulmonary)\b|肺/i, '39607008', 'lung'],
  [/\b(brain|cerebral)\b|脑/i, '12738006', 'brain'],
  [/\b(liver|hepatic)\b|肝/i, '10200004', 'liver'],
  [/\b(kidneys?|renal)\b|肾/i, '64033007', 'kidney'],
];

function organProblem(body: string, findings: readonly Finding[]): NarrativeReason | undefined {
  const sites = new Set(findings.flatMap((f) => (f.site ? [f.site.code.value] : [])));
  if (sites.size === 0) return undefined;
  for (const [re, code, organ] of ORGANS) if (re.test(body) && !sites.has(code)) return { problem: 'organ-without-finding', organ };
  return undefined;
}

// ---------------------------------------------------------------------------
// "No findings" claims
// ---------------------------------------------------------------------------

const NONE_CLAIM_EN =
  /\b(?:no\s+(?!other\b|additional\b|further\b|new\b)(?:\w+\s+){0,3}?(?:findings?|abnormalit(?:y|ies)|nodules?|lesions?|masses)\b|unremarkable|within normal limits|normal (?:study|examination|exam|scan))/i;
const NONE_CLAIM_ZH = /(?:未见|未检出|无)(?!其他|其余)(?:明显)?(?:异常|结节|病灶|肿块|发现)/g;

/** 未见异常 not about "the rest" (余肺未见异常, 其余未见异常 speak of what remains beside the findings). */
function claimsNoneZh(body: string): boolean {
  for (const m of body.matchAll(NONE_CLAIM_ZH)) {
    if (!/余|其他|另/.test(body.slice(Math.max(0, m.index - 4), m.index))) return true;
  }
  return false;
}

function claimProblem(body: string, findings: readonly Finding[]): NarrativeReason | undefined {
  const claimsNone = NONE_CLAIM_EN.test(body) || claimsNoneZh(body);
  if (findings.length > 0 && claimsNone) return { problem: 'claims-no-findings', findings: findings.length };
  if (findings.length === 0 && !claimsNone) return { problem: 'silent-on-no-findings' };
  return undefined;
}

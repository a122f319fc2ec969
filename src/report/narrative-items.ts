/**
 * The narrative drafted by a vision-language model, as SR content items: TEXT "Findings" and
 * "Impression" marked as a machine-generated draft (with the server's model name, the configured
 * model, the prompt's SHA-256 and the backend host), placed BESIDE the structured measurement
 * groups and the template text, never instead of them. A narrative that was not used leaves one
 * labelled Comment saying why; no narrative configured leaves nothing (today's report exactly).
 */
import type { NarrativeOutcome } from '../narrative/outcome';
import { wordReason } from '../narrative/reason-wording';
import { C } from './codes';
import type { ContentItem } from './content';
import type { ReportLanguage } from './forms';

const DRAFT = {
  en: (s: { serverModel: string; configuredModel: string; promptSha256: string; backendHost: string }) =>
    `Machine-generated draft text, not verified by a physician: model reported by the server "${s.serverModel}", configured model "${s.configuredModel}", prompt SHA-256 ${s.promptSha256}, backend host ${s.backendHost}.`,
  'zh-CN': (s: { serverModel: string; configuredModel: string; promptSha256: string; backendHost: string }) =>
    `机器生成的草稿文本，未经医师核实：服务器报告的模型“${s.serverModel}”，配置的模型“${s.configuredModel}”，提示词 SHA-256 ${s.promptSha256}，后端主机 ${s.backendHost}。`,
} as const;

const NOT_USED = {
  en: (kind: string, reason: string) => `Narrative text of the language model not used (${kind}: ${reason}); the template text stands.`,
  'zh-CN': (kind: string, reason: string) => `语言模型的叙述文本未采用（${KIND_ZH[kind] ?? kind}：${reason}）；以模板文本为准。`,
} as const;

const KIND_ZH: Record<string, string> = { rejected: '未通过核对', failed: '请求失败', skipped: '未请求' };

/** Items for the findings part: the draft Findings text and its marking, or why there is none. */
export function narrativeFindingsItems(narrative: NarrativeOutcome | undefined, lang: ReportLanguage): ContentItem[] {
  if (!narrative) return [];
  if (narrative.kind !== 'accepted') {
    // A reason the node words itself is given in the report's language; a transport error's own message as it came.
    const reason = narrative.why ? wordReason(narrative.why, lang) : narrative.reason;
    return [{ rel: 'CONTAINS', type: 'TEXT', name: C.comment, value: NOT_USED[lang](narrative.kind, reason) }];
  }
  return [
    { rel: 'CONTAINS', type: 'TEXT', name: C.findings, value: narrative.findings },
    { rel: 'CONTAINS', type: 'TEXT', name: C.comment, value: DRAFT[lang](narrative.source) },
  ];
}

/** The draft Impression text, when the narrative was accepted. */
export function narrativeImpressionItems(narrative: NarrativeOutcome | undefined): ContentItem[] {
  if (narrative?.kind !== 'accepted') return [];
  return [{ rel: 'CONTAINS', type: 'TEXT', name: C.impression, value: narrative.impression }];
}

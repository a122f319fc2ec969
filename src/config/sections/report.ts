/** `report`: language and equipment identity of the SR the node sends back. */
import { isReportLanguage, type ReportLanguage } from '../../report/forms';
import { nullable, section, text } from '../kinds';
import { describeValue, keyPath } from '../problems';
import type { Kind, SectionSchema } from '../schema';
import type { ReportConfig } from '../types';
import { narrativeSection } from './narrative';

const language: Kind<ReportLanguage> = {
  read(value, at, { problems }) {
    if (isReportLanguage(value)) return value;
    problems.add(
      at,
      `${describeValue(value)} is not a report language this node writes; use "en" (English) or "zh-CN" (Simplified Chinese)`,
    );
    return undefined;
  },
};

export const reportSection: SectionSchema<ReportConfig> = {
  suggestOtherSections: true,
  fields: {
    language: { kind: language, default: 'en', doc: 'report text: `en` (English) or `zh-CN` (Simplified Chinese)' },
    manufacturer: {
      kind: text(64),
      default: 'dicom-ai-node project',
      doc: "written as the SR's Device observer and General Equipment (Manufacturer)",
    },
    modelName: {
      kind: text(64),
      default: 'dicom-ai-node',
      doc: "written as the SR's Device observer and General Equipment (Manufacturer's Model Name)",
    },
    narrative: {
      kind: nullable(section(narrativeSection)),
      default: null,
      defaultDoc: 'none (template text only)',
      doc: 'report text drafted by a vision-language model (OpenAI-compatible server), checked against the measurements',
    },
  },
  check(report, _raw, at, { problems }) {
    const asked = report.narrative?.language;
    if (asked && asked !== report.language)
      problems.add(
        keyPath(keyPath(at, 'narrative'), 'language'),
        `"${asked}" differs from report.language ("${report.language}"); the narrative is written in the report's language`,
      );
  },
};

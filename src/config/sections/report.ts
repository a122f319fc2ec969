/** `report`: language and equipment identity of the SR the node sends back. */
import { isReportLanguage, type ReportLanguage } from '../../report/forms';
import { text } from '../kinds';
import { describeValue } from '../problems';
import type { Kind, SectionSchema } from '../schema';
import type { ReportConfig } from '../types';

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
  },
};

/**
 * The report vocabulary shared by configuration, the job runner and the SR writer: which SR forms
 * the node can build and in which languages it writes them. A leaf module (no imports), so that
 * config/ can name these without depending on the SR writer.
 */

/** SR forms, most capable first: Comprehensive 3D SR (TID 1500), Comprehensive SR, Basic Text SR. */
export const REPORT_FORMS = ['comprehensive3d', 'comprehensive', 'basic-text'] as const;
export type ReportForm = (typeof REPORT_FORMS)[number];

/** Languages of the report text: English, Simplified Chinese. */
export const REPORT_LANGUAGES = ['en', 'zh-CN'] as const;
export type ReportLanguage = (typeof REPORT_LANGUAGES)[number];

export function isReportForm(v: unknown): v is ReportForm {
  return typeof v === 'string' && (REPORT_FORMS as readonly string[]).includes(v);
}

export function isReportLanguage(v: unknown): v is ReportLanguage {
  return typeof v === 'string' && (REPORT_LANGUAGES as readonly string[]).includes(v);
}

// De-identification stage (PS3.15 Annex E Basic Profile + options): pure functions over bytes.
export { deidentifyDataSet, deidentifyPart10, SUPPORTED_OPTIONS } from './deidentify';
export type { DeidAction, DeidOption, DeidOptions, DeidResult } from './deidentify';
export { replacementUid } from './replacement-values';
export { runDeidCli } from './cli';

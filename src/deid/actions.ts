/**
 * From a Table E.1-1 row and the chosen options to the one thing done to an element.
 *
 * Combined Basic Profile actions are resolved towards IOD conformance (PS3.15 E.3: "X/Z" means X
 * unless Z is needed for a Type 2 attribute, "X/D" and "Z/D" mean D when a value is needed, ...).
 * Without the IOD's attribute types at hand we always take the variant that keeps the attribute:
 *   X/Z -> Z (but X for Referenced Study Sequence, see XZ_AS_X),  X/D -> D,  Z/D -> D,  X/Z/D -> D,
 *   X/Z/U* (Referenced Image / Source Image Sequence) -> U: keep the sequence, replace the UIDs
 *   inside it (the items are de-identified recursively anyway).
 * This never leaves more identifying data than X would (Z is empty, D is a dummy) and avoids
 * new dciodvfy errors for Type 1/2 attributes.
 *
 * Options: each enabled option whose column has K or C for the row overrides the basic action;
 * when enabled options disagree, C (modify/clean) wins over K (keep), being the more protective.
 * A C from "retain-long-modified-dates" means "shift the date"; a C from any other column means
 * "clean" (see deidentify.ts: the value is kept only if it contains none of the data set's
 * identifying values, else it gets a dummy).
 */
import { BasicAction, ProfileRow } from './profile-table';

/** The resolved action: the letters of PS3.15 plus which kind of C applies. */
export type ResolvedAction = 'X' | 'Z' | 'D' | 'K' | 'U' | 'C-shift' | 'C-clean';

export const SUPPORTED_OPTIONS = [
  'retain-long-modified-dates',
  'retain-long-full-dates',
  'retain-patient-characteristics',
  'retain-device-identity',
  'retain-institution-identity',
  'retain-uids',
  'retain-safe-private',
  'clean-descriptors',
] as const;
export type DeidOption = (typeof SUPPORTED_OPTIONS)[number];

export function isDeidOption(s: string): s is DeidOption {
  return (SUPPORTED_OPTIONS as readonly string[]).includes(s);
}

const BASIC_RESOLUTION: Readonly<Record<BasicAction, ResolvedAction>> = {
  D: 'D',
  Z: 'Z',
  X: 'X',
  K: 'K',
  C: 'C-clean',
  U: 'U',
  'X/Z': 'Z',
  'X/D': 'D',
  'Z/D': 'D',
  'X/Z/D': 'D',
  'X/Z/U*': 'U',
};

/**
 * X/Z rows resolved to X instead: Referenced Study Sequence is Type 3 wherever storage IODs use
 * it, and an empty (Z) sequence there is an error ("1-n items required") where absence is not.
 */
const XZ_AS_X = new Set(['00081110']);

/** The action for `row` under `options`. */
export function resolveAction(row: ProfileRow, options: ReadonlySet<DeidOption>): ResolvedAction {
  let keep = false;
  let shift = false;
  let clean = false;
  for (const [option, value] of Object.entries(row.options)) {
    if (!options.has(option as DeidOption)) continue;
    if (value === 'K') keep = true;
    else if (value === 'C') {
      if (option === 'retain-long-modified-dates') shift = true;
      else clean = true;
    }
  }
  if (shift) return 'C-shift';
  if (clean) return 'C-clean';
  if (keep) return 'K';
  if (row.basic === 'X/Z' && XZ_AS_X.has(row.tag)) return 'X';
  return BASIC_RESOLUTION[row.basic];
}

/** Plain PS3.15 letters, for reports. */
export function actionLetter(a: ResolvedAction): 'X' | 'Z' | 'D' | 'K' | 'U' | 'C' {
  return a === 'C-shift' || a === 'C-clean' ? 'C' : a;
}

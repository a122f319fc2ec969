/**
 * PS3.15 Table E.1-1 (Application Level Confidentiality Profile Attributes) as the product uses it,
 * from the project's own dicom-dictionary/deid-profile.json (derived at development time by
 * scripts/derive-deid-table.js; the product never reads ../shared).
 */
import table from '../../dicom-dictionary/deid-profile.json';

/** Basic Profile column values that occur in the table. */
export type BasicAction = 'D' | 'Z' | 'X' | 'K' | 'C' | 'U' | 'X/Z' | 'X/D' | 'Z/D' | 'X/Z/D' | 'X/Z/U*';

export interface ProfileRow {
  /** 'private' for the "(gggg,eeee) where gggg is odd" row; else 8 hex digits. */
  tag: string;
  mask: string | null;
  name: string;
  basic: BasicAction;
  vr: string | null;
  /** option keyword -> 'K' | 'C' */
  options: Record<string, string>;
}

export const PROFILE_SOURCE: string = table.source;
export const PROFILE_ROWS: readonly ProfileRow[] = table.rows as ProfileRow[];

const EXACT = new Map<number, ProfileRow>();
const MASKED: { value: number; mask: number; row: ProfileRow }[] = [];
let PRIVATE_ROW: ProfileRow | undefined;
for (const row of PROFILE_ROWS) {
  if (row.tag === 'private') PRIVATE_ROW = row;
  else if (row.mask === null) EXACT.set(parseInt(row.tag, 16) >>> 0, row);
  else MASKED.push({ value: parseInt(row.tag, 16) >>> 0, mask: parseInt(row.mask, 16) >>> 0, row });
}

const SEQUENCES = new Set<number>(table.sequences.map((t: string) => parseInt(t, 16) >>> 0));

export function isPrivateTag(tag: number): boolean {
  return ((tag >>> 16) & 1) === 1;
}

/** The Table E.1-1 row governing `tag`, if any (private groups map to the private row). */
export function profileRowFor(tag: number): ProfileRow | undefined {
  if (isPrivateTag(tag)) return PRIVATE_ROW;
  const exact = EXACT.get(tag >>> 0);
  if (exact) return exact;
  for (const m of MASKED) if ((tag & m.mask) >>> 0 === m.value) return m.row;
  return undefined;
}

/** True when the standard dictionary defines `tag` as a sequence (SQ). */
export function isSequenceTag(tag: number): boolean {
  return SEQUENCES.has(tag >>> 0);
}

/**
 * Small helpers shared by the configuration validator: key-path formatting,
 * human-readable value descriptions and "did you mean" suggestions.
 */

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `parent.key`, or `parent["odd key"]` when the key is not a plain identifier. */
export function keyPath(parent: string, key: string): string {
  if (IDENTIFIER.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

/** `parent[index]`. */
export function indexPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

/** Keys starting with "//" are treated as comments everywhere and ignored. */
export function isCommentKey(key: string): boolean {
  return key.startsWith('//');
}

/** Describes a JSON value the way it appears in the file, shortened if long. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list []' : 'a list [...]';
  switch (typeof value) {
    case 'string': {
      const text = JSON.stringify(value);
      return text.length > 60 ? `${text.slice(0, 56)}..."` : text;
    }
    case 'number':
    case 'boolean':
      return String(value);
    case 'object':
      return 'an object {...}';
    case 'undefined':
      return 'undefined';
    case 'bigint':
      return String(value);
    case 'symbol':
      return value.toString();
    default:
      // A function: never produced by JSON.parse.
      return 'a function';
  }
}

/** Plain JSON object (not null, not an array). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Optimal-string-alignment edit distance (Levenshtein plus adjacent
 * transpositions), so "aeTitel" is one edit away from "aeTitle".
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = [];
  for (let i = 0; i < rows; i++) {
    const row = new Array<number>(cols).fill(0);
    row[0] = i;
    d.push(row);
  }
  for (let j = 0; j < cols; j++) d[0]![j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate closest to `input` (case-insensitive), if it is close enough
 * to be a plausible typo; otherwise undefined.
 */
export function closestMatch(input: string, candidates: readonly string[]): string | undefined {
  const needle = input.trim().toLowerCase();
  if (needle === '') return undefined;
  // "logging" for "log", "dest" for "destinations": when one is a prefix of the other, that is
  // what was meant, even if another key happens to be fewer edits away ("routing").
  const prefix = candidates.find((candidate) => {
    const c = candidate.toLowerCase();
    return c !== needle && Math.min(c.length, needle.length) >= 3 && (c.startsWith(needle) || needle.startsWith(c));
  });
  if (prefix !== undefined) return prefix;
  const limit = needle.length <= 3 ? 1 : needle.length <= 5 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(needle, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

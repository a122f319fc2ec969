/**
 * The kinds of value the configuration tables use (see schema.ts): each reads one JSON value,
 * words any problem for a hospital's IT admin, and returns undefined when the value is unusable.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { isIP } from 'node:net';

import { isValidCron } from '../housekeeping/cron';
import { describeValue } from './problems';
import { type Kind, type NestedSection, type ReadContext, type SectionSchema, readSection, resolvePath, sectionObject } from './schema';

const AE_RULES = 'a DICOM AE title is at most 16 characters (letters, digits, space, _ - . ; no backslash)';
export const HOST_NAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
/** Longest timeout or wait in seconds the node accepts (one day). */
export const MAX_SECONDS = 86400;

/** AE titles are space-padded on the wire; only spaces are trimmed (PS3.5 6.2). */
export function trimAe(text: string): string {
  return text.replace(/^ +| +$/g, '');
}

/** DICOM AE title: 1-16 characters after trimming spaces, printable ASCII except backslash. */
export const aeTitle: Kind<string> = {
  read(value, at, { problems }) {
    if (typeof value !== 'string') {
      problems.add(at, `${describeValue(value)} is not an AE title; write it as text in double quotes, e.g. "CT01"`);
      return undefined;
    }
    const ae = trimAe(value);
    const shown = JSON.stringify(ae);
    if (ae === '') {
      problems.add(at, `${describeValue(value)} is empty; ${AE_RULES.replace('at most', '1 to')}`);
      return undefined;
    }
    const reasons: string[] = [];
    if (hasControlCharacter(ae)) reasons.push(`${shown} contains a control character (such as a tab or line break)`);
    if (ae.includes('\\')) reasons.push(`${shown} contains a backslash (\\)`);
    const nonAscii = firstNonAscii(ae);
    if (nonAscii !== undefined) reasons.push(`${shown} contains "${nonAscii}", which is not a plain ASCII character`);
    if (ae.length > 16) reasons.push(`${shown} is ${ae.length} characters`);
    if (reasons.length > 0) {
      problems.add(at, `${reasons.join('; ')}; ${AE_RULES}`);
      return undefined;
    }
    return ae;
  },
};

/** C0 controls and DEL, checked by code unit (a regex of control characters reads as a mistake). */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code <= 0x1f || code === 0x7f) return true;
  }
  return false;
}

/** The first character (whole code point) outside ASCII, if any. */
function firstNonAscii(text: string): string | undefined {
  for (const char of text) if (char.codePointAt(0)! > 0x7f) return char;
  return undefined;
}

export const host: Kind<string> = {
  read(value, at, { problems }) {
    if (typeof value !== 'string') {
      problems.add(at, `${describeValue(value)} is not an IP address or host name; write it as text, e.g. "10.0.0.20"`);
      return undefined;
    }
    const text = value.trim();
    if (isIP(text) !== 0) return text;
    let hint = '';
    if (text === '') hint = ' (it is empty)';
    else if (/^[^:]+:\d+$/.test(text)) hint = '; put the port number in "port", not in the host';
    else if (text.includes('://')) hint = '; write only the address, without http:// or similar';
    else if (/^[0-9.]+$/.test(text)) hint = ' (IPv4 addresses are four numbers 0-255, e.g. 10.0.0.5)';
    else if (HOST_NAME.test(text)) return text;
    problems.add(at, `${describeValue(value)} is not an IP address or host name${hint}`);
    return undefined;
  },
};

/** A TCP port; `allowZero` for listeners (tests let the OS pick a free port). */
export function port(allowZero: boolean): Kind<number> {
  return {
    read(value, at, { problems }) {
      if (typeof value === 'number' && Number.isInteger(value) && value >= (allowZero ? 0 : 1) && value <= 65535) return value;
      const quoted = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? `; write the number without quotes: ${value.trim()}` : '';
      problems.add(at, `${describeValue(value)} is not a TCP port (1-65535)${quoted}`);
      return undefined;
    },
  };
}

export const boolean: Kind<boolean> = {
  read(value, at, { problems }) {
    if (typeof value === 'boolean') return value;
    const hint =
      typeof value === 'string' && /^(true|false)$/i.test(value.trim()) ? `; write ${value.trim().toLowerCase()} without quotes` : '';
    problems.add(at, `${describeValue(value)} should be true or false${hint}`);
    return undefined;
  },
};

export interface NumberRange {
  readonly min: number;
  /** The minimum itself is not allowed (timeouts must be > 0). */
  readonly minExclusive?: boolean;
  readonly max?: number;
  /** Named in problems: "a whole number of <unit> ...". */
  readonly unit: string;
}

/** A whole number within a range. */
export function integer(range: NumberRange): Kind<number> {
  return numberKind(true, range);
}

/** Any finite number within a range. */
export function decimal(range: NumberRange): Kind<number> {
  return numberKind(false, range);
}

function numberKind(wholeOnly: boolean, range: NumberRange): Kind<number> {
  const expected = describeRange(wholeOnly, range);
  return {
    read(value, at, { problems }) {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        const asNumber = typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
        const hint = typeof value === 'string' && Number.isFinite(asNumber) ? `; write the number without quotes: ${value}` : '';
        problems.add(at, `${describeValue(value)} is not a number; expected ${expected}${hint}`);
        return undefined;
      }
      if (wholeOnly && !Number.isInteger(value)) {
        problems.add(at, `${value} is not a whole number; expected ${expected}`);
        return undefined;
      }
      const tooLow = range.minExclusive ? value <= range.min : value < range.min;
      const tooHigh = range.max !== undefined && value > range.max;
      if (tooLow || tooHigh) {
        problems.add(at, `${value} is out of range; expected ${expected}`);
        return undefined;
      }
      return value;
    },
  };
}

function describeRange(wholeOnly: boolean, range: NumberRange): string {
  const kind = wholeOnly ? `a whole number of ${range.unit}` : `a number of ${range.unit}`;
  if (range.minExclusive) {
    return range.max !== undefined ? `${kind} greater than ${range.min} and at most ${range.max}` : `${kind} greater than ${range.min}`;
  }
  return range.max !== undefined && range.max < Number.MAX_SAFE_INTEGER
    ? `${kind} from ${range.min} to ${range.max}`
    : `${kind}, at least ${range.min}`;
}

/** One of a few words (surrounding spaces ignored). */
export function choice<T extends string>(choices: readonly T[]): Kind<T> {
  return {
    read(value, at, { problems }) {
      const trimmed = typeof value === 'string' ? value.trim() : undefined;
      const known = choices.find((c) => c === trimmed);
      if (known !== undefined) return known;
      problems.add(at, `${describeValue(value)} should be one of: ${choices.join(', ')}`);
      return undefined;
    },
  };
}

/** A non-empty path, resolved against the config file's folder (so is a text default). */
export const filePath: Kind<string> = {
  resolvesDefault: true,
  read(value, at, { problems, configDir }) {
    if (typeof value !== 'string' || value.trim() === '') {
      problems.add(at, `${describeValue(value)} is not a usable path; write a folder or file path as text, e.g. "./data"`);
      return undefined;
    }
    return resolvePath(configDir, value.trim());
  },
};

/** A path to a file the node can read now (certificates, keys). */
export const readableFile: Kind<string> = {
  read(value, at, ctx) {
    const file = filePath.read(value, at, ctx);
    if (file === undefined) return undefined;
    try {
      accessSync(file, fsConstants.R_OK);
    } catch {
      ctx.problems.add(at, `${file} does not exist or cannot be read by the node`);
      return undefined;
    }
    return file;
  },
};

/** A node-cron schedule; `hint` completes "is not a cron schedule" with an example. */
export function cron(hint: string): Kind<string> {
  return {
    read(value, at, { problems }) {
      if (typeof value === 'string' && isValidCron(value)) return value;
      problems.add(at, `${describeValue(value)} is not a cron schedule${hint}`);
      return undefined;
    },
  };
}

/** Text of 1 to `maxLength` characters, trimmed. */
export function text(maxLength: number): Kind<string> {
  return {
    read(value, at, { problems }) {
      if (typeof value === 'string' && value.trim() !== '' && value.length <= maxLength) return value.trim();
      problems.add(at, `${describeValue(value)} should be a text of 1 to ${maxLength} characters`);
      return undefined;
    },
  };
}

/** `null` written explicitly means "none"; anything else is read by `kind`. */
export function nullable<T>(kind: Kind<T>): Kind<T | null> {
  return {
    ...kind,
    read: (value: unknown, at: string, ctx: ReadContext) => (value === null ? null : kind.read(value, at, ctx)),
  };
}

/** A nested object read by its own table (e.g. node.tls). */
export function section<T extends object>(schema: SectionSchema<T>): Kind<T> {
  const nested: NestedSection = { pathSuffix: '', schema };
  return {
    nested,
    read: (value, at, ctx) => readSection(schema, sectionObject(value, at, ctx), at, ctx),
  };
}

/** `log`: level and optional file of the node's own log. */
import { filePath, nullable } from '../kinds';
import { closestMatch, describeValue } from '../problems';
import type { Kind, SectionSchema } from '../schema';
import { LOG_LEVELS, type LogConfig, type LogLevel } from '../types';

/** A log level, case-insensitive ("DEBUG" is debug), with a did-you-mean for typos. */
const logLevel: Kind<LogLevel> = {
  read(value, at, { problems }) {
    const normalized = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
    const known = LOG_LEVELS.find((level) => level === normalized);
    if (known !== undefined) return known;
    const suggestion = typeof value === 'string' ? closestMatch(value, LOG_LEVELS) : undefined;
    problems.add(
      at,
      `${describeValue(value)} is not a log level (use one of: ${LOG_LEVELS.join(', ')})${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
    );
    return undefined;
  },
};

export const logSection: SectionSchema<LogConfig> = {
  suggestOtherSections: true,
  fields: {
    level: { kind: logLevel, default: 'info', doc: '`error`, `warn`, `info`, `debug`' },
    file: { kind: nullable(filePath), default: null, doc: 'also log to this file (size-rotated)' },
  },
};

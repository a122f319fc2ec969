// winston, JSON lines. Patient data never reaches a log line: callers log UIDs-free summaries
// (AE titles, addresses, counts, sizes, statuses), and as a second line of defence a format strips
// any field whose name says it carries patient or study identity before the line is written.

import winston from 'winston';
import path from 'node:path';
import { hashUidsDeep } from './uid-ref';
import { chmodPrivateFile, mkdirPrivate, PRIVATE_FILE_MODE } from '../private-files';

export type Logger = winston.Logger;

/** Field names that would carry identity; such fields are dropped whatever their value. */
const FORBIDDEN_FIELD = /patient|birth|accession|physician|institution|studydescription|otherpatient/i;

const stripIdentity = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (FORBIDDEN_FIELD.test(key)) delete (info as Record<string, unknown>)[key];
  }
  return info;
});

/** Study/series/instance UIDs in the message or any field (error texts, file paths) become uidRefs. */
const hashUids = winston.format((info) => {
  const record = info as Record<string, unknown>;
  for (const key of Object.keys(record)) record[key] = hashUidsDeep(record[key]);
  return info;
});

export interface LoggerOptions {
  level: string;
  file?: string | null;
  /** Extra transport (tests capture every line written). */
  stream?: NodeJS.WritableStream;
  silentConsole?: boolean;
}

export function createLogger(o: LoggerOptions): Logger {
  const format = winston.format.combine(stripIdentity(), hashUids(), winston.format.timestamp(), winston.format.json());
  const transports: winston.transport[] = [];
  if (!o.silentConsole) transports.push(new winston.transports.Console());
  if (o.file) {
    // Log lines carry no patient data, but AE titles, addresses and hashed UIDs are still the
    // hospital's: the node's user only (winston passes `options` to fs.createWriteStream).
    mkdirPrivate(path.dirname(o.file));
    chmodPrivateFile(o.file);
    const options = { flags: 'a', mode: PRIVATE_FILE_MODE };
    transports.push(new winston.transports.File({ filename: o.file, maxsize: 50 * 1024 * 1024, maxFiles: 5, tailable: true, options }));
  }
  if (o.stream) transports.push(new winston.transports.Stream({ stream: o.stream }));
  if (transports.length === 0) transports.push(new winston.transports.Console({ silent: true }));
  const logger = winston.createLogger({ level: o.level, format, transports });
  // A log line that cannot be written (file gone, stream ended during shutdown) must never take
  // the DICOM node down with it.
  logger.on('error', () => undefined);
  return logger;
}

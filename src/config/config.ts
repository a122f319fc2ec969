/**
 * Node configuration: loading, validation and defaults.
 *
 * The configuration is a JSON file written by a hospital's PACS / IT admin.
 * Validation collects every problem (not just the first) and words each one
 * with the exact key path, so the whole file can be fixed in one go.
 *
 * What each key is, its default and its checks live in one table per section
 * (sections/*.ts, walked by schema.ts); this module loads the file and runs them.
 *
 * Keys starting with "//" are comments and are ignored anywhere in the file.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

import { MISPLACED_KEY_HINTS, documentSchema } from './document';
import { scanJson, lineColumn } from './json-source';
import { describeValue, isPlainObject } from './problems';
import { type ReadContext, Problems, readSection } from './schema';
import { resolveAdmin } from './sections/admin';
import { destinationNames } from './sections/destinations';
import type { NodeConfig } from './types';

export { canonicalIp, sameIp } from './ip';
export * from './types';
export { REPORT_FORMS } from '../report/forms';
export type { ReportForm } from '../report/forms';

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[], configPath?: string) {
    const where = configPath ? `Configuration file ${configPath}` : 'Configuration';
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`${where} has ${count}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

// ---------------------------------------------------------------------------
// Package root / default config location
// ---------------------------------------------------------------------------

const PACKAGE_NAME = 'dicom-ai-node';

/**
 * Folder holding this project's package.json, found by walking up from
 * `startDir` (compiled code lives in dist/src/config/). The environment
 * variable DICOM_AI_NODE_ROOT overrides the search; if no package.json is
 * found (e.g. code compiled to a scratch folder), the current directory is used.
 */
export function findPackageRoot(startDir: string = __dirname): string {
  const override = process.env['DICOM_AI_NODE_ROOT'];
  if (override) return path.resolve(override);
  let firstFound: string | undefined;
  let dir = path.resolve(startDir);
  for (;;) {
    const pkgFile = path.join(dir, 'package.json');
    if (existsSync(pkgFile)) {
      let name: unknown;
      try {
        name = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { name?: unknown }).name;
      } catch {
        name = undefined;
      }
      if (name === PACKAGE_NAME) return dir;
      firstFound ??= dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return firstFound ?? process.cwd();
}

/** Absolute path of config/default.json in the package root. */
export const DEFAULT_CONFIG_PATH: string = path.join(findPackageRoot(), 'config', 'default.json');

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/** Reads, parses and validates a JSON config file. Throws ConfigError. */
export function loadConfig(file: string): NodeConfig {
  const configPath = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    let why: string;
    if (code === 'ENOENT') why = 'configuration file not found';
    else if (code === 'EISDIR') why = 'this is a folder, not a configuration file';
    else if (code === 'EACCES' || code === 'EPERM') why = 'cannot read the configuration file: permission denied';
    else why = `cannot read the configuration file: ${(err as Error).message}`;
    throw new ConfigError([`${configPath}: ${why}`], configPath);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // byte-order mark (e.g. Windows Notepad)
  if (text.trim() === '') {
    throw new ConfigError([`${configPath}: the file is empty; it must contain a JSON object { ... }`], configPath);
  }

  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([describeJsonError(text, configPath, (err as Error).message)], configPath);
  }

  const initial: string[] = [];
  const scan = scanJson(text);
  if (scan.error === null) {
    for (const dup of scan.duplicates) {
      initial.push(
        `${dup.path}: this key appears more than once (again at line ${dup.line}); only the last value would be used, so remove the extra one`,
      );
    }
  }
  return validate(raw, path.dirname(configPath), configPath, initial);
}

function describeJsonError(text: string, configPath: string, nodeMessage: string): string {
  const scan = scanJson(text);
  if (scan.error !== null) {
    const { line, column, reason } = scan.error;
    return `${configPath}: not valid JSON at line ${line}, column ${column}: ${reason}`;
  }
  const match = /at position (\d+)/.exec(nodeMessage);
  if (match) {
    const { line, column } = lineColumn(text, Number(match[1]));
    return `${configPath}: not valid JSON at line ${line}, column ${column}: ${nodeMessage}`;
  }
  return `${configPath}: not valid JSON: ${nodeMessage}`;
}

/**
 * Validates an already-parsed config and applies defaults. Relative paths
 * resolve against `configDir`. Throws ConfigError listing every problem.
 */
export function parseConfig(raw: unknown, configDir: string, configPath?: string): NodeConfig {
  return validate(raw, path.resolve(configDir), configPath === undefined ? '' : path.resolve(configPath), []);
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

function validate(raw: unknown, configDir: string, configPath: string, initial: string[]): NodeConfig {
  const problems = new Problems(initial);
  if (!isPlainObject(raw)) {
    problems.add('', `the configuration must be a JSON object { ... }, but the file contains ${describeValue(raw)}`);
    throw new ConfigError(problems.list, configPath || undefined);
  }
  const ctx: ReadContext = {
    problems,
    configDir,
    destinationNames: destinationNames(raw['destinations']),
    misplacedKeyHints: MISPLACED_KEY_HINTS,
  };
  const document = readSection(documentSchema, raw, '', ctx);
  const admin = resolveAdmin(document.admin, document.node.port, problems);

  if (problems.list.length > 0) throw new ConfigError(problems.list, configPath || undefined);
  return { ...document, admin, configPath, configDir };
}

/**
 * Node configuration: loading, validation and defaults.
 *
 * The configuration is a JSON file written by a hospital's PACS / IT admin.
 * Validation collects every problem (not just the first) and words each one
 * with the exact key path, so the whole file can be fixed in one go.
 *
 * Keys starting with "//" are comments and are ignored anywhere in the file.
 */
import { accessSync, constants as fsConstants, existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';

import { canonicalIp, sameIp } from './ip';
import { isReportForm, isReportLanguage, REPORT_FORMS, type ReportForm, type ReportLanguage } from '../report/forms';
import { isValidCron } from '../housekeeping/scheduler';
import { scanJson, lineColumn } from './json-source';
import { closestMatch, describeValue, indexPath, isCommentKey, isPlainObject, keyPath } from './problems';

export { canonicalIp, sameIp } from './ip';

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

export interface NodeSettings {
  /** Our (called) AE title, trimmed. */
  readonly aeTitle: string;
  /** Address to listen on: an IP address or host name. */
  readonly host: string;
  /** TCP port; 0 (tests only) lets the OS pick a free port. */
  readonly port: number;
  readonly maxAssociations: number;
  /** Largest PDU we accept/propose, in bytes. */
  readonly maxPduLength: number;
  readonly idleTimeoutSeconds: number;
  readonly artimTimeoutSeconds: number;
  /** Largest single instance accepted, in bytes. */
  readonly maxInstanceBytes: number;
  readonly fsync: boolean;
  /** DICOM TLS on a port of its own beside the plain one; null = no TLS listener. */
  readonly tls: TlsListenerConfig | null;
}

/** DICOM TLS for the Storage SCP (PS3.15 B.1 / BCP 195). Paths are absolute. */
export interface TlsListenerConfig {
  readonly port: number;
  readonly certFile: string;
  readonly keyFile: string;
  /** CA certificates that client certificates must chain to; null = system CAs. */
  readonly caFile: string | null;
  /** Refuse callers that present no (valid) certificate. */
  readonly requireClientCert: boolean;
}

/** DICOM TLS towards a destination. Paths are absolute. */
export interface TlsClientConfig {
  /** CA certificates the destination's certificate must chain to; null = system CAs. */
  readonly caFile: string | null;
  /** Our client certificate and key, when the destination asks for one. */
  readonly certFile: string | null;
  readonly keyFile: string | null;
}

export interface CallerConfig {
  /** Calling AE title, trimmed. */
  readonly aeTitle: string;
  /** Allowed peer IP addresses in canonical form (see canonicalIp); null = any address. */
  readonly hosts: readonly string[] | null;
}

export interface StorageConfig {
  /** Absolute path. */
  readonly dataDir: string;
  readonly minFreeMegabytes: number;
}

export interface SeriesConfig {
  readonly stableSeconds: number;
}

export interface LogConfig {
  readonly level: LogLevel;
  /** Absolute path, or null to log to the console only. */
  readonly file: string | null;
}

export interface DestinationConfig {
  /** Called AE title of the destination, trimmed. */
  readonly aeTitle: string;
  readonly host: string;
  readonly port: number;
  /** null = plain TCP. */
  readonly tls: TlsClientConfig | null;
  /** SR forms in order of preference; the first one the destination accepts at association is sent. */
  readonly reportForms: readonly ReportForm[];
}

/** One condition of a route: exact text (case-insensitive, trimmed) or a regular expression. */
export type MatchCondition =
  { readonly kind: 'equals'; readonly value: string } | { readonly kind: 'regex'; readonly source: string; readonly flags: string };

export interface RouteConfig {
  readonly name: string;
  /**
   * DICOM keyword -> condition, all of which must hold. Empty = every series. Besides attribute
   * keywords: CallingAETitle (who sent the series).
   */
  readonly match: Readonly<Record<string, MatchCondition>>;
  /** Instance count bounds (a scout of 2 images is not a chest CT). */
  readonly minInstances: number;
  readonly maxInstances: number | null;
  readonly model: string;
  /** Names of entries under `destinations`. */
  readonly destinations: readonly string[];
  /** urgent jobs (stroke, trauma) go before normal ones. */
  readonly priority: 'urgent' | 'normal';
  /** Window for the model input: a preset name, "C/W", or "auto" (the manifest's / the file's). */
  readonly window: string;
  /** Series with burned-in annotation risk: skip them, or process and flag the result. */
  readonly burnedInAnnotation: 'skip' | 'flag';
  /** Also send a Secondary Capture of the key image (the most confident finding, marked) with the report. */
  readonly keyImage: boolean;
}

export interface RoutingConfig {
  /** first: the first matching route only; all: every matching route. */
  readonly mode: 'first' | 'all';
}

/** Window presets a route may name (the imaging stage defines their values). */
export const WINDOW_PRESET_NAMES = ['lung', 'mediastinum', 'bone', 'brain', 'abdomen', 'liver'] as const;

/** Admin/metrics HTTP endpoint. */
export interface AdminConfig {
  /** false = no HTTP listener at all. */
  readonly enabled: boolean;
  readonly host: string;
  readonly port: number;
  /** Bearer token for everything but /healthz and /readyz (from `token` or the `tokenEnv` variable); null = those endpoints refuse every request. */
  readonly token: string | null;
}

/** Scheduled maintenance (node-cron expressions, local time). */
export interface HousekeepingConfig {
  readonly checkpointCron: string;
  /** Online backups of the SQLite index go here; null = no backups. Absolute path. */
  readonly backupDir: string | null;
  readonly backupCron: string;
  readonly keepBackups: number;
  /**
   * Stored instances of a series (and its report files and key images) are deleted this many days
   * after its reports were delivered everywhere; never before. null = keep everything.
   */
  readonly retentionDays: number | null;
  readonly retentionCron: string;
}

/** Where models live and how their sessions run. */
export interface InferenceConfig {
  /** Folder of model folders (models/<name>/model.json + model.onnx). Absolute path. */
  readonly modelsDir: string;
  /** Execution providers tried in order; the first that works is used. */
  readonly providers: readonly ('cuda' | 'webgpu' | 'cpu')[];
  /** ONNX Runtime intra-op threads per session; 0 = its default. */
  readonly intraOpNumThreads: number;
  /** Jobs processed at the same time, all models together (each model also runs one job at a time). */
  readonly concurrency: number;
  /** A job running longer than this fails with "time limit exceeded" (its model session is restarted). */
  readonly timeLimitSeconds: number;
}

export { REPORT_FORMS } from '../report/forms';
export type { ReportForm } from '../report/forms';

/** The DICOM SR the node sends back. */
export interface ReportConfig {
  /** Language of the report's text: English, or Simplified Chinese. */
  readonly language: ReportLanguage;
  /** Manufacturer and model name written as the Device observer and in General Equipment. */
  readonly manufacturer: string;
  readonly modelName: string;
}

/** Sending to destinations: attempts and backoff, and how often due retries are swept. */
export interface DeliveryConfig {
  readonly maxAttempts: number;
  readonly backoffSeconds: number;
  readonly backoffCapSeconds: number;
  readonly sweepCron: string;
}

/** The audit trail: always in SQLite; optionally also as JSON lines in a file (for a SIEM). */
export interface AuditConfig {
  /** Absolute path, or null. */
  readonly file: string | null;
  /** Also send each event to a syslog collector (RFC 5424 over UDP), or null. */
  readonly syslog: { readonly host: string; readonly port: number; readonly appName: string } | null;
}

export interface NodeConfig {
  readonly node: NodeSettings;
  readonly audit: AuditConfig;
  readonly delivery: DeliveryConfig;
  readonly inference: InferenceConfig;
  readonly report: ReportConfig;
  readonly housekeeping: HousekeepingConfig;
  readonly admin: AdminConfig;
  readonly callers: readonly CallerConfig[];
  readonly acceptAnyCaller: boolean;
  readonly storage: StorageConfig;
  readonly series: SeriesConfig;
  readonly log: LogConfig;
  readonly destinations: Readonly<Record<string, DestinationConfig>>;
  readonly routes: readonly RouteConfig[];
  readonly routing: RoutingConfig;
  /** Absolute path of the file the config was loaded from ('' when not loaded from a file). */
  readonly configPath: string;
  /** Absolute folder that relative paths were resolved against. */
  readonly configDir: string;
}

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
// Caller access check (used by the association acceptor)
// ---------------------------------------------------------------------------

export type CallerCheck =
  { readonly allowed: true; readonly caller: CallerConfig | null } | { readonly allowed: false; readonly reason: string };

/**
 * Whether a peer may associate. A listed calling AE title must come from one
 * of its `hosts` (if given). An unlisted one is accepted only when
 * `acceptAnyCaller` is true (then `caller` is null). IPv4-mapped IPv6 peer
 * addresses ("::ffff:10.0.0.5") match their IPv4 form.
 */
export function checkCaller(
  config: Pick<NodeConfig, 'callers' | 'acceptAnyCaller'>,
  callingAeTitle: string,
  remoteAddress: string | undefined,
): CallerCheck {
  const ae = trimAe(callingAeTitle);
  const caller = config.callers.find((c) => c.aeTitle === ae);
  if (caller === undefined) {
    if (config.acceptAnyCaller) return { allowed: true, caller: null };
    return { allowed: false, reason: `calling AE title "${ae}" is not listed under "callers"` };
  }
  if (caller.hosts === null) return { allowed: true, caller };
  if (remoteAddress !== undefined && caller.hosts.some((h) => sameIp(h, remoteAddress))) {
    return { allowed: true, caller };
  }
  return {
    allowed: false,
    reason: `calling AE title "${ae}" is not allowed from ${remoteAddress ?? 'an unknown address'} (allowed: ${caller.hosts.join(', ')})`,
  };
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

const DEFAULTS = {
  node: {
    aeTitle: 'DICOM_AI',
    host: '0.0.0.0',
    port: 11112,
    maxAssociations: 32,
    maxPduLength: 65536,
    idleTimeoutSeconds: 60,
    artimTimeoutSeconds: 30,
    maxInstanceBytes: 4294967296,
    fsync: true,
  },
  acceptAnyCaller: false,
  storage: { dataDir: './data', minFreeMegabytes: 1024 },
  series: { stableSeconds: 30 },
  log: { level: 'info' as LogLevel, file: null as string | null },
} as const;

const KEYS = {
  root: [
    'node',
    'admin',
    'audit',
    'housekeeping',
    'inference',
    'report',
    'delivery',
    'routing',
    'callers',
    'acceptAnyCaller',
    'storage',
    'series',
    'log',
    'destinations',
    'routes',
  ],
  node: [...Object.keys(DEFAULTS.node), 'tls'],
  tlsListener: ['port', 'certFile', 'keyFile', 'caFile', 'requireClientCert'],
  tlsClient: ['caFile', 'certFile', 'keyFile'],
  caller: ['aeTitle', 'hosts'],
  storage: ['dataDir', 'minFreeMegabytes'],
  admin: ['enabled', 'host', 'port', 'token', 'tokenEnv'],
  housekeeping: ['checkpointCron', 'backupDir', 'backupCron', 'keepBackups', 'retentionDays', 'retentionCron'],
  series: ['stableSeconds'],
  log: ['level', 'file'],
  destination: ['aeTitle', 'host', 'port', 'tls', 'reportForms'],
  route: ['name', 'match', 'minInstances', 'maxInstances', 'model', 'destinations', 'priority', 'window', 'burnedInAnnotation', 'keyImage'],
  routing: ['mode'],
  inference: ['modelsDir', 'providers', 'intraOpNumThreads', 'concurrency', 'timeLimitSeconds'],
  report: ['language', 'manufacturer', 'modelName'],
  delivery: ['maxAttempts', 'backoffSeconds', 'backoffCapSeconds', 'sweepCron'],
  audit: ['file', 'syslog'],
  syslog: ['host', 'port', 'appName'],
} as const;

/** Object sections whose keys are suggested when a key is put in the wrong place. */
const SECTIONS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['node', KEYS.node],
  ['storage', KEYS.storage],
  ['series', KEYS.series],
  ['log', KEYS.log],
];

const AE_RULES = 'a DICOM AE title is at most 16 characters (letters, digits, space, _ - . ; no backslash)';
const MAX_SECONDS = 86400;
const COMMON_KEYWORDS = [
  'Modality',
  'BodyPartExamined',
  'StudyDescription',
  'SeriesDescription',
  'ProtocolName',
  'Manufacturer',
  'ManufacturerModelName',
  'StationName',
  'InstitutionName',
  'SOPClassUID',
  'ImageType',
  'SliceThickness',
  'ConvolutionKernel',
  'ContrastBolusAgent',
  'ViewPosition',
  'PatientSex',
  'AccessionNumber',
  'StudyInstanceUID',
  'SeriesInstanceUID',
  'PhotometricInterpretation',
  'ScanningSequence',
  'Laterality',
  'ImageLaterality',
];
const HOST_NAME = /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const DESTINATION_NAME = /^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$/;
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$/;
const KEYWORD = /^[A-Z][A-Za-z0-9]{0,63}$/;

class Problems {
  readonly list: string[];

  constructor(initial: string[]) {
    this.list = [...initial];
  }

  add(at: string, message: string): void {
    this.list.push(at === '' ? message : `${at}: ${message}`);
  }
}

type Obj = Record<string, unknown>;

function has(obj: Obj, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

function validate(raw: unknown, configDir: string, configPath: string, initial: string[]): NodeConfig {
  const p = new Problems(initial);
  if (!isPlainObject(raw)) {
    p.add('', `the configuration must be a JSON object { ... }, but the file contains ${describeValue(raw)}`);
    throw new ConfigError(p.list, configPath || undefined);
  }
  checkKeys(p, raw, '', KEYS.root, true);

  const node = readNode(p, section(p, raw, '', 'node'), configDir);
  const callers = readCallers(p, raw);
  const acceptAnyCaller = has(raw, 'acceptAnyCaller')
    ? readBoolean(p, raw['acceptAnyCaller'], 'acceptAnyCaller', DEFAULTS.acceptAnyCaller)
    : DEFAULTS.acceptAnyCaller;
  if (!acceptAnyCaller && callers !== undefined && callers.length === 0) {
    p.add(
      'callers',
      `${has(raw, 'callers') ? 'the list is empty' : 'missing'} and acceptAnyCaller is false, so no modality could connect; ` +
        'list the calling AE titles of your modalities/PACS here, or set "acceptAnyCaller": true',
    );
  }

  const storageObj = section(p, raw, '', 'storage');
  checkKeys(p, storageObj, 'storage', KEYS.storage, true);
  const storage: StorageConfig = {
    dataDir: readPath(p, storageObj, 'storage', 'dataDir', DEFAULTS.storage.dataDir, configDir) ?? '',
    minFreeMegabytes: readNumberField(p, storageObj, 'storage', 'minFreeMegabytes', DEFAULTS.storage.minFreeMegabytes, {
      integer: true,
      min: 0,
      unit: 'megabytes',
    }),
  };

  const seriesObj = section(p, raw, '', 'series');
  checkKeys(p, seriesObj, 'series', KEYS.series, true);
  const series: SeriesConfig = {
    stableSeconds: readNumberField(p, seriesObj, 'series', 'stableSeconds', DEFAULTS.series.stableSeconds, {
      integer: false,
      min: 0,
      minExclusive: true,
      max: MAX_SECONDS,
      unit: 'seconds',
    }),
  };

  const log = readLog(p, section(p, raw, '', 'log'), configDir);
  const admin = readAdmin(p, section(p, raw, '', 'admin'), node.port);
  const housekeeping = readHousekeeping(p, section(p, raw, '', 'housekeeping'), configDir);
  const inference = readInference(p, section(p, raw, '', 'inference'), configDir);
  const report = readReport(p, section(p, raw, '', 'report'));
  const delivery = readDelivery(p, section(p, raw, '', 'delivery'));
  const auditObj = section(p, raw, '', 'audit');
  checkKeys(p, auditObj, 'audit', KEYS.audit, true);
  let syslog: AuditConfig['syslog'] = null;
  if (has(auditObj, 'syslog') && auditObj['syslog'] !== null) {
    const at = 'audit.syslog';
    const sl = section(p, auditObj, 'audit', 'syslog');
    checkKeys(p, sl, at, KEYS.syslog);
    const host = requireField(p, sl, at, 'host', 'the address of the syslog collector', (v, k) => readHost(p, v, k));
    const port = has(sl, 'port') ? readPort(p, sl['port'], keyPath(at, 'port'), false) : 514;
    const appName =
      has(sl, 'appName') && typeof sl['appName'] === 'string' && /^[\x21-\x7e]{1,48}$/.test(sl['appName'])
        ? sl['appName']
        : 'dicom-ai-node';
    if (has(sl, 'appName') && appName !== sl['appName'])
      p.add(keyPath(at, 'appName'), `${describeValue(sl['appName'])} should be 1-48 printable ASCII characters without spaces`);
    syslog = { host: host ?? '', port: port ?? 514, appName };
  }
  const audit: AuditConfig = { file: readPath(p, auditObj, 'audit', 'file', null, configDir), syslog };
  const destinations = readDestinations(p, raw, configDir);
  const routes = readRoutes(p, raw, destinations);
  const routingObj = section(p, raw, '', 'routing');
  checkKeys(p, routingObj, 'routing', KEYS.routing, true);
  const routing: RoutingConfig = { mode: readChoice(p, routingObj, 'routing', 'mode', ['first', 'all'] as const, 'first') };

  if (p.list.length > 0) throw new ConfigError(p.list, configPath || undefined);
  return {
    node,
    admin,
    housekeeping,
    inference,
    report,
    delivery,
    audit,
    callers: callers ?? [],
    acceptAnyCaller,
    storage,
    series,
    log,
    destinations,
    routes,
    routing,
    configPath,
    configDir,
  };
}

/** The object at parent[key], {} when absent; reports (and returns {}) when not an object. */
function section(p: Problems, parent: Obj, parentPath: string, key: string): Obj {
  if (!has(parent, key)) return {};
  const value = parent[key];
  if (isPlainObject(value)) return value;
  p.add(keyPath(parentPath, key), `${describeValue(value)} should be an object { ... }`);
  return {};
}

function checkKeys(p: Problems, obj: Obj, at: string, allowed: readonly string[], suggestOtherSections = false): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key) || isCommentKey(key)) continue;
    let hint = '';
    // A key spelled exactly as one of another section is most likely misplaced ("port" at the
    // top level belongs under "node"), even when a sibling looks similar ("report").
    if (suggestOtherSections) {
      for (const [name, keys] of SECTIONS) {
        const there = keys.find((k) => k.toLowerCase() === key.toLowerCase());
        if (there !== undefined && keyPath('', name) !== at) {
          hint = ` (did you mean "${name}.${there}"? it belongs under "${name}")`;
          break;
        }
      }
    }
    const sibling = hint === '' ? closestMatch(key, allowed) : undefined;
    if (sibling !== undefined) hint = ` (did you mean "${sibling}"?)`;
    if (hint === '') hint = ` (allowed here: ${allowed.join(', ')})`;
    p.add(keyPath(at, key), `unknown key${hint}`);
  }
}

// --- node ------------------------------------------------------------------

function readNode(p: Problems, obj: Obj, configDir: string): NodeSettings {
  const at = 'node';
  checkKeys(p, obj, at, KEYS.node, true);
  const d = DEFAULTS.node;
  return {
    aeTitle: has(obj, 'aeTitle') ? (readAeTitle(p, obj['aeTitle'], keyPath(at, 'aeTitle')) ?? d.aeTitle) : d.aeTitle,
    host: has(obj, 'host') ? (readHost(p, obj['host'], keyPath(at, 'host')) ?? d.host) : d.host,
    port: has(obj, 'port') ? (readPort(p, obj['port'], keyPath(at, 'port'), true) ?? d.port) : d.port,
    maxAssociations: readNumberField(p, obj, at, 'maxAssociations', d.maxAssociations, {
      integer: true,
      min: 1,
      max: 4096,
      unit: 'simultaneous connections',
    }),
    maxPduLength: readNumberField(p, obj, at, 'maxPduLength', d.maxPduLength, {
      integer: true,
      min: 4096,
      max: 16777216,
      unit: 'bytes',
    }),
    idleTimeoutSeconds: readNumberField(p, obj, at, 'idleTimeoutSeconds', d.idleTimeoutSeconds, {
      integer: false,
      min: 0,
      minExclusive: true,
      max: MAX_SECONDS,
      unit: 'seconds',
    }),
    artimTimeoutSeconds: readNumberField(p, obj, at, 'artimTimeoutSeconds', d.artimTimeoutSeconds, {
      integer: false,
      min: 0,
      minExclusive: true,
      max: MAX_SECONDS,
      unit: 'seconds',
    }),
    maxInstanceBytes: readNumberField(p, obj, at, 'maxInstanceBytes', d.maxInstanceBytes, {
      integer: true,
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
      unit: 'bytes',
    }),
    fsync: has(obj, 'fsync') ? readBoolean(p, obj['fsync'], keyPath(at, 'fsync'), d.fsync) : d.fsync,
    tls: has(obj, 'tls') ? readTlsListener(p, section(p, obj, at, 'tls'), keyPath(at, 'tls'), obj['port'], configDir) : null,
  };
}

function readChoice<T extends string>(p: Problems, obj: Obj, parentAt: string, key: string, choices: readonly T[], fallback: T): T {
  if (!has(obj, key)) return fallback;
  const v = obj[key];
  if (typeof v === 'string' && (choices as readonly string[]).includes(v.trim())) return v.trim() as T;
  p.add(keyPath(parentAt, key), `${describeValue(v)} should be one of: ${choices.join(', ')}`);
  return fallback;
}

// --- delivery --------------------------------------------------------------

function readDelivery(p: Problems, obj: Obj): DeliveryConfig {
  const at = 'delivery';
  checkKeys(p, obj, at, KEYS.delivery, true);
  const seconds = { integer: false, min: 0, minExclusive: true, max: 7 * 86400, unit: 'seconds' } as const;
  const out = {
    maxAttempts: readNumberField(p, obj, at, 'maxAttempts', 8, { integer: true, min: 1, max: 1000, unit: 'attempts' }),
    backoffSeconds: readNumberField(p, obj, at, 'backoffSeconds', 30, seconds),
    backoffCapSeconds: readNumberField(p, obj, at, 'backoffCapSeconds', 3600, seconds),
    sweepCron: '* * * * *',
  };
  if (has(obj, 'sweepCron')) {
    const v = obj['sweepCron'];
    if (typeof v === 'string' && isValidCron(v)) out.sweepCron = v;
    else p.add(keyPath(at, 'sweepCron'), `${describeValue(v)} is not a cron schedule, e.g. "* * * * *" for every minute`);
  }
  if (out.backoffCapSeconds < out.backoffSeconds)
    p.add(keyPath(at, 'backoffCapSeconds'), `${out.backoffCapSeconds} is below backoffSeconds (${out.backoffSeconds})`);
  return out;
}

// --- inference -------------------------------------------------------------

const PROVIDERS = ['cuda', 'webgpu', 'cpu'] as const;

function readInference(p: Problems, obj: Obj, configDir: string): InferenceConfig {
  const at = 'inference';
  checkKeys(p, obj, at, KEYS.inference, true);
  let providers: InferenceConfig['providers'] = ['cuda', 'cpu'];
  if (has(obj, 'providers')) {
    const v = obj['providers'];
    if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && (PROVIDERS as readonly string[]).includes(x))) {
      providers = v as InferenceConfig['providers'];
    } else
      p.add(
        keyPath(at, 'providers'),
        `${describeValue(v)} should be a list of execution providers to try in order, from: ${PROVIDERS.join(', ')} (e.g. ["cuda", "cpu"])`,
      );
  }
  return {
    modelsDir: readPath(p, obj, at, 'modelsDir', './models', configDir) ?? '',
    providers,
    intraOpNumThreads: readNumberField(p, obj, at, 'intraOpNumThreads', 0, { integer: true, min: 0, max: 256, unit: 'threads' }),
    concurrency: readNumberField(p, obj, at, 'concurrency', 1, { integer: true, min: 1, max: 64, unit: 'jobs' }),
    timeLimitSeconds: readNumberField(p, obj, at, 'timeLimitSeconds', 900, { integer: false, min: 1, max: 86400, unit: 'seconds' }),
  };
}

// --- report ----------------------------------------------------------------

function readReport(p: Problems, obj: Obj): ReportConfig {
  const at = 'report';
  checkKeys(p, obj, at, KEYS.report, true);
  let language: ReportConfig['language'] = 'en';
  if (has(obj, 'language')) {
    const v = obj['language'];
    if (isReportLanguage(v)) language = v;
    else
      p.add(
        keyPath(at, 'language'),
        `${describeValue(v)} is not a report language this node writes; use "en" (English) or "zh-CN" (Simplified Chinese)`,
      );
  }
  const text = (key: string, fallback: string): string => {
    if (!has(obj, key)) return fallback;
    const v = obj[key];
    if (typeof v === 'string' && v.trim() !== '' && v.length <= 64) return v.trim();
    p.add(keyPath(at, key), `${describeValue(v)} should be a text of 1 to 64 characters`);
    return fallback;
  };
  return { language, manufacturer: text('manufacturer', 'dicom-ai-node project'), modelName: text('modelName', 'dicom-ai-node') };
}

function readReportForms(p: Problems, entry: Obj, at: string): ReportForm[] {
  if (!has(entry, 'reportForms')) return [...REPORT_FORMS];
  const v = entry['reportForms'];
  if (Array.isArray(v) && v.length > 0 && v.every(isReportForm) && new Set(v).size === v.length) {
    return v as ReportForm[];
  }
  p.add(
    keyPath(at, 'reportForms'),
    `${describeValue(v)} should list SR forms in order of preference, each once, from: ${REPORT_FORMS.join(', ')} (e.g. ["comprehensive3d", "basic-text"] for a PACS that takes only one of them)`,
  );
  return [...REPORT_FORMS];
}

// --- housekeeping ----------------------------------------------------------

function readHousekeeping(p: Problems, obj: Obj, configDir: string): HousekeepingConfig {
  const at = 'housekeeping';
  checkKeys(p, obj, at, KEYS.housekeeping, true);
  const cronField = (key: string, fallback: string): string => {
    if (!has(obj, key)) return fallback;
    const v = obj[key];
    if (typeof v === 'string' && isValidCron(v)) return v;
    p.add(keyPath(at, key), `${describeValue(v)} is not a cron schedule; write five or six fields, e.g. "30 2 * * *" for 02:30 every day`);
    return fallback;
  };
  return {
    checkpointCron: cronField('checkpointCron', '*/15 * * * *'),
    backupDir: readPath(p, obj, at, 'backupDir', null, configDir),
    backupCron: cronField('backupCron', '30 2 * * *'),
    keepBackups: readNumberField(p, obj, at, 'keepBackups', 7, { integer: true, min: 1, max: 1000, unit: 'backups' }),
    retentionDays:
      has(obj, 'retentionDays') && obj['retentionDays'] !== null
        ? readNumberField(p, obj, at, 'retentionDays', 30, { integer: false, min: 0, max: 36500, unit: 'days' })
        : null,
    retentionCron: cronField('retentionCron', '15 3 * * *'),
  };
}

// --- admin -----------------------------------------------------------------

function readAdmin(p: Problems, obj: Obj, dicomPort: number): AdminConfig {
  const at = 'admin';
  checkKeys(p, obj, at, KEYS.admin, true);
  const enabled = has(obj, 'enabled') ? readBoolean(p, obj['enabled'], keyPath(at, 'enabled'), true) : true;
  const host = has(obj, 'host') ? (readHost(p, obj['host'], keyPath(at, 'host')) ?? '127.0.0.1') : '127.0.0.1';
  const port = has(obj, 'port') ? (readPort(p, obj['port'], keyPath(at, 'port'), true) ?? 8080) : 8080;
  if (enabled && port !== 0 && port === dicomPort)
    p.add(keyPath(at, 'port'), `${port} is also the DICOM port (node.port); the admin endpoint needs a port of its own, e.g. 8080`);
  let token: string | null = null;
  if (has(obj, 'token') && has(obj, 'tokenEnv'))
    p.add(at, 'give either "token" or "tokenEnv" (the name of an environment variable holding it), not both');
  if (has(obj, 'token')) {
    const v = obj['token'];
    if (typeof v !== 'string' || v.length < 16)
      p.add(
        keyPath(at, 'token'),
        'should be a secret of at least 16 characters (better: put it in an environment variable and name it in "tokenEnv")',
      );
    else token = v;
  } else if (has(obj, 'tokenEnv')) {
    const name = obj['tokenEnv'];
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      p.add(keyPath(at, 'tokenEnv'), `${describeValue(name)} is not an environment variable name`);
    else {
      const v = process.env[name];
      // Not an error: without the token the protected endpoints refuse everyone, health still answers.
      token = v && v.length > 0 ? v : null;
    }
  }
  return { enabled, host, port, token };
}

// --- TLS -------------------------------------------------------------------

function readTlsListener(p: Problems, obj: Obj, at: string, plainPort: unknown, configDir: string): TlsListenerConfig | null {
  checkKeys(p, obj, at, KEYS.tlsListener);
  const port = requireField(p, obj, at, 'port', 'the DICOM TLS port (2762 is registered for DICOM over TLS)', (v, k) =>
    readPort(p, v, k, true),
  );
  if (port !== undefined && port !== 0 && port === (plainPort ?? DEFAULTS.node.port)) {
    p.add(keyPath(at, 'port'), `${port} is also the plain DICOM port (node.port); TLS needs a port of its own, e.g. 2762`);
  }
  const certFile = readTlsFile(p, obj, at, 'certFile', configDir, 'the PEM certificate (chain) the node presents');
  const keyFile = readTlsFile(p, obj, at, 'keyFile', configDir, 'the PEM private key of that certificate');
  const caFile = has(obj, 'caFile') ? readTlsFile(p, obj, at, 'caFile', configDir, '') : null;
  const requireClientCert = has(obj, 'requireClientCert')
    ? readBoolean(p, obj['requireClientCert'], keyPath(at, 'requireClientCert'), true)
    : true;
  if (requireClientCert && caFile === null && !has(obj, 'caFile')) {
    p.add(
      keyPath(at, 'caFile'),
      "missing: with requireClientCert true, give the PEM file of the CA(s) that sign your modalities' certificates",
    );
  }
  if (port === undefined || certFile === null || keyFile === null) return null;
  return { port, certFile, keyFile, caFile, requireClientCert };
}

function readTlsClient(p: Problems, obj: Obj, at: string, configDir: string): TlsClientConfig {
  checkKeys(p, obj, at, KEYS.tlsClient);
  const opt = (key: string) => (has(obj, key) ? readTlsFile(p, obj, at, key, configDir, '') : null);
  const tls = { caFile: opt('caFile'), certFile: opt('certFile'), keyFile: opt('keyFile') };
  if (has(obj, 'certFile') !== has(obj, 'keyFile')) {
    p.add(at, 'certFile and keyFile go together: give both (for a destination that asks for a client certificate) or neither');
  }
  return tls;
}

/** A required (unless `what` is '') readable file, resolved against configDir; null when unusable. */
function readTlsFile(p: Problems, obj: Obj, at: string, key: string, configDir: string, what: string): string | null {
  if (!has(obj, key)) {
    if (what) p.add(keyPath(at, key), `missing: ${what}`);
    return null;
  }
  const file = readPath(p, obj, at, key, null, configDir);
  if (file === null) return null;
  try {
    accessSync(file, fsConstants.R_OK);
  } catch {
    p.add(keyPath(at, key), `${file} does not exist or cannot be read by the node`);
    return null;
  }
  return file;
}

// --- callers ---------------------------------------------------------------

/** Undefined when `callers` itself is unusable (already reported). */
function readCallers(p: Problems, raw: Obj): CallerConfig[] | undefined {
  if (!has(raw, 'callers')) return [];
  const value = raw['callers'];
  if (!Array.isArray(value)) {
    p.add('callers', `${describeValue(value)} should be a list [ ... ] of {"aeTitle": ..., "hosts": [...]} entries`);
    return undefined;
  }
  const out: CallerConfig[] = [];
  const firstIndex = new Map<string, number>();
  value.forEach((entry: unknown, i) => {
    const at = indexPath('callers', i);
    if (!isPlainObject(entry)) {
      const example = typeof entry === 'string' ? JSON.stringify(entry.trim()) : '"CT01"';
      p.add(at, `${describeValue(entry)} should be an object like {"aeTitle": ${example}, "hosts": ["10.0.0.5"]}`);
      return;
    }
    checkKeys(p, entry, at, KEYS.caller);
    const aeTitle = requireField(p, entry, at, 'aeTitle', 'the calling AE title of the modality/PACS', (v, k) => readAeTitle(p, v, k));
    if (aeTitle !== undefined) {
      const earlier = firstIndex.get(aeTitle);
      if (earlier !== undefined) {
        p.add(
          keyPath(at, 'aeTitle'),
          `"${aeTitle}" is already listed at callers[${earlier}]; list each calling AE title once (put all of its addresses in one "hosts" list)`,
        );
      } else {
        firstIndex.set(aeTitle, i);
      }
    }
    const hosts = readCallerHosts(p, entry, at, aeTitle);
    out.push({ aeTitle: aeTitle ?? '', hosts });
  });
  return out;
}

function readCallerHosts(p: Problems, entry: Obj, at: string, aeTitle: string | undefined): string[] | null {
  if (!has(entry, 'hosts') || entry['hosts'] === null) return null;
  const hostsAt = keyPath(at, 'hosts');
  const value = entry['hosts'];
  if (!Array.isArray(value)) {
    const hint = typeof value === 'string' ? `; write it as a list: [${JSON.stringify(value)}]` : '';
    p.add(hostsAt, `${describeValue(value)} should be a list of IP addresses${hint}`);
    return null;
  }
  if (value.length === 0) {
    p.add(
      hostsAt,
      `the list is empty, so ${aeTitle ? `"${aeTitle}"` : 'this caller'} could not connect from anywhere; list its IP addresses, or remove "hosts" to accept it from any address`,
    );
    return [];
  }
  const hosts: string[] = [];
  value.forEach((h: unknown, j) => {
    const hAt = indexPath(hostsAt, j);
    if (typeof h !== 'string') {
      p.add(hAt, `${describeValue(h)} is not an IP address; write it as text, e.g. "10.0.0.5"`);
      return;
    }
    const canonical = canonicalIp(h.trim());
    if (canonical === null) {
      p.add(hAt, `${describeValue(h)} is not an IP address${explainBadIp(h.trim())}`);
      return;
    }
    if (!hosts.includes(canonical)) hosts.push(canonical);
  });
  return hosts;
}

function explainBadIp(text: string): string {
  if (text.includes('/')) return '; address ranges (CIDR) are not supported, list each IP address';
  if (text.includes('*')) return '; wildcards are not supported, list each IP address (or remove "hosts" to allow any address)';
  if (/^[0-9.]+$/.test(text)) return ' (IPv4 addresses are four numbers 0-255, e.g. 10.0.0.5)';
  if (HOST_NAME.test(text))
    return '; callers are checked by IP address, so list the IP address(es) of this device rather than its host name';
  return '';
}

// --- log ---------------------------------------------------------------------

function readLog(p: Problems, obj: Obj, configDir: string): LogConfig {
  const at = 'log';
  checkKeys(p, obj, at, KEYS.log, true);
  let level: LogLevel = DEFAULTS.log.level;
  if (has(obj, 'level')) {
    const value = obj['level'];
    const normalized = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
    const known = LOG_LEVELS.find((l) => l === normalized);
    if (known !== undefined) {
      level = known;
    } else {
      const suggestion = typeof value === 'string' ? closestMatch(value, LOG_LEVELS) : undefined;
      p.add(
        keyPath(at, 'level'),
        `${describeValue(value)} is not a log level (use one of: ${LOG_LEVELS.join(', ')})${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
      );
    }
  }
  let file: string | null = DEFAULTS.log.file;
  if (has(obj, 'file') && obj['file'] !== null) {
    file = readPath(p, obj, at, 'file', null, configDir);
  }
  return { level, file };
}

// --- destinations ------------------------------------------------------------

function readDestinations(p: Problems, raw: Obj, configDir: string): Record<string, DestinationConfig> {
  const out: Record<string, DestinationConfig> = {};
  const obj = section(p, raw, '', 'destinations');
  for (const name of Object.keys(obj)) {
    if (isCommentKey(name)) continue;
    const at = keyPath('destinations', name);
    if (!DESTINATION_NAME.test(name)) {
      p.add(
        at,
        `${JSON.stringify(name)} is not a usable destination name (1-64 letters, digits, space, _ - . ; starting with a letter or digit)`,
      );
      continue;
    }
    const entry = obj[name];
    if (!isPlainObject(entry)) {
      p.add(at, `${describeValue(entry)} should be an object like {"aeTitle": "ORTHANC", "host": "10.0.0.20", "port": 104}`);
      continue;
    }
    checkKeys(p, entry, at, KEYS.destination);
    const aeTitle = requireField(p, entry, at, 'aeTitle', 'the called AE title of the destination', (v, k) => readAeTitle(p, v, k));
    const host = requireField(p, entry, at, 'host', 'the IP address or host name of the destination', (v, k) => readHost(p, v, k));
    const port = requireField(p, entry, at, 'port', 'the DICOM port of the destination (often 104 or 11112)', (v, k) =>
      readPort(p, v, k, false),
    );
    const tls = has(entry, 'tls') ? readTlsClient(p, section(p, entry, at, 'tls'), keyPath(at, 'tls'), configDir) : null;
    out[name] = { aeTitle: aeTitle ?? '', host: host ?? '', port: port ?? 0, tls, reportForms: readReportForms(p, entry, at) };
  }
  return out;
}

// --- routes ----------------------------------------------------------------

function readRoutes(p: Problems, raw: Obj, destinations: Record<string, DestinationConfig>): RouteConfig[] {
  if (!has(raw, 'routes')) return [];
  const value = raw['routes'];
  if (!Array.isArray(value)) {
    p.add('routes', `${describeValue(value)} should be a list [ ... ] of routes`);
    return [];
  }
  const defined = Object.keys(destinations);
  const names = new Map<string, number>();
  const out: RouteConfig[] = [];
  value.forEach((entry: unknown, i) => {
    const at = indexPath('routes', i);
    if (!isPlainObject(entry)) {
      p.add(
        at,
        `${describeValue(entry)} should be an object like {"name": "chest-ct", "match": {"Modality": "CT"}, "model": "...", "destinations": ["PACS"]}`,
      );
      return;
    }
    checkKeys(p, entry, at, KEYS.route);

    const name = requireField(p, entry, at, 'name', 'a short name for this route, e.g. "chest-ct"', (v, k) => {
      if (typeof v === 'string' && v.trim() !== '') return v.trim();
      p.add(k, `${describeValue(v)} is not a route name; write a short name as text, e.g. "chest-ct"`);
      return undefined;
    });
    if (name !== undefined) {
      const earlier = names.get(name);
      if (earlier !== undefined) {
        p.add(keyPath(at, 'name'), `"${name}" is already used by routes[${earlier}]; route names must be unique`);
      } else {
        names.set(name, i);
      }
    }

    const match = requireField(
      p,
      entry,
      at,
      'match',
      'which series this route applies to, e.g. {"Modality": "CT"} ({} = every series)',
      (v, k) => readMatch(p, v, k),
    );

    const model = requireField(p, entry, at, 'model', 'the name of the AI model to run', (v, k) => {
      if (typeof v === 'string' && MODEL_NAME.test(v.trim())) return v.trim();
      p.add(k, `${describeValue(v)} is not a valid model name (letters, digits, . _ - ; no spaces or slashes)`);
      return undefined;
    });

    const routeDestinations = requireField(
      p,
      entry,
      at,
      'destinations',
      'a list of destination names defined under "destinations"',
      (v, k) => readRouteDestinations(p, v, k, defined),
    );

    const minInstances = readNumberField(p, entry, at, 'minInstances', 1, { integer: true, min: 1, unit: 'instances' });
    const maxInstances = has(entry, 'maxInstances')
      ? readNumberField(p, entry, at, 'maxInstances', 0, { integer: true, min: 1, unit: 'instances' })
      : null;
    if (maxInstances !== null && maxInstances > 0 && maxInstances < minInstances)
      p.add(keyPath(at, 'maxInstances'), `${maxInstances} is below minInstances (${minInstances})`);
    const priority = readChoice(p, entry, at, 'priority', ['urgent', 'normal'] as const, 'normal');
    const burnedInAnnotation = readChoice(p, entry, at, 'burnedInAnnotation', ['skip', 'flag'] as const, 'skip');
    let window = 'auto';
    if (has(entry, 'window')) {
      const w = entry['window'];
      const ok =
        typeof w === 'string' &&
        (['auto', 'percentile', 'minmax', ...WINDOW_PRESET_NAMES].includes(w.trim()) || /^-?\d+(\.\d+)?\/\d+(\.\d+)?$/.test(w.trim()));
      if (ok) window = w.trim();
      else
        p.add(
          keyPath(at, 'window'),
          `${describeValue(w)} is not a window: use auto, percentile, minmax, one of ${WINDOW_PRESET_NAMES.join(', ')}, or center/width like "-600/1500"`,
        );
    }
    out.push({
      name: name ?? '',
      match: match ?? {},
      minInstances,
      maxInstances: maxInstances && maxInstances > 0 ? maxInstances : null,
      model: model ?? '',
      destinations: routeDestinations ?? [],
      priority,
      window,
      burnedInAnnotation,
      keyImage: has(entry, 'keyImage') ? readBoolean(p, entry['keyImage'], keyPath(at, 'keyImage'), false) : false,
    });
  });
  return out;
}

function readMatch(p: Problems, value: unknown, at: string): Record<string, MatchCondition> | undefined {
  if (!isPlainObject(value)) {
    p.add(at, `${describeValue(value)} should be an object of DICOM keyword and value, e.g. {"Modality": "CT"}`);
    return undefined;
  }
  const out: Record<string, MatchCondition> = {};
  for (const key of Object.keys(value)) {
    if (isCommentKey(key)) continue;
    const kAt = keyPath(at, key);
    if (!KEYWORD.test(key)) {
      const suggestion = closestMatch(key, COMMON_KEYWORDS);
      p.add(
        kAt,
        `${JSON.stringify(key)} is not a DICOM keyword (keywords are written like "Modality" or "BodyPartExamined")${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
      );
      continue;
    }
    const v = value[key];
    if (typeof v !== 'string') {
      const hint = typeof v === 'number' || typeof v === 'boolean' ? `; write it in double quotes: "${String(v)}"` : ', e.g. "CT"';
      p.add(kAt, `${describeValue(v)} should be text${hint}`);
      continue;
    }
    // "/chest|thorax/i" is a regular expression; anything else is compared as text, ignoring case.
    const re = /^\/(.*)\/([a-z]*)$/s.exec(v);
    if (re) {
      try {
        new RegExp(re[1]!, re[2]);
        out[key] = { kind: 'regex', source: re[1]!, flags: re[2]! };
      } catch (e) {
        p.add(kAt, `${JSON.stringify(v)} is not a valid regular expression: ${(e as Error).message}`);
      }
    } else out[key] = { kind: 'equals', value: v.trim() };
  }
  return out;
}

function readRouteDestinations(p: Problems, value: unknown, at: string, defined: string[]): string[] | undefined {
  if (!Array.isArray(value)) {
    const hint = typeof value === 'string' ? `; write it as a list: [${JSON.stringify(value)}]` : '';
    p.add(at, `${describeValue(value)} should be a list of destination names${hint}`);
    return undefined;
  }
  if (value.length === 0) {
    p.add(at, 'the list is empty, so results would not be sent anywhere; list at least one name defined under "destinations"');
    return undefined;
  }
  const out: string[] = [];
  value.forEach((name: unknown, j) => {
    const nAt = indexPath(at, j);
    if (typeof name !== 'string') {
      p.add(nAt, `${describeValue(name)} should be the name of a destination, as text`);
      return;
    }
    if (!defined.includes(name)) {
      const list = defined.length > 0 ? `defined: ${defined.join(', ')}` : 'no destinations are defined';
      const suggestion = closestMatch(name, defined);
      p.add(
        nAt,
        `${JSON.stringify(name)} is not defined under "destinations" (${list})${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
      );
      return;
    }
    if (out.includes(name)) {
      p.add(nAt, `"${name}" is listed more than once`);
      return;
    }
    out.push(name);
  });
  return out;
}

// --- field readers -----------------------------------------------------------

/** Reads a required field; reports "missing" when absent. */
function requireField<T>(
  p: Problems,
  obj: Obj,
  at: string,
  key: string,
  what: string,
  read: (value: unknown, at: string) => T | undefined,
): T | undefined {
  const fieldAt = keyPath(at, key);
  if (!has(obj, key)) {
    p.add(fieldAt, `missing; required (${what})`);
    return undefined;
  }
  return read(obj[key], fieldAt);
}

function trimAe(text: string): string {
  return text.replace(/^ +| +$/g, '');
}

/** DICOM AE title: 1-16 characters after trimming spaces, printable ASCII except backslash. */
function readAeTitle(p: Problems, value: unknown, at: string): string | undefined {
  if (typeof value !== 'string') {
    p.add(at, `${describeValue(value)} is not an AE title; write it as text in double quotes, e.g. "CT01"`);
    return undefined;
  }
  const ae = trimAe(value);
  const shown = JSON.stringify(ae);
  if (ae === '') {
    p.add(at, `${describeValue(value)} is empty; ${AE_RULES.replace('at most', '1 to')}`);
    return undefined;
  }
  const reasons: string[] = [];
  if (/[\u0000-\u001f\u007f]/.test(ae)) reasons.push(`${shown} contains a control character (such as a tab or line break)`);
  if (ae.includes('\\')) reasons.push(`${shown} contains a backslash (\\)`);
  const nonAscii = /[^\u0000-\u007f]/.exec(ae);
  if (nonAscii) reasons.push(`${shown} contains "${nonAscii[0]}", which is not a plain ASCII character`);
  if (ae.length > 16) reasons.push(`${shown} is ${ae.length} characters`);
  if (reasons.length > 0) {
    p.add(at, `${reasons.join('; ')}; ${AE_RULES}`);
    return undefined;
  }
  return ae;
}

function readHost(p: Problems, value: unknown, at: string): string | undefined {
  if (typeof value !== 'string') {
    p.add(at, `${describeValue(value)} is not an IP address or host name; write it as text, e.g. "10.0.0.20"`);
    return undefined;
  }
  const host = value.trim();
  if (isIP(host) !== 0) return host;
  let hint = '';
  if (host === '') hint = ' (it is empty)';
  else if (/^[^:]+:\d+$/.test(host)) hint = '; put the port number in "port", not in the host';
  else if (host.includes('://')) hint = '; write only the address, without http:// or similar';
  else if (/^[0-9.]+$/.test(host)) hint = ' (IPv4 addresses are four numbers 0-255, e.g. 10.0.0.5)';
  else if (HOST_NAME.test(host)) return host;
  p.add(at, `${describeValue(value)} is not an IP address or host name${hint}`);
  return undefined;
}

function readPort(p: Problems, value: unknown, at: string, allowZero: boolean): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= (allowZero ? 0 : 1) && value <= 65535) return value;
  const quoted = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? `; write the number without quotes: ${value.trim()}` : '';
  p.add(at, `${describeValue(value)} is not a TCP port (1-65535)${quoted}`);
  return undefined;
}

function readBoolean(p: Problems, value: unknown, at: string, fallback: boolean): boolean {
  if (typeof value === 'boolean') return value;
  const hint =
    typeof value === 'string' && /^(true|false)$/i.test(value.trim()) ? `; write ${value.trim().toLowerCase()} without quotes` : '';
  p.add(at, `${describeValue(value)} should be true or false${hint}`);
  return fallback;
}

interface NumberSpec {
  readonly integer: boolean;
  readonly min: number;
  readonly minExclusive?: boolean;
  readonly max?: number;
  readonly unit: string;
}

function readNumberField(p: Problems, obj: Obj, parentAt: string, key: string, fallback: number, spec: NumberSpec): number {
  if (!has(obj, key)) return fallback;
  const at = keyPath(parentAt, key);
  const value = obj[key];
  const expected = describeSpec(spec);
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    const asNumber = typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
    const hint = Number.isFinite(asNumber) ? `; write the number without quotes: ${value as string}` : '';
    p.add(at, `${describeValue(value)} is not a number; expected ${expected}${hint}`);
    return fallback;
  }
  const tooLow = spec.minExclusive ? value <= spec.min : value < spec.min;
  const tooHigh = spec.max !== undefined && value > spec.max;
  if (spec.integer && !Number.isInteger(value)) {
    p.add(at, `${value} is not a whole number; expected ${expected}`);
    return fallback;
  }
  if (tooLow || tooHigh) {
    p.add(at, `${value} is out of range; expected ${expected}`);
    return fallback;
  }
  return value;
}

function describeSpec(spec: NumberSpec): string {
  const kind = spec.integer ? `a whole number of ${spec.unit}` : `a number of ${spec.unit}`;
  if (spec.minExclusive) {
    return spec.max !== undefined ? `${kind} greater than ${spec.min} and at most ${spec.max}` : `${kind} greater than ${spec.min}`;
  }
  return spec.max !== undefined && spec.max < Number.MAX_SAFE_INTEGER
    ? `${kind} from ${spec.min} to ${spec.max}`
    : `${kind}, at least ${spec.min}`;
}

/** A non-empty path string resolved against configDir; `fallback` (if not null) when absent. */
function readPath(p: Problems, obj: Obj, parentAt: string, key: string, fallback: string | null, configDir: string): string | null {
  if (!has(obj, key)) return fallback === null ? null : path.resolve(configDir, fallback);
  const value = obj[key];
  if (typeof value !== 'string' || value.trim() === '') {
    p.add(keyPath(parentAt, key), `${describeValue(value)} is not a usable path; write a folder or file path as text, e.g. "./data"`);
    return fallback === null ? null : path.resolve(configDir, fallback);
  }
  return path.resolve(configDir, value.trim());
}

/**
 * The validated configuration as the rest of the node sees it. Each section's table in
 * sections/ is typed against these interfaces (Fields<T>), so a key added here without a table
 * entry (or the other way round) does not compile.
 */
import type { ReportForm, ReportLanguage } from '../report/forms';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

export interface NodeSettings {
  /** Our (called) AE title, trimmed. */
  readonly aeTitle: string;
  /** Address to listen on: an IP address or host name. */
  readonly host: string;
  /** TCP port; 0 (tests only) lets the OS pick a free port; null = no plain listener (DICOM TLS only). */
  readonly port: number | null;
  readonly maxAssociations: number;
  /** Connections not associated yet (no A-ASSOCIATE-RQ, or rejected and not closed), overall and from one address. */
  readonly maxPendingConnections: number;
  readonly maxPendingConnectionsPerAddress: number;
  /** A connection without an A-ASSOCIATE-RQ this long is closed (ARTIM if that is shorter). */
  readonly associationRequestTimeoutSeconds: number;
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
  /** A TLS handshake not finished this long after connecting is abandoned. */
  readonly handshakeTimeoutSeconds: number;
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
  /** 'required': refused on the plain DICOM port, accepted over DICOM TLS only. */
  readonly tls: 'optional' | 'required';
  /**
   * When given: accepted only over TLS with a verified client certificate whose subject CN or a
   * subjectAltName value is one of these (compared case-insensitively). null = any certificate.
   */
  readonly certificateNames: readonly string[] | null;
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

/** How a destination is sent to: DIMSE C-STORE (PS3.7) or DICOMweb STOW-RS (PS3.18 §10.5). */
export type DestinationProtocol = 'dimse' | 'dicomweb';

/** Credentials of a DICOMweb destination: only environment variable names; the secrets are read when sending. */
export interface DicomWebAuthConfig {
  readonly type: 'none' | 'bearer' | 'basic';
  /** bearer: the variable holding the token. */
  readonly tokenEnv: string | null;
  /** basic: the user name (not secret) and the variable holding the password. */
  readonly user: string | null;
  readonly passwordEnv: string | null;
}

export interface DestinationConfig {
  readonly protocol: DestinationProtocol;
  /** Called AE title of the destination, trimmed ('' for dicomweb). */
  readonly aeTitle: string;
  /** dimse: as configured; dicomweb: taken from url (for logs and the audit trail). */
  readonly host: string;
  readonly port: number;
  /** null = plain TCP (dimse) / system CAs (dicomweb over https). */
  readonly tls: TlsClientConfig | null;
  /** SR forms in order of preference; the first one the destination accepts at association is sent. */
  readonly reportForms: readonly ReportForm[];
  /** dicomweb: the service's base URL (STOW-RS posts to `<url>/studies`), no trailing slash; null for dimse. */
  readonly url: string | null;
  readonly auth: DicomWebAuthConfig;
  /** No answer (or no progress sending) for this long fails the attempt; it is retried like any other. */
  readonly timeoutSeconds: number;
  /**
   * false: the destination does not store DICOM Segmentations. It gets no SEG and an SR variant
   * without segment references (report-set.ts), never an SR pointing at a SEG it does not hold.
   */
  readonly acceptsSegmentation: boolean;
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
  /** Objects sent per result; null = not given: ["sr"] plus "key-image-sc" when keyImage (see routeOutputs). */
  readonly outputs: readonly RouteOutput[] | null;
  /** Older spelling of outputs: also send a Secondary Capture of the key image (the most confident finding, marked). */
  readonly keyImage: boolean;
  /** Ask the narrative model (report.narrative) for FINDINGS / IMPRESSION text; no effect without report.narrative. */
  readonly narrative: boolean;
}

/** What a route may send per result: the SR, a DICOM Segmentation, the key image Secondary Capture. */
export const ROUTE_OUTPUTS = ['sr', 'seg', 'key-image-sc'] as const;
export type RouteOutput = (typeof ROUTE_OUTPUTS)[number];

/** The outputs a route sends: `outputs` when given, else the SR plus the key image when `keyImage` (its older spelling). */
export function routeOutputs(route: Pick<RouteConfig, 'outputs' | 'keyImage'>): ReadonlySet<RouteOutput> {
  return new Set(route.outputs ?? (route.keyImage ? ['sr', 'key-image-sc'] : ['sr']));
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
  readonly ui: AdminUiConfig;
}

/** The operator's dashboard at /ui/: how long a sign-in lasts, how fast the token may be guessed. */
export interface AdminUiConfig {
  /** A session ends this long after sign-in (absolute expiry, not sliding). */
  readonly sessionHours: number;
  /** Failed sign-ins allowed per client address within `signInWindowMinutes`; more are refused unchecked. */
  readonly signInAttempts: number;
  readonly signInWindowMinutes: number;
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

export const EXECUTION_PROVIDERS = ['cuda', 'webgpu', 'cpu'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

/** Where models live and how their sessions run. */
export interface InferenceConfig {
  /** Folder of model folders (models/<name>/model.json + model.onnx). Absolute path. */
  readonly modelsDir: string;
  /** Execution providers tried in order; the first that works is used. */
  readonly providers: readonly ExecutionProvider[];
  /** ONNX Runtime intra-op threads per session; 0 = its default. */
  readonly intraOpNumThreads: number;
  /** Jobs processed at the same time, all models together (each model also runs one job at a time). */
  readonly concurrency: number;
  /** A job running longer than this fails with "time limit exceeded" (its model session is restarted). */
  readonly timeLimitSeconds: number;
}

/** What an instance's pixels may claim, judged from its header before inflating or decoding. */
export interface ImagingConfig {
  /** Largest decoded frame, MiB (rows × columns × samples × bytes per sample). */
  readonly maxFrameMegabytes: number;
  /** Largest series, MiB: all frames of all its instances. */
  readonly maxSeriesMegabytes: number;
}

/** The DICOM SR the node sends back. */
export interface ReportConfig {
  /** Language of the report's text: English, or Simplified Chinese. */
  readonly language: ReportLanguage;
  /** Manufacturer and model name written as the Device observer and in General Equipment. */
  readonly manufacturer: string;
  readonly modelName: string;
  /** Report text drafted by a vision-language model behind an OpenAI-compatible server; null = template text only. */
  readonly narrative: NarrativeConfig | null;
}

/** A vision-language model behind an OpenAI-compatible chat-completions server (vLLM, llama-server, Ollama). */
export interface NarrativeConfig {
  readonly backend: 'openai';
  /** http(s)://host:port/v1 — the request goes to <baseUrl>/chat/completions. */
  readonly baseUrl: string;
  /** Model name sent in the request (as the server knows it). */
  readonly model: string;
  /** Name of the environment variable holding the API key (sent as a Bearer token); null = no key. */
  readonly apiKeyEnv: string | null;
  /** One total deadline per narrative: queueing, the request, its one retry and the answer. */
  readonly timeoutSeconds: number;
  /** Most images sent per narrative (the key image first, then finding slices). */
  readonly maxImages: number;
  /** Language asked for and grounded; null = report.language. */
  readonly language: ReportLanguage | null;
  /** CA certificates an https server's certificate must chain to; null = system CAs. */
  readonly tls: { readonly caFile: string | null } | null;
  /** Narratives requested at the same time (outside the model slots). */
  readonly concurrency: number;
  /** Largest answer read, in bytes; a longer one is cut off and counted as failed. */
  readonly maxResponseBytes: number;
  /** The prompt file (absolute); null = the node's own versioned prompt for the language. */
  readonly promptFile: string | null;
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
  readonly syslog: SyslogConfig | null;
}

/** A syslog collector (RFC 5424 over UDP). */
export interface SyslogConfig {
  readonly host: string;
  readonly port: number;
  readonly appName: string;
}

export interface NodeConfig {
  readonly node: NodeSettings;
  readonly audit: AuditConfig;
  readonly delivery: DeliveryConfig;
  readonly inference: InferenceConfig;
  readonly imaging: ImagingConfig;
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

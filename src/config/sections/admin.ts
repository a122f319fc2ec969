/** `admin`: the admin/metrics HTTP endpoint and its bearer token. */
import { boolean, decimal, host, integer, port, section } from '../kinds';
import { describeValue, keyPath } from '../problems';
import { type Kind, type Problems, type SectionSchema, SECTION_DEFAULTS, has } from '../schema';
import type { AdminConfig, AdminUiConfig } from '../types';

/** The keys as written: the token itself, or the name of the environment variable holding it. */
export interface AdminKeys {
  readonly enabled: boolean;
  readonly host: string;
  readonly port: number;
  readonly token: string | null;
  /** Checked only when `token` is absent: with both given, the one problem worth naming is "not both". */
  readonly tokenEnv: unknown;
  readonly ui: AdminUiConfig;
}

/**
 * `admin.ui`: the dashboard's session lifetime and sign-in rate limit. The defaults follow OWASP's
 * session guidance for a work shift (absolute timeout of hours, not days) and a lockout slow enough
 * that a 16-character token cannot be guessed at HTTP speed.
 */
export const adminUiSection: SectionSchema<AdminUiConfig> = {
  fields: {
    sessionHours: {
      kind: decimal({ min: 0, minExclusive: true, max: 7 * 24, unit: 'hours' }),
      default: 8,
      doc: 'a dashboard sign-in lasts this long (a shift), then the operator signs in again',
    },
    signInAttempts: {
      kind: integer({ min: 1, max: 1000, unit: 'attempts' }),
      default: 5,
      doc: 'failed sign-ins allowed per client address within `signInWindowMinutes`; further ones are refused (HTTP 429) and audited',
    },
    signInWindowMinutes: {
      kind: decimal({ min: 0, minExclusive: true, max: 24 * 60, unit: 'minutes' }),
      default: 5,
      doc: 'the window over which failed sign-ins are counted',
    },
  },
};

const secret: Kind<string> = {
  read(value, at, { problems }) {
    if (typeof value === 'string' && value.length >= 16) return value;
    problems.add(at, 'should be a secret of at least 16 characters (better: put it in an environment variable and name it in "tokenEnv")');
    return undefined;
  },
};

/** Taken as written; the section's check names a bad one when it is the token's only source. */
const asWritten: Kind<unknown> = { read: (value) => value };

function isEnvironmentVariableName(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(value);
}

export const adminSection: SectionSchema<AdminKeys> = {
  suggestOtherSections: true,
  fields: {
    enabled: { kind: boolean, default: true, doc: 'the admin/metrics HTTP endpoint' },
    host: { kind: host, default: '127.0.0.1', doc: 'where it listens (keep it on loopback or a management network)' },
    port: { kind: port(true), default: 8080, doc: 'its port' },
    token: {
      kind: secret,
      default: null,
      defaultDoc: '',
      doc: 'bearer token for everything but `/healthz` and `/readyz`; without one (here or via `tokenEnv`) those endpoints refuse every request',
    },
    tokenEnv: {
      kind: asWritten,
      default: undefined,
      defaultDoc: '(default config: `DICOM_AI_ADMIN_TOKEN`)',
      doc: 'or the name of the environment variable holding the token (not both)',
    },
    ui: { kind: section(adminUiSection), default: SECTION_DEFAULTS, doc: "the operator's dashboard at `/ui/`" },
  },
  check(admin, raw, at, { problems }) {
    if (has(raw, 'token') && has(raw, 'tokenEnv'))
      problems.add(at, 'give either "token" or "tokenEnv" (the name of an environment variable holding it), not both');
    else if (has(raw, 'tokenEnv') && !isEnvironmentVariableName(admin.tokenEnv))
      problems.add(keyPath(at, 'tokenEnv'), `${describeValue(admin.tokenEnv)} is not an environment variable name`);
  },
};

/** The admin endpoint as configured: its port checked against the DICOM port; the token from `token`, else from the variable `tokenEnv` names. */
export function resolveAdmin(keys: AdminKeys, dicomPort: number | null, problems: Problems): AdminConfig {
  const at = 'admin';
  if (keys.enabled && keys.port !== 0 && keys.port === dicomPort)
    problems.add(
      keyPath(at, 'port'),
      `${keys.port} is also the DICOM port (node.port); the admin endpoint needs a port of its own, e.g. 8080`,
    );
  let token = keys.token;
  if (token === null && isEnvironmentVariableName(keys.tokenEnv)) {
    // Not an error when the variable is unset: the protected endpoints refuse everyone, health still answers.
    const fromEnv = process.env[keys.tokenEnv];
    token = fromEnv !== undefined && fromEnv.length > 0 ? fromEnv : null;
  }
  return { enabled: keys.enabled, host: keys.host, port: keys.port, token, ui: keys.ui };
}

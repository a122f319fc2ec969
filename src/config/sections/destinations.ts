/** `destinations.<name>`: where reports go: DIMSE C-STORE (optionally over DICOM TLS) or DICOMweb STOW-RS. */
import { REPORT_FORMS, isReportForm, type ReportForm } from '../../report/forms';
import { aeTitle, boolean, choice, host, integer, nullable, port, readableFile, section, text } from '../kinds';
import { describeValue, isCommentKey, isPlainObject, keyPath } from '../problems';
import { type Kind, type NestedSection, type Obj, type SectionSchema, SECTION_DEFAULTS, has, readSection, required } from '../schema';
import type { DestinationConfig, DicomWebAuthConfig, TlsClientConfig } from '../types';

const DESTINATION_NAME = /^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/;

export const tlsClientSection: SectionSchema<TlsClientConfig> = {
  fields: {
    caFile: {
      kind: readableFile,
      default: null,
      defaultDoc: 'system CAs',
      doc: "CA certificates the destination's certificate must chain to",
    },
    certFile: { kind: readableFile, default: null, defaultDoc: '', doc: 'our client certificate, for a destination that asks for one' },
    keyFile: { kind: readableFile, default: null, defaultDoc: '', doc: 'its private key' },
  },
  check(_tls, raw, at, { problems }) {
    if (has(raw, 'certFile') !== has(raw, 'keyFile')) {
      problems.add(at, 'certFile and keyFile go together: give both (for a destination that asks for a client certificate) or neither');
    }
  },
};

const reportForms: Kind<readonly ReportForm[]> = {
  read(value, at, { problems }) {
    if (Array.isArray(value) && value.length > 0 && value.every(isReportForm) && new Set(value).size === value.length) return value;
    problems.add(
      at,
      `${describeValue(value)} should list SR forms in order of preference, each once, from: ${REPORT_FORMS.join(', ')} (e.g. ["comprehensive3d", "basic-text"] for a PACS that takes only one of them)`,
    );
    return undefined;
  },
};

/** A DICOMweb service's base URL: http(s), no credentials, query or fragment; kept without a trailing slash. */
const serviceUrl: Kind<string> = {
  read(value, at, { problems }) {
    const example = 'write it like "https://pacs.example.org/dicom-web"';
    let url: URL | undefined;
    try {
      url = typeof value === 'string' ? new URL(value.trim()) : undefined;
    } catch {
      url = undefined;
    }
    if (!url) problems.add(at, `${describeValue(value)} is not a web address; ${example}`);
    else if (url.protocol !== 'http:' && url.protocol !== 'https:')
      problems.add(at, `${describeValue(value)} must start with http:// or https://`);
    else if (url.username !== '' || url.password !== '')
      problems.add(at, 'must not contain a user name or password; put them in "auth" (the password in an environment variable)');
    else if (url.search !== '' || url.hash !== '') problems.add(at, `${describeValue(value)} must not contain ? or #; ${example}`);
    else return url.toString().replace(/\/+$/, '');
    return undefined;
  },
};

/** The name of an environment variable holding a secret; checked to be set now, read only when sending. */
const secretVariable: Kind<string> = {
  read(value, at, { problems }) {
    if (typeof value !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) {
      problems.add(at, `${describeValue(value)} is not an environment variable name (letters, digits and _), e.g. "PACS_PASSWORD"`);
      return undefined;
    }
    if (!process.env[value]) problems.add(at, `the environment variable ${value} is not set (or empty) for the node's process`);
    return value;
  },
};

const AUTH_KEYS: Record<DicomWebAuthConfig['type'], readonly (keyof DicomWebAuthConfig)[]> = {
  none: [],
  bearer: ['tokenEnv'],
  basic: ['user', 'passwordEnv'],
};

export const dicomWebAuthSection: SectionSchema<DicomWebAuthConfig> = {
  fields: {
    type: {
      kind: choice(['none', 'bearer', 'basic'] as const),
      default: 'none',
      doc: '`none`, `bearer` (a token) or `basic` (user and password)',
    },
    tokenEnv: {
      kind: nullable(secretVariable),
      default: null,
      defaultDoc: '',
      doc: 'bearer: the environment variable holding the token (sent as `Authorization: Bearer`)',
    },
    user: { kind: nullable(text(128)), default: null, defaultDoc: '', doc: 'basic: the user name' },
    passwordEnv: {
      kind: nullable(secretVariable),
      default: null,
      defaultDoc: '',
      doc: 'basic: the environment variable holding the password',
    },
  },
  check(auth, raw, at, { problems }) {
    const wanted = AUTH_KEYS[auth.type];
    for (const key of wanted) if (!has(raw, key)) problems.add(keyPath(at, key), required(`"type": "${auth.type}" needs it`));
    for (const key of ['tokenEnv', 'user', 'passwordEnv'] as const)
      if (has(raw, key) && !wanted.includes(key)) problems.add(keyPath(at, key), `is not used with "type": "${auth.type}"; remove it`);
    // RFC 7617 §2: the user-id of Basic authentication cannot contain a colon.
    if (auth.user?.includes(':')) problems.add(keyPath(at, 'user'), 'must not contain ":" (HTTP Basic authentication cannot carry it)');
  },
};

const DIMSE_ONLY = ['aeTitle', 'host', 'port'] as const;
const DICOMWEB_ONLY = ['url', 'auth'] as const;

export const destinationSection: SectionSchema<DestinationConfig> = {
  fields: {
    protocol: {
      kind: choice(['dimse', 'dicomweb'] as const),
      default: 'dimse',
      doc: '`dimse`: DICOM C-STORE; `dicomweb`: DICOMweb STOW-RS (HTTP POST to `<url>/studies`)',
    },
    aeTitle: { kind: aeTitle, default: '', defaultDoc: '', doc: 'dimse: its called AE title (required)' },
    host: { kind: host, default: '', defaultDoc: '', doc: 'dimse: its address (required)' },
    port: { kind: port(false), default: 0, defaultDoc: '', doc: 'dimse: its DICOM port (required)' },
    url: {
      kind: serviceUrl,
      default: null,
      defaultDoc: '',
      doc: "dicomweb: the service's base URL, e.g. `https://pacs.example.org/dicom-web` (required)",
    },
    auth: { kind: section(dicomWebAuthSection), default: SECTION_DEFAULTS, doc: 'dicomweb: how the node identifies itself' },
    tls: {
      kind: section(tlsClientSection),
      default: null,
      defaultDoc: 'plain TCP / system CAs',
      doc: "dimse: send over DICOM TLS; dicomweb over https: the CA (and client certificate) to use. The destination's certificate is always verified",
    },
    timeoutSeconds: {
      kind: integer({ min: 1, max: 3600, unit: 'seconds' }),
      default: 30,
      doc: 'no answer (or no progress sending) for this long fails the attempt, which is retried',
    },
    reportForms: {
      kind: reportForms,
      default: REPORT_FORMS,
      doc: 'SR forms in order of preference; the first the destination accepts at association is sent (dicomweb: the next form when the server answers 0x0122, SOP class not supported)',
    },
    acceptsSegmentation: {
      kind: boolean,
      default: true,
      doc: 'false for a PACS that does not store DICOM Segmentations: it gets no SEG, and an SR without segment references instead of one pointing at a SEG it does not hold',
    },
  },
  check(d, raw, at, { problems }) {
    const [needed, unused, example] =
      d.protocol === 'dimse'
        ? [DIMSE_ONLY, DICOMWEB_ONLY, 'the DICOM port of the destination (often 104 or 11112)']
        : [['url'] as const, DIMSE_ONLY, ''];
    const what: Record<string, string> = {
      aeTitle: 'the called AE title of the destination',
      host: 'the IP address or host name of the destination',
      port: example,
      url: 'the base URL of the DICOMweb service, e.g. "https://pacs.example.org/dicom-web"',
    };
    for (const key of needed) if (!has(raw, key)) problems.add(keyPath(at, key), required(what[key] ?? key));
    for (const key of unused)
      if (has(raw, key))
        problems.add(
          keyPath(at, key),
          d.protocol === 'dimse'
            ? 'is for a DICOMweb destination; add "protocol": "dicomweb" (and "url") or remove it'
            : 'is not used by a DICOMweb destination (its address is in "url"); remove it',
        );
    if (d.protocol === 'dicomweb' && d.tls !== null && d.url?.startsWith('http://'))
      problems.add(keyPath(at, 'tls'), 'is set but url starts with http://; use https:// or remove "tls"');
    // Credentials in clear text only to this machine itself (a TLS-terminating proxy beside the node).
    if (d.protocol === 'dicomweb' && d.auth.type !== 'none' && d.url?.startsWith('http://') && !isLoopbackUrl(d.url))
      problems.add(keyPath(at, 'auth'), 'would send credentials unencrypted over http:// to another machine; use an https:// url');
  },
};

function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** A DICOMweb destination's host and port come from its URL (named in logs and the audit trail). */
function withUrlAddress(d: DestinationConfig): DestinationConfig {
  if (d.protocol !== 'dicomweb' || d.url === null) return d;
  const u = new URL(d.url);
  return { ...d, host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) || (u.protocol === 'https:' ? 443 : 80) };
}

/** A usable destination name whose entry is an object: the names routes may refer to. */
function isDefinedDestination(name: string, entry: unknown): boolean {
  return !isCommentKey(name) && DESTINATION_NAME.test(name) && isPlainObject(entry);
}

/** Names routes may use, taken from the document before any section is read (every route checks against them). */
export function destinationNames(rawDestinations: unknown): string[] {
  if (!isPlainObject(rawDestinations)) return [];
  return Object.keys(rawDestinations).filter((name) => isDefinedDestination(name, rawDestinations[name]));
}

const nested: NestedSection = { pathSuffix: '.<name>', schema: destinationSection };

export const destinationMap: Kind<Readonly<Record<string, DestinationConfig>>> = {
  nested,
  read(value, at, ctx) {
    const destinations: Record<string, DestinationConfig> = {};
    const obj: Obj = isPlainObject(value) ? value : {};
    if (!isPlainObject(value)) ctx.problems.add(at, `${describeValue(value)} should be an object { ... }`);
    for (const name of Object.keys(obj)) {
      if (isCommentKey(name)) continue;
      const entryAt = keyPath(at, name);
      const entry = obj[name];
      if (!DESTINATION_NAME.test(name)) {
        ctx.problems.add(
          entryAt,
          `${JSON.stringify(name)} is not a usable destination name (1-64 letters, digits, space, _ - . ; starting with a letter or digit)`,
        );
      } else if (!isPlainObject(entry)) {
        ctx.problems.add(
          entryAt,
          `${describeValue(entry)} should be an object like {"aeTitle": "ORTHANC", "host": "10.0.0.20", "port": 104}`,
        );
      } else {
        destinations[name] = withUrlAddress(readSection(destinationSection, entry, entryAt, ctx));
      }
    }
    return destinations;
  },
};

/** `destinations.<name>`: where reports go, optionally over DICOM TLS. */
import { REPORT_FORMS, isReportForm, type ReportForm } from '../../report/forms';
import { aeTitle, boolean, host, port, readableFile, section } from '../kinds';
import { describeValue, isCommentKey, isPlainObject, keyPath } from '../problems';
import { type Kind, type NestedSection, type Obj, type SectionSchema, has, readSection, required } from '../schema';
import type { DestinationConfig, TlsClientConfig } from '../types';

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

export const destinationSection: SectionSchema<DestinationConfig> = {
  fields: {
    aeTitle: { kind: aeTitle, default: '', missing: required('the called AE title of the destination'), doc: 'its called AE title' },
    host: { kind: host, default: '', missing: required('the IP address or host name of the destination'), doc: 'its address' },
    port: {
      kind: port(false),
      default: 0,
      missing: required('the DICOM port of the destination (often 104 or 11112)'),
      doc: 'its DICOM port',
    },
    tls: {
      kind: section(tlsClientSection),
      default: null,
      defaultDoc: 'plain TCP',
      doc: "send over DICOM TLS (the destination's certificate is always verified)",
    },
    reportForms: {
      kind: reportForms,
      default: REPORT_FORMS,
      doc: 'SR forms in order of preference; the first the destination accepts at association is sent',
    },
    acceptsSegmentation: {
      kind: boolean,
      default: true,
      doc: 'false for a PACS that does not store DICOM Segmentations: it gets no SEG, and an SR without segment references instead of one pointing at a SEG it does not hold',
    },
  },
};

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
        destinations[name] = readSection(destinationSection, entry, entryAt, ctx);
      }
    }
    return destinations;
  },
};

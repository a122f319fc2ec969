/** `callers[]`: the modalities and PACS allowed to send, by calling AE title and IP address. */
import { canonicalIp } from '../ip';
import { HOST_NAME, aeTitle, choice } from '../kinds';
import { describeValue, indexPath, isPlainObject, keyPath } from '../problems';
import { type Kind, type NestedSection, type Problems, type SectionSchema, readSection, required } from '../schema';
import type { CallerConfig, NodeSettings } from '../types';

/** IP addresses in canonical form (see canonicalIp), each once. */
const callerHosts: Kind<readonly string[]> = {
  read(value, at, { problems }) {
    if (!Array.isArray(value)) {
      const hint = typeof value === 'string' ? `; write it as a list: [${JSON.stringify(value)}]` : '';
      problems.add(at, `${describeValue(value)} should be a list of IP addresses${hint}`);
      return undefined;
    }
    // An empty list is reported by the caller entry, which knows the AE title to name.
    const hosts: string[] = [];
    value.forEach((entry: unknown, index) => {
      const entryAt = indexPath(at, index);
      if (typeof entry !== 'string') {
        problems.add(entryAt, `${describeValue(entry)} is not an IP address; write it as text, e.g. "10.0.0.5"`);
        return;
      }
      const canonical = canonicalIp(entry.trim());
      if (canonical === null) {
        problems.add(entryAt, `${describeValue(entry)} is not an IP address${explainBadIp(entry.trim())}`);
        return;
      }
      if (!hosts.includes(canonical)) hosts.push(canonical);
    });
    return hosts;
  },
};

function explainBadIp(text: string): string {
  if (text.includes('/')) return '; address ranges (CIDR) are not supported, list each IP address';
  if (text.includes('*')) return '; wildcards are not supported, list each IP address (or remove "hosts" to allow any address)';
  if (/^[0-9.]+$/.test(text)) return ' (IPv4 addresses are four numbers 0-255, e.g. 10.0.0.5)';
  if (HOST_NAME.test(text))
    return '; callers are checked by IP address, so list the IP address(es) of this device rather than its host name';
  return '';
}

/** Names a client certificate must carry (subject CN or subjectAltName values), each once. */
const certificateNames: Kind<readonly string[] | null> = {
  read(value, at, { problems }) {
    if (value === null) return null;
    if (!Array.isArray(value) || value.length === 0) {
      const hint = typeof value === 'string' ? `; write it as a list: [${JSON.stringify(value)}]` : '';
      problems.add(
        at,
        `${describeValue(value)} should be a non-empty list of names from the caller's certificate (its subject CN or subjectAltName values)${hint}`,
      );
      return undefined;
    }
    const names: string[] = [];
    value.forEach((entry: unknown, index) => {
      if (typeof entry !== 'string' || entry.trim() === '') {
        problems.add(
          indexPath(at, index),
          `${describeValue(entry)} is not a certificate name; write it as text, e.g. "ct01.hospital.example"`,
        );
        return;
      }
      if (!names.includes(entry.trim())) names.push(entry.trim());
    });
    return names;
  },
};

export const callerSection: SectionSchema<CallerConfig> = {
  fields: {
    aeTitle: { kind: aeTitle, default: '', missing: required('the calling AE title of the modality/PACS'), doc: 'its calling AE title' },
    hosts: {
      kind: { read: (value, at, ctx) => (value === null ? null : callerHosts.read(value, at, ctx)) },
      default: null,
      defaultDoc: 'any address',
      doc: 'the IP addresses it may connect from (no `hosts`: any address)',
    },
    tls: {
      kind: choice(['optional', 'required'] as const),
      default: 'optional',
      doc: '`"required"`: refused on the plain DICOM port, accepted over DICOM TLS only',
    },
    certificateNames: {
      kind: certificateNames,
      default: null,
      defaultDoc: 'any certificate',
      doc: 'accepted only over TLS with a client certificate whose subject CN or a subjectAltName value is listed here',
    },
  },
  check(caller, raw, at, { problems }) {
    // Judged on the list as written: a list of only unusable addresses is reported address by address.
    const written = raw['hosts'];
    if (Array.isArray(written) && written.length === 0) {
      const who = caller.aeTitle !== '' ? `"${caller.aeTitle}"` : 'this caller';
      problems.add(
        keyPath(at, 'hosts'),
        `the list is empty, so ${who} could not connect from anywhere; list its IP addresses, or remove "hosts" to accept it from any address`,
      );
    }
  },
};

const nested: NestedSection = { pathSuffix: '[]', schema: callerSection };

/** The list of callers; each calling AE title once. */
export const callerList: Kind<readonly CallerConfig[]> = {
  nested,
  read(value, at, ctx) {
    if (!Array.isArray(value)) {
      ctx.problems.add(at, `${describeValue(value)} should be a list [ ... ] of {"aeTitle": ..., "hosts": [...]} entries`);
      return undefined;
    }
    const callers: CallerConfig[] = [];
    const firstIndex = new Map<string, number>();
    value.forEach((entry: unknown, index) => {
      const entryAt = indexPath(at, index);
      if (!isPlainObject(entry)) {
        const example = typeof entry === 'string' ? JSON.stringify(entry.trim()) : '"CT01"';
        ctx.problems.add(entryAt, `${describeValue(entry)} should be an object like {"aeTitle": ${example}, "hosts": ["10.0.0.5"]}`);
        return;
      }
      const caller = readSection(callerSection, entry, entryAt, ctx);
      const earlier = firstIndex.get(caller.aeTitle);
      if (earlier !== undefined) {
        ctx.problems.add(
          keyPath(entryAt, 'aeTitle'),
          `"${caller.aeTitle}" is already listed at callers[${earlier}]; list each calling AE title once (put all of its addresses in one "hosts" list)`,
        );
      } else if (caller.aeTitle !== '') {
        firstIndex.set(caller.aeTitle, index);
      }
      callers.push(caller);
    });
    return callers;
  },
};

/** A caller that must use TLS needs a TLS listener; one bound to certificate names needs the node to ask for certificates. */
export function checkCallerTransport(document: { node: NodeSettings; callers: readonly CallerConfig[] }, problems: Problems): void {
  const tls = document.node.tls;
  document.callers.forEach((caller, index) => {
    const at = indexPath('callers', index);
    const who = `"${caller.aeTitle}"`;
    if (tls === null && caller.tls === 'required') {
      problems.add(
        keyPath(at, 'tls'),
        `"required", but node.tls is not configured, so ${who} could not connect at all; configure node.tls`,
      );
    } else if (tls === null && caller.certificateNames !== null) {
      problems.add(
        keyPath(at, 'certificateNames'),
        `node.tls is not configured, so ${who} could not connect with a certificate; configure node.tls`,
      );
    } else if (tls !== null && !tls.requireClientCert && caller.certificateNames !== null) {
      problems.add(
        keyPath(at, 'certificateNames'),
        `node.tls.requireClientCert is false, so the node does not ask callers for certificates and ${who} could never match; set it to true`,
      );
    }
  });
}

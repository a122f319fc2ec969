/** `audit`: the audit trail's optional JSON-lines file and syslog collector. */
import { filePath, host, nullable, port, section } from '../kinds';
import { describeValue } from '../problems';
import { type Kind, type SectionSchema, required } from '../schema';
import type { AuditConfig, SyslogConfig } from '../types';

/** RFC 5424 APP-NAME: 1-48 printable ASCII characters, no spaces. */
const appName: Kind<string> = {
  read(value, at, { problems }) {
    if (typeof value === 'string' && /^[\x21-\x7e]{1,48}$/.test(value)) return value;
    problems.add(at, `${describeValue(value)} should be 1-48 printable ASCII characters without spaces`);
    return undefined;
  },
};

export const syslogSection: SectionSchema<SyslogConfig> = {
  fields: {
    host: { kind: host, default: '', missing: required('the address of the syslog collector'), doc: 'the syslog collector' },
    port: { kind: port(false), default: 514, doc: 'its UDP port' },
    appName: { kind: appName, default: 'dicom-ai-node', doc: 'APP-NAME of each message' },
  },
};

export const auditSection: SectionSchema<AuditConfig> = {
  suggestOtherSections: true,
  fields: {
    file: { kind: filePath, default: null, doc: 'also append every audit event as a JSON line to this file (for a SIEM)' },
    syslog: {
      kind: nullable(section(syslogSection)),
      default: null,
      doc: 'also send every audit event to a syslog collector (RFC 5424 over UDP, facility "log audit", MSGID = the event)',
    },
  },
};

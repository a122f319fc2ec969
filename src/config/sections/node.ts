/** `node`: the Storage SCP's own identity and limits, and its optional DICOM TLS listener. */
import { keyPath } from '../problems';
import { MAX_SECONDS, aeTitle, boolean, decimal, host, integer, nullable, port, readableFile, section } from '../kinds';
import { type SectionSchema, has } from '../schema';
import type { NodeSettings, TlsListenerConfig } from '../types';

export const DEFAULT_DICOM_PORT = 11112;

export const tlsListenerSection: SectionSchema<TlsListenerConfig> = {
  fields: {
    port: {
      kind: port(true),
      default: 0,
      missing: 'missing; required (the DICOM TLS port (2762 is registered for DICOM over TLS))',
      doc: 'its port (2762 is the registered port for DICOM over TLS)',
    },
    certFile: {
      kind: readableFile,
      default: '',
      missing: 'missing: the PEM certificate (chain) the node presents',
      doc: 'PEM certificate (chain) the node presents',
    },
    keyFile: {
      kind: readableFile,
      default: '',
      missing: 'missing: the PEM private key of that certificate',
      doc: 'PEM key of that certificate',
    },
    caFile: { kind: readableFile, default: null, doc: "PEM CA certificates that callers' certificates must chain to", defaultDoc: '' },
    requireClientCert: { kind: boolean, default: true, doc: 'refuse callers without a valid certificate' },
    handshakeTimeoutSeconds: {
      kind: decimal({ min: 0, minExclusive: true, max: 300, unit: 'seconds' }),
      default: 10,
      doc: 'a TLS handshake not finished this long after connecting is abandoned',
    },
  },
  check(tls, raw, at, { problems }) {
    if (tls.requireClientCert && !has(raw, 'caFile')) {
      problems.add(
        keyPath(at, 'caFile'),
        "missing: with requireClientCert true, give the PEM file of the CA(s) that sign your modalities' certificates",
      );
    }
  },
};

const seconds = { min: 0, minExclusive: true, max: MAX_SECONDS, unit: 'seconds' } as const;

export const nodeSection: SectionSchema<NodeSettings> = {
  suggestOtherSections: true,
  fields: {
    aeTitle: { kind: aeTitle, default: 'DICOM_AI', doc: 'our AE title (called AE title callers must use)' },
    host: { kind: host, default: '0.0.0.0', doc: 'address to listen on' },
    port: {
      kind: nullable(port(true)),
      default: DEFAULT_DICOM_PORT,
      doc: 'DICOM port; `null`: no plain listener, DICOM TLS only (needs `node.tls`)',
    },
    maxAssociations: {
      kind: integer({ min: 1, max: 4096, unit: 'simultaneous connections' }),
      default: 32,
      doc: 'concurrent associations; more are rejected "local limit exceeded"',
    },
    maxPendingConnections: {
      kind: integer({ min: 1, max: 4096, unit: 'connections' }),
      default: 64,
      doc: 'connections not associated yet (no A-ASSOCIATE-RQ yet, or rejected and not closed), all addresses; more are closed at once',
    },
    maxPendingConnectionsPerAddress: {
      kind: integer({ min: 1, max: 4096, unit: 'connections' }),
      default: 8,
      doc: 'the same, from one IP address',
    },
    associationRequestTimeoutSeconds: {
      kind: decimal(seconds),
      default: 10,
      doc: 'a connection that has not sent its A-ASSOCIATE-RQ this long is closed (artimTimeoutSeconds if shorter)',
    },
    maxPduLength: {
      kind: integer({ min: 4096, max: 16777216, unit: 'bytes' }),
      default: 65536,
      doc: 'max P-DATA PDU we accept (advertised in A-ASSOCIATE-AC)',
    },
    idleTimeoutSeconds: { kind: decimal(seconds), default: 60, doc: 'an established association silent this long is aborted' },
    artimTimeoutSeconds: { kind: decimal(seconds), default: 30, doc: 'wait for A-ASSOCIATE-RQ / for the peer to close' },
    maxInstanceBytes: {
      kind: integer({ min: 1, max: Number.MAX_SAFE_INTEGER, unit: 'bytes' }),
      default: 4294967296,
      doc: 'largest instance accepted',
    },
    fsync: { kind: boolean, default: true, doc: 'fsync each file and its folder before answering (keep it on)' },
    tls: {
      kind: section(tlsListenerSection),
      default: null,
      doc: 'a DICOM TLS listener beside the plain one (absent: none)',
      defaultDoc: '',
    },
  },
  check(node, raw, at, { problems }) {
    if (raw['port'] === null && (raw['tls'] ?? null) === null) {
      problems.add(keyPath(at, 'port'), 'null runs DICOM TLS only; then node.tls is required (give its port, certFile and keyFile)');
    }
    if (node.maxPendingConnectionsPerAddress > node.maxPendingConnections) {
      problems.add(
        keyPath(at, 'maxPendingConnectionsPerAddress'),
        `${node.maxPendingConnectionsPerAddress} is more than maxPendingConnections (${node.maxPendingConnections}); the limit per address should be the smaller one`,
      );
    }
    // Compared with the port as written: an invalid node.port is reported on its own.
    const plainPort = has(raw, 'port') ? raw['port'] : DEFAULT_DICOM_PORT;
    const tlsPort = node.tls?.port;
    if (tlsPort !== undefined && tlsPort !== 0 && tlsPort === plainPort) {
      problems.add(
        keyPath(keyPath(at, 'tls'), 'port'),
        `${tlsPort} is also the plain DICOM port (node.port); TLS needs a port of its own, e.g. 2762`,
      );
    }
  },
};

// DICOM TLS settings (PS3.15 Annex B.1, "BCP 195" secure transport connection profiles): TLS 1.2
// or later only, and for TLS 1.2 only the AEAD cipher suites with forward secrecy that BCP 195
// (RFC 9325) recommends; TLS 1.3 suites are all acceptable.

import fs from 'node:fs';
import type tls from 'node:tls';

export const BCP195_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
].join(':');

const TLS13_SUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

export interface TlsFiles {
  certFile?: string | null;
  keyFile?: string | null;
  caFile?: string | null;
}

function read(file: string | null | undefined, what: string): Buffer | undefined {
  if (!file) return undefined;
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read the TLS ${what} ${file}: ${(e as Error).message}`);
  }
}

/** Options for the node's TLS listener. */
export function tlsServerOptions(f: TlsFiles & { requireClientCert: boolean; handshakeTimeoutMs?: number }): tls.TlsOptions {
  return {
    // Node's default is 120 s: long enough for a few silent peers to hold every socket.
    handshakeTimeout: f.handshakeTimeoutMs ?? 10_000,
    minVersion: 'TLSv1.2',
    ciphers: `${TLS13_SUITES}:${BCP195_TLS12_CIPHERS}`,
    honorCipherOrder: true,
    cert: read(f.certFile, 'certificate'),
    key: read(f.keyFile, 'private key'),
    ca: read(f.caFile, 'CA certificate file'),
    requestCert: f.requireClientCert,
    rejectUnauthorized: f.requireClientCert,
  };
}

/** Options for connecting to a destination over TLS (its certificate is always verified). */
export function tlsClientOptions(f: TlsFiles, host: string): tls.ConnectionOptions {
  return {
    minVersion: 'TLSv1.2',
    ciphers: `${TLS13_SUITES}:${BCP195_TLS12_CIPHERS}`,
    cert: read(f.certFile, 'certificate'),
    key: read(f.keyFile, 'private key'),
    ca: read(f.caFile, 'CA certificate file'),
    rejectUnauthorized: true,
    // SNI only for names, never for IP addresses (RFC 6066 3).
    servername: /^[\d.]+$|:/.test(host) ? undefined : host,
  };
}

/**
 * The names a verified client certificate carries: its subject CN(s) and its subjectAltName
 * values (DNS, URI, email, IP address). Empty when the peer sent no certificate or one that does
 * not chain to a trusted CA: names from an unverified certificate prove nothing.
 */
export function verifiedPeerNames(socket: tls.TLSSocket): string[] {
  if (!socket.authorized) return [];
  const cert = socket.getPeerCertificate();
  // An empty object when no certificate was presented.
  if (!cert || Object.keys(cert).length === 0) return [];
  const cn: unknown = cert.subject?.CN;
  const names = Array.isArray(cn) ? cn.filter((x): x is string => typeof x === 'string') : typeof cn === 'string' ? [cn] : [];
  for (const entry of splitSubjectAltName(cert.subjectaltname ?? '')) {
    const m = /^(DNS|URI|email|IP Address):(.*)$/.exec(entry);
    if (m) names.push(m[2]!);
  }
  return names;
}

/** "DNS:a, URI:b" → ["DNS:a", "URI:b"]; Node quotes a value containing ", " as a JSON string. */
function splitSubjectAltName(text: string): string[] {
  const out: string[] = [];
  const re = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (let m = re.exec(text); m !== null && m[0] !== ''; m = re.exec(text)) {
    let value = m[2]!;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    out.push(`${m[1]!}:${value}`);
  }
  return out;
}

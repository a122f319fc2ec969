// C-ECHO (PS3.7 §9.1.5, Verification SOP Class) of a configured destination, as the node itself
// would connect for a delivery: its AE titles, address and TLS files. For the dashboard's
// "is the PACS reachable?" button; the CLI's `echo` does the same from the command line.
// A DICOMweb destination gets the nearest equivalent: an authenticated QIDO-RS search.

import type { DestinationConfig } from '../config/types';
import { ScuAssociation } from '../dimse/scu';
import { tlsClientOptions } from '../dimse/tls';
import { VERIFICATION_SOP_CLASS, VERIFICATION_TRANSFER_SYNTAX_PREFERENCE } from '../dimse/uids';
import { probeDicomWeb } from './stow-rs';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../version';

export interface EchoOutcome {
  readonly ok: boolean;
  /** The C-ECHO-RSP status, or null when no response came (refused, unreachable, timed out). */
  readonly status: number | null;
  readonly ms: number;
  /** Why it failed, in words; null on success. */
  readonly error: string | null;
}

export async function echoDestination(d: DestinationConfig, callingAeTitle: string, timeoutMs = 10_000): Promise<EchoOutcome> {
  const t0 = Date.now();
  if (d.protocol === 'dicomweb' && d.url !== null) {
    // No C-ECHO in DICOMweb: an authenticated QIDO-RS search answers "reachable, and are we let in?".
    const probe = await probeDicomWeb({ ...d, url: d.url, timeoutSeconds: Math.min(d.timeoutSeconds, timeoutMs / 1000) });
    return { ok: probe.ok, status: null, ms: Date.now() - t0, error: probe.error };
  }
  try {
    const scu = await ScuAssociation.open({
      host: d.host,
      port: d.port,
      callingAeTitle,
      calledAeTitle: d.aeTitle,
      contexts: [{ abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [...VERIFICATION_TRANSFER_SYNTAX_PREFERENCE] }],
      implementationClassUid: IMPLEMENTATION_CLASS_UID,
      implementationVersionName: IMPLEMENTATION_VERSION_NAME,
      limits: { maxPduLength: 65536, maxCommandBytes: 65536, maxAssociateLength: 1 << 20, maxDataSetBytes: 0 },
      timeouts: { artimMs: timeoutMs, idleMs: timeoutMs },
      connectTimeoutMs: timeoutMs,
      tls: d.tls ? tlsClientOptions(d.tls, d.host) : undefined,
    });
    try {
      const rsp = await scu.echo();
      const status = rsp.status ?? null;
      return { ok: status === 0, status, ms: Date.now() - t0, error: status === 0 ? null : `C-ECHO answered status ${hex(status)}` };
    } finally {
      await scu.release().catch(() => undefined);
    }
  } catch (e) {
    return { ok: false, status: null, ms: Date.now() - t0, error: (e as Error).message };
  }
}

/**
 * What the check of a destination is called for an operator: C-ECHO for DICOM, and for DICOMweb
 * (which has no C-ECHO) the QIDO-RS search that stands in for it.
 */
export function echoLabel(d: Pick<DestinationConfig, 'protocol'> | undefined): string {
  return d?.protocol === 'dicomweb' ? 'QIDO-RS check' : 'C-ECHO';
}

export const hex = (status: number | null): string => (status === null ? 'none' : `0x${status.toString(16).padStart(4, '0')}`);

// What an association's life leaves behind, apart from the stored instances: log lines, metrics,
// audit events (IHE ATNA: who connected, who was refused, who sent which series) and the
// associations table. Recording any of it is never fatal to DICOM traffic.

import type { NodeMetrics } from '../admin/node-metrics';
import type { Association } from '../dimse/association';
import type { ConnectionRefusedEvent, ListenerErrorEvent, RejectionEvent, StorageScp, StoreResultEvent } from '../dimse/scp';
import type { AuditSink } from '../log/audit';
import type { Logger } from '../log/logger';
import { LogThrottle } from '../log/throttle';
import type { Store } from '../store/store';

export interface AssociationObservers {
  readonly store: Store;
  readonly metrics: NodeMetrics;
  readonly audit: AuditSink;
  readonly log: Logger;
}

/** Refused connections and accept errors: one log line (and audit event) per address per minute. */
const REFUSALS_LOGGED_EVERY_MS = 60_000;

export function observeAssociations(scp: StorageScp, { store, metrics, audit, log }: AssociationObservers): void {
  observeConnectionFloods(scp, { store, metrics, audit, log });
  scp.on('store-result', (e: StoreResultEvent) => {
    metrics.storeResult(e.status, e.ms);
    if (e.status !== 0) {
      const a = e.association;
      audit({
        event: 'instance-refused',
        outcome: 'failure',
        callingAeTitle: a.callingAeTitle,
        remoteAddress: a.remoteAddress,
        associationId: a.id,
        detail: `status 0x${e.status.toString(16).padStart(4, '0')}, SOP class ${e.sopClassUid}`,
      });
    }
  });
  scp.on('association', (a: Association, contexts: { result: number }[]) => {
    log.info('association accepted', {
      association: a.id,
      callingAe: a.callingAeTitle,
      calledAe: a.calledAeTitle,
      remote: a.remoteAddress,
      contextsProposed: contexts.length,
      contextsAccepted: contexts.filter((c) => c.result === 0).length,
    });
  });
  scp.on('association-closed', (a: Association, reason: string) => {
    const endedAt = Date.now();
    const fields = {
      association: a.id,
      callingAe: a.callingAeTitle,
      remote: a.remoteAddress,
      instances: a.instancesReceived,
      bytes: a.bytesReceived,
      durationMs: endedAt - a.startedAt,
      outcome: reason,
    };
    metrics.associations.inc({ outcome: reason === 'released' ? 'released' : 'aborted' });
    metrics.bytes.inc({}, a.bytesReceived);
    if (reason === 'released') log.info('association released', fields);
    else log.warn('association ended abnormally', fields);
    try {
      // "DICOM Instances Transferred" (IHE ATNA): who sent which series, from where.
      for (const r of store.instancesByAssociation(a.id)) {
        audit({
          event: 'instances-received',
          outcome: 'success',
          callingAeTitle: a.callingAeTitle,
          calledAeTitle: a.calledAeTitle,
          remoteAddress: a.remoteAddress,
          associationId: a.id,
          studyInstanceUid: r.studyInstanceUid,
          seriesInstanceUid: r.seriesInstanceUid,
          instances: r.instances,
        });
      }
      store.recordAssociation({
        id: a.id,
        callingAeTitle: a.callingAeTitle,
        calledAeTitle: a.calledAeTitle,
        remoteAddress: a.remoteAddress,
        startedAt: a.startedAt,
        endedAt,
        instances: a.instancesReceived,
        bytes: a.bytesReceived,
        outcome: reason,
      });
    } catch (e) {
      log.error('could not record association', { association: a.id, error: (e as Error).message });
    }
  });
  scp.on('rejected', (r: RejectionEvent) => {
    metrics.rejected.inc({ reason: rejectionLabel(r) });
    audit({
      event: 'association-rejected',
      outcome: 'failure',
      callingAeTitle: r.callingAeTitle,
      calledAeTitle: r.calledAeTitle,
      remoteAddress: r.remoteAddress,
      detail: r.why,
    });
    log.warn('association rejected', {
      callingAe: r.callingAeTitle,
      calledAe: r.calledAeTitle,
      remote: r.remoteAddress,
      why: r.why,
      result: r.rejection.result,
      source: r.rejection.source,
      reason: r.rejection.reason,
    });
  });
  scp.on('tls-refused', (r: { remoteAddress: string; why: string }) => {
    metrics.rejected.inc({ reason: 'tls' });
    audit({ event: 'tls-refused', outcome: 'failure', remoteAddress: r.remoteAddress, detail: r.why });
    log.warn('TLS connection refused', { remote: r.remoteAddress, why: r.why });
  });
  scp.on('aborted', (a: Association, reason: string) => {
    metrics.associations.inc({ outcome: 'aborted' });
    metrics.bytes.inc({}, a.bytesReceived);
    log.warn('connection dropped before an association was established', { association: a.id, remote: a.remoteAddress, reason });
  });
}

/** A low-cardinality label for a rejection (PS3.8 Table 9-21 source/reason). */
function rejectionLabel(r: RejectionEvent): string {
  const { source, reason } = r.rejection;
  if (source === 1 && reason === 3) return 'calling-ae-not-recognized';
  if (source === 1 && reason === 7) return 'called-ae-not-recognized';
  if (source === 1 && reason === 2) return 'application-context-not-supported';
  if (source === 3 && reason === 2) return 'local-limit-exceeded';
  if (source === 2 && reason === 2) return 'protocol-version-not-supported';
  return 'other';
}

/**
 * Connections closed for being over the pending limits, and listener errors (EMFILE...): each is
 * counted, but logged and audited at most once per address (or error code) per interval, with
 * how many were held back, so that a flood costs a few lines, not one per socket.
 */
function observeConnectionFloods(scp: StorageScp, { metrics, audit, log }: AssociationObservers): void {
  const refusals = new LogThrottle(REFUSALS_LOGGED_EVERY_MS);
  scp.on('connection-refused', (r: ConnectionRefusedEvent) => {
    metrics.connectionsRefused.inc({ reason: 'pending-limit' });
    const t = refusals.take(r.remoteAddress);
    if (!t.log) return;
    const alsoRefused = t.heldBack > 0 ? ` (${t.heldBack} more refused since the last report)` : '';
    audit({ event: 'connection-refused', outcome: 'failure', remoteAddress: r.remoteAddress, detail: `${r.why}${alsoRefused}` });
    log.warn('connection closed before its association request: too many pending connections', {
      remote: r.remoteAddress,
      why: r.why,
      heldBack: t.heldBack,
      nextReportAfterSeconds: REFUSALS_LOGGED_EVERY_MS / 1000,
    });
  });
  const errors = new LogThrottle(REFUSALS_LOGGED_EVERY_MS);
  scp.on('listener-error', (e: ListenerErrorEvent) => {
    const code = e.error.code ?? 'unknown';
    const t = errors.take(`${e.listener}/${code}`);
    if (!t.log) return;
    log.error('DICOM listener could not accept a connection; it keeps listening', {
      listener: e.listener,
      code,
      error: e.error.message,
      heldBack: t.heldBack,
      hint:
        code === 'EMFILE' || code === 'ENFILE'
          ? 'out of file descriptors: raise the limit (ulimit -n) or lower maxAssociations'
          : undefined,
    });
  });
}

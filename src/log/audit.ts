// The audit trail's fan-out: every event goes to SQLite (the full trail, shown by the admin API),
// and, as configured, to a syslog collector and to a JSON-lines file for a SIEM. Recording an
// event is never fatal: DICOM traffic and jobs go on when a copy cannot be written, and the failure
// is logged (audit events carry AE titles, addresses, UIDs and counts, never patient names).

import fs from 'node:fs';
import type { AuditConfig } from '../config/config';
import type { AuditEvent, Store } from '../store/store';
import type { Logger } from './logger';
import { SyslogSender } from './syslog';
import { hashUidsIn } from './uid-ref';
import { chmodPrivateFile, PRIVATE_FILE_MODE } from '../private-files';

/** An event as its source reports it; the trail stamps the time. */
export type AuditRecord = Omit<AuditEvent, 'at'>;

/** What components that audit are given: a sink, not the trail itself. */
export type AuditSink = (event: AuditRecord) => void;

/** How long the syslog socket stays open after close(), so the last datagram can leave. */
const SYSLOG_DRAIN_MS = 200;

export class AuditTrail {
  private readonly syslog: SyslogSender | null;
  private syslogFailed = false;

  constructor(
    private readonly store: Store,
    private readonly config: AuditConfig,
    /** The node's AE title, named in every copy that leaves the database. */
    private readonly node: string,
    private readonly log: Logger,
  ) {
    // An older install's audit file (IPs, AE titles, UIDs): the node's user only, as new ones are.
    if (config.file) {
      try {
        chmodPrivateFile(config.file);
      } catch (e) {
        log.warn('the audit file could not be made private (0600)', { error: (e as Error).message });
      }
    }
    const target = config.syslog;
    this.syslog = target
      ? new SyslogSender(target.host, target.port, target.appName, (e) => {
          // Said once, not per event: a collector that is down would otherwise flood the log.
          if (!this.syslogFailed)
            log.error('audit events cannot be sent to syslog', { host: target.host, port: target.port, error: e.message });
          this.syslogFailed = true;
        })
      : null;
  }

  /** The trail as a sink for components. */
  readonly sink: AuditSink = (event) => this.record(event);

  record(e: AuditRecord): void {
    // The participant object identifiers ATNA requires (study, series) keep their own fields; a
    // UID inside the free-text detail (an instance named by an error) is a uidRef, as in logs.
    const event: AuditEvent = { at: Date.now(), ...e, detail: e.detail ? hashUidsIn(e.detail) : e.detail };
    try {
      this.store.recordAudit(event);
    } catch (err) {
      this.log.error('could not record an audit event', { event: e.event, error: (err as Error).message });
    }
    this.syslog?.send({ ...event, node: this.node });
    const file = this.config.file;
    if (file) {
      // One JSON object per line, appended synchronously: audit events are rare and must not be
      // reordered or lost in a buffer when the process ends.
      try {
        fs.appendFileSync(file, JSON.stringify({ ...event, at: new Date(event.at).toISOString(), node: this.node }) + '\n', {
          mode: PRIVATE_FILE_MODE,
        });
      } catch (err) {
        this.log.error('could not append to the audit file', { error: (err as Error).message });
      }
    }
  }

  /** Closes the syslog socket after a short delay, so that the last event (application-stop) leaves. */
  close(): void {
    const syslog = this.syslog;
    if (syslog) setTimeout(() => syslog.close(), SYSLOG_DRAIN_MS).unref();
  }
}

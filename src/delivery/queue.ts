// Delivery with retries: every (instance, destination) is one row in SQLite. A sweep claims the due
// ones, sends each destination's batch over one association or one STOW-RS request (bytes as
// stored), and records the outcome: delivered on success or warning; otherwise another attempt
// after an exponential backoff with a cap, and 'failed' once the attempts are used up. A crash mid-send puts the
// delivery back in the queue; resending the same SOP Instance UID replaces, never duplicates.

import type { DestinationConfig } from '../config/config';
import type { DeliveryRow, Store } from '../store/store';
import type { Logger } from '../log/logger';
import { isSuccessOrWarning, prepareFile, PreparedFile, sendFiles } from './send-files';
import { stowFiles } from './stow-rs';

export interface DeliverySettings {
  maxAttempts: number;
  backoffSeconds: number;
  backoffCapSeconds: number;
}

export interface SweepResult {
  delivered: number;
  retrying: number;
  failed: number;
}

/** Seconds to wait after the n-th failed attempt (n ≥ 1). */
export function backoffSeconds(n: number, s: DeliverySettings): number {
  return Math.min(s.backoffCapSeconds, s.backoffSeconds * 2 ** (n - 1));
}

export interface DeliveryOutcome {
  readonly row: DeliveryRow;
  readonly ok: boolean;
  /** No attempt left: the delivery is failed for good. */
  readonly final: boolean;
  readonly status: number | null;
  readonly error?: string;
  /** The SOP class actually sent (a fallback form may differ from the row's). */
  readonly sentSopClassUid?: string;
}

export class DeliveryQueue {
  private running: Promise<SweepResult> | null = null;

  constructor(
    private readonly store: Store,
    private readonly destinations: Readonly<Record<string, DestinationConfig>>,
    private readonly settings: DeliverySettings,
    private readonly callingAeTitle: string,
    private readonly log: Logger,
    /** Told about every attempt (metrics, audit trail). */
    private readonly observe: (e: DeliveryOutcome) => void = () => undefined,
  ) {}

  /** Sends what is due; a sweep already running is joined, not doubled. */
  runDue(now = Date.now()): Promise<SweepResult> {
    if (!this.running) this.running = this.sweep(now).finally(() => (this.running = null));
    return this.running;
  }

  private async sweep(now: number): Promise<SweepResult> {
    const result: SweepResult = { delivered: 0, retrying: 0, failed: 0 };
    const due = this.store.claimDueDeliveries(now);
    const byDestination = new Map<string, DeliveryRow[]>();
    for (const d of due) byDestination.set(d.destination, [...(byDestination.get(d.destination) ?? []), d]);
    for (const [name, rows] of byDestination) await this.sendBatch(name, rows, result);
    if (due.length > 0) this.log.info('delivery sweep', { due: due.length, ...result });
    return result;
  }

  private fail(d: DeliveryRow, status: number | null, error: string, result: SweepResult): void {
    const attempt = d.attempts + 1;
    const now = Date.now();
    const next = attempt >= this.settings.maxAttempts ? null : now + backoffSeconds(attempt, this.settings) * 1000;
    this.store.markAttemptFailed(d.id, status, error.slice(0, 500), next, now);
    this.observe({ row: d, ok: false, final: next === null, status, error: error.slice(0, 200) });
    if (next === null) {
      result.failed++;
      this.log.error('delivery failed for good', { destination: d.destination, attempts: attempt, status, error: error.slice(0, 200) });
    } else result.retrying++;
  }

  private async sendBatch(name: string, rows: DeliveryRow[], result: SweepResult): Promise<void> {
    const dest = this.destinations[name];
    if (!dest) {
      for (const d of rows) this.fail(d, null, `destination "${name}" is no longer configured`, result);
      return;
    }
    const prepared: { row: DeliveryRow; file: PreparedFile }[] = [];
    for (const row of rows) {
      try {
        const file = await prepareFile(row.filePath);
        const alternatives: PreparedFile[] = [];
        for (const a of row.alternatives) alternatives.push(await prepareFile(a.filePath));
        prepared.push({ row, file: alternatives.length > 0 ? { ...file, alternatives } : file });
      } catch (e) {
        this.fail(row, null, `file unreadable: ${(e as Error).message}`, result);
      }
    }
    if (prepared.length === 0) return;
    try {
      const files = prepared.map((p) => p.file);
      // One queue for both protocols: STOW-RS answers are mapped to the same per-instance statuses.
      const sent =
        dest.protocol === 'dicomweb' && dest.url !== null
          ? await stowFiles({ ...dest, url: dest.url }, files)
          : await sendFiles(dest, files, { callingAeTitle: this.callingAeTitle, timeoutSeconds: dest.timeoutSeconds });
      prepared.forEach(({ row }, i) => {
        const r = sent[i];
        if (r && isSuccessOrWarning(r.status)) {
          this.store.markDelivered(row.id, r.status!, Date.now());
          let sent = row.sopClassUid;
          if (r.sopInstanceUid !== row.sopInstanceUid) {
            const alt = row.alternatives.find((a) => a.sopInstanceUid === r.sopInstanceUid);
            sent = alt?.sopClassUid ?? sent;
            this.log.info('destination did not accept the preferred form; sent a fallback form instead', {
              destination: name,
              preferredSopClass: row.sopClassUid,
              sentSopClass: alt?.sopClassUid,
            });
          }
          this.observe({ row, ok: true, final: true, status: r.status, sentSopClassUid: sent });
          result.delivered++;
        } else this.fail(row, r?.status ?? null, r?.error ?? `status 0x${(r?.status ?? 0xffff).toString(16)}`, result);
      });
    } catch (e) {
      // No association at all (peer down, refused, TLS), or an HTTP answer with nothing per
      // instance (5xx, 401): every delivery of the batch tries again later.
      for (const { row } of prepared) this.fail(row, null, (e as Error).message, result);
    }
  }
}

// Delivery with retries: every (instance, destination) is one row in SQLite. A sweep claims the due
// ones, sends each destination's batch over one association or one STOW-RS request (bytes as
// stored), and records the outcome: delivered on success or warning; otherwise another attempt
// after an exponential backoff with a cap, and 'failed' once the attempts are used up. A crash mid-send puts the
// delivery back in the queue; resending the same SOP Instance UID replaces, never duplicates.

import type { DestinationConfig } from '../config/config';
import type { DeliveryAlternative, DeliveryRow, Store } from '../store/store';
import type { Logger } from '../log/logger';
import { isSuccessOrWarning, prepareFile, PreparedFile, SendResult, sendFiles } from './send-files';
import { stowInDependencyOrder } from './stow-rs';

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
  /** The SR variant without segment references was sent: the destination does not hold the Segmentation. */
  readonly withoutSegmentation?: boolean;
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
    const inBatch = new Set(rows.map((r) => r.sopInstanceUid));
    const prepared: { row: DeliveryRow; file: PreparedFile }[] = [];
    for (const row of rows) {
      try {
        const file = await this.prepareRow(row, inBatch);
        if (file) prepared.push({ row, file });
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
          ? await stowInDependencyOrder({ ...dest, url: dest.url }, files)
          : await sendFiles(dest, files, { callingAeTitle: this.callingAeTitle, timeoutSeconds: dest.timeoutSeconds });
      // The Segmentations this batch's SRs reference.
      const referenced = new Set(rows.map((r) => segmentationDependency(r)?.segmentation));
      prepared.forEach(({ row }, i) => this.record(name, row, sent[i], referenced.has(row.sopInstanceUid), result));
    } catch (e) {
      // No association at all (peer down, refused, TLS), or an HTTP answer with nothing per
      // instance (5xx, 401): every delivery of the batch tries again later.
      for (const { row } of prepared) this.fail(row, null, (e as Error).message, result);
    }
  }

  /**
   * What to send for a row; null when it waits (deferred, no attempt counted).
   *
   * An SR that references a Segmentation (alternatives marked whenSegmentationMissing) must never
   * reach a destination that does not hold that SEG. The SEG is queued before its SR, so they are
   * claimed together and the SEG goes first in the same association; the SR is then sent only
   * after the SEG was stored (sendFiles' `references`). Otherwise:
   *  - the peer refused the SEG's SOP class at association: the SR variant without the
   *    references goes instead, in the same association, and the SEG fails for good (record);
   *  - the SEG failed another way (it will be retried): the SR is held back and deferred to the
   *    SEG's next attempt, so both are claimed together again;
   *  - the SEG is not in this batch: its row decides. Delivered: the SR with references. Failed
   *    for good, or never queued there: the variant. Still waiting: the SR waits with it.
   */
  private async prepareRow(row: DeliveryRow, inBatch: ReadonlySet<string>): Promise<PreparedFile | null> {
    const dep = segmentationDependency(row);
    if (!dep) return prepareForms(row, row.alternatives);
    if (inBatch.has(dep.segmentation)) {
      const file = await prepareForms(row, dep.withReferences);
      return { ...file, references: { sopInstanceUid: dep.segmentation, otherwise: await prepareVariant(dep) } };
    }
    const seg = this.store.deliveryOf(dep.segmentation, row.destination);
    if (seg?.state === 'delivered') return prepareForms(row, dep.withReferences);
    if (!seg || seg.state === 'failed') return prepareVariant(dep);
    this.defer(row, seg);
    return null;
  }

  /** The SR waits for its Segmentation's next attempt (at once when that one failed for good: the variant goes then). */
  private defer(row: DeliveryRow, seg: DeliveryRow | undefined): void {
    const now = Date.now();
    const at = !seg || seg.state === 'failed' ? now : Math.max(seg.nextAttemptAt, now);
    this.store.deferDelivery(row.id, at, 'waiting for the Segmentation it references to be delivered first', now);
    this.log.info('SR waits for the Segmentation it references', {
      destination: row.destination,
      nextAttemptAt: new Date(at).toISOString(),
    });
  }

  private record(name: string, row: DeliveryRow, r: SendResult | undefined, isReferencedSeg: boolean, result: SweepResult): void {
    const dep = segmentationDependency(row);
    if (r?.heldBack && dep) return this.defer(row, this.store.deliveryOf(dep.segmentation, name));
    if (!r || !isSuccessOrWarning(r.status)) {
      const error = r?.error ?? `status 0x${(r?.status ?? 0xffff).toString(16)}`;
      // A Segmentation whose SOP class the peer refused: its SR went without the references, and
      // resending the SEG cannot change that; failed for good (an operator may still retry it).
      if (r?.refused && isReferencedSeg) return this.failForGood(row, r, error, result);
      return this.fail(row, r?.status ?? null, error, result);
    }
    this.store.markDelivered(row.id, r.status!, Date.now());
    let sent = row.sopClassUid;
    let withoutSegmentation = false;
    if (r.sopInstanceUid !== row.sopInstanceUid) {
      const alt = row.alternatives.find((a) => a.sopInstanceUid === r.sopInstanceUid);
      sent = alt?.sopClassUid ?? sent;
      withoutSegmentation = alt?.whenSegmentationMissing !== undefined;
      if (withoutSegmentation)
        this.log.warn('destination does not hold the Segmentation: sent the SR without segment references', {
          destination: name,
          sentSopClass: sent,
        });
      else
        this.log.info('destination did not accept the preferred form; sent a fallback form instead', {
          destination: name,
          preferredSopClass: row.sopClassUid,
          sentSopClass: alt?.sopClassUid,
        });
    }
    this.observe({
      row,
      ok: true,
      final: true,
      status: r.status,
      sentSopClassUid: sent,
      ...(withoutSegmentation ? { withoutSegmentation } : {}),
    });
    result.delivered++;
  }

  private failForGood(row: DeliveryRow, r: SendResult, error: string, result: SweepResult): void {
    const now = Date.now();
    this.store.markAttemptFailed(row.id, r.status, error.slice(0, 500), null, now);
    this.observe({ row, ok: false, final: true, status: r.status, error: error.slice(0, 200) });
    result.failed++;
    this.log.warn('destination does not take Segmentations: the SEG is not sent again', { destination: row.destination });
  }
}

/** An SR row whose references to a Segmentation need that SEG at the destination; null for any other row. */
function segmentationDependency(
  row: DeliveryRow,
): { segmentation: string; withReferences: DeliveryAlternative[]; withoutReferences: DeliveryAlternative[] } | null {
  const withoutReferences = row.alternatives.filter((a) => a.whenSegmentationMissing !== undefined);
  const segmentation = withoutReferences[0]?.whenSegmentationMissing;
  if (segmentation === undefined) return null;
  return { segmentation, withReferences: row.alternatives.filter((a) => a.whenSegmentationMissing === undefined), withoutReferences };
}

/** The SR variant without segment references, its forms in order, read for sending. */
function prepareVariant(dep: { withoutReferences: DeliveryAlternative[] }): Promise<PreparedFile> {
  const [first, ...rest] = dep.withoutReferences;
  return prepareForms(first!, rest);
}

/** The object and its other forms, in order, read for sending. */
async function prepareForms(first: { filePath: string }, others: readonly { filePath: string }[]): Promise<PreparedFile> {
  const file = await prepareFile(first.filePath);
  const alternatives: PreparedFile[] = [];
  for (const a of others) alternatives.push(await prepareFile(a.filePath));
  return alternatives.length > 0 ? { ...file, alternatives } : file;
}

// Series stability: DICOM has no end-of-series message, so a series is "stable" once no instance
// of it arrived for `stableSeconds`. The state lives in SQLite (last arrival per series), so the
// monitor holds no timers worth losing: after a restart its first tick finds every series that
// went quiet while the node was down, and a new instance reopens a stable series (store side).

import type { SeriesRow, Store } from '../store/store';
import type { Logger } from '../log/logger';

export class StabilityMonitor {
  private timer: NodeJS.Timeout | null = null;
  /** After stop() nothing reschedules: instances finishing during shutdown must not revive the timer. */
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly stableMs: number,
    private readonly log: Logger,
    private readonly onStable: (s: SeriesRow) => void,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.stopped = false;
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Also called by ingest after each stored instance, so the next wake-up is rescheduled. */
  poke(): void {
    if (!this.timer && !this.stopped) this.schedule();
  }

  tick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped) return;
    const now = this.now();
    let stable: SeriesRow[] = [];
    try {
      stable = this.store.markStableSeries(now - this.stableMs, now);
    } catch (e) {
      this.log.error('series stability check failed', { error: (e as Error).message });
    }
    for (const s of stable) {
      this.log.info('series stable', {
        modality: s.modality,
        instances: s.instanceCount,
        bytes: s.totalBytes,
        callingAe: s.callingAeTitle,
        quietSeconds: Math.round((now - s.lastReceivedAt) / 1000),
      });
      try {
        this.onStable(s);
      } catch (e) {
        this.log.error('series stable handler failed', { error: (e as Error).message });
      }
    }
    this.schedule();
  }

  /** Sleeps until the oldest receiving series would turn stable (checked again then). */
  private schedule(): void {
    let oldest: number | null = null;
    try {
      oldest = this.store.oldestReceivingSeriesAt();
    } catch {
      oldest = null;
    }
    if (oldest === null) return; // nothing receiving: the next stored instance pokes us
    const delay = Math.max(20, oldest + this.stableMs - this.now() + 5);
    this.timer = setTimeout(() => this.tick(), delay);
    this.timer.unref();
  }
}

// Where a job's time goes, stage by stage (milliseconds), for the "job done" log line and the
// time-to-report breakdown of bench:report-latency.

export class StageClock {
  private last = Date.now();
  readonly ms: Record<string, number> = {};

  /** Ends the stage running since the previous lap (or the clock's start) and names it. */
  lap(stage: string): void {
    const now = Date.now();
    this.ms[stage] = (this.ms[stage] ?? 0) + (now - this.last);
    this.last = now;
  }

  /**
   * Ends the stage running since the previous lap, split between `first` (its time measured inside
   * the stage, e.g. by the model run) and `rest` (the remainder).
   */
  lapSplit(first: string, firstMs: number, rest: string): void {
    const now = Date.now();
    const span = now - this.last;
    const a = Math.min(span, Math.max(0, firstMs));
    this.ms[first] = (this.ms[first] ?? 0) + a;
    this.ms[rest] = (this.ms[rest] ?? 0) + (span - a);
    this.last = now;
  }
}

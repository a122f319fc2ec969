// Rate-limits log lines about one thing (a flooding address, an accept error): the first
// occurrence is logged at once, then at most one line per interval saying how many occurrences
// were held back since. A flood of refused connections must not become a flood of log lines.

export interface ThrottleDecision {
  /** Log this occurrence now. */
  readonly log: boolean;
  /** Occurrences not logged since the last line (include it in that line). */
  readonly heldBack: number;
}

interface Window {
  loggedAt: number;
  heldBack: number;
}

/** Keys idle longer than the interval are forgotten once there are this many (bounded memory). */
const PRUNE_ABOVE = 1024;

export class LogThrottle {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string): ThrottleDecision {
    const now = this.now();
    const w = this.windows.get(key);
    if (w !== undefined && now - w.loggedAt < this.intervalMs) {
      w.heldBack++;
      return { log: false, heldBack: w.heldBack };
    }
    if (w === undefined && this.windows.size >= PRUNE_ABOVE) this.prune(now);
    const heldBack = w?.heldBack ?? 0;
    this.windows.set(key, { loggedAt: now, heldBack: 0 });
    return { log: true, heldBack };
  }

  private prune(now: number): void {
    for (const [key, w] of this.windows) if (now - w.loggedAt >= this.intervalMs) this.windows.delete(key);
  }
}

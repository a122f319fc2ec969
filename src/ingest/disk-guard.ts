// Disk-space guard: below `storage.minFreeMegabytes` free on the data folder's file system the
// node refuses new instances with A700 (out of resources) instead of filling the disk until a
// write fails half-way; it resumes by itself once space is back. The state is polled (statfs is
// cheap) so that the C-STORE path only reads a boolean.

import fs from 'node:fs';
import type { Logger } from '../log/logger';

export class DiskGuard {
  private low = false;
  private freeBytes = Number.POSITIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly dir: string,
    private readonly minFreeBytes: number,
    private readonly log: Logger,
    private readonly pollMs = 2000,
  ) {}

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** True while free space is below the threshold. */
  get isLow(): boolean {
    return this.low;
  }

  get free(): number {
    return this.freeBytes;
  }

  check(): void {
    if (this.minFreeBytes <= 0) return;
    try {
      const s = fs.statfsSync(this.dir);
      this.freeBytes = s.bavail * s.bsize;
    } catch (e) {
      this.log.error('cannot read free disk space', { error: (e as Error).message });
      return;
    }
    const low = this.freeBytes < this.minFreeBytes;
    if (low !== this.low) {
      this.low = low;
      const fields = { freeMegabytes: Math.floor(this.freeBytes / 1048576), minFreeMegabytes: Math.floor(this.minFreeBytes / 1048576) };
      if (low) this.log.error('disk space low: refusing new instances with A700 until space is freed', fields);
      else this.log.warn('disk space back above the threshold: accepting instances again', fields);
    }
  }
}

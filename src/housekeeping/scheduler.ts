// Housekeeping on node-cron schedules: SQLite WAL checkpoints (the WAL does not grow without
// bound) and online backups of the index to a folder of the administrator's choosing, keeping the
// newest N. Later stages add their sweeps (delivery retries, retention) here.

import fs from 'node:fs';
import path from 'node:path';
import cron, { ScheduledTask } from 'node-cron';
import type { Store } from '../store/store';
import type { Logger } from '../log/logger';
import type { HousekeepingConfig } from '../config/config';
import { ensurePrivateFile, mkdirPrivate } from '../private-files';

export class Housekeeping {
  private tasks: ScheduledTask[] = [];
  private extra: { name: string; cron: string; run: () => unknown }[] = [];

  constructor(
    private readonly cfg: HousekeepingConfig,
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  /** Other stages' sweeps (e.g. delivery retries), scheduled with the rest at start(). */
  add(name: string, cron: string, run: () => unknown): void {
    this.extra.push({ name, cron, run });
  }

  start(): void {
    for (const x of this.extra) {
      this.tasks.push(
        cron.schedule(
          x.cron,
          async () => {
            try {
              await x.run();
            } catch (e) {
              this.log.error('scheduled task failed', { task: x.name, error: (e as Error).message });
            }
          },
          { noOverlap: true, name: x.name },
        ),
      );
    }
    this.tasks.push(cron.schedule(this.cfg.checkpointCron, () => this.checkpoint(), { noOverlap: true, name: 'wal-checkpoint' }));
    if (this.cfg.backupDir)
      this.tasks.push(cron.schedule(this.cfg.backupCron, () => this.backup(), { noOverlap: true, name: 'index-backup' }));
  }

  async stop(): Promise<void> {
    for (const t of this.tasks) await t.destroy();
    this.tasks = [];
  }

  /** Folds the WAL back into the database file and truncates it. */
  checkpoint(): { busy: number; log: number; checkpointed: number } {
    try {
      const r = this.store.checkpoint();
      this.log.debug('WAL checkpoint', r);
      return r;
    } catch (e) {
      this.log.error('WAL checkpoint failed', { error: (e as Error).message });
      throw e;
    }
  }

  /** Online backup of the index (consistent while the node runs); keeps the newest `keepBackups`. */
  async backup(): Promise<string> {
    const dir = this.cfg.backupDir;
    if (!dir) throw new Error('no housekeeping.backupDir configured');
    mkdirPrivate(dir);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const file = path.join(dir, `dicom-ai-node-${stamp}.sqlite`);
    try {
      ensurePrivateFile(file); // SQLite writes into it (and its journal) with the file's own mode
      await this.store.backupTo(file);
      const old = fs
        .readdirSync(dir)
        .filter((f) => /^dicom-ai-node-.*\.sqlite$/.test(f))
        .sort()
        .slice(0, -this.cfg.keepBackups);
      for (const f of old) fs.rmSync(path.join(dir, f), { force: true });
      this.log.info('index backed up', { file, removedOldBackups: old.length });
      return file;
    } catch (e) {
      fs.rmSync(file, { force: true });
      this.log.error('index backup failed', { dir, error: (e as Error).message });
      throw e;
    }
  }
}

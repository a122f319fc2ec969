/** `housekeeping`: scheduled WAL checkpoints, index backups and retention. */
import { cron, decimal, filePath, integer, nullable } from '../kinds';
import type { SectionSchema } from '../schema';
import type { HousekeepingConfig } from '../types';

const schedule = cron('; write five or six fields, e.g. "30 2 * * *" for 02:30 every day');

export const housekeepingSection: SectionSchema<HousekeepingConfig> = {
  suggestOtherSections: true,
  fields: {
    checkpointCron: { kind: schedule, default: '*/15 * * * *', doc: 'SQLite WAL checkpoint (node-cron expression)' },
    backupDir: { kind: filePath, default: null, doc: 'online backups of the index go here (none when null)' },
    backupCron: { kind: schedule, default: '30 2 * * *', doc: 'when to back up' },
    keepBackups: { kind: integer({ min: 1, max: 1000, unit: 'backups' }), default: 7, doc: 'how many backups to keep' },
    retentionDays: {
      kind: nullable(decimal({ min: 0, max: 36500, unit: 'days' })),
      default: null,
      doc: "delete a series' instances, report files and key images this many days after all its reports were delivered (never before; `null` keeps everything)",
    },
    retentionCron: { kind: schedule, default: '15 3 * * *', doc: 'when retention runs' },
  },
};

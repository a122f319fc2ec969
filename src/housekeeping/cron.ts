// Cron expressions as node-cron reads them. A leaf module: the configuration validates its
// schedules with it without importing the scheduler (which imports the configuration's types).

import cron from 'node-cron';

export function isValidCron(expr: string): boolean {
  return cron.validate(expr);
}

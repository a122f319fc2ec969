/** `delivery`: attempts and backoff of sending to destinations. */
import { cron, decimal, integer } from '../kinds';
import { keyPath } from '../problems';
import type { SectionSchema } from '../schema';
import type { DeliveryConfig } from '../types';

const seconds = decimal({ min: 0, minExclusive: true, max: 7 * 86400, unit: 'seconds' });

export const deliverySection: SectionSchema<DeliveryConfig> = {
  suggestOtherSections: true,
  fields: {
    maxAttempts: {
      kind: integer({ min: 1, max: 1000, unit: 'attempts' }),
      default: 8,
      doc: 'attempts per (instance, destination) before it is `failed`',
    },
    backoffSeconds: { kind: seconds, default: 30, doc: 'wait after the n-th failure: backoff × 2^(n−1), at most the cap' },
    backoffCapSeconds: { kind: seconds, default: 3600, doc: 'the most a wait between attempts grows to' },
    sweepCron: {
      kind: cron(', e.g. "* * * * *" for every minute'),
      default: '* * * * *',
      doc: 'how often due retries are sent (node-cron)',
    },
  },
  check(delivery, _raw, at, { problems }) {
    if (delivery.backoffCapSeconds < delivery.backoffSeconds)
      problems.add(keyPath(at, 'backoffCapSeconds'), `${delivery.backoffCapSeconds} is below backoffSeconds (${delivery.backoffSeconds})`);
  },
};

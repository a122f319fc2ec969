/** `storage` and `series`: where instances and the index live, and when a series is complete. */
import { MAX_SECONDS, decimal, filePath, integer } from '../kinds';
import type { SectionSchema } from '../schema';
import type { SeriesConfig, StorageConfig } from '../types';

export const storageSection: SectionSchema<StorageConfig> = {
  suggestOtherSections: true,
  fields: {
    dataDir: { kind: filePath, default: './data', doc: 'instances, SQLite database' },
    minFreeMegabytes: {
      kind: integer({ min: 0, unit: 'megabytes' }),
      default: 1024,
      doc: 'disk guard: below this, C-STORE is answered A700 (out of resources) until space is back',
    },
  },
};

export const seriesSection: SectionSchema<SeriesConfig> = {
  suggestOtherSections: true,
  fields: {
    stableSeconds: {
      kind: decimal({ min: 0, minExclusive: true, max: MAX_SECONDS, unit: 'seconds' }),
      default: 30,
      doc: 'quiet time after which a series is complete',
    },
  },
};

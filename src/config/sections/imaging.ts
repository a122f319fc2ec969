/** `imaging`: what an instance's pixels may claim before anything is inflated or decoded. */
import { integer } from '../kinds';
import type { SectionSchema } from '../schema';
import type { ImagingConfig } from '../types';

const megabytes = integer({ min: 1, max: 1024 * 1024, unit: 'megabytes' });

export const imagingSection: SectionSchema<ImagingConfig> = {
  suggestOtherSections: true,
  fields: {
    maxFrameMegabytes: {
      kind: megabytes,
      default: 64,
      doc: 'largest frame decoded (rows × columns × samples × bytes; a 4096×4096 16-bit mammogram is 32); larger claims fail the job, deflated ones are refused at C-STORE',
    },
    maxSeriesMegabytes: {
      kind: megabytes,
      default: 2048,
      doc: "largest series decoded, all frames of all instances (a 3000-slice 512×512 CT is 1500); a larger series' job fails before decoding",
    },
  },
};

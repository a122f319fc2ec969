/** `routing`: how many matching routes a series takes. */
import { choice } from '../kinds';
import type { SectionSchema } from '../schema';
import type { RoutingConfig } from '../types';

export const routingSection: SectionSchema<RoutingConfig> = {
  suggestOtherSections: true,
  fields: {
    mode: { kind: choice(['first', 'all'] as const), default: 'first', doc: '`first` matching route only, or `all` matching routes' },
  },
};

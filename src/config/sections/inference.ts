/** `inference`: where models live and how their sessions run. */
import { decimal, filePath, integer } from '../kinds';
import { describeValue } from '../problems';
import type { Kind, SectionSchema } from '../schema';
import { EXECUTION_PROVIDERS, type ExecutionProvider, type InferenceConfig } from '../types';

function isProvider(value: unknown): value is ExecutionProvider {
  return EXECUTION_PROVIDERS.some((provider) => provider === value);
}

/** A non-empty list of execution providers, tried in order. */
const providers: Kind<readonly ExecutionProvider[]> = {
  read(value, at, { problems }) {
    if (Array.isArray(value) && value.length > 0 && value.every(isProvider)) return value;
    problems.add(
      at,
      `${describeValue(value)} should be a list of execution providers to try in order, from: ${EXECUTION_PROVIDERS.join(', ')} (e.g. ["cuda", "cpu"])`,
    );
    return undefined;
  },
};

export const inferenceSection: SectionSchema<InferenceConfig> = {
  suggestOtherSections: true,
  fields: {
    modelsDir: {
      kind: filePath,
      default: './models',
      defaultDoc: "`./models` (default config: the project's `models/`)",
      doc: 'model folders (`<name>/model.json` + `model.onnx`)',
    },
    providers: {
      kind: providers,
      default: ['cuda', 'cpu'],
      doc: 'ONNX Runtime execution providers, tried in order (`cuda`, `webgpu`, `cpu`)',
    },
    intraOpNumThreads: {
      kind: integer({ min: 0, max: 256, unit: 'threads' }),
      default: 0,
      doc: "threads per session (0 = ONNX Runtime's default)",
    },
    concurrency: {
      kind: integer({ min: 1, max: 64, unit: 'jobs' }),
      default: 1,
      doc: 'jobs processed at once, all models together (each model runs one job at a time)',
    },
    timeLimitSeconds: {
      kind: decimal({ min: 1, max: 86400, unit: 'seconds' }),
      default: 900,
      doc: 'a job running longer fails with "time limit exceeded"',
    },
  },
};

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MISPLACED_KEY_HINTS } from '../src/config/document';
import { choice, filePath, integer, nullable, section } from '../src/config/kinds';
import { type ReadContext, type SectionSchema, Problems, SECTION_DEFAULTS, readSection, required } from '../src/config/schema';

interface Inner {
  readonly level: 'low' | 'high';
}

interface Sample {
  readonly name: string;
  readonly count: number;
  readonly folder: string;
  readonly limit: number | null;
  readonly inner: Inner;
}

const innerSection: SectionSchema<Inner> = {
  fields: { level: { kind: choice(['low', 'high'] as const), default: 'low', doc: 'how much' } },
};

const sampleSection: SectionSchema<Sample> = {
  fields: {
    name: { kind: choice(['a', 'b'] as const), default: 'a', missing: required('a name'), doc: 'its name' },
    count: { kind: integer({ min: 1, max: 10, unit: 'things' }), default: 3, doc: 'how many' },
    folder: { kind: filePath, default: './here', doc: 'where' },
    limit: { kind: nullable(integer({ min: 1, unit: 'things' })), default: null, doc: 'at most' },
    inner: { kind: section(innerSection), default: SECTION_DEFAULTS, doc: '' },
  },
  check(values, _raw, at, { problems }) {
    if (values.limit !== null && values.limit < values.count) problems.add(at, 'limit is below count');
  },
};

function context(): ReadContext {
  return { problems: new Problems([]), configDir: '/etc/sample', destinationNames: [], misplacedKeyHints: MISPLACED_KEY_HINTS };
}

test('a table walk applies defaults, resolves path defaults and reads absent sections as {}', () => {
  const ctx = context();
  const values = readSection(sampleSection, { name: 'b' }, 'sample', ctx);
  assert.deepEqual(ctx.problems.list, []);
  assert.deepEqual(values, { name: 'b', count: 3, folder: '/etc/sample/here', limit: null, inner: { level: 'low' } });
});

test('a table walk reports missing and unknown keys, bad values and its cross-field rules, each with its path', () => {
  const ctx = context();
  readSection(sampleSection, { count: 11, limit: 0, cuont: 1, inner: { level: 'mid' } }, 'sample', ctx);
  assert.deepEqual(ctx.problems.list, [
    'sample.cuont: unknown key (did you mean "count"?)',
    'sample.name: missing; required (a name)',
    'sample.count: 11 is out of range; expected a whole number of things from 1 to 10',
    'sample.limit: 0 is out of range; expected a whole number of things, at least 1',
    'sample.inner.level: "mid" should be one of: low, high',
  ]);
  const cross = context();
  readSection(sampleSection, { name: 'a', count: 5, limit: 2 }, 'sample', cross);
  assert.deepEqual(cross.problems.list, ['sample: limit is below count']);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

import { findPackageRoot, parseConfig } from '../src/config/config';
import { configurationTableMarkdown, withConfigurationTable } from '../src/config/docs';
import { documentSchema } from '../src/config/document';
import { SECTION_DEFAULTS, fieldEntries, type SectionSchema } from '../src/config/schema';

test("README.md's configuration table is the one the tables generate", () => {
  const readmePath = path.join(findPackageRoot(), 'README.md');
  const readme = readFileSync(readmePath, 'utf8');
  assert.ok(
    withConfigurationTable(readme) === readme,
    `${readmePath}: the configuration table is stale (a key, default or doc in src/config/sections/ changed); run \`npm run docs:config\``,
  );
});

/** Every key path of the document as the README names them, top-level sections aside (their keys are the rows). */
function keyPaths(schema: SectionSchema<object>, prefix: string): string[] {
  return fieldEntries(schema).flatMap(([key, field]) => {
    const nested = field.kind.nested;
    const own = `${prefix}${key}${nested?.pathSuffix ?? ''}`;
    const inner = nested === undefined ? [] : keyPaths(nested.schema, `${own}.`);
    return field.default === SECTION_DEFAULTS ? inner : [own, ...inner];
  });
}

test('every key has a one-line doc, and the table documents every key', () => {
  const table = configurationTableMarkdown();
  for (const keyPath of keyPaths(documentSchema, '')) {
    const row = table.split('\n').find((line) => line.startsWith(`| \`${keyPath}\` |`));
    assert.ok(row !== undefined, `no row for ${keyPath}`);
    const doc = row.split(' | ')[2] ?? '';
    assert.ok(doc.trim().length > 3 && !doc.includes('\n'), `${keyPath} has no doc`);
  }
});

test('the defaults the tables document are the ones applied to an empty document', () => {
  const cfg = parseConfig({ acceptAnyCaller: true }, '/etc/dicom-ai');
  const table = configurationTableMarkdown();
  const documented = (keyPath: string): string | undefined =>
    table
      .split('\n')
      .find((line) => line.startsWith(`| \`${keyPath}\` |`))
      ?.split(' | ')[1];
  assert.equal(documented('node.port'), `\`${cfg.node.port}\``);
  assert.equal(documented('node.maxInstanceBytes'), `\`${cfg.node.maxInstanceBytes}\``);
  assert.equal(documented('series.stableSeconds'), `\`${cfg.series.stableSeconds}\``);
  assert.equal(documented('delivery.sweepCron'), `\`${cfg.delivery.sweepCron}\``);
  assert.equal(documented('inference.providers'), `\`${JSON.stringify(cfg.inference.providers).replaceAll(',', ', ')}\``);
  assert.equal(cfg.storage.dataDir, path.resolve('/etc/dicom-ai', 'data'), 'path defaults resolve against the config folder');
});

// The conformance statement says what the code does: its SOP class and transfer syntax tables
// are compared with the code's own tables, and its association facts with the constants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './helpers/env';
import { STORAGE_SOP_CLASSES } from '../src/dicom/sop-classes';
import { STORAGE_TRANSFER_SYNTAX_PREFERENCE, LOSSY_TRANSFER_SYNTAXES } from '../src/dimse/uids';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../src/version';

const doc = fs.readFileSync(path.join(PROJECT_ROOT, 'docs', 'conformance-statement.md'), 'utf8');

function section(name: string): string[][] {
  const m = new RegExp(`<!-- BEGIN ${name}[^>]*-->([\\s\\S]*?)<!-- END ${name} -->`).exec(doc);
  assert.ok(m, `section ${name} missing`);
  return m[1]!
    .trim()
    .split('\n')
    .slice(2) // header and separator
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
}

test('storage SOP classes in the statement are exactly those the SCP accepts', () => {
  const rows = section('STORAGE SOP CLASSES');
  assert.deepEqual(rows.map((r) => r[1]).sort(), STORAGE_SOP_CLASSES.map((s) => s.uid).sort());
  for (const r of rows) assert.equal(r[0], STORAGE_SOP_CLASSES.find((s) => s.uid === r[1])!.name);
});

test('transfer syntaxes in the statement are those accepted, in the order of preference', () => {
  const rows = section('TRANSFER SYNTAXES');
  assert.deepEqual(
    rows.map((r) => r[2]),
    [...STORAGE_TRANSFER_SYNTAX_PREFERENCE],
  );
  for (const r of rows) assert.equal(r[3], LOSSY_TRANSFER_SYNTAXES.has(r[2]!) ? 'Yes' : 'No');
});

test('implementation identity and defaults in the statement match the code and default config', () => {
  assert.ok(doc.includes(IMPLEMENTATION_CLASS_UID));
  assert.ok(doc.includes(IMPLEMENTATION_VERSION_NAME));
  const cfg = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'config', 'default.json'), 'utf8')) as {
    node: { port: number; maxAssociations: number; maxPduLength: number };
  };
  assert.match(doc, new RegExp(`default ${cfg.node.port}\\)`));
  assert.match(doc, new RegExp(`default ${cfg.node.maxAssociations}\\)`));
  assert.match(doc, new RegExp(`default ${cfg.node.maxPduLength};`));
});

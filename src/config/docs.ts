/**
 * The README's configuration table, generated from the same tables the validator walks, so the
 * documented keys and defaults are the ones the node applies. `npm run docs:config` writes it
 * into README.md between the markers below; test/config-docs.test.ts fails when it is stale.
 */
import { documentSchema } from './document';
import { type Field, type SectionSchema, SECTION_DEFAULTS, fieldEntries } from './schema';

export const TABLE_START = '<!-- config-table:start -->';
export const TABLE_END = '<!-- config-table:end -->';
const GENERATED_NOTE = '<!-- generated from src/config/sections/*.ts by `npm run docs:config`: edit the tables there, not this -->';

/** One row per key: `| key | default | meaning |`. */
export function configurationTableMarkdown(): string {
  const rows = ['| key | default | meaning |', '|---|---|---|'];
  for (const row of tableRows(documentSchema, '')) rows.push(`| \`${row.key}\` | ${row.defaultText} | ${row.doc} |`);
  return rows.join('\n');
}

interface Row {
  readonly key: string;
  readonly defaultText: string;
  readonly doc: string;
}

function tableRows(schema: SectionSchema<object>, prefix: string): Row[] {
  const rows: Row[] = [];
  for (const [key, field] of fieldEntries(schema)) {
    const nested = field.kind.nested;
    const keyPath = `${prefix}${key}${nested?.pathSuffix ?? ''}`;
    // A top-level section has no row of its own: its keys are the rows.
    if (field.default !== SECTION_DEFAULTS) rows.push({ key: keyPath, defaultText: defaultText(field), doc: field.doc });
    if (nested !== undefined) rows.push(...tableRows(nested.schema, `${keyPath}.`));
  }
  return rows;
}

function defaultText(field: Field<unknown>): string {
  if (field.defaultDoc !== undefined) return field.defaultDoc;
  if (field.missing !== undefined || field.default === undefined) return '';
  return `\`${jsonText(field.default)}\``;
}

/** A default as it would be written in the file: text unquoted, lists as JSON with spaces. */
function jsonText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return `[${value.map((item) => JSON.stringify(item)).join(', ')}]`;
  return JSON.stringify(value);
}

/** `readme` with the text between the markers replaced by the generated table; throws when a marker is missing. */
export function withConfigurationTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start)
    throw new Error(`README.md needs the markers ${TABLE_START} and ${TABLE_END} around the configuration table`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${GENERATED_NOTE}\n${configurationTableMarkdown()}\n${readme.slice(end)}`;
}

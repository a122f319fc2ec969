/**
 * The vocabulary the configuration tables are written in.
 *
 * A section of the configuration is a table of fields (`SectionSchema`): for each key its kind
 * (how a value is read and checked), its default, and one line of documentation. One walker
 * (`readSection`) validates any section from its table, so unknown keys, "did you mean",
 * defaults and the README's configuration table all come from the same place.
 *
 * Kinds only check one value. Rules between fields (a TLS port that equals the plain port, a
 * route naming an undefined destination) are the `check` of the section that holds both.
 */
import * as path from 'node:path';

import { closestMatch, describeValue, isCommentKey, isPlainObject, keyPath } from './problems';

export type Obj = Record<string, unknown>;

export function has(obj: Obj, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

/** Every problem found, each prefixed with its key path. */
export class Problems {
  readonly list: string[];

  constructor(initial: readonly string[]) {
    this.list = [...initial];
  }

  add(at: string, message: string): void {
    this.list.push(at === '' ? message : `${at}: ${message}`);
  }
}

/** What every reader gets besides the value: where problems go and what paths resolve against. */
export interface ReadContext {
  readonly problems: Problems;
  /** Absolute folder relative paths resolve against. */
  readonly configDir: string;
  /** Names under `destinations` that routes may use (known before any section is read). */
  readonly destinationNames: readonly string[];
  /** Top-level sections whose keys are suggested when a key is put in the wrong place. */
  readonly misplacedKeyHints: ReadonlyArray<readonly [string, readonly string[]]>;
}

/** How the README names a field's default and nested fields, for kinds that hold a section. */
export interface NestedSection {
  /** Appended to the field's key path in the README: '' (object), '[]' (list), '.<name>' (record). */
  readonly pathSuffix: string;
  readonly schema: SectionSchema<object>;
}

/** One kind of value: reads it (reporting any problem and returning undefined) and names it for the README. */
export interface Kind<T> {
  read(value: unknown, at: string, ctx: ReadContext): T | undefined;
  /** Path kinds: the default is text relative to the config folder, resolved like a given value. */
  readonly resolvesDefault?: boolean;
  /** Kinds holding a section of their own (documented as nested rows). */
  readonly nested?: NestedSection;
}

/** Default of a section field: when the section is absent, it is read as {} (all its own defaults). */
export const SECTION_DEFAULTS: unique symbol = Symbol('section defaults');

export interface Field<T> {
  readonly kind: Kind<T>;
  /** The value when the key is absent (for required fields: a placeholder, never used). */
  readonly default: T | typeof SECTION_DEFAULTS;
  /** One line for the README's configuration table (Markdown). */
  readonly doc: string;
  /** The problem reported when the key is absent; absent = optional. */
  readonly missing?: string;
  /** README default column when the plain default would mislead (e.g. "none"); '' = blank. */
  readonly defaultDoc?: string;
}

/** Every key of T has a field whose kind reads a T[K]: the table and the type cannot drift apart. */
export type Fields<T> = { readonly [K in keyof T]-?: Field<T[K]> };

export interface SectionSchema<T> {
  readonly fields: Fields<T>;
  /** Unknown keys that belong to another section are named with it ("port" -> "node.port"). */
  readonly suggestOtherSections?: boolean;
  /** Rules between fields of this section; run after every field was read. */
  check?(values: T, raw: Obj, at: string, ctx: ReadContext): void;
}

/** `missing; required (...)`: the wording for a required key. */
export function required(what: string): string {
  return `missing; required (${what})`;
}

export function fieldKeys<T>(schema: SectionSchema<T>): string[] {
  return Object.keys(schema.fields);
}

/** The table's rows in order, each field seen as reading an unknown value (for walkers that do not care which). */
export function fieldEntries<T>(schema: SectionSchema<T>): [string, Field<unknown>][] {
  return Object.entries<Field<unknown>>(schema.fields);
}

/** Walks a section's table over `raw`: unknown keys, each field (or its default), then the section's rules. */
export function readSection<T>(schema: SectionSchema<T>, raw: Obj, at: string, ctx: ReadContext): T {
  checkKeys(raw, at, fieldKeys(schema), ctx, schema.suggestOtherSections === true);
  const values: Partial<Record<keyof T, unknown>> = {};
  for (const [key, field] of fieldEntries(schema)) values[key as keyof T] = readField(field, raw, at, key, ctx);
  // Every key of T was just given a value read by its field's kind (Fields<T> ties the two).
  const complete = values as T;
  schema.check?.(complete, raw, at, ctx);
  return complete;
}

function readField(field: Field<unknown>, raw: Obj, parentAt: string, key: string, ctx: ReadContext): unknown {
  const at = keyPath(parentAt, key);
  if (!has(raw, key)) {
    if (field.missing !== undefined) ctx.problems.add(at, field.missing);
    return defaultOf(field, at, ctx);
  }
  const value = field.kind.read(raw[key], at, ctx);
  return value === undefined ? defaultOf(field, at, ctx) : value;
}

function defaultOf(field: Field<unknown>, at: string, ctx: ReadContext): unknown {
  const value = field.default;
  if (value === SECTION_DEFAULTS) return field.kind.read({}, at, ctx);
  if (field.kind.resolvesDefault === true && typeof value === 'string') return resolvePath(ctx.configDir, value);
  return value;
}

/** A path as written in the config, resolved against the config file's folder. */
export function resolvePath(configDir: string, text: string): string {
  return path.resolve(configDir, text);
}

/** Reports every key that is not in `allowed` (comment keys aside), with the likeliest meant key. */
export function checkKeys(obj: Obj, at: string, allowed: readonly string[], ctx: ReadContext, suggestOtherSections: boolean): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key) || isCommentKey(key)) continue;
    let hint = '';
    // A key spelled exactly as one of another section is most likely misplaced ("port" at the
    // top level belongs under "node"), even when a sibling looks similar ("report").
    if (suggestOtherSections) {
      for (const [name, keys] of ctx.misplacedKeyHints) {
        const there = keys.find((k) => k.toLowerCase() === key.toLowerCase());
        if (there !== undefined && keyPath('', name) !== at) {
          hint = ` (did you mean "${name}.${there}"? it belongs under "${name}")`;
          break;
        }
      }
    }
    const sibling = hint === '' ? closestMatch(key, allowed) : undefined;
    if (sibling !== undefined) hint = ` (did you mean "${sibling}"?)`;
    if (hint === '') hint = ` (allowed here: ${allowed.join(', ')})`;
    ctx.problems.add(keyPath(at, key), `unknown key${hint}`);
  }
}

/** The object a section kind reads; reports (and walks {} instead) when the value is not an object. */
export function sectionObject(value: unknown, at: string, ctx: ReadContext): Obj {
  if (isPlainObject(value)) return value;
  ctx.problems.add(at, `${describeValue(value)} should be an object { ... }`);
  return {};
}

import { indexPath, isCommentKey, keyPath } from './problems';

/**
 * A strict JSON scanner used only to explain problems that JSON.parse
 * reports tersely (or, on Node 20, sometimes without any position): where the
 * syntax error is, in words, and which object keys appear twice (JSON.parse
 * silently keeps the last one).
 */

export interface JsonSyntaxProblem {
  /** 0-based offset into the text. */
  readonly offset: number;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  readonly reason: string;
}

export interface JsonDuplicateKey {
  /** Key path of the repeated key, e.g. `node.port`. */
  readonly path: string;
  readonly line: number;
  readonly column: number;
}

export interface JsonScan {
  readonly error: JsonSyntaxProblem | null;
  readonly duplicates: readonly JsonDuplicateKey[];
}

/** 1-based line and column of a 0-based offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const clamped = Math.max(0, Math.min(offset, text.length));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < clamped; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: clamped - lineStart + 1 };
}

/** Thrown inside the scanner to unwind to its caller with the first syntax problem. */
class Failure extends Error {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'JsonScanFailure';
  }
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const WORD = /[A-Za-z_$][A-Za-z0-9_$.-]*/y;
const MAX_DEPTH = 512;

export function scanJson(text: string): JsonScan {
  const duplicates: JsonDuplicateKey[] = [];
  let pos = 0;

  const at = (offset: number): string => {
    const { line, column } = lineColumn(text, offset);
    return `line ${line}, column ${column}`;
  };
  const fail = (offset: number, reason: string): never => {
    throw new Failure(offset, reason);
  };
  const skipWhitespace = (): void => {
    while (pos < text.length) {
      const c = text[pos];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') pos++;
      else break;
    }
  };
  const wordAt = (offset: number): string | undefined => {
    WORD.lastIndex = offset;
    const m = WORD.exec(text);
    return m ? m[0] : undefined;
  };
  const describeChar = (c: string): string =>
    c.trim() === '' ? `character U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}` : `'${c}'`;

  /** Problems common to "a value/key was expected here". */
  const explainUnexpected = (expected: string): never => {
    if (pos >= text.length) return fail(pos, `the file ends too early; expected ${expected}`);
    const c = text[pos]!;
    if (c === '/' && (text[pos + 1] === '/' || text[pos + 1] === '*')) {
      return fail(pos, 'comments are not allowed in JSON (to keep a note, add a key starting with "//", e.g. "//": "my note")');
    }
    if (c === "'") return fail(pos, 'text must be in double quotes ("..."), not single quotes');
    if (c === '\u201C' || c === '\u201D') return fail(pos, 'curly quotes (“ ”) are not allowed; use straight double quotes (")');
    const word = wordAt(pos);
    if (word !== undefined) return fail(pos, `unquoted text ${word}; text must be in double quotes ("${word}")`);
    return fail(pos, `unexpected ${describeChar(c)}; expected ${expected}`);
  };

  const parseString = (): string => {
    const start = pos;
    pos++; // opening quote
    for (;;) {
      if (pos >= text.length) return fail(start, `the text starting at ${at(start)} has no closing double quote`);
      const code = text.charCodeAt(pos);
      if (code === 0x22) {
        pos++;
        return JSON.parse(text.slice(start, pos)) as string;
      }
      if (code === 0x5c) {
        const e = text[pos + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(pos + 2, pos + 6))) {
            return fail(pos, 'invalid \\u escape in text (expected four hex digits)');
          }
          pos += 6;
          continue;
        }
        if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          pos += 2;
          continue;
        }
        return fail(
          pos,
          `invalid escape "\\${e ?? ''}" in text; a backslash must be written as \\\\ (for Windows paths use C:\\\\data or C:/data)`,
        );
      }
      if (code < 0x20) {
        return fail(pos, `the text starting at ${at(start)} has no closing double quote before the end of the line`);
      }
      pos++;
    }
  };

  const parseValue = (path: string, depth: number): void => {
    if (depth > MAX_DEPTH) fail(pos, 'the JSON is nested too deeply');
    skipWhitespace();
    if (pos >= text.length) return fail(pos, 'the file ends too early; a value is missing');
    const c = text[pos]!;
    if (c === '{') return parseObject(path, depth);
    if (c === '[') return parseArray(path, depth);
    if (c === '"') {
      parseString();
      return;
    }
    if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER.lastIndex = pos;
      const m = NUMBER.exec(text);
      if (!m) return fail(pos, 'not a valid number');
      const next = text[pos + m[0].length];
      if (next !== undefined && /[0-9.eE+\-xXa-zA-Z]/.test(next)) {
        return fail(pos, `not a valid JSON number (no leading zeros, no hex, digits needed after "."; write text in double quotes)`);
      }
      pos += m[0].length;
      return;
    }
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, pos) && !/[A-Za-z0-9_$]/.test(text[pos + literal.length] ?? '')) {
        pos += literal.length;
        return;
      }
    }
    const word = wordAt(pos);
    if (word !== undefined && /^(True|False|TRUE|FALSE|None|NULL|Null)$/.test(word)) {
      return fail(pos, `${word} is not valid JSON; use lower-case true, false or null`);
    }
    return explainUnexpected('a value (text in double quotes, a number, true, false, null, a list [...] or an object {...})');
  };

  const parseObject = (path: string, depth: number): void => {
    const open = pos;
    pos++;
    const seen = new Set<string>();
    skipWhitespace();
    if (text[pos] === '}') {
      pos++;
      return;
    }
    for (;;) {
      skipWhitespace();
      if (text[pos] === '}') return fail(pos, "a comma before '}' is not allowed in JSON (remove the last comma)");
      if (text[pos] !== '"') {
        if (pos >= text.length) return fail(pos, `the file ends too early; the object opened at ${at(open)} is missing its closing '}'`);
        return explainUnexpected('a property name in double quotes');
      }
      const keyOffset = pos;
      const key = parseString();
      if (seen.has(key) && !isCommentKey(key)) {
        const { line, column } = lineColumn(text, keyOffset);
        duplicates.push({ path: keyPath(path, key), line, column });
      }
      seen.add(key);
      skipWhitespace();
      if (text[pos] !== ':') {
        if (pos >= text.length) return fail(pos, `the file ends too early; expected ':' after "${key}"`);
        return fail(pos, `expected ':' after the property name "${key}"`);
      }
      pos++;
      parseValue(keyPath(path, key), depth + 1);
      skipWhitespace();
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      if (text[pos] === '}') {
        pos++;
        return;
      }
      if (pos >= text.length) return fail(pos, `the file ends too early; the object opened at ${at(open)} is missing its closing '}'`);
      if (text[pos] === '"') return fail(pos, `missing comma: expected ',' or '}' after the value of "${key}"`);
      return fail(pos, `expected ',' or '}' after the value of "${key}" but found ${describeChar(text[pos]!)}`);
    }
  };

  const parseArray = (path: string, depth: number): void => {
    const open = pos;
    pos++;
    skipWhitespace();
    if (text[pos] === ']') {
      pos++;
      return;
    }
    for (let index = 0; ; index++) {
      skipWhitespace();
      if (text[pos] === ']') return fail(pos, "a comma before ']' is not allowed in JSON (remove the last comma)");
      parseValue(indexPath(path, index), depth + 1);
      skipWhitespace();
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      if (text[pos] === ']') {
        pos++;
        return;
      }
      if (pos >= text.length) return fail(pos, `the file ends too early; the list opened at ${at(open)} is missing its closing ']'`);
      if (text[pos] === '"' || text[pos] === '{' || text[pos] === '[') {
        return fail(pos, "missing comma: expected ',' or ']' between list items");
      }
      return fail(pos, `expected ',' or ']' in the list but found ${describeChar(text[pos]!)}`);
    }
  };

  try {
    parseValue('', 0);
    skipWhitespace();
    if (pos < text.length) {
      fail(pos, "unexpected text after the end of the JSON document (an extra '}' or ']'?)");
    }
    return { error: null, duplicates };
  } catch (err) {
    if (err instanceof Failure) {
      const { line, column } = lineColumn(text, err.offset);
      return { error: { offset: err.offset, line, column, reason: err.reason }, duplicates };
    }
    throw err;
  }
}

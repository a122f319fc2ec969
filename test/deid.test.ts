/**
 * De-identification (src/deid) over the shared corpus (shared/data/dicom, see its PROVENANCE.md)
 * and synthetic data sets in every uncompressed encoding.
 *
 * Corpus checks, for every Part 10 file DCMTK's dcmdump reads: each Table E.1-1 attribute present
 * (at any depth) is handled per its action; no private attribute is left; the original patient
 * name, ID, birth date, accession number and institution survive nowhere in the output bytes;
 * every other element is byte-identical; dcmdump reads the output; dciodvfy reports no new errors;
 * UIDs are stable across runs and consistent across a series.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

import { SHARED_DICOM, tmpDir } from './helpers/env';
import { run } from './helpers/run';
import { readDatasetHeader } from '../src/dicom/dataset-reader';
import { DicomParseError, formatTag } from '../src/dicom/errors';
import { readPart10Header } from '../src/dicom/part10';
import { deidentifyDataSet, deidentifyPart10, DeidResult } from '../src/deid/deidentify';
import {
  EXPLICIT_BE,
  EXPLICIT_LE,
  IMPLICIT_LE,
  ParsedElement,
  parseDataSet,
  Syntax,
  UNDEFINED_LENGTH,
  valueBytes,
} from '../src/dicom/dataset-parser';
import { isPrivateTag, isSequenceTag, profileRowFor } from '../src/deid/profile-table';
import { replacementUid } from '../src/deid/replacement-values';
import { runDeidCli } from '../src/deid/cli';

const SECRET = Buffer.from('test-installation-secret-0123456789');
const hasData = fs.existsSync(SHARED_DICOM);
const hasTools =
  spawnSync('dcmdump', ['--version'], { stdio: 'ignore' }).error === undefined &&
  spawnSync('dciodvfy', [], { stdio: 'ignore' }).error === undefined;
const skipCorpus = !hasData ? 'shared/data/dicom not found' : !hasTools ? 'dcmdump/dciodvfy not installed' : false;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

function* walk(dir: string): Generator<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile() && !e.name.endsWith('.md')) yield p;
  }
}

function syntaxOf(ts: string): Syntax {
  if (ts === '1.2.840.10008.1.2') return IMPLICIT_LE;
  if (ts === '1.2.840.10008.1.2.2') return EXPLICIT_BE;
  return EXPLICIT_LE;
}
const isDeflated = (ts: string): boolean => ts === '1.2.840.10008.1.2.1.99' || ts === '1.2.840.10008.1.2.4.95';

interface Flat {
  buf: Buffer;
  syntax: Syntax;
  top: ParsedElement[];
  /** path as in DeidAction.path -> element */
  byPath: Map<string, ParsedElement>;
}

/** Parses a Part 10 file's data set (inflating if needed) and indexes every element by path. */
function flatten(file: Buffer): Flat {
  const h = readPart10Header(file);
  let data = file.subarray(h.datasetOffset);
  if (isDeflated(h.transferSyntaxUid)) data = zlib.inflateRawSync(data);
  const syntax = syntaxOf(h.transferSyntaxUid);
  const p = parseDataSet(data, syntax, { isSequenceTag });
  const byPath = new Map<string, ParsedElement>();
  const visit = (els: ParsedElement[], prefix: string): void => {
    for (const el of els) {
      const here = prefix + formatTag(el.tag);
      byPath.set(here, el);
      el.items?.forEach((it, i) => visit(it.elements, `${here}[${i}].`));
    }
  };
  visit(p.elements, '');
  return { buf: data, syntax, top: p.elements, byPath };
}

const rawOf = (f: Flat, el: ParsedElement): Buffer => f.buf.subarray(el.start, el.end);
const valOf = (f: Flat, el: ParsedElement): Buffer => valueBytes(f.buf, el);
const trimUid = (b: Buffer): string => b.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
function trimBytes(b: Buffer): Buffer {
  let end = b.length;
  while (end > 0 && (b[end - 1] === 0x20 || b[end - 1] === 0x00)) end--;
  return b.subarray(0, end);
}

/** Which resolved actions each Basic Profile code allows (PS3.15 E.1-1 legend). */
const ALLOWED: Record<string, string[]> = {
  D: ['D'],
  Z: ['Z'],
  X: ['X'],
  K: ['K'],
  C: ['C'],
  U: ['U'],
  'X/Z': ['X', 'Z'],
  'X/D': ['X', 'D'],
  'Z/D': ['Z', 'D'],
  'X/Z/D': ['X', 'Z', 'D'],
  'X/Z/U*': ['X', 'Z', 'U'],
};

/** Bounded-concurrency map for the external tools. */
async function pool<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T);
      }
    }),
  );
  return out;
}

/** dciodvfy's error lines with values (UIDs, dates...) normalised away, so that changed values compare equal. */
function dciodvfyErrors(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .filter((l) => l.startsWith('Error'))
      .map((l) => l.replace(/= <[^>]*>/g, '= <>').trim()),
  );
}
/** dciodvfy could not read the input to its end: no comparison is meaningful. */
const unreadable = (text: string): boolean => /read failed|Tags out of order/.test(text);

// ---------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------

interface CorpusCase {
  rel: string;
  input: Buffer;
  result: DeidResult;
  outFile: string;
}

test('corpus: every dcmdump-readable Part 10 file is de-identified per Table E.1-1', { skip: skipCorpus, timeout: 120_000 }, async (t) => {
  const outRoot = tmpDir('deid');
  const candidates: string[] = [];
  for (const f of walk(SHARED_DICOM)) {
    try {
      readPart10Header(fs.readFileSync(f));
      candidates.push(f);
    } catch {
      // not a Part 10 file (no DICM prefix): out of scope for deidentifyPart10
    }
  }
  const readable = await pool(candidates, 8, async (f) => (await run('dcmdump', ['-q', f])).code === 0);
  const files = candidates.filter((_, i) => readable[i]);
  assert.ok(files.length > 100, `expected the corpus, found ${files.length} readable Part 10 files`);

  const cases: CorpusCase[] = [];
  const refused: string[] = [];
  for (const f of files) {
    const rel = path.relative(SHARED_DICOM, f);
    const input = fs.readFileSync(f);
    if (readPart10Header(input).sopClassUid === '1.2.840.10008.1.3.10') {
      // DICOMDIRs are refused on purpose (their byte offsets cannot survive editing).
      assert.throws(() => deidentifyPart10(input, { secret: SECRET }), DicomParseError, rel);
      refused.push(rel);
      continue;
    }
    const result = deidentifyPart10(input, { secret: SECRET });
    const outFile = path.join(outRoot, rel);
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    fs.writeFileSync(outFile, result.bytes);
    cases.push({ rel, input, result, outFile });
  }

  await t.test('every Table E.1-1 attribute present is handled per its action; private attributes gone', () => {
    let checked = 0;
    for (const c of cases) {
      const a = flatten(c.input);
      const b = flatten(c.result.bytes);
      const recorded = new Map(c.result.actions.map((x) => [x.path, x]));
      for (const [p, el] of a.byPath) {
        // Elements inside a removed or emptied sequence have no fate of their own.
        const parent = p.lastIndexOf('[');
        if (parent >= 0 && !b.byPath.has(p.slice(0, parent))) continue;
        if (parent >= 0 && (b.byPath.get(p.slice(0, parent))?.items?.length ?? 0) === 0) continue;
        const row = profileRowFor(el.tag);
        if (isPrivateTag(el.tag)) {
          assert.ok(!b.byPath.has(p), `${c.rel}: private ${p} survived`);
          continue;
        }
        if (!row) continue;
        const act = recorded.get(p);
        assert.ok(act, `${c.rel}: ${p} (${row.name}) has no recorded action`);
        assert.ok(ALLOWED[row.basic]?.includes(act.action), `${c.rel}: ${p} ${row.basic} done as ${act.action}`);
        const out = b.byPath.get(p);
        const before = valOf(a, el);
        switch (act.action) {
          case 'X':
            assert.equal(out, undefined, `${c.rel}: ${p} should be removed`);
            break;
          case 'Z':
            assert.ok(out, `${c.rel}: ${p} should be present`);
            assert.ok(out.length === 0 || (out.items !== undefined && out.items.length === 0), `${c.rel}: ${p} should be empty`);
            break;
          case 'D':
            assert.ok(out, `${c.rel}: ${p} should be present`);
            if (!el.items && before.length > 0) {
              assert.ok(out.length > 0, `${c.rel}: ${p} dummy must not be empty`);
              const isDummy = /^(ANONYMOUS|19000101|000000|0|ANON[0-9A-F]{16})?[ \0]*$/.test(before.toString('latin1'));
              if (!isDummy) assert.ok(!valOf(b, out).equals(before), `${c.rel}: ${p} value kept under D`);
            }
            break;
          case 'U':
            assert.ok(out, `${c.rel}: ${p} should be present`);
            if (!el.items && before.length > 0 && (el.vr ?? row.vr) === 'UI') {
              const expected = trimUid(before)
                .split('\\')
                .map((u) => (u ? replacementUid(SECRET, u.trim()) : ''))
                .join('\\');
              assert.equal(trimUid(valOf(b, out)), expected, `${c.rel}: ${p} UID not mapped`);
              for (const u of trimUid(before).split('\\'))
                if (u) assert.equal(c.result.uidMap.get(u.trim()), replacementUid(SECRET, u.trim()));
            }
            break;
          default:
            assert.fail(`${c.rel}: ${p}: unexpected action ${act.action} without options`);
        }
        checked++;
      }
      for (const p of b.byPath.keys()) {
        const tag = parseInt(p.slice(p.lastIndexOf('(') + 1).replace(/[,)]/g, ''), 16);
        assert.ok(!isPrivateTag(tag), `${c.rel}: private ${p} in output`);
      }
    }
    assert.ok(checked > 1000, `only ${checked} table attributes checked`);
  });

  await t.test('no byte sequence of the original identity survives anywhere in the output', (t2) => {
    const GENERIC = /^(anonymous|anonymized|anon|unknown|none|test|patient|n\/a|noname|\^+)$/i;
    let searched = 0;
    const twins: string[] = [];
    for (const c of cases) {
      const a = flatten(c.input);
      const hay = [c.result.bytes];
      const h = readPart10Header(c.result.bytes);
      if (isDeflated(h.transferSyntaxUid)) hay.push(zlib.inflateRawSync(c.result.bytes.subarray(h.datasetOffset)));
      for (const tag of [0x00100010, 0x00100020, 0x00100030, 0x00080050, 0x00080080]) {
        const el = a.top.find((e) => e.tag === tag);
        if (!el || el.items) continue;
        const v = trimBytes(valOf(a, el));
        // Too generic to search for: short values, placeholder words, and numbers of under 6
        // digits (a Patient ID "0010" also occurs in the dummy date 19000101 and in any number).
        const text = v.toString('latin1');
        if (v.length < 4 || GENERIC.test(text) || /^[0^=\\ ]*$/.test(text) || /^\d{1,5}$/.test(text)) continue;
        // An Institution Name that is really the device maker ("TOSHIBA", Manufacturer
        // "TOSHIBA_MEC", in several sample files) survives inside Manufacturer, which the profile
        // keeps: not the identity leaking.
        const keptTwin = tag === 0x00080080 ? a.top.find((e) => e.tag === 0x00080070 && trimBytes(valOf(a, e)).includes(v)) : undefined;
        if (keptTwin) {
          twins.push(`${c.rel} ${formatTag(tag)} = ${formatTag(keptTwin.tag)}`);
          continue;
        }
        searched++;
        for (const b of hay) assert.equal(b.indexOf(v), -1, `${c.rel}: value of ${formatTag(tag)} survives in the output`);
      }
    }
    assert.ok(searched > 100, `only ${searched} values searched`);
    t2.diagnostic(`institution names inside Manufacturer: ${twins.join('; ')}`);
  });

  await t.test('elements the profile does not touch are byte-identical (Rows, Columns, Pixel Data, charset, DS...)', () => {
    const method = new Set([0x00120062, 0x00120063, 0x00120064]);
    for (const c of cases) {
      const a = flatten(c.input);
      const b = flatten(c.result.bytes);
      const outTop = new Map(b.top.map((e) => [e.tag, e]));
      for (const el of a.top) {
        if (profileRowFor(el.tag) || isPrivateTag(el.tag) || method.has(el.tag)) continue;
        if (((el.tag >>> 16) & 0xff00) === 0x6000 || (el.tag & 0xffff) === 0) continue; // overlays, group lengths
        if (el.items) continue; // sequences: their content is checked element by element above
        const out = outTop.get(el.tag);
        assert.ok(out, `${c.rel}: ${formatTag(el.tag)} lost`);
        assert.ok(rawOf(a, el).equals(rawOf(b, out)), `${c.rel}: ${formatTag(el.tag)} bytes changed`);
      }
      for (const tag of [0x00280010, 0x00280011, 0x7fe00010, 0x00080005, 0x00180050]) {
        const x = a.top.find((e) => e.tag === tag);
        if (x) assert.ok(rawOf(a, x).equals(rawOf(b, outTop.get(tag) as ParsedElement)), `${c.rel}: ${formatTag(tag)}`);
      }
      // The identity attributes are set, in tag order.
      const yes = outTop.get(0x00120062);
      assert.ok(yes && valOf(b, yes).toString('latin1') === 'YES ', `${c.rel}: Patient Identity Removed`);
      const tags = b.top.map((e) => e.tag >>> 0);
      assert.deepEqual(
        tags,
        [...tags].sort((x, y) => x - y),
        `${c.rel}: top level out of order`,
      );
    }
  });

  await t.test('dcmdump reads every output; dciodvfy reports no new errors', async () => {
    const outcomes = await pool(cases, 8, async (c) => {
      const dump = await run('dcmdump', ['-q', c.outFile]);
      const before = await run('dciodvfy', ['-new', path.join(SHARED_DICOM, c.rel)]);
      const after = await run('dciodvfy', ['-new', c.outFile]);
      return { c, dump, before: before.stdout + before.stderr, after: after.stdout + after.stderr };
    });
    let compared = 0;
    const notComparable: string[] = [];
    for (const o of outcomes) {
      assert.equal(o.dump.code, 0, `${o.c.rel}: dcmdump failed on the output: ${o.dump.stderr.slice(0, 200)}`);
      if (unreadable(o.before)) {
        notComparable.push(o.c.rel);
        continue;
      }
      const was = dciodvfyErrors(o.before);
      const added = [...dciodvfyErrors(o.after)].filter((e) => !was.has(e));
      assert.deepEqual(added, [], `${o.c.rel}: new dciodvfy errors`);
      compared++;
    }
    assert.ok(compared > 100, `only ${compared} files compared`);
    // dciodvfy cannot read deflated files or stops at broken private sequences: those are few.
    assert.ok(notComparable.length < 10, `not comparable: ${notComparable.join(', ')}`);
  });

  await t.test('UIDs are stable across runs and differ with another secret', () => {
    for (const c of cases.slice(0, 40)) {
      const again = deidentifyPart10(c.input, { secret: SECRET });
      assert.ok(again.bytes.equals(c.result.bytes), `${c.rel}: second run differs`);
      assert.deepEqual([...again.uidMap], [...c.result.uidMap]);
      const other = deidentifyPart10(c.input, { secret: Buffer.from('another-secret-of-enough-length!') });
      for (const [from, to] of c.result.uidMap) {
        assert.notEqual(other.uidMap.get(from), to);
        assert.ok(to.length <= 64 && /^2\.25\.[1-9][0-9]*$/.test(to), `${to} is not a 2.25 UID`);
      }
    }
  });

  t.diagnostic(`${cases.length} files de-identified, ${refused.length} DICOMDIRs refused`);
  fs.rmSync(outRoot, { recursive: true, force: true });
});

test(
  'series: same study/series UIDs map to the same new ones across files; meta follows the data set',
  { skip: hasData ? false : 'no corpus' },
  () => {
    const dir = path.join(SHARED_DICOM, 'pydicom', 'dicomdirtests', '77654033', 'CT2');
    const files = fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f)));
    assert.ok(files.length >= 2);
    const study = new Set<string>();
    const series = new Set<string>();
    const instances = new Set<string>();
    for (const input of files) {
      const before = readDatasetHeader(input.subarray(readPart10Header(input).datasetOffset), readPart10Header(input).transferSyntaxUid);
      const r = deidentifyPart10(input, { secret: SECRET });
      const h = readPart10Header(r.bytes);
      const after = readDatasetHeader(r.bytes.subarray(h.datasetOffset), h.transferSyntaxUid).attributes;
      assert.equal(after.StudyInstanceUID, replacementUid(SECRET, before.attributes.StudyInstanceUID as string));
      assert.equal(after.SeriesInstanceUID, replacementUid(SECRET, before.attributes.SeriesInstanceUID as string));
      assert.equal(h.sopInstanceUid, after.SOPInstanceUID);
      assert.notEqual(after.SOPInstanceUID, before.attributes.SOPInstanceUID);
      study.add(after.StudyInstanceUID);
      series.add(after.SeriesInstanceUID);
      instances.add(after.SOPInstanceUID as string);
    }
    assert.equal(study.size, 1);
    assert.equal(series.size, 1);
    assert.equal(instances.size, files.length);
  },
);

test(
  'character-set files: Specific Character Set kept byte for byte, output still converts like the input',
  { skip: skipCorpus },
  async () => {
    const dir = path.join(SHARED_DICOM, 'pydicom', 'charset_files');
    const out = tmpDir('deid-charset');
    for (const name of fs.readdirSync(dir).filter((f) => f.endsWith('.dcm'))) {
      const input = fs.readFileSync(path.join(dir, name));
      const r = deidentifyPart10(input, { secret: SECRET, options: ['clean-descriptors', 'retain-institution-identity'] });
      const a = flatten(input);
      const b = flatten(r.bytes);
      const csA = a.top.find((e) => e.tag === 0x00080005);
      const csB = b.top.find((e) => e.tag === 0x00080005);
      if (csA) assert.ok(csB && rawOf(a, csA).equals(rawOf(b, csB)), name);
      fs.writeFileSync(path.join(out, name), r.bytes);
      // dcmdump +U8 converts to UTF-8 with the data set's character set: it must succeed on the
      // output whenever it succeeds on the input (nothing we wrote broke the encoding).
      const convIn = await run('dcmdump', ['-q', '+U8', path.join(dir, name)]);
      const convOut = await run('dcmdump', ['-q', '+U8', path.join(out, name)]);
      if (convIn.code === 0) assert.equal(convOut.code, 0, `${name}: ${convOut.stderr.slice(0, 200)}`);
    }
    fs.rmSync(out, { recursive: true, force: true });
  },
);

// ---------------------------------------------------------------------------
// Synthetic data sets in every encoding
// ---------------------------------------------------------------------------

type El = [number, string, Buffer | El[][]];

/** Encodes elements (sequences as arrays of items) in `syntax`; sequences/items of undefined length when `undef`. */
function encode(els: El[], syntax: Syntax, undef = false): Buffer {
  const parts: Buffer[] = [];
  const tagBuf = (tag: number, len: number): Buffer => {
    const b = Buffer.alloc(8);
    if (syntax.littleEndian) {
      b.writeUInt16LE(tag >>> 16, 0);
      b.writeUInt16LE(tag & 0xffff, 2);
      b.writeUInt32LE(len >>> 0, 4);
    } else {
      b.writeUInt16BE(tag >>> 16, 0);
      b.writeUInt16BE(tag & 0xffff, 2);
      b.writeUInt32BE(len >>> 0, 4);
    }
    return b;
  };
  for (const [tag, vr, v] of els) {
    let value: Buffer;
    if (Array.isArray(v)) {
      value = Buffer.concat(
        v.map((item) => {
          const content = encode(item, syntax, undef);
          return undef
            ? Buffer.concat([tagBuf(0xfffee000, UNDEFINED_LENGTH), content, tagBuf(0xfffee00d, 0)])
            : Buffer.concat([tagBuf(0xfffee000, content.length), content]);
        }),
      );
      if (undef) value = Buffer.concat([value, tagBuf(0xfffee0dd, 0)]);
    } else value = v.length % 2 ? Buffer.concat([v, Buffer.from(vr === 'UI' ? [0] : [0x20])]) : v;
    const len = Array.isArray(v) && undef ? UNDEFINED_LENGTH : value.length;
    if (!syntax.explicit) parts.push(tagBuf(tag, len));
    else {
      const long = ['OB', 'OW', 'SQ', 'UN', 'UT', 'UC', 'UR'].includes(vr);
      const h = Buffer.alloc(long ? 12 : 8);
      const le = syntax.littleEndian;
      writeU16(h, tag >>> 16, 0, le);
      writeU16(h, tag & 0xffff, 2, le);
      h.write(vr, 4, 'latin1');
      if (long) writeU32(h, len >>> 0, 8, le);
      else writeU16(h, len, 6, le);
      parts.push(h);
    }
    parts.push(value);
  }
  return Buffer.concat(parts);
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const writeU16 = (b: Buffer, n: number, at: number, le: boolean): number => (le ? b.writeUInt16LE(n, at) : b.writeUInt16BE(n, at));
const writeU32 = (b: Buffer, n: number, at: number, le: boolean): number => (le ? b.writeUInt32LE(n, at) : b.writeUInt32BE(n, at));
const us = (n: number, le: boolean): Buffer => {
  const b = Buffer.alloc(2);
  writeU16(b, n, 0, le);
  return b;
};

function sample(le: boolean): El[] {
  return [
    [0x00080005, 'CS', latin1('ISO_IR 100')],
    [0x00080016, 'UI', latin1('1.2.840.10008.5.1.4.1.1.2')],
    [0x00080018, 'UI', latin1('1.2.3.4.5.6.7')],
    [0x00080020, 'DA', latin1('20240229')],
    [0x00080050, 'SH', latin1('ACC12345')],
    [0x00080060, 'CS', latin1('CT')],
    [0x00080080, 'LO', latin1('Klinikum Süd')],
    [0x00081030, 'LO', latin1('Grüße Thorax')],
    [
      0x00081110,
      'SQ',
      [
        [
          [0x00081150, 'UI', latin1('1.2.840.10008.3.1.2.3.1')],
          [0x00081155, 'UI', latin1('1.2.3.4.5')],
        ],
      ],
    ],
    [
      0x00081115,
      'SQ',
      [
        [
          [
            0x00081199,
            'SQ',
            [
              [
                [0x00081150, 'UI', latin1('1.2.840.10008.5.1.4.1.1.2')],
                [0x00081155, 'UI', latin1('1.2.3.4.5.6.7')],
              ],
            ],
          ],
          [0x0008103e, 'LO', latin1('Müller series')],
          [0x0020000e, 'UI', latin1('1.2.3.4.6')],
        ],
      ],
    ],
    [0x00090010, 'LO', latin1('ACME')],
    [0x00091001, 'LO', latin1('Müller^Hans private')],
    [0x00100010, 'PN', latin1('Müller^Hans')],
    [0x00100020, 'LO', latin1('PID-4711')],
    [0x00100030, 'DA', latin1('19700101')],
    [0x00180050, 'DS', latin1('1.0')],
    [0x0020000d, 'UI', latin1('1.2.3.4')],
    [0x0020000e, 'UI', latin1('1.2.3.4.6')],
    [0x00280010, 'US', us(2, le)],
    [0x00280011, 'US', us(2, le)],
    [0x60000010, 'US', us(2, le)],
    [0x60003000, 'OW', Buffer.alloc(2)],
    [0x7fe00010, 'OW', Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])],
  ];
}

for (const [name, ts, syntax] of [
  ['implicit VR LE', '1.2.840.10008.1.2', IMPLICIT_LE],
  ['explicit VR LE', '1.2.840.10008.1.2.1', EXPLICIT_LE],
  ['explicit VR BE', '1.2.840.10008.1.2.2', EXPLICIT_BE],
  ['deflated explicit VR LE', '1.2.840.10008.1.2.1.99', EXPLICIT_LE],
] as const) {
  for (const undef of [false, true]) {
    test(`synthetic ${name}, ${undef ? 'undefined' : 'defined'}-length sequences: edits, references, byte identity`, () => {
      let input = encode(sample(syntax.littleEndian), syntax, undef);
      const plain = input;
      if (isDeflated(ts)) input = zlib.deflateRawSync(input);
      const r = deidentifyDataSet(input, ts, { secret: SECRET, options: ['clean-descriptors'] });
      const out = isDeflated(ts) ? zlib.inflateRawSync(r.bytes) : r.bytes;
      const a = parseDataSet(plain, syntax, { isSequenceTag });
      const b = parseDataSet(out, syntax, { isSequenceTag });
      const get = (p: typeof b, tag: number) => p.elements.find((e) => e.tag === tag);
      const val = (p: typeof b, tag: number) => {
        const e = get(p, tag);
        return e ? valueBytes(p.buf, e).toString('latin1') : undefined;
      };
      // Identity gone, everywhere.
      for (const s of ['Müller', 'PID-4711', 'ACC12345', '19700101', 'Klinikum']) assert.equal(out.indexOf(latin1(s)), -1, s);
      assert.equal(val(b, 0x00100010), '', "Patient's Name is Z");
      assert.match(val(b, 0x00100020) as string, /^ANON[0-9A-F]{16}$/);
      assert.equal(val(b, 0x00080050), '');
      assert.equal(get(b, 0x00091001), undefined);
      assert.equal(get(b, 0x00090010), undefined);
      assert.equal(get(b, 0x00081110), undefined, 'Referenced Study Sequence (X/Z) removed');
      assert.equal(get(b, 0x60000010), undefined, 'overlay plane removed');
      // UIDs mapped consistently at every depth.
      const sop = replacementUid(SECRET, '1.2.3.4.5.6.7');
      assert.equal(val(b, 0x00080018)?.replace(/\0$/, ''), sop);
      const ref = get(b, 0x00081115)?.items?.[0];
      assert.ok(ref);
      const inner = ref.elements.find((e) => e.tag === 0x00081199)?.items?.[0]?.elements.find((e) => e.tag === 0x00081155);
      assert.ok(inner);
      assert.equal(valueBytes(out, inner).toString('latin1').replace(/\0$/, ''), sop, 'reference follows the instance');
      // Series Description (X, C under Clean Descriptors) holds the patient's name: cleaned to a dummy.
      const desc = ref.elements.find((e) => e.tag === 0x0008103e);
      assert.ok(desc);
      assert.equal(valueBytes(out, desc).toString('latin1'), 'ANONYMOUS ');
      assert.equal(ref.undefinedLength, undef);
      // Clean Descriptors keeps a descriptor without identifying values, byte for byte (ISO 8859-1).
      assert.equal(val(b, 0x00081030), 'Grüße Thorax');
      assert.equal(readDatasetHeader(out, isDeflated(ts) ? '1.2.840.10008.1.2.1' : ts).attributes.StudyDescription, 'Grüße Thorax');
      // Kept elements are byte-identical.
      for (const tag of [0x00080005, 0x00080016, 0x00180050, 0x00280010, 0x00280011, 0x7fe00010]) {
        const x = get(a, tag) as ParsedElement;
        const y = get(b, tag) as ParsedElement;
        assert.ok(plain.subarray(x.start, x.end).equals(out.subarray(y.start, y.end)), formatTag(tag));
      }
      assert.equal(val(b, 0x00120062), 'YES ');
      assert.deepEqual(
        r.actions.filter((x) => x.path.includes('[')).map((x) => `${x.path} ${x.action}`),
        ['(0008,1115)[0].(0008,1199)[0].(0008,1155) U', '(0008,1115)[0].(0008,103E) C', '(0008,1115)[0].(0020,000E) U'],
      );
      assert.equal(r.burnedInAnnotationRisk, false);
    });
  }
}

test('options: modified dates are shifted per patient, full dates kept, UIDs retained, characteristics kept', () => {
  const base = (pid: string): El[] => [
    [0x00080018, 'UI', latin1('1.2.3.9')],
    [0x00080020, 'DA', latin1('20240229')],
    [0x00080021, 'DA', latin1('20240301')],
    [0x00080030, 'TM', latin1('101010')],
    [0x00100020, 'LO', latin1(pid)],
    [0x00101010, 'AS', latin1('042Y')],
  ];
  const ts = '1.2.840.10008.1.2.1';
  const run1 = (pid: string, options: string[]) => {
    const r = deidentifyDataSet(encode(base(pid), EXPLICIT_LE), ts, { secret: SECRET, options });
    return readDatasetHeader(r.bytes, ts, {
      tags: { StudyDate: 0x00080020, SeriesDate: 0x00080021, StudyTime: 0x00080030, Age: 0x00101010, SOP: 0x00080018 },
    }).attributes;
  };
  const m = run1('P1', ['retain-long-modified-dates']);
  assert.notEqual(m.StudyDate, '20240229');
  assert.match(m.StudyDate as string, /^\d{8}$/);
  const days = (a: string, b: string) =>
    (Date.parse(`${b.slice(0, 4)}-${b.slice(4, 6)}-${b.slice(6)}`) - Date.parse(`${a.slice(0, 4)}-${a.slice(4, 6)}-${a.slice(6)}`)) /
    86_400_000;
  assert.equal(days(m.StudyDate as string, m.SeriesDate as string), 1, 'interval kept');
  assert.equal(m.StudyTime, '101010');
  assert.deepEqual(run1('P1', ['retain-long-modified-dates']), m, 'same patient, same shift');
  assert.equal(m.Age, undefined, "Patient's Age removed without Retain Patient Characteristics");
  const full = run1('P1', ['retain-long-full-dates', 'retain-uids', 'retain-patient-characteristics']);
  assert.equal(full.StudyDate, '20240229');
  assert.equal(full.SOP, '1.2.3.9');
  assert.equal(full.Age, '042Y');
  assert.throws(() => run1('P1', ['no-such-option']), /unsupported/);
});

test('burned-in annotation risk is reported with its reason', () => {
  const ts = '1.2.840.10008.1.2.1';
  const mk = (modality: string, bia?: string) =>
    deidentifyDataSet(
      encode(
        [
          [0x00080060, 'CS', latin1(modality)],
          ...(bia ? [[0x00280301, 'CS', latin1(bia)] as El] : []),
          [0x7fe00010, 'OB', Buffer.alloc(4)],
        ],
        EXPLICIT_LE,
      ),
      ts,
      { secret: SECRET },
    );
  assert.equal(mk('CT').burnedInAnnotationRisk, false);
  assert.equal(mk('CT', 'YES').burnedInAnnotationRisk, true);
  assert.match(mk('CT', 'YES').reasons.join(), /0028,0301/);
  assert.equal(mk('US', 'NO').burnedInAnnotationRisk, true);
  assert.equal(mk('XA').burnedInAnnotationRisk, true);
  assert.equal(mk('XA', 'NO').burnedInAnnotationRisk, false);
});

test('errors are DicomParseError without values', () => {
  const ts = '1.2.840.10008.1.2.1';
  const bad = encode([[0x00100010, 'PN', latin1('Secret^Name')]], EXPLICIT_LE);
  bad.writeUInt16LE(200, 6); // length past the end
  assert.throws(
    () => deidentifyDataSet(bad, ts, { secret: SECRET }),
    (e: unknown) => e instanceof DicomParseError && !/Secret/.test((e as Error).message),
  );
  assert.throws(() => deidentifyDataSet(bad, ts, { secret: 'short' }), /16 bytes/);
});

test('CLI: a folder in, a mirrored folder out, with a summary', { skip: hasData ? false : 'no corpus' }, () => {
  const src = path.join(SHARED_DICOM, 'pydicom', 'dicomdirtests', '77654033');
  const out = tmpDir('deid-cli');
  const secretFile = path.join(out, 'secret');
  fs.writeFileSync(secretFile, SECRET);
  const dst = path.join(out, 'out');
  const writes: string[] = [];
  const orig = process.stdout.write.bind(process.stdout);
  (process.stdout as { write: unknown }).write = (s: string) => (writes.push(String(s)), true);
  let code: number;
  try {
    code = runDeidCli([src, dst, '--option', 'retain-long-modified-dates', '--secret-file', secretFile]);
  } finally {
    (process.stdout as { write: unknown }).write = orig;
  }
  assert.equal(code, 0, writes.join(''));
  const inFiles = [...walk(src)].map((f) => path.relative(src, f)).sort();
  const outFiles = [...walk(dst)].map((f) => path.relative(dst, f)).sort();
  assert.deepEqual(outFiles, inFiles);
  assert.match(writes.join(''), new RegExp(`de-identified ${inFiles.length} file\\(s\\)`));
  assert.equal(runDeidCli([src, dst, '--option', 'bogus']), 2);
  fs.rmSync(out, { recursive: true, force: true });
});

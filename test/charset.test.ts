/**
 * src/dicom/charset.ts alone: text values decoded through a Specific Character Set value, without
 * a data set around them (the header reader's own tests cover the same decoders through files).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { decodeTextValue, parseCharsetTerms } from '../src/dicom/charset';

const ESC = 0x1b;

test('single-byte sets, misspelled defined terms and the default repertoire', () => {
  const muller = Buffer.from([0x4d, 0xfc, 0x6c, 0x6c, 0x65, 0x72]);
  assert.equal(decodeTextValue(muller, 'ISO_IR 100'), 'Müller');
  assert.equal(decodeTextValue(muller, 'ISO-IR 100'), 'Müller');
  assert.equal(decodeTextValue(Buffer.from('Doe^John', 'latin1'), undefined), 'Doe^John');
  assert.deepEqual(parseCharsetTerms('\\ISO 2022 IR 87'), ['', 'ISO 2022 IR 87']);
});

test('GB18030 and UTF-8 values, padding removed', () => {
  assert.equal(decodeTextValue(Buffer.from([0xd6, 0xd0, 0xce, 0xc4, 0x20]), 'GB18030'), '中文');
  assert.equal(decodeTextValue(Buffer.from('肺结节 ', 'utf8'), 'ISO_IR 192 '), '肺结节');
  assert.equal(decodeTextValue(Buffer.alloc(0), 'GB18030'), '');
});

test('ISO 2022 code extensions: IR 87 (PS3.5 H.3.1) and IR 58', () => {
  // Yamada^Tarou=山田^太郎 in its ideographic group only.
  const jis = Buffer.from([
    ESC,
    0x24,
    0x42,
    0x3b,
    0x33,
    0x45,
    0x44,
    ESC,
    0x28,
    0x42,
    0x5e,
    ESC,
    0x24,
    0x42,
    0x42,
    0x40,
    0x4f,
    0x3a,
    ESC,
    0x28,
    0x42,
  ]);
  assert.equal(decodeTextValue(jis, '\\ISO 2022 IR 87'), '山田^太郎');
  const gb2312 = Buffer.from([0x5a, 0x68, 0x61, 0x6e, 0x67, 0x3d, ESC, 0x24, 0x29, 0x41, 0xd5, 0xc5]);
  assert.equal(decodeTextValue(gb2312, '\\ISO 2022 IR 58'), 'Zhang=张');
});

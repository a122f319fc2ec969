/**
 * Text decoding through the Specific Character Set (0008,0005), PS3.5 Section 6.1 and PS3.3
 * C.12.1.1.2: the ISO 8859 sets, GB18030/GBK, UTF-8, and ISO 2022 code extensions with their
 * escape sequences (Japanese, Korean, Chinese). One module for every reader of text values:
 * the header reader (dataset-reader.ts) and the SR viewer (src/report/sr-dump.ts).
 */
import { TextDecoder } from 'node:util';

/**
 * Decodes one text value (possibly multi-valued) given the raw (0008,0005) value, backslashes
 * kept; trailing padding (spaces, NULs) is removed, as text values are padded to even length.
 */
export function decodeTextValue(bytes: Buffer, specificCharacterSet: string | undefined): string {
  if (bytes.length === 0) return '';
  const terms = specificCharacterSet !== undefined ? parseCharsetTerms(trimPadding(specificCharacterSet)) : [];
  return trimPadding(decodeText(bytes, terms));
}

/** Strips the trailing spaces and NULs that pad DICOM values to even length. */
export function trimPadding(s: string): string {
  return s.replace(/[ \0]+$/, '');
}

/**
 * Splits (0008,0005) into its values and normalises common misspellings
 * ("ISO-IR 100", "ISO IR 100", "ISO_IR100") to the defined terms.
 */
export function parseCharsetTerms(value: string): string[] {
  return value.split('\\').map((term) => {
    const t = term.trim().toUpperCase();
    const m = /^ISO[ _-]?IR[ _-]?(\d+)$/.exec(t);
    return m ? `ISO_IR ${m[1]}` : t;
  });
}

/** Single-byte-per-term (non code-extension) defined terms -> WHATWG labels. */
const DIRECT_ENCODINGS: Readonly<Record<string, string>> = {
  'ISO_IR 6': 'latin1',
  'ISO_IR 100': 'latin1',
  'ISO_IR 101': 'iso-8859-2',
  'ISO_IR 109': 'iso-8859-3',
  'ISO_IR 110': 'iso-8859-4',
  'ISO_IR 144': 'iso-8859-5',
  'ISO_IR 127': 'iso-8859-6',
  'ISO_IR 126': 'iso-8859-7',
  'ISO_IR 138': 'iso-8859-8',
  'ISO_IR 148': 'iso-8859-9',
  'ISO_IR 203': 'iso-8859-15',
  'ISO_IR 166': 'windows-874', // TIS 620-2533; WHATWG maps tis-620 to windows-874
  'ISO_IR 13': 'shift_jis', // JIS X 0201 in both halves: a subset of Shift_JIS
  'ISO_IR 192': 'utf-8',
  GB18030: 'gb18030',
  GBK: 'gbk',
};

const decoderCache = new Map<string, TextDecoder>();

/**
 * Decodes bytes in a WHATWG encoding. 'latin1' is special-cased to true
 * ISO 8859-1 because WHATWG aliases latin1 to windows-1252.
 */
function decodeWith(label: string, bytes: Uint8Array): string {
  if (label === 'latin1') return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  let decoder = decoderCache.get(label);
  if (decoder === undefined) {
    decoder = new TextDecoder(label);
    decoderCache.set(label, decoder);
  }
  return decoder.decode(bytes);
}

/**
 * Decodes a charset-affected text value.
 *
 * Single-valued, non code-extension terms map straight to a decoder. Anything
 * using ISO 2022 code extensions ("ISO 2022 IR nnn", usually multi-valued like
 * "\ISO 2022 IR 87") goes through decodeIso2022, which honours the escape
 * sequences in the value. Unknown terms fall back to latin1 (best effort; we
 * would rather index a slightly wrong name than reject the object).
 */
export function decodeText(bytes: Buffer, terms: readonly string[]): string {
  if (bytes.length === 0) return '';
  const first = terms[0] ?? '';
  if (!terms.some((t) => t.startsWith('ISO 2022'))) {
    return decodeWith(DIRECT_ENCODINGS[first] ?? 'latin1', bytes);
  }
  return decodeIso2022(bytes, first);
}

/**
 * One ISO 2022 graphic character set that DICOM allows, designated into G0
 * (7-bit bytes) or G1 (8-bit bytes, invoked into GR).
 */
interface CodeElement {
  plane: 'G0' | 'G1';
  /** Bytes following ESC in the designating escape sequence. */
  escape: string;
  decode: (bytes: Uint8Array) => string;
}

/** JIS X 0208 (ISO IR 87) 7-bit bytes -> EUC-JP by setting the high bit. */
function decodeJisX0208(bytes: Uint8Array): string {
  const euc = Uint8Array.from(bytes, (b) => (b >= 0x21 && b <= 0x7e ? b | 0x80 : b));
  return decodeWith('euc-jp', euc);
}

/** JIS X 0212 (ISO IR 159) 7-bit pairs -> EUC-JP code set 3 (0x8F prefix). */
function decodeJisX0212(bytes: Uint8Array): string {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    const next = bytes[i + 1];
    if (b >= 0x21 && b <= 0x7e && next !== undefined && next >= 0x21 && next <= 0x7e) {
      out.push(0x8f, b | 0x80, next | 0x80);
      i++;
    } else {
      out.push(b);
    }
  }
  return decodeWith('euc-jp', Uint8Array.from(out));
}

const single = (label: string) => (bytes: Uint8Array) => decodeWith(label, bytes);

/** The code elements of PS3.3 C.12.1.1.2 (Tables C.12-3/4/5). */
const CODE_ELEMENTS: Readonly<Record<string, CodeElement>> = {
  'IR 6': { plane: 'G0', escape: '(B', decode: single('latin1') },
  'IR 14': { plane: 'G0', escape: '(J', decode: single('shift_jis') },
  'IR 87': { plane: 'G0', escape: '$B', decode: decodeJisX0208 },
  // Not a DICOM defined term, but older Japanese systems designate JIS X 0208
  // with the 1978 escape "ESC $ @"; the code points are compatible enough.
  'IR 42': { plane: 'G0', escape: '$@', decode: decodeJisX0208 },
  'IR 159': { plane: 'G0', escape: '$(D', decode: decodeJisX0212 },
  'IR 13': { plane: 'G1', escape: ')I', decode: single('shift_jis') },
  'IR 149': { plane: 'G1', escape: '$)C', decode: single('euc-kr') },
  'IR 58': { plane: 'G1', escape: '$)A', decode: single('gb18030') },
  'IR 100': { plane: 'G1', escape: '-A', decode: single('latin1') },
  'IR 101': { plane: 'G1', escape: '-B', decode: single('iso-8859-2') },
  'IR 109': { plane: 'G1', escape: '-C', decode: single('iso-8859-3') },
  'IR 110': { plane: 'G1', escape: '-D', decode: single('iso-8859-4') },
  'IR 144': { plane: 'G1', escape: '-L', decode: single('iso-8859-5') },
  'IR 127': { plane: 'G1', escape: '-G', decode: single('iso-8859-6') },
  'IR 126': { plane: 'G1', escape: '-F', decode: single('iso-8859-7') },
  'IR 138': { plane: 'G1', escape: '-H', decode: single('iso-8859-8') },
  'IR 148': { plane: 'G1', escape: '-M', decode: single('iso-8859-9') },
  'IR 203': { plane: 'G1', escape: '-b', decode: single('iso-8859-15') },
  'IR 166': { plane: 'G1', escape: '-T', decode: single('windows-874') },
};

const ESCAPES: ReadonlyArray<[string, CodeElement]> = Object.values(CODE_ELEMENTS)
  .map((ce): [string, CodeElement] => [ce.escape, ce])
  // Longest first so "$(D" is not mistaken for a shorter sequence.
  .sort((a, b) => b[0].length - a[0].length);

/**
 * Initial G0/G1 designations implied by value 1 of (0008,0005) (PS3.5 6.1.2.5.1):
 * G0 is ASCII except for ISO 2022 IR 13 (JIS X 0201 Romaji); G1 is the
 * 8-bit half of value 1, if any.
 */
function initialDesignations(firstTerm: string): { g0: CodeElement; g1?: CodeElement } {
  const ascii = CODE_ELEMENTS['IR 6'] as CodeElement;
  const m = /^(?:ISO 2022 |ISO_)(IR \d+)$/.exec(firstTerm);
  const ce = m ? CODE_ELEMENTS[m[1] as string] : undefined;
  if (ce === undefined) return { g0: ascii };
  if (m?.[1] === 'IR 13') return { g0: CODE_ELEMENTS['IR 14'] as CodeElement, g1: ce };
  return ce.plane === 'G1' ? { g0: ascii, g1: ce } : { g0: ascii };
}

/**
 * Decodes a value that uses ISO 2022 code extensions: bytes are split into runs
 * by escape sequences and by plane (7-bit -> G0, 8-bit -> G1) and each run is
 * decoded with the currently designated set.
 *
 * Limitations (best effort): designations are not reset at value/component
 * delimiters - conformant writers switch back explicitly before them, as
 * PS3.5 6.1.2.5.3 requires; unknown escape sequences are dropped; 8-bit bytes
 * with no G1 designation are read as latin1.
 */
function decodeIso2022(bytes: Buffer, firstTerm: string): string {
  const initial = initialDesignations(firstTerm);
  let g0 = initial.g0;
  let g1 = initial.g1;
  let out = '';
  let runStart = 0;
  let runHigh = false;

  const flush = (end: number): void => {
    if (end <= runStart) return;
    const run = bytes.subarray(runStart, end);
    if (!runHigh) out += g0.decode(run);
    else out += g1 ? g1.decode(run) : decodeWith('latin1', run);
  };

  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    if (b === 0x1b) {
      flush(i);
      const match = ESCAPES.find(([esc]) => bytes.toString('latin1', i + 1, i + 1 + esc.length) === esc);
      if (match) {
        if (match[1].plane === 'G0') g0 = match[1];
        else g1 = match[1];
        i += 1 + match[0].length;
      } else {
        i = skipUnknownEscape(bytes, i);
      }
      runStart = i;
      continue;
    }
    const high = b >= 0x80;
    if (high !== runHigh) {
      flush(i);
      runStart = i;
      runHigh = high;
    }
    i++;
  }
  flush(bytes.length);
  return out;
}

/**
 * Skips an unrecognised ISO 2022 escape sequence (ESC, intermediate bytes
 * 0x20-0x2F, one final byte 0x30-0x7E) so its bytes do not show up as text.
 */
function skipUnknownEscape(bytes: Buffer, escOffset: number): number {
  let j = escOffset + 1;
  while (j < bytes.length && (bytes[j] as number) >= 0x20 && (bytes[j] as number) <= 0x2f) j++;
  if (j < bytes.length && (bytes[j] as number) >= 0x30 && (bytes[j] as number) <= 0x7e) j++;
  return j;
}

/**
 * Inflation of deflated data sets (transfer syntaxes 1.2.840.10008.1.2.1.99 and JPIP Referenced
 * Deflate), shared by the header reader, the structural parser's callers and de-identification.
 */
import * as zlib from 'node:zlib';
import { DicomParseError } from './errors';

/**
 * Inflates a deflated dataset (transfer syntax 1.2.840.10008.1.2.1.99).
 * Tolerates a truncated prefix of the stream: it then returns as much as
 * could be inflated. Throws DicomParseError if the bytes are not deflate data.
 */
export function inflateDeflatedDataset(bytes: Buffer): Buffer {
  return inflate(bytes, true).data;
}

/**
 * `allowPartial`: the caller knows `bytes` may be a prefix of the stream, so an
 * unfinished stream is expected and not an error. `complete` is false when only
 * a prefix could be inflated.
 */
export function inflate(bytes: Buffer, allowPartial: boolean): { data: Buffer; complete: boolean } {
  let firstError: unknown;
  try {
    return { data: zlib.inflateRawSync(bytes), complete: true };
  } catch (e) {
    firstError = e;
  }
  // Some non-conformant writers emit a zlib-wrapped (RFC 1950) stream.
  if (looksLikeZlibHeader(bytes)) {
    try {
      return { data: zlib.inflateSync(bytes), complete: true };
    } catch {
      // fall through to the partial-stream handling of the raw attempt
    }
  }
  if (allowPartial) {
    try {
      const data = zlib.inflateRawSync(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      return { data, complete: false };
    } catch {
      // report the original error below
    }
  }
  const code = (firstError as { code?: unknown } | undefined)?.code;
  throw new DicomParseError(
    `deflated dataset of ${bytes.length} bytes could not be inflated${typeof code === 'string' ? ` (${code})` : ''}`,
  );
}

function looksLikeZlibHeader(bytes: Buffer): boolean {
  if (bytes.length < 2) return false;
  const cmf = bytes[0] as number;
  const flg = bytes[1] as number;
  return (cmf & 0x0f) === 8 && ((cmf << 8) | flg) % 31 === 0;
}

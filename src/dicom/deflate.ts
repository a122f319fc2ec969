/**
 * Inflation of deflated data sets (transfer syntaxes 1.2.840.10008.1.2.1.99 and JPIP Referenced
 * Deflate), shared by the header reader, the structural parser's callers and de-identification.
 *
 * Every inflate here has an output budget: a deflated stream inflates up to ~1000 times its size,
 * so what the sender's bytes may cost in memory and time is decided by the caller (from the data
 * set's own header, see inflate-data-set.ts), never by the stream. Exceeding it throws
 * InflateBudgetExceeded as soon as zlib has produced that many bytes, before anything larger is
 * allocated.
 */
import * as zlib from 'node:zlib';
import { DicomParseError } from './errors';
import { formatBytes } from './pixel-budget';

/** A deflated stream would inflate beyond what the data set may be; a DicomParseError, so callers that refuse unparseable data refuse this too. */
export class InflateBudgetExceeded extends DicomParseError {
  constructor(
    message: string,
    readonly budgetBytes: number,
  ) {
    super(message);
    this.name = 'InflateBudgetExceeded';
  }
}

/**
 * Largest output of inflateDeflatedDataset, the unbudgeted convenience for trusted bytes (tests,
 * tools). Untrusted data sets go through inflateDataSet (inflate-data-set.ts), whose budget comes
 * from the header.
 */
const CONVENIENCE_MAX_BYTES = 2 * 1024 * 1024 * 1024;

/**
 * Inflates a deflated dataset (transfer syntax 1.2.840.10008.1.2.1.99).
 * Tolerates a truncated prefix of the stream: it then returns as much as
 * could be inflated. Throws DicomParseError if the bytes are not deflate data.
 */
export function inflateDeflatedDataset(bytes: Buffer, maxBytes = CONVENIENCE_MAX_BYTES): Buffer {
  return inflate(bytes, true, maxBytes).data;
}

/**
 * `allowPartial`: the caller knows `bytes` may be a prefix of the stream, so an
 * unfinished stream is expected and not an error. `complete` is false when only
 * a prefix could be inflated. More than `maxBytes` of output throws InflateBudgetExceeded.
 */
export function inflate(bytes: Buffer, allowPartial: boolean, maxBytes: number): { data: Buffer; complete: boolean } {
  const limit = { maxOutputLength: Math.max(1, Math.min(maxBytes, CONVENIENCE_MAX_BYTES)) };
  let firstError: unknown;
  try {
    return { data: zlib.inflateRawSync(bytes, limit), complete: true };
  } catch (e) {
    rethrowIfOverBudget(e, bytes, maxBytes);
    firstError = e;
  }
  // Some non-conformant writers emit a zlib-wrapped (RFC 1950) stream.
  if (looksLikeZlibHeader(bytes)) {
    try {
      return { data: zlib.inflateSync(bytes, limit), complete: true };
    } catch (e) {
      rethrowIfOverBudget(e, bytes, maxBytes);
      // fall through to the partial-stream handling of the raw attempt
    }
  }
  if (allowPartial) {
    try {
      return inflatePrefix(bytes, maxBytes);
    } catch (e) {
      if (e instanceof InflateBudgetExceeded) throw e;
      // report the original error below
    }
  }
  const code = (firstError as { code?: unknown } | undefined)?.code;
  throw new DicomParseError(
    `deflated dataset of ${bytes.length} bytes could not be inflated${typeof code === 'string' ? ` (${code})` : ''}`,
  );
}

/**
 * Inflates `bytes` known to be a prefix of a stream: all that they hold, flushed, without the
 * attempt to finish the stream. At most `maxBytes` of output.
 */
export function inflatePrefix(bytes: Buffer, maxBytes: number): { data: Buffer; complete: boolean } {
  const options = { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: Math.max(1, Math.min(maxBytes, CONVENIENCE_MAX_BYTES)) };
  try {
    return { data: zlib.inflateRawSync(bytes, options), complete: false };
  } catch (e) {
    rethrowIfOverBudget(e, bytes, maxBytes);
    if (!looksLikeZlibHeader(bytes)) throw e;
  }
  try {
    return { data: zlib.inflateSync(bytes, options), complete: false };
  } catch (e) {
    rethrowIfOverBudget(e, bytes, maxBytes);
    throw e;
  }
}

function rethrowIfOverBudget(e: unknown, bytes: Buffer, maxBytes: number): void {
  if ((e as { code?: unknown } | undefined)?.code === 'ERR_BUFFER_TOO_LARGE') {
    throw new InflateBudgetExceeded(`deflated data of ${bytes.length} bytes inflates beyond ${formatBytes(maxBytes)}`, maxBytes);
  }
}

function looksLikeZlibHeader(bytes: Buffer): boolean {
  if (bytes.length < 2) return false;
  const cmf = bytes[0] as number;
  const flg = bytes[1] as number;
  return (cmf & 0x0f) === 8 && ((cmf << 8) | flg) % 31 === 0;
}

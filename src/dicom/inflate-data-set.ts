/**
 * Inflating a whole deflated data set, bounded by what its own header says it is.
 *
 * First only the header is inflated (readDatasetHeader stops at Pixel Data, within
 * DEFLATED_HEADER_MAX_BYTES). Its Image Pixel attributes give the pixel data's size, which must be
 * within the decode limits (checkPixelBudget); the data set may then inflate to the header, plus
 * the declared pixel data, plus DEFLATED_TRAILER_ALLOWANCE for elements after it - and not a byte
 * more: zlib stops there and the stream is refused (InflateBudgetExceeded).
 */
import { DicomParseError } from './errors';
import { inflate, InflateBudgetExceeded } from './deflate';
import { DEFLATED_HEADER_MAX_BYTES, type HeaderReadResult, readDatasetHeader } from './dataset-reader';
import { checkPixelBudget, DEFAULT_PIXEL_LIMITS, formatBytes, geometryFromAttributes, type PixelLimits } from './pixel-budget';
import { tagsByKeyword } from './tags';

/**
 * Room for elements after Pixel Data (Data Set Trailing Padding, digital signatures, private
 * groups some writers put last). Real ones are bytes to kilobytes; a few MiB is generous without
 * letting a stream hide a bomb there.
 */
export const DEFLATED_TRAILER_ALLOWANCE = 4 * 1024 * 1024;

/** What a deflated header must be read for to bound the rest. */
export const PIXEL_GEOMETRY_TAGS: Readonly<Record<string, number>> = tagsByKeyword([
  'Rows',
  'Columns',
  'SamplesPerPixel',
  'BitsAllocated',
  'NumberOfFrames',
]);

/**
 * The most a deflated data set may inflate to, from its header (read by readDatasetHeader with
 * PIXEL_GEOMETRY_TAGS at least). Throws PixelBudgetExceeded when the declared pixels exceed the
 * limits, InflateBudgetExceeded when the Pixel Data element is longer than its header declares.
 */
export function inflatedSizeBudget(header: HeaderReadResult, limits: PixelLimits = DEFAULT_PIXEL_LIMITS): number {
  if (header.stoppedAt === 'end') return DEFLATED_HEADER_MAX_BYTES; // no Pixel Data: the header is all there is
  const pd = header.pixelData;
  if (header.stoppedAt === 'truncated' || pd === undefined) {
    throw new DicomParseError('deflated data set ends inside its header');
  }
  const geometry = geometryFromAttributes(header.attributes);
  // Pixel Data without Rows/Columns/Bits Allocated cannot be decoded: it may be what a header may be.
  const declared = geometry === undefined ? DEFLATED_HEADER_MAX_BYTES : checkPixelBudget(geometry, limits);
  if (pd.length !== 'undefined' && pd.length > declared + 1) {
    throw new InflateBudgetExceeded(
      geometry === undefined
        ? `Pixel Data of ${pd.length} bytes without Rows, Columns and Bits Allocated, more than ${formatBytes(declared)}`
        : `Pixel Data of ${pd.length} bytes is longer than the ${declared} bytes the header declares`,
      pd.offset + declared,
    );
  }
  const pixels = pd.length === 'undefined' ? declared + (declared % 2) : pd.length;
  // Encapsulated pixel data in a deflated data set (not allowed, but seen) compresses no better than the frames.
  return pd.offset + pixels + DEFLATED_TRAILER_ALLOWANCE;
}

/**
 * Inflates a whole deflated data set (the bytes after the meta group), within the budget its header
 * allows. `allowPartial`: a truncated stream returns what it holds instead of throwing.
 */
export function inflateDataSet(
  bytes: Buffer,
  transferSyntaxUid: string,
  limits: PixelLimits = DEFAULT_PIXEL_LIMITS,
  allowPartial = false,
): Buffer {
  const header = readDatasetHeader(bytes, transferSyntaxUid, { tags: PIXEL_GEOMETRY_TAGS });
  if (allowPartial && header.stoppedAt === 'truncated') return inflate(bytes, true, DEFLATED_HEADER_MAX_BYTES).data;
  const budget = inflatedSizeBudget(header, limits);
  try {
    return inflate(bytes, allowPartial, budget).data;
  } catch (e) {
    if (e instanceof InflateBudgetExceeded) {
      throw new InflateBudgetExceeded(
        `deflated data set inflates beyond the ${formatBytes(budget)} its header declares (header, pixel data and ${formatBytes(DEFLATED_TRAILER_ALLOWANCE)} for other elements)`,
        budget,
      );
    }
    throw e;
  }
}

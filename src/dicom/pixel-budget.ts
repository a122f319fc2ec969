/**
 * How much memory an instance's pixels may claim, judged from its header before a byte of pixel
 * data is read, inflated or decoded.
 *
 * Why: rows × columns × samples × frames × bytes is what every decoder allocates, and a sender
 * controls all five numbers. A 268-byte RLE object can claim 8192×8192 16-bit pixels, a 0.5 MB
 * deflated stream can inflate to 512 MiB. Every inflate and decode path asks this module first,
 * and refuses with PixelBudgetExceeded, naming the limit and its configuration key.
 *
 * Pure arithmetic on header numbers: it lives in dicom/ so that the inflater, the imaging decoders,
 * de-identification and the series volume (wherever they run: main thread or worker) share it.
 */

const MIB = 1024 * 1024;

export interface PixelLimits {
  /** Largest decoded frame: rows × columns × samples × bytes per sample (`imaging.maxFrameMegabytes`). */
  readonly maxFrameBytes: number;
  /** Largest series: the sum over its instances of their frames' bytes (`imaging.maxSeriesMegabytes`). */
  readonly maxSeriesBytes: number;
}

/**
 * Defaults that fit real images with room to spare: a 4096×4096 16-bit mammogram frame is 32 MiB,
 * a 3000-slice thin-slice CT (512×512 16-bit) 1.5 GiB, a 1000-frame 640×480 colour ultrasound
 * 0.9 GiB. An 8192×8192 16-bit frame (128 MiB) is refused.
 */
export const DEFAULT_PIXEL_LIMITS: PixelLimits = { maxFrameBytes: 64 * MIB, maxSeriesBytes: 2048 * MIB };

/** Limits as configured (`imaging` section, megabytes) -> bytes. */
export function pixelLimitsFromMegabytes(c: { readonly maxFrameMegabytes: number; readonly maxSeriesMegabytes: number }): PixelLimits {
  return { maxFrameBytes: c.maxFrameMegabytes * MIB, maxSeriesBytes: c.maxSeriesMegabytes * MIB };
}

/** The configuration keys named in refusals, so an administrator knows what to raise. */
export const PIXEL_LIMIT_KEYS = {
  maxFrameBytes: 'imaging.maxFrameMegabytes',
  maxSeriesBytes: 'imaging.maxSeriesMegabytes',
} as const;

/** What the Image Pixel module says the pixel data is. */
export interface PixelGeometry {
  readonly rows: number;
  readonly columns: number;
  readonly samplesPerPixel: number;
  readonly bitsAllocated: number;
  readonly numberOfFrames: number;
}

/** Thrown before any allocation when a header claims more pixels than the limits allow. */
export class PixelBudgetExceeded extends Error {
  constructor(
    message: string,
    /** Which limit: its configuration key. */
    readonly limitKey: string,
    /** What the header claims (bytes). */
    readonly claimedBytes: number,
  ) {
    super(message);
    this.name = 'PixelBudgetExceeded';
  }
}

/** Bytes of one frame (1-bit frames rounded up to whole bytes). */
export function frameBytes(g: PixelGeometry): number {
  return Math.ceil((g.rows * g.columns * g.samplesPerPixel * g.bitsAllocated) / 8);
}

/** Bytes of all frames (1-bit frames are packed without padding between them). */
export function pixelDataBytes(g: PixelGeometry): number {
  return Math.ceil((g.rows * g.columns * g.samplesPerPixel * g.bitsAllocated * g.numberOfFrames) / 8);
}

export function formatBytes(n: number): string {
  if (n >= 1024 * MIB) return `${(n / (1024 * MIB)).toFixed(1)} GiB`;
  if (n >= MIB) return `${(n / MIB).toFixed(1)} MiB`;
  return `${n} bytes`;
}

function describe(g: PixelGeometry): string {
  const frames = g.numberOfFrames === 1 ? '' : ` × ${g.numberOfFrames} frames`;
  return `${g.rows}×${g.columns}×${g.samplesPerPixel} at ${g.bitsAllocated} bits${frames}`;
}

/**
 * Refuses a geometry no real image has (zero or impossible sizes, absurd frame counts), then one
 * whose frame or whole pixel data exceeds the limits (an instance is at most a series). Returns the
 * pixel data's declared size in bytes.
 */
export function checkPixelBudget(g: PixelGeometry, limits: PixelLimits = DEFAULT_PIXEL_LIMITS): number {
  const whole = (v: number, max: number) => Number.isInteger(v) && v >= 1 && v <= max;
  if (!whole(g.rows, 0xffff) || !whole(g.columns, 0xffff) || !whole(g.samplesPerPixel, 4)) {
    throw new PixelBudgetExceeded(`impossible image size ${describe(g)}`, 'Rows/Columns/Samples per Pixel', 0);
  }
  if (![1, 8, 16, 32, 64].includes(g.bitsAllocated) || !whole(g.numberOfFrames, 2 ** 31 - 1)) {
    throw new PixelBudgetExceeded(`impossible pixel layout ${describe(g)}`, 'Bits Allocated/Number of Frames', 0);
  }
  const frame = frameBytes(g);
  if (frame > limits.maxFrameBytes) {
    throw new PixelBudgetExceeded(
      `a frame of ${describe({ ...g, numberOfFrames: 1 })} (${formatBytes(frame)}) exceeds the limit of ${formatBytes(limits.maxFrameBytes)} (${PIXEL_LIMIT_KEYS.maxFrameBytes})`,
      PIXEL_LIMIT_KEYS.maxFrameBytes,
      frame,
    );
  }
  const total = pixelDataBytes(g);
  if (total > limits.maxSeriesBytes) {
    throw new PixelBudgetExceeded(
      `pixel data of ${describe(g)} (${formatBytes(total)}) exceeds the series limit of ${formatBytes(limits.maxSeriesBytes)} (${PIXEL_LIMIT_KEYS.maxSeriesBytes})`,
      PIXEL_LIMIT_KEYS.maxSeriesBytes,
      total,
    );
  }
  return total;
}

/** Refuses a series whose instances (the first `instances` counted so far) together claim more than the series limit. */
export function checkSeriesBudget(totalBytes: number, instances: number, limits: PixelLimits = DEFAULT_PIXEL_LIMITS): void {
  if (totalBytes > limits.maxSeriesBytes) {
    throw new PixelBudgetExceeded(
      `the series' pixel data claims ${formatBytes(totalBytes)} in ${instances} instance(s), more than the limit of ${formatBytes(limits.maxSeriesBytes)} (${PIXEL_LIMIT_KEYS.maxSeriesBytes})`,
      PIXEL_LIMIT_KEYS.maxSeriesBytes,
      totalBytes,
    );
  }
}

/**
 * The geometry from decoded header attributes; undefined when Rows, Columns or Bits Allocated are
 * missing (then there is nothing to decode, and decoders refuse on their own).
 */
export function geometryFromAttributes(a: Readonly<Record<string, string>>): PixelGeometry | undefined {
  const num = (v: string | undefined): number | undefined => {
    if (v === undefined || v.trim() === '') return undefined;
    const n = Number(v.trim());
    return Number.isFinite(n) ? n : undefined;
  };
  const rows = num(a.Rows);
  const columns = num(a.Columns);
  const bitsAllocated = num(a.BitsAllocated);
  if (rows === undefined || columns === undefined || bitsAllocated === undefined) return undefined;
  const frames = num(a.NumberOfFrames);
  return {
    rows,
    columns,
    samplesPerPixel: num(a.SamplesPerPixel) ?? 1,
    bitsAllocated,
    // As readPixelModule: absent or below 1 means one frame.
    numberOfFrames: frames === undefined || frames < 1 ? 1 : Math.floor(frames),
  };
}

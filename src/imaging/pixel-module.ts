/**
 * The Image Pixel module (PS3.3 C.7.6.3) of a parsed object: what the pixel data bytes mean.
 * Validated here once so that decoders can trust the numbers (no zero sizes, no Bits Stored above
 * Bits Allocated, no pixel data shorter than the frames it claims).
 */
import { TAG } from '../dicom/tags';
import { DataSet } from './dataset';

export type Photometric =
  | 'MONOCHROME1'
  | 'MONOCHROME2'
  | 'RGB'
  | 'YBR_FULL'
  | 'YBR_FULL_422'
  | 'YBR_PARTIAL_422'
  | 'YBR_PARTIAL_420'
  | 'YBR_ICT'
  | 'YBR_RCT'
  | 'PALETTE COLOR';

const KNOWN_PHOTOMETRIC = new Set<string>([
  'MONOCHROME1',
  'MONOCHROME2',
  'RGB',
  'YBR_FULL',
  'YBR_FULL_422',
  'YBR_PARTIAL_422',
  'YBR_PARTIAL_420',
  'YBR_ICT',
  'YBR_RCT',
  'PALETTE COLOR',
]);

export interface PixelModule {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  /** 0 unsigned, 1 two's complement. */
  pixelRepresentation: 0 | 1;
  /** 0 colour-by-pixel (interleaved), 1 colour-by-plane. */
  planarConfiguration: 0 | 1;
  photometric: Photometric;
  numberOfFrames: number;
}

export class ImagingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImagingError';
  }
}

export function readPixelModule(ds: DataSet): PixelModule {
  if (!ds.has(TAG.PixelData)) throw new ImagingError('object has no Pixel Data (7FE0,0010)');
  const rows = ds.number(TAG.Rows) ?? 0;
  const columns = ds.number(TAG.Columns) ?? 0;
  const bitsAllocated = ds.number(TAG.BitsAllocated) ?? 0;
  const samplesPerPixel = ds.number(TAG.SamplesPerPixel) ?? 1;
  const bitsStored = ds.number(TAG.BitsStored) ?? bitsAllocated;
  const highBit = ds.number(TAG.HighBit) ?? bitsStored - 1;
  const pr = ds.number(TAG.PixelRepresentation) ?? 0;
  const pc = ds.number(TAG.PlanarConfiguration) ?? 0;
  const framesText = ds.number(TAG.NumberOfFrames);
  const numberOfFrames = framesText === undefined || framesText < 1 ? 1 : Math.floor(framesText);
  let photometric = (ds.string(TAG.PhotometricInterpretation) ?? '').toUpperCase();
  if (photometric === '') photometric = samplesPerPixel === 3 ? 'RGB' : 'MONOCHROME2';

  if (rows < 1 || columns < 1) throw new ImagingError(`invalid image size ${rows}x${columns}`);
  if (![1, 8, 16, 32].includes(bitsAllocated)) throw new ImagingError(`unsupported Bits Allocated ${bitsAllocated}`);
  if (bitsStored < 1 || bitsStored > bitsAllocated) {
    throw new ImagingError(`Bits Stored ${bitsStored} does not fit Bits Allocated ${bitsAllocated}`);
  }
  if (highBit < bitsStored - 1 || highBit >= bitsAllocated) {
    throw new ImagingError(`High Bit ${highBit} does not fit Bits Stored ${bitsStored} / Allocated ${bitsAllocated}`);
  }
  if (samplesPerPixel !== 1 && samplesPerPixel !== 3) {
    throw new ImagingError(`unsupported Samples per Pixel ${samplesPerPixel}`);
  }
  if (!KNOWN_PHOTOMETRIC.has(photometric)) throw new ImagingError(`unsupported Photometric Interpretation ${photometric}`);
  const mono = photometric.startsWith('MONOCHROME') || photometric === 'PALETTE COLOR';
  if (mono !== (samplesPerPixel === 1)) {
    throw new ImagingError(`Photometric Interpretation ${photometric} with ${samplesPerPixel} samples per pixel`);
  }
  return {
    rows,
    columns,
    samplesPerPixel,
    bitsAllocated,
    bitsStored,
    highBit,
    pixelRepresentation: pr === 1 ? 1 : 0,
    planarConfiguration: pc === 1 ? 1 : 0,
    photometric: photometric as Photometric,
    numberOfFrames,
  };
}

export function isMonochrome(p: PixelModule): boolean {
  return p.photometric === 'MONOCHROME1' || p.photometric === 'MONOCHROME2';
}

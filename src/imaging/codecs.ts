/**
 * Compressed frame decoding through `dcmjs-codecs` (one WebAssembly module built from libjpeg-turbo
 * with 8/12/16-bit and lossless support, CharLS, OpenJPEG, OpenJPH and libjxl). See README.md for
 * why this package and not the alternatives. RLE is decoded in rle.ts, not here.
 *
 * The module must be instantiated once (asynchronously) before use: call initCodecs(). All
 * decoding after that is synchronous.
 */
import { Context, NativeCodecs, log as codecsLog } from 'dcmjs-codecs';
import { TRANSFER_SYNTAX } from '../dicom/transfer-syntax';
import { ImagingError, Photometric, PixelModule } from './pixel-module';

const TS = TRANSFER_SYNTAX;

/** The JPEG processes libjpeg-turbo decodes. */
export const JPEG_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  TS.JPEGBaseline8Bit,
  TS.JPEGExtended12Bit, // process 2 & 4
  TS.JPEGSpectralSelectionNonHierarchical68, // retired
  TS.JPEGFullProgressionNonHierarchical1012, // retired
  TS.JPEGLossless, // process 14, any predictor
  TS.JPEGLosslessSV1, // process 14, selection value 1
]);
export const JPEG_LS_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([TS.JPEGLSLossless, TS.JPEGLSNearLossless]);
export const JPEG_2000_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([TS.JPEG2000Lossless, TS.JPEG2000]);
export const HTJ2K_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([TS.HTJ2KLossless, TS.HTJ2KLosslessRPCL, TS.HTJ2K]);
export const RLE_TRANSFER_SYNTAX = TS.RLELossless;

let ready: Promise<void> | undefined;

/** Instantiates the codecs WebAssembly once per process. */
export function initCodecs(): Promise<void> {
  if (ready === undefined) {
    // The codecs log through loglevel at "info" by default; decoding problems surface as
    // exceptions, so their chatter stays out of the node's log.
    codecsLog.setLevel('error');
    ready = NativeCodecs.initializeAsync({ logCodecsInfo: false, logCodecsTrace: false }).catch((e: unknown) => {
      ready = undefined;
      throw e;
    });
  }
  return ready;
}

export function codecsReady(): boolean {
  return NativeCodecs.isInitialized();
}

export function isWasmCompressed(ts: string): boolean {
  return (
    JPEG_TRANSFER_SYNTAXES.has(ts) ||
    JPEG_LS_TRANSFER_SYNTAXES.has(ts) ||
    JPEG_2000_TRANSFER_SYNTAXES.has(ts) ||
    HTJ2K_TRANSFER_SYNTAXES.has(ts)
  );
}

export interface DecodedBytes {
  /** Samples interleaved, Bits Allocated wide, little endian (as in native pixel data). */
  bytes: Uint8Array;
  /** Colour space of `bytes`: JPEG YCbCr is converted to RGB by the decoder. */
  photometric: Photometric;
  /**
   * For JPEG 2000: whether the codestream declares signed samples. Some encoders write signed
   * codestreams for Pixel Representation 0 data (pydicom's J2K_pixelrep_mismatch.dcm); the
   * codestream is the better witness of what the sample bits mean.
   */
  codestreamSigned?: boolean;
}

export function decodeCompressedFrame(ts: string, encoded: Buffer, pm: PixelModule): DecodedBytes {
  if (!NativeCodecs.isInitialized()) throw new ImagingError('codecs not initialised: await initCodecs() first');
  const ctx = new Context({
    width: pm.columns,
    height: pm.rows,
    bitsAllocated: pm.bitsAllocated,
    bitsStored: pm.bitsStored,
    samplesPerPixel: pm.samplesPerPixel,
    pixelRepresentation: pm.pixelRepresentation,
    // Decoders emit colour-by-pixel whatever the attribute says (it describes the native form).
    planarConfiguration: 0,
    photometricInterpretation: pm.photometric,
    encodedBuffer: new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength),
  });
  let photometric: Photometric = pm.photometric;
  let out: Context;
  let codestreamSigned: boolean | undefined;
  try {
    if (JPEG_TRANSFER_SYNTAXES.has(ts)) {
      // Like DCMTK's default (+cp): YCbCr JPEG is converted to RGB inside the decoder, with
      // libjpeg's own upsampling and colour conversion.
      const ybr = pm.samplesPerPixel === 3 && pm.photometric.startsWith('YBR');
      out = NativeCodecs.decodeJpeg(ctx, { convertColorspaceToRgb: ybr });
      if (ybr) photometric = 'RGB';
    } else if (JPEG_LS_TRANSFER_SYNTAXES.has(ts)) {
      out = NativeCodecs.decodeJpegLs(ctx, {});
    } else if (JPEG_2000_TRANSFER_SYNTAXES.has(ts) || HTJ2K_TRANSFER_SYNTAXES.has(ts)) {
      out = JPEG_2000_TRANSFER_SYNTAXES.has(ts) ? NativeCodecs.decodeJpeg2000(ctx, {}) : NativeCodecs.decodeHtJpeg2000(ctx, {});
      // The decoder applies the inverse component transform, so ICT/RCT data comes out as RGB.
      if (pm.photometric === 'YBR_ICT' || pm.photometric === 'YBR_RCT') photometric = 'RGB';
      codestreamSigned = j2kSigned(encoded);
    } else {
      throw new ImagingError(`no decoder for transfer syntax ${ts}`);
    }
  } catch (e) {
    if (e instanceof ImagingError) throw e;
    throw new ImagingError(`decoding a ${ts} frame failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  const bytes = out.getDecodedBuffer();
  const expected = pm.rows * pm.columns * pm.samplesPerPixel * (pm.bitsAllocated > 8 ? 2 : 1);
  if (bytes === undefined || bytes.length < expected) {
    throw new ImagingError(`decoded ${ts} frame has ${bytes?.length ?? 0} bytes, expected ${expected}`);
  }
  const result: DecodedBytes = { bytes, photometric };
  if (codestreamSigned !== undefined) result.codestreamSigned = codestreamSigned;
  return result;
}

/**
 * Ssiz of the first component in the SIZ marker (ISO 15444-1 A.5.1): bit 7 set = signed.
 * Works for raw codestreams and JP2 files (the codestream is found by its SOC+SIZ markers).
 */
function j2kSigned(encoded: Buffer): boolean | undefined {
  const soc = encoded.indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51]));
  if (soc < 0 || soc + 43 > encoded.length) return undefined;
  return ((encoded[soc + 42] as number) & 0x80) !== 0;
}

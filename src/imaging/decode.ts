/**
 * Pixel Data of any transfer syntax the SCP accepts -> stored sample values per frame.
 *
 *   native (implicit/explicit LE, explicit BE, deflated)   native.ts
 *   RLE Lossless                                          rle.ts
 *   JPEG (all processes), JPEG-LS, JPEG 2000, HTJ2K        codecs.ts (dcmjs-codecs WebAssembly)
 *
 * Colour comes out as RGB (YCbCr converted here or by the JPEG decoder); MONOCHROME and PALETTE
 * COLOR keep their stored values, which the modality/VOI stages or the palette turn into output.
 */
import { TAG } from '../dicom/tags';
import { TRANSFER_SYNTAX } from '../dicom/transfer-syntax';
import { DataSet, parseDataSet, parseDicomFile } from './dataset';
import { ImagingError, Photometric, PixelModule, readPixelModule } from './pixel-module';
import { encapsulatedFrame } from './fragments';
import { Samples, decodedBytesToSamples, nativeFrame } from './native';
import { decodeRleFrame } from './rle';
import { RLE_TRANSFER_SYNTAX, decodeCompressedFrame, initCodecs, isWasmCompressed } from './codecs';
import { ybrFullToRgb, ybrPartialToRgb } from './color';
import { checkPixelBudget, DEFAULT_PIXEL_LIMITS, type PixelLimits } from '../dicom/pixel-budget';
import { checkCodestreamSize } from './codestream-size';

const NATIVE_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  TRANSFER_SYNTAX.ImplicitVRLittleEndian,
  TRANSFER_SYNTAX.ExplicitVRLittleEndian,
  TRANSFER_SYNTAX.ExplicitVRBigEndian,
  TRANSFER_SYNTAX.DeflatedExplicitVRLittleEndian,
  TRANSFER_SYNTAX.JPIPReferencedDeflate, // deflated like 1.2.1.99 when pixels are present
]);
/** A parsed image object: its data set and what its pixel data means. */
export interface DicomImage {
  transferSyntaxUid: string;
  dataSet: DataSet;
  pixel: PixelModule;
  /** What a frame and the pixel data may claim; checked before any frame is decoded. */
  limits: PixelLimits;
}

export interface DecodedFrame {
  rows: number;
  columns: number;
  samplesPerPixel: 1 | 3;
  /** MONOCHROME1/2 and PALETTE COLOR as stored; every colour model other than palette -> RGB. */
  photometric: 'MONOCHROME1' | 'MONOCHROME2' | 'PALETTE COLOR' | 'RGB';
  /** Stored values (sign-extended, masked to Bits Stored), samples interleaved. */
  data: Samples;
  bitsStored: number;
  signed: boolean;
}

export function isSupportedTransferSyntax(ts: string): boolean {
  return NATIVE_TRANSFER_SYNTAXES.has(ts) || ts === RLE_TRANSFER_SYNTAX || isWasmCompressed(ts);
}

/**
 * A file's bytes (Part 10, or a bare data set without meta group) -> DicomImage. Throws
 * ImagingError when it has no usable pixels, DicomParseError when it is not DICOM.
 */
export function openImage(file: Buffer, limits: PixelLimits = DEFAULT_PIXEL_LIMITS): DicomImage {
  const { transferSyntaxUid, dataSet } = parseDicomFile(file, limits);
  return imageFrom(dataSet, transferSyntaxUid, limits);
}

/** Data set bytes as the SCP receives them (no meta group) -> DicomImage. */
export function openDataSet(bytes: Buffer, transferSyntaxUid: string, limits: PixelLimits = DEFAULT_PIXEL_LIMITS): DicomImage {
  return imageFrom(parseDataSet(bytes, transferSyntaxUid, limits), transferSyntaxUid, limits);
}

export function imageFrom(dataSet: DataSet, ts: string, limits: PixelLimits = DEFAULT_PIXEL_LIMITS): DicomImage {
  if (!isSupportedTransferSyntax(ts)) throw new ImagingError(`unsupported transfer syntax ${ts}`);
  return { transferSyntaxUid: ts, dataSet, pixel: readPixelModule(dataSet), limits };
}

/** Decodes frame `index` (0-based). Async only because the codecs WebAssembly loads lazily. */
export async function decodeFrame(img: DicomImage, index = 0): Promise<DecodedFrame> {
  if (isWasmCompressed(img.transferSyntaxUid)) await initCodecs();
  return decodeFrameSync(img, index);
}

/** As decodeFrame, for callers that awaited initCodecs() already (or have no compressed data). */
export function decodeFrameSync(img: DicomImage, index = 0): DecodedFrame {
  const pm = img.pixel;
  if (!Number.isInteger(index) || index < 0 || index >= pm.numberOfFrames) {
    throw new ImagingError(`frame ${index + 1} requested; the object has ${pm.numberOfFrames} frame(s)`);
  }
  const ts = img.transferSyntaxUid;
  const pd = img.dataSet.get(TAG.PixelData);
  if (pd === undefined) throw new ImagingError('object has no Pixel Data');
  // Before any decoder allocates the frame the header claims (PixelBudgetExceeded).
  checkPixelBudget(pm, img.limits);

  let samples: Samples;
  let photometric: Photometric = pm.photometric;
  let signed = pm.pixelRepresentation === 1;
  if (pd.fragments === undefined) {
    if (!NATIVE_TRANSFER_SYNTAXES.has(ts)) throw new ImagingError(`transfer syntax ${ts} needs encapsulated pixel data`);
    samples = nativeFrame(pd.value, pm, index, !pd.littleEndian, pd.vr);
  } else {
    const encoded = encapsulatedFrame(
      { fragments: pd.fragments, numberOfFrames: pm.numberOfFrames, extendedOffsets: extendedOffsets(img.dataSet) },
      index,
    );
    if (ts !== RLE_TRANSFER_SYNTAX) checkCodestreamSize(encoded, pm);
    if (ts === RLE_TRANSFER_SYNTAX) {
      samples = decodedBytesToSamples(decodeRleFrame(encoded, pm), pm);
    } else if (isWasmCompressed(ts)) {
      const d = decodeCompressedFrame(ts, encoded, pm);
      photometric = d.photometric;
      let effective = pm;
      if (d.codestreamSigned === true && pm.pixelRepresentation === 0 && pm.samplesPerPixel === 1) {
        // Signed J2K codestream with Pixel Representation 0: the bits are two's complement.
        effective = { ...pm, pixelRepresentation: 1 };
        signed = true;
      }
      samples = decodedBytesToSamples(d.bytes, effective);
    } else {
      throw new ImagingError(`encapsulated pixel data in transfer syntax ${ts}`);
    }
  }

  // Native 422 data was upsampled by nativeFrame; RLE/JPEG-LS/J2K 422 data is already full size.
  let rgb: Samples = samples;
  if (photometric === 'YBR_FULL' || photometric === 'YBR_FULL_422') rgb = ybrFullToRgb(samples, pm.bitsStored);
  else if (photometric === 'YBR_PARTIAL_422' || photometric === 'YBR_PARTIAL_420') rgb = ybrPartialToRgb(samples, pm.bitsStored);
  else if (photometric === 'YBR_ICT' || photometric === 'YBR_RCT') {
    // Only reachable for native data labelled ICT/RCT, which the standard does not allow.
    throw new ImagingError(`${photometric} outside JPEG 2000`);
  }
  const outPhotometric: DecodedFrame['photometric'] =
    pm.samplesPerPixel === 3 ? 'RGB' : (photometric as 'MONOCHROME1' | 'MONOCHROME2' | 'PALETTE COLOR');
  return {
    rows: pm.rows,
    columns: pm.columns,
    samplesPerPixel: pm.samplesPerPixel === 3 ? 3 : 1,
    photometric: outPhotometric,
    data: rgb,
    bitsStored: pm.bitsStored,
    signed,
  };
}

function extendedOffsets(ds: DataSet): number[] | undefined {
  const e = ds.get(TAG.ExtendedOffsetTable);
  if (e === undefined || e.value.length < 8) return undefined;
  const out: number[] = [];
  for (let i = 0; i + 8 <= e.value.length; i += 8) {
    out.push(Number(e.littleEndian ? e.value.readBigUInt64LE(i) : e.value.readBigUInt64BE(i)));
  }
  return out;
}

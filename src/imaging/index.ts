// The imaging stage's public surface: decode, modality/VOI, 8-bit output, PNG, tensors, render CLI.
export { DataSet, parseDataSet, parseDicomFile, parsePart10 } from './dataset';
export { ImagingError, PixelModule, readPixelModule } from './pixel-module';
export { DecodedFrame, DicomImage, decodeFrame, decodeFrameSync, isSupportedTransferSyntax, openDataSet, openImage } from './decode';
export { initCodecs } from './codecs';
export { ModalityTransform, applyModality, modalityTransform } from './modality-lut';
export {
  Voi,
  VoiFunction,
  WINDOW_PRESETS,
  WindowRequest,
  WindowVoi,
  applyVoi,
  fileVoiLuts,
  fileWindows,
  minMaxWindow,
  parseWindowOption,
  percentileWindow,
  resolveVoi,
  windowFunction,
} from './voi';
export { Frame8, IntensityFrame, frame8, intensityFrame, modalityValues, renderFile } from './render';
export { encodePng, resizeFrame8, writePng } from './png';
export { Tensor, TensorOptions, toTensor } from './tensor';
export { RENDER_USAGE, renderFileToPng, runRenderCli } from './render-cli';

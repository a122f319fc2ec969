// What tells stacks apart, read from a single-frame image's header (geometry.ts StackKey). An
// enhanced multi-frame object says the same per frame in its functional groups instead.
import type { DataSet } from './dataset';
import type { StackKey } from './geometry';
import { TAG } from '../dicom/tags';

/** (0018,0086) Echo Numbers(s), PS3.3 C.8.3.1 MR Image Module. */
const ECHO_NUMBERS = 0x00180086;
/** (0020,0100) Temporal Position Identifier, PS3.3 C.7.6.1 General Image / C.8.3.1. */
const TEMPORAL_POSITION_IDENTIFIER = 0x00200100;

export function singleFrameStackKey(ds: DataSet): StackKey {
  const key: StackKey = {};
  const echo = ds.number(ECHO_NUMBERS);
  if (echo !== undefined) key.echoNumber = echo;
  const temporal = ds.number(TEMPORAL_POSITION_IDENTIFIER);
  if (temporal !== undefined) key.temporalPosition = temporal;
  const acquisition = ds.number(TAG.AcquisitionNumber);
  if (acquisition !== undefined) key.acquisitionNumber = acquisition;
  const imageType = ds.string(TAG.ImageType);
  if (imageType) key.imageType = imageType.toUpperCase();
  const thickness = ds.number(TAG.SliceThickness);
  if (thickness !== undefined) key.sliceThickness = thickness;
  return key;
}

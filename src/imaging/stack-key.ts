// What tells stacks apart, read from a single-frame image's header (geometry.ts StackKey). An
// enhanced multi-frame object says the same per frame in its functional groups instead.
import type { DataSet } from './dataset';
import type { StackKey } from './geometry';
import { TAG } from '../dicom/tags';

// Echo Numbers (0018,0086), PS3.3 C.8.3.1; Temporal Position Identifier (0020,0100), C.7.6.1.
export function singleFrameStackKey(ds: DataSet): StackKey {
  const key: StackKey = {};
  const echo = ds.number(TAG.EchoNumbers);
  if (echo !== undefined) key.echoNumber = echo;
  const temporal = ds.number(TAG.TemporalPositionIdentifier);
  if (temporal !== undefined) key.temporalPosition = temporal;
  const acquisition = ds.number(TAG.AcquisitionNumber);
  if (acquisition !== undefined) key.acquisitionNumber = acquisition;
  const imageType = ds.string(TAG.ImageType);
  if (imageType) key.imageType = imageType.toUpperCase();
  const thickness = ds.number(TAG.SliceThickness);
  if (thickness !== undefined) key.sliceThickness = thickness;
  return key;
}

/**
 * Where a frame's transformation attributes live. Classic objects carry Rescale and Window at the
 * top level; enhanced multi-frame objects (Enhanced CT/MR/XA, ...) put them in functional group
 * macros, per frame or shared (PS3.3 C.7.6.16): Pixel Value Transformation (0028,9145) and Frame
 * VOI LUT (0028,9132). Per-frame beats shared beats top level.
 */
import { TAG } from '../dicom/tags';
import { DataSet } from './dataset';

/** The item holding `macroTag`'s attributes for frame `frameIndex`, or the top-level data set. */
export function frameMacro(ds: DataSet, frameIndex: number, macroTag: number): DataSet {
  const perFrame = ds.items(TAG.PerFrameFunctionalGroupsSequence)[frameIndex]?.items(macroTag)[0];
  if (perFrame !== undefined) return perFrame;
  const shared = ds.items(TAG.SharedFunctionalGroupsSequence)[0]?.items(macroTag)[0];
  if (shared !== undefined) return shared;
  return ds;
}

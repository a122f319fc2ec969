/**
 * The TID 1411 Volumetric ROI Measurements groups of an SR, read from its content tree: per
 * Measurement Group (DCM 125007) with a Referenced Segment (DCM 121214), the SEG instance and
 * segment it names, its Tracking Unique Identifier (DCM 112040) and Source series for
 * segmentation (DCM 121232). In document order.
 */
import { parsePart10 } from '../../src/imaging/dataset';
import { TAG } from '../../src/dicom/tags';

type Item = ReturnType<ReturnType<typeof parsePart10>['dataSet']['items']>[number];

export interface VolumetricGroup {
  segUid?: string;
  segment?: number;
  trackingUid?: string;
  sourceSeries?: string;
}

export function volumetricGroups(sr: Buffer): VolumetricGroup[] {
  const concept = (i: Item) => i.items(TAG.ConceptNameCodeSequence)[0]?.string(TAG.CodeValue);
  const out: VolumetricGroup[] = [];
  const walk = (items: Item[]): void => {
    for (const i of items) {
      const children = i.items(TAG.ContentSequence);
      const ref = children.find((c) => concept(c) === '121214');
      if (concept(i) === '125007' && ref) {
        const sop = ref.items(TAG.ReferencedSOPSequence)[0];
        out.push({
          segUid: sop?.string(TAG.ReferencedSOPInstanceUID),
          segment: sop?.number(TAG.ReferencedSegmentNumber),
          trackingUid: children.find((c) => concept(c) === '112040')?.string(TAG.UID),
          sourceSeries: children.find((c) => concept(c) === '121232')?.string(TAG.UID),
        });
      }
      walk(children);
    }
  };
  walk(parsePart10(sr).dataSet.items(TAG.ContentSequence));
  return out;
}

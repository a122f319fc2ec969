/**
 * SR content items (PS3.3 C.17.3) as a small tree model, and their encoding as Content Sequence
 * items. The builders in build-sr.ts describe the document; this module knows the attributes each
 * value type needs (Table C.17-5 ff.).
 */
import { Code } from '../inference/findings';
import { fl, formatDs, Node, seq, sorted, text, uid, us } from './elements';
import { TAG } from '../dicom/tags';

export type Relationship = 'CONTAINS' | 'HAS OBS CONTEXT' | 'HAS CONCEPT MOD' | 'HAS PROPERTIES' | 'INFERRED FROM' | 'SELECTED FROM';

export interface ImageRef {
  sopClassUid: string;
  sopInstanceUid: string;
  frame?: number;
  /** Referenced Segment Number (0062,000B): a segment of a Segmentation (TID 1411 Referenced Segment). */
  segmentNumber?: number;
}

export type ContentItem = { rel?: Relationship; name?: Code; children?: ContentItem[] } & (
  | { type: 'CONTAINER'; separate?: boolean; template?: string }
  | { type: 'TEXT'; value: string }
  | { type: 'CODE'; value: Code }
  | { type: 'UIDREF'; value: string }
  | { type: 'NUM'; value: number; unit: Code }
  | { type: 'IMAGE'; ref: ImageRef }
  | { type: 'SCOORD'; graphicType: string; data: readonly number[] }
  | { type: 'SCOORD3D'; graphicType: string; data: readonly number[]; frameOfReferenceUid: string }
);

/** A Code Sequence item (Code Sequence Macro, Table 8.8-1). */
export function codeItem(c: Code): Node[] {
  return [text(TAG.CodeValue, 'SH', c.value), text(TAG.CodingSchemeDesignator, 'SH', c.scheme), text(TAG.CodeMeaning, 'LO', c.meaning)];
}

export function codeSeq(tag: number, c: Code): Node {
  return seq(tag, [codeItem(c)]);
}

/** SOP Instance Reference Macro (Table 10-11), with the frame when the source is multi-frame. */
export function sopRefItem(r: ImageRef): Node[] {
  return [
    uid(TAG.ReferencedSOPClassUID, r.sopClassUid),
    uid(TAG.ReferencedSOPInstanceUID, r.sopInstanceUid),
    r.frame !== undefined ? text(TAG.ReferencedFrameNumber, 'IS', String(r.frame)) : undefined,
    r.segmentNumber !== undefined ? us(TAG.ReferencedSegmentNumber, r.segmentNumber) : undefined,
  ].filter((n): n is Node => n !== undefined);
}

/** The attributes of one content item (without its Relationship Type for the root). */
export function encodeItem(item: ContentItem): Node[] {
  const nodes: (Node | undefined)[] = [
    item.rel !== undefined ? text(TAG.RelationshipType, 'CS', item.rel) : undefined,
    text(TAG.ValueType, 'CS', item.type),
    item.name !== undefined ? codeSeq(TAG.ConceptNameCodeSequence, item.name) : undefined,
  ];
  switch (item.type) {
    case 'CONTAINER':
      nodes.push(text(TAG.ContinuityOfContent, 'CS', item.separate === false ? 'CONTINUOUS' : 'SEPARATE'));
      if (item.template !== undefined) {
        nodes.push(
          seq(TAG.ContentTemplateSequence, [[text(TAG.MappingResource, 'CS', 'DCMR'), text(TAG.TemplateIdentifier, 'CS', item.template)]]),
        );
      }
      break;
    case 'TEXT':
      nodes.push(text(TAG.TextValue, 'UT', item.value));
      break;
    case 'CODE':
      nodes.push(codeSeq(TAG.ConceptCodeSequence, item.value));
      break;
    case 'UIDREF':
      nodes.push(uid(TAG.UID, item.value));
      break;
    case 'NUM':
      nodes.push(
        seq(TAG.MeasuredValueSequence, [
          [text(TAG.NumericValue, 'DS', formatDs(item.value)), codeSeq(TAG.MeasurementUnitsCodeSequence, item.unit)],
        ]),
      );
      break;
    case 'IMAGE':
      nodes.push(seq(TAG.ReferencedSOPSequence, [sopRefItem(item.ref)]));
      break;
    case 'SCOORD':
      nodes.push(fl(TAG.GraphicData, item.data), text(TAG.GraphicType, 'CS', item.graphicType));
      break;
    case 'SCOORD3D':
      nodes.push(
        fl(TAG.GraphicData, item.data),
        text(TAG.GraphicType, 'CS', item.graphicType),
        uid(TAG.ReferencedFrameOfReferenceUID, item.frameOfReferenceUid),
      );
      break;
  }
  if (item.children !== undefined && item.children.length > 0) {
    nodes.push(seq(TAG.ContentSequence, item.children.map(encodeItem)));
  }
  return sorted(nodes);
}

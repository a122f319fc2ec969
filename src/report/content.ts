/**
 * SR content items (PS3.3 C.17.3) as a small tree model, and their encoding as Content Sequence
 * items. The builders in build-sr.ts describe the document; this module knows the attributes each
 * value type needs (Table C.17-5 ff.).
 */
import { Code } from '../inference/findings';
import { fl, formatDs, Node, seq, sorted, text, uid } from './elements';

export type Relationship = 'CONTAINS' | 'HAS OBS CONTEXT' | 'HAS CONCEPT MOD' | 'HAS PROPERTIES' | 'INFERRED FROM' | 'SELECTED FROM';

export interface ImageRef {
  sopClassUid: string;
  sopInstanceUid: string;
  frame?: number;
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

export const T = {
  ConceptNameCodeSequence: 0x0040a043,
  ConceptCodeSequence: 0x0040a168,
  RelationshipType: 0x0040a010,
  ValueType: 0x0040a040,
  ContinuityOfContent: 0x0040a050,
  ContentTemplateSequence: 0x0040a504,
  MappingResource: 0x00080105,
  TemplateIdentifier: 0x0040db00,
  ContentSequence: 0x0040a730,
  TextValue: 0x0040a160,
  UID: 0x0040a124,
  MeasuredValueSequence: 0x0040a300,
  NumericValue: 0x0040a30a,
  MeasurementUnitsCodeSequence: 0x004008ea,
  ReferencedSOPSequence: 0x00081199,
  ReferencedSOPClassUID: 0x00081150,
  ReferencedSOPInstanceUID: 0x00081155,
  ReferencedFrameNumber: 0x00081160,
  GraphicData: 0x00700022,
  GraphicType: 0x00700023,
  ReferencedFrameOfReferenceUID: 0x30060024,
  CodeValue: 0x00080100,
  CodingSchemeDesignator: 0x00080102,
  CodeMeaning: 0x00080104,
} as const;

/** A Code Sequence item (Code Sequence Macro, Table 8.8-1). */
export function codeItem(c: Code): Node[] {
  return [text(T.CodeValue, 'SH', c.value), text(T.CodingSchemeDesignator, 'SH', c.scheme), text(T.CodeMeaning, 'LO', c.meaning)];
}

export function codeSeq(tag: number, c: Code): Node {
  return seq(tag, [codeItem(c)]);
}

/** SOP Instance Reference Macro (Table 10-11), with the frame when the source is multi-frame. */
export function sopRefItem(r: ImageRef): Node[] {
  return [
    uid(T.ReferencedSOPClassUID, r.sopClassUid),
    uid(T.ReferencedSOPInstanceUID, r.sopInstanceUid),
    r.frame !== undefined ? text(T.ReferencedFrameNumber, 'IS', String(r.frame)) : undefined,
  ].filter((n): n is Node => n !== undefined);
}

/** The attributes of one content item (without its Relationship Type for the root). */
export function encodeItem(item: ContentItem): Node[] {
  const nodes: (Node | undefined)[] = [
    item.rel !== undefined ? text(T.RelationshipType, 'CS', item.rel) : undefined,
    text(T.ValueType, 'CS', item.type),
    item.name !== undefined ? codeSeq(T.ConceptNameCodeSequence, item.name) : undefined,
  ];
  switch (item.type) {
    case 'CONTAINER':
      nodes.push(text(T.ContinuityOfContent, 'CS', item.separate === false ? 'CONTINUOUS' : 'SEPARATE'));
      if (item.template !== undefined) {
        nodes.push(
          seq(T.ContentTemplateSequence, [[text(T.MappingResource, 'CS', 'DCMR'), text(T.TemplateIdentifier, 'CS', item.template)]]),
        );
      }
      break;
    case 'TEXT':
      nodes.push(text(T.TextValue, 'UT', item.value));
      break;
    case 'CODE':
      nodes.push(codeSeq(T.ConceptCodeSequence, item.value));
      break;
    case 'UIDREF':
      nodes.push(uid(T.UID, item.value));
      break;
    case 'NUM':
      nodes.push(
        seq(T.MeasuredValueSequence, [
          [text(T.NumericValue, 'DS', formatDs(item.value)), codeSeq(T.MeasurementUnitsCodeSequence, item.unit)],
        ]),
      );
      break;
    case 'IMAGE':
      nodes.push(seq(T.ReferencedSOPSequence, [sopRefItem(item.ref)]));
      break;
    case 'SCOORD':
      nodes.push(fl(T.GraphicData, item.data), text(T.GraphicType, 'CS', item.graphicType));
      break;
    case 'SCOORD3D':
      nodes.push(
        fl(T.GraphicData, item.data),
        text(T.GraphicType, 'CS', item.graphicType),
        uid(T.ReferencedFrameOfReferenceUID, item.frameOfReferenceUid),
      );
      break;
  }
  if (item.children !== undefined && item.children.length > 0) {
    nodes.push(seq(T.ContentSequence, item.children.map(encodeItem)));
  }
  return sorted(nodes);
}

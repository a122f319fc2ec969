/**
 * `dicom-ai-node sr-dump FILE`: an SR document's header and content tree, readable: one line per
 * content item, indented by depth, with relationship, value type, concept name and value (units,
 * image references, coordinates). Text is decoded through the file's Specific Character Set.
 *
 * It reads any SR (ours, highdicom's, DCMTK's), in any uncompressed transfer syntax, with the
 * project's structural parser; it is a viewer for people, not a validator.
 */
import { DataSet, Element, numericValues, parseDicomFile } from '../imaging/dataset';
import { sopClassName } from '../dicom/sop-classes';
import { decodeTextValue } from '../dicom/charset';
import { TAG } from '../dicom/tags';

class Reader {
  constructor(private readonly charset: string | undefined) {}

  /** Text of a charset-affected value (PN, LO, UT...), padding removed. */
  text(ds: DataSet, tag: number): string | undefined {
    const e = ds.get(tag);
    if (e === undefined) return undefined;
    return decodeTextValue(e.value, this.charset);
  }

  /** ASCII values (CS, UI, DA...). */
  ascii(ds: DataSet, tag: number): string | undefined {
    return ds.string(tag);
  }

  code(ds: DataSet | undefined): string {
    if (!ds) return '(no code)';
    return `(${this.ascii(ds, TAG.CodeValue) ?? this.text(ds, TAG.LongCodeValue) ?? ''}, ${this.ascii(ds, TAG.CodingSchemeDesignator) ?? ''}, "${this.text(ds, TAG.CodeMeaning) ?? ''}")`;
  }

  meaning(ds: DataSet | undefined): string | undefined {
    return ds ? this.text(ds, TAG.CodeMeaning) : undefined;
  }
}

/** FL/FD values whatever the stream says: implicit VR files carry no VR for Graphic Data. */
function floats(e: Element | undefined, vr: 'FL' | 'FD'): number[] {
  if (!e) return [];
  return numericValues({ ...e, vr: e.vr === undefined || e.vr === 'UN' ? vr : e.vr });
}

function fmt(n: number): string {
  // FL values: 7 significant digits are what a float holds.
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(7)));
}

function imageRef(r: Reader, ds: DataSet): string {
  const ref = ds.items(TAG.ReferencedSOPSequence)[0];
  if (!ref) return '(no reference)';
  const cls = r.ascii(ref, TAG.ReferencedSOPClassUID) ?? '';
  const frames = r.ascii(ref, TAG.ReferencedFrameNumber);
  return `${sopClassName(cls)} ${r.ascii(ref, TAG.ReferencedSOPInstanceUID) ?? ''}${frames ? ` frame ${frames}` : ''}`;
}

function value(r: Reader, ds: DataSet, type: string): string {
  switch (type) {
    case 'CONTAINER':
      return r.ascii(ds, TAG.ContinuityOfContent) ?? '';
    case 'TEXT':
      return JSON.stringify(r.text(ds, TAG.TextValue) ?? '');
    case 'CODE':
      return r.code(ds.items(TAG.ConceptCodeSequence)[0]);
    case 'UIDREF':
      return r.ascii(ds, TAG.UID) ?? '';
    case 'PNAME':
      return r.text(ds, TAG.PersonName) ?? '';
    case 'DATE':
      return r.ascii(ds, TAG.Date) ?? '';
    case 'TIME':
      return r.ascii(ds, TAG.Time) ?? '';
    case 'DATETIME':
      return r.ascii(ds, TAG.DateTime) ?? '';
    case 'NUM': {
      const mv = ds.items(TAG.MeasuredValueSequence)[0];
      if (!mv) {
        const q = ds.items(TAG.NumericValueQualifierCodeSequence)[0];
        return q ? `(no value: ${r.meaning(q) ?? ''})` : '(no value)';
      }
      const unit = mv.items(TAG.MeasurementUnitsCodeSequence)[0];
      const unitCode = unit ? r.ascii(unit, TAG.CodeValue) : undefined;
      return `${r.ascii(mv, TAG.NumericValue) ?? ''} ${unitCode ?? ''}${unit ? ` (${r.meaning(unit) ?? ''})` : ''}`.trim();
    }
    case 'IMAGE':
    case 'COMPOSITE':
    case 'WAVEFORM':
      return imageRef(r, ds);
    case 'SCOORD': {
      const pts = floats(ds.get(TAG.GraphicData), 'FL');
      const pairs: string[] = [];
      for (let i = 0; i + 1 < pts.length; i += 2) pairs.push(`(${fmt(pts[i]!)}, ${fmt(pts[i + 1]!)})`);
      return `${r.ascii(ds, TAG.GraphicType) ?? ''} ${pairs.join(' ')}`;
    }
    case 'SCOORD3D': {
      const pts = floats(ds.get(TAG.GraphicData), 'FL');
      const triples: string[] = [];
      for (let i = 0; i + 2 < pts.length; i += 3) triples.push(`(${fmt(pts[i]!)}, ${fmt(pts[i + 1]!)}, ${fmt(pts[i + 2]!)})`);
      return `${r.ascii(ds, TAG.GraphicType) ?? ''} ${triples.join(' ')} in frame of reference ${r.ascii(ds, TAG.ReferencedFrameOfReferenceUID) ?? '?'}`;
    }
    case 'TCOORD':
      return `${r.ascii(ds, TAG.TemporalRangeType) ?? ''}`;
    default:
      return '';
  }
}

function dumpItem(r: Reader, ds: DataSet, depth: number, out: string[]): void {
  if (depth > 64) {
    out.push(`${'  '.repeat(depth)}... (nested deeper than 64 levels, not shown)`);
    return;
  }
  const indent = '  '.repeat(depth);
  const rel = r.ascii(ds, TAG.RelationshipType);
  const byRef = r.ascii(ds, TAG.ReferencedContentItemIdentifier);
  if (byRef !== undefined) {
    out.push(`${indent}${rel ? rel.toLowerCase() + ' ' : ''}-> content item ${byRef.replace(/\\/g, '.')} (by reference)`);
    return;
  }
  const type = r.ascii(ds, TAG.ValueType) ?? '?';
  const name = r.meaning(ds.items(TAG.ConceptNameCodeSequence)[0]);
  const template = ds.items(TAG.ContentTemplateSequence)[0];
  const tid = template ? ` [${r.ascii(template, TAG.MappingResource) ?? ''} TID ${r.ascii(template, TAG.TemplateIdentifier) ?? ''}]` : '';
  const head = `${rel ? rel.toLowerCase() + ' ' : ''}${type}${name !== undefined ? ` "${name}"` : ''}`;
  out.push(`${indent}${head} = ${value(r, ds, type)}${tid}`);
  for (const child of ds.items(TAG.ContentSequence)) dumpItem(r, child, depth + 1, out);
}

function evidenceCount(ds: DataSet, seqTag: number): number {
  let n = 0;
  for (const study of ds.items(seqTag))
    for (const series of study.items(TAG.ReferencedSeriesSequence)) n += series.items(TAG.ReferencedSOPSequence).length;
  return n;
}

/** The readable dump of an SR document (Part 10 bytes, or a bare data set). */
export function srDump(bytes: Buffer): string {
  const { dataSet: ds } = parseDicomFile(bytes);
  const charset = ds.string(TAG.SpecificCharacterSet);
  const r = new Reader(charset);
  const cls = r.ascii(ds, TAG.SOPClassUID) ?? '';
  if (!ds.has(TAG.ValueType) || !ds.has(TAG.ContentSequence)) {
    throw new Error(`not an SR document: no content tree (SOP class ${cls ? sopClassName(cls) : 'unknown'})`);
  }
  const out: string[] = [
    `${sopClassName(cls)} (${cls})`,
    `Patient:       ${r.text(ds, TAG.PatientName) ?? ''} (ID ${r.text(ds, TAG.PatientID) ?? ''})`,
    `Study:         ${r.ascii(ds, TAG.StudyInstanceUID) ?? ''}`,
    `Series:        ${r.ascii(ds, TAG.SeriesInstanceUID) ?? ''} "${r.text(ds, TAG.SeriesDescription) ?? ''}"`,
    `Instance:      ${r.ascii(ds, TAG.SOPInstanceUID) ?? ''} (number ${r.ascii(ds, TAG.InstanceNumber) ?? ''})`,
    `Content:       ${r.ascii(ds, TAG.ContentDate) ?? ''} ${r.ascii(ds, TAG.ContentTime) ?? ''}`,
    `Flags:         completion ${r.ascii(ds, TAG.CompletionFlag) ?? '-'}, verification ${r.ascii(ds, TAG.VerificationFlag) ?? '-'}` +
      (ds.has(TAG.PreliminaryFlag) ? `, ${r.ascii(ds, TAG.PreliminaryFlag)}` : ''),
    `Character set: ${charset ?? '(default)'}`,
    `Evidence:      ${evidenceCount(ds, TAG.CurrentRequestedProcedureEvidenceSequence)} instance(s)` +
      (ds.has(TAG.PredecessorDocumentsSequence) ? `; supersedes ${evidenceCount(ds, TAG.PredecessorDocumentsSequence)} document(s)` : ''),
    '',
  ];
  dumpItem(r, ds, 0, out);
  return out.join('\n') + '\n';
}

/** One content item of an SR, for a viewer that lays the tree out itself (the dashboard). */
export interface SrContentNode {
  readonly relationship: string | undefined;
  readonly valueType: string;
  readonly name: string | undefined;
  /** The value as sr-dump writes it (TEXT as the text itself, not quoted). */
  readonly value: string;
  readonly children: readonly SrContentNode[];
}

export interface SrDocument {
  readonly sopClassName: string;
  readonly completion: string | undefined;
  readonly verification: string | undefined;
  readonly preliminary: string | undefined;
  readonly content: string;
  readonly root: SrContentNode;
}

function contentNode(r: Reader, ds: DataSet, depth: number): SrContentNode {
  const relationship = r.ascii(ds, TAG.RelationshipType);
  const byRef = r.ascii(ds, TAG.ReferencedContentItemIdentifier);
  if (byRef !== undefined || depth > 64)
    return {
      relationship,
      valueType: 'REFERENCE',
      name: undefined,
      value: byRef ? `content item ${byRef.replace(/\\/g, '.')}` : '(nested deeper than 64 levels, not shown)',
      children: [],
    };
  const valueType = r.ascii(ds, TAG.ValueType) ?? '?';
  return {
    relationship,
    valueType,
    name: r.meaning(ds.items(TAG.ConceptNameCodeSequence)[0]),
    value: valueType === 'TEXT' ? (r.text(ds, TAG.TextValue) ?? '') : value(r, ds, valueType),
    children: ds.items(TAG.ContentSequence).map((c) => contentNode(r, c, depth + 1)),
  };
}

/** An SR document's content tree as data (the same reading as srDump). */
export function srContentTree(bytes: Buffer): SrDocument {
  const { dataSet: ds } = parseDicomFile(bytes);
  const r = new Reader(ds.string(TAG.SpecificCharacterSet));
  const cls = r.ascii(ds, TAG.SOPClassUID) ?? '';
  if (!ds.has(TAG.ValueType) || !ds.has(TAG.ContentSequence))
    throw new Error(`not an SR document: no content tree (SOP class ${cls ? sopClassName(cls) : 'unknown'})`);
  return {
    sopClassName: sopClassName(cls),
    completion: r.ascii(ds, TAG.CompletionFlag),
    verification: r.ascii(ds, TAG.VerificationFlag),
    preliminary: r.ascii(ds, TAG.PreliminaryFlag),
    content: `${r.ascii(ds, TAG.ContentDate) ?? ''} ${r.ascii(ds, TAG.ContentTime) ?? ''}`.trim(),
    root: contentNode(r, ds, 0),
  };
}

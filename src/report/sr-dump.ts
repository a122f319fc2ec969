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
import { decodeText } from './charset';
import { T } from './content';

const TOP = {
  SpecificCharacterSet: 0x00080005,
  SOPClassUID: 0x00080016,
  SOPInstanceUID: 0x00080018,
  ContentDate: 0x00080023,
  ContentTime: 0x00080033,
  PatientName: 0x00100010,
  PatientID: 0x00100020,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
  SeriesDescription: 0x0008103e,
  InstanceNumber: 0x00200013,
  CompletionFlag: 0x0040a491,
  VerificationFlag: 0x0040a493,
  PreliminaryFlag: 0x0040a496,
  PredecessorDocumentsSequence: 0x0040a360,
  CurrentRequestedProcedureEvidenceSequence: 0x0040a375,
  ReferencedSeriesSequence: 0x00081115,
} as const;

const V = {
  DateTime: 0x0040a120,
  Date: 0x0040a121,
  Time: 0x0040a122,
  PersonName: 0x0040a123,
  ReferencedContentItemIdentifier: 0x0040db73,
  FloatingPointValue: 0x0040a161,
  NumericValueQualifierCodeSequence: 0x0040a301,
  TemporalRangeType: 0x0040a130,
  ReferencedSamplePositions: 0x0040a132,
  ReferencedTimeOffsets: 0x0040a138,
  ReferencedDateTime: 0x0040a13a,
  ReferencedWaveformChannels: 0x0040a0b0,
} as const;

class Reader {
  constructor(private readonly charset: string | undefined) {}

  /** Text of a charset-affected value (PN, LO, UT...), padding removed. */
  text(ds: DataSet, tag: number): string | undefined {
    const e = ds.get(tag);
    if (e === undefined) return undefined;
    return decodeText(e.value, this.charset).replace(/[\0 ]+$/, '');
  }

  /** ASCII values (CS, UI, DA...). */
  ascii(ds: DataSet, tag: number): string | undefined {
    return ds.string(tag);
  }

  code(ds: DataSet | undefined): string {
    if (!ds) return '(no code)';
    return `(${this.ascii(ds, T.CodeValue) ?? this.text(ds, 0x00080119) ?? ''}, ${this.ascii(ds, T.CodingSchemeDesignator) ?? ''}, "${this.text(ds, T.CodeMeaning) ?? ''}")`;
  }

  meaning(ds: DataSet | undefined): string | undefined {
    return ds ? this.text(ds, T.CodeMeaning) : undefined;
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
  const ref = ds.items(T.ReferencedSOPSequence)[0];
  if (!ref) return '(no reference)';
  const cls = r.ascii(ref, T.ReferencedSOPClassUID) ?? '';
  const frames = r.ascii(ref, T.ReferencedFrameNumber);
  return `${sopClassName(cls)} ${r.ascii(ref, T.ReferencedSOPInstanceUID) ?? ''}${frames ? ` frame ${frames}` : ''}`;
}

function value(r: Reader, ds: DataSet, type: string): string {
  switch (type) {
    case 'CONTAINER':
      return r.ascii(ds, T.ContinuityOfContent) ?? '';
    case 'TEXT':
      return JSON.stringify(r.text(ds, T.TextValue) ?? '');
    case 'CODE':
      return r.code(ds.items(T.ConceptCodeSequence)[0]);
    case 'UIDREF':
      return r.ascii(ds, T.UID) ?? '';
    case 'PNAME':
      return r.text(ds, V.PersonName) ?? '';
    case 'DATE':
      return r.ascii(ds, V.Date) ?? '';
    case 'TIME':
      return r.ascii(ds, V.Time) ?? '';
    case 'DATETIME':
      return r.ascii(ds, V.DateTime) ?? '';
    case 'NUM': {
      const mv = ds.items(T.MeasuredValueSequence)[0];
      if (!mv) {
        const q = ds.items(V.NumericValueQualifierCodeSequence)[0];
        return q ? `(no value: ${r.meaning(q) ?? ''})` : '(no value)';
      }
      const unit = mv.items(T.MeasurementUnitsCodeSequence)[0];
      const unitCode = unit ? r.ascii(unit, T.CodeValue) : undefined;
      return `${r.ascii(mv, T.NumericValue) ?? ''} ${unitCode ?? ''}${unit ? ` (${r.meaning(unit) ?? ''})` : ''}`.trim();
    }
    case 'IMAGE':
    case 'COMPOSITE':
    case 'WAVEFORM':
      return imageRef(r, ds);
    case 'SCOORD': {
      const pts = floats(ds.get(T.GraphicData), 'FL');
      const pairs: string[] = [];
      for (let i = 0; i + 1 < pts.length; i += 2) pairs.push(`(${fmt(pts[i]!)}, ${fmt(pts[i + 1]!)})`);
      return `${r.ascii(ds, T.GraphicType) ?? ''} ${pairs.join(' ')}`;
    }
    case 'SCOORD3D': {
      const pts = floats(ds.get(T.GraphicData), 'FL');
      const triples: string[] = [];
      for (let i = 0; i + 2 < pts.length; i += 3) triples.push(`(${fmt(pts[i]!)}, ${fmt(pts[i + 1]!)}, ${fmt(pts[i + 2]!)})`);
      return `${r.ascii(ds, T.GraphicType) ?? ''} ${triples.join(' ')} in frame of reference ${r.ascii(ds, T.ReferencedFrameOfReferenceUID) ?? '?'}`;
    }
    case 'TCOORD':
      return `${r.ascii(ds, V.TemporalRangeType) ?? ''}`;
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
  const rel = r.ascii(ds, T.RelationshipType);
  const byRef = r.ascii(ds, V.ReferencedContentItemIdentifier);
  if (byRef !== undefined) {
    out.push(`${indent}${rel ? rel.toLowerCase() + ' ' : ''}-> content item ${byRef.replace(/\\/g, '.')} (by reference)`);
    return;
  }
  const type = r.ascii(ds, T.ValueType) ?? '?';
  const name = r.meaning(ds.items(T.ConceptNameCodeSequence)[0]);
  const template = ds.items(T.ContentTemplateSequence)[0];
  const tid = template ? ` [${r.ascii(template, T.MappingResource) ?? ''} TID ${r.ascii(template, T.TemplateIdentifier) ?? ''}]` : '';
  const head = `${rel ? rel.toLowerCase() + ' ' : ''}${type}${name !== undefined ? ` "${name}"` : ''}`;
  out.push(`${indent}${head} = ${value(r, ds, type)}${tid}`);
  for (const child of ds.items(T.ContentSequence)) dumpItem(r, child, depth + 1, out);
}

function evidenceCount(ds: DataSet, seqTag: number): number {
  let n = 0;
  for (const study of ds.items(seqTag))
    for (const series of study.items(TOP.ReferencedSeriesSequence)) n += series.items(T.ReferencedSOPSequence).length;
  return n;
}

/** The readable dump of an SR document (Part 10 bytes, or a bare data set). */
export function srDump(bytes: Buffer): string {
  const { dataSet: ds } = parseDicomFile(bytes);
  const charset = ds.string(TOP.SpecificCharacterSet);
  const r = new Reader(charset);
  const cls = r.ascii(ds, TOP.SOPClassUID) ?? '';
  if (!ds.has(T.ValueType) || !ds.has(T.ContentSequence)) {
    throw new Error(`not an SR document: no content tree (SOP class ${cls ? sopClassName(cls) : 'unknown'})`);
  }
  const out: string[] = [
    `${sopClassName(cls)} (${cls})`,
    `Patient:       ${r.text(ds, TOP.PatientName) ?? ''} (ID ${r.text(ds, TOP.PatientID) ?? ''})`,
    `Study:         ${r.ascii(ds, TOP.StudyInstanceUID) ?? ''}`,
    `Series:        ${r.ascii(ds, TOP.SeriesInstanceUID) ?? ''} "${r.text(ds, TOP.SeriesDescription) ?? ''}"`,
    `Instance:      ${r.ascii(ds, TOP.SOPInstanceUID) ?? ''} (number ${r.ascii(ds, TOP.InstanceNumber) ?? ''})`,
    `Content:       ${r.ascii(ds, TOP.ContentDate) ?? ''} ${r.ascii(ds, TOP.ContentTime) ?? ''}`,
    `Flags:         completion ${r.ascii(ds, TOP.CompletionFlag) ?? '-'}, verification ${r.ascii(ds, TOP.VerificationFlag) ?? '-'}` +
      (ds.has(TOP.PreliminaryFlag) ? `, ${r.ascii(ds, TOP.PreliminaryFlag)}` : ''),
    `Character set: ${charset ?? '(default)'}`,
    `Evidence:      ${evidenceCount(ds, TOP.CurrentRequestedProcedureEvidenceSequence)} instance(s)` +
      (ds.has(TOP.PredecessorDocumentsSequence) ? `; supersedes ${evidenceCount(ds, TOP.PredecessorDocumentsSequence)} document(s)` : ''),
    '',
  ];
  dumpItem(r, ds, 0, out);
  return out.join('\n') + '\n';
}

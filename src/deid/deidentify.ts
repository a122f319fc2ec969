/**
 * PS3.15 Annex E Basic Application Level Confidentiality Profile, applied at element level.
 *
 * The data set is parsed structurally (dataset-parser.ts), every element is matched against Table
 * E.1-1 (profile-table.ts) and the resolved action (actions.ts) is applied; everything else is
 * copied byte for byte by the writer (dataset-writer.ts). Nothing is decoded and re-encoded, so
 * character sets, DS/IS spellings and pixel data of kept attributes are exactly as they came.
 *
 * Pure functions over bytes: no network, no database, no file system.
 */
import { burnedInAnnotationRisk } from './burned-in';
import * as zlib from 'node:zlib';
import { inflateDataSet } from '../dicom/inflate-data-set';
import type { PixelLimits } from '../dicom/pixel-budget';
import { DicomParseError, formatTag } from '../dicom/errors';
import { buildFileMetaInformation, readPart10Header } from '../dicom/part10';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../version';
import { actionLetter, DeidOption, isDeidOption, resolveAction, ResolvedAction } from './actions';
import { ParsedElement, parseDataSet, UNDEFINED_LENGTH, valueBytes } from '../dicom/dataset-parser';
import { EXPLICIT_LE, isDeflatedTransferSyntax, Syntax, syntaxFor } from '../dicom/transfer-syntax';
import { encodeNodes, OutNode } from './dataset-writer';
import { methodNodes, upsertTopLevel } from './method-attributes';
import { isPrivateTag, isSequenceTag, profileRowFor, ProfileRow } from './profile-table';
import { dateShiftDays, dummyValue, pseudonymousId, replacementUid, shiftDa, shiftDt, textValue, uidValue } from './replacement-values';
import { TAG } from '../dicom/tags';

export type { DeidOption } from './actions';
export { SUPPORTED_OPTIONS } from './actions';

export interface DeidOptions {
  /** Per-installation secret keying UIDs, pseudonyms and date shifts (at least 16 bytes). */
  secret: Buffer | string;
  /** PS3.15 options, as keywords (see SUPPORTED_OPTIONS). */
  options?: readonly string[];
  /** File Meta identity written into de-identified Part 10 files. */
  implementationClassUid?: string;
  implementationVersionName?: string;
  /**
   * What a deflated data set may inflate to is judged from its header against these limits
   * (default DEFAULT_PIXEL_LIMITS); beyond them it is refused, not inflated.
   */
  pixelLimits?: PixelLimits;
}

export interface DeidAction {
  /** "(gggg,eeee)" of the element. */
  tag: string;
  /** Where it is: "(0008,1140)[0].(0008,1155)" for nested elements. */
  path: string;
  /** The Table E.1-1 row name. */
  name: string;
  /** What was done (PS3.15 letters; C = cleaned or date-shifted). */
  action: 'X' | 'Z' | 'D' | 'K' | 'U' | 'C';
}

export interface DeidResult {
  bytes: Buffer;
  /** original UID -> new UID, for every UID replaced in this object. */
  uidMap: Map<string, string>;
  /** True when pixel data may carry burned-in identifying text; `reasons` says why. */
  burnedInAnnotationRisk: boolean;
  reasons: string[];
  actions: DeidAction[];
  /** Things the caller should know (e.g. no safe-private list, so all private data removed). */
  warnings: string[];
}

const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';

const PIXEL_DATA_TAGS = new Set<number>([TAG.FloatPixelData, TAG.DoubleFloatPixelData, TAG.PixelData]);
/** Attributes whose values, wherever they reappear, make a descriptor identifying. */
const IDENTIFYING_TAGS = [
  TAG.PatientName,
  TAG.PatientID,
  TAG.PatientBirthDate,
  TAG.AccessionNumber,
  TAG.InstitutionName,
  TAG.ReferringPhysicianName,
  TAG.OtherPatientIDs,
  TAG.OtherPatientNames,
  TAG.PatientAddress,
  TAG.PatientMotherBirthName,
  TAG.PatientTelephoneNumbers,
];

interface Context {
  buf: Buffer;
  secret: Buffer;
  options: ReadonlySet<DeidOption>;
  uidMap: Map<string, string>;
  actions: DeidAction[];
  /** Lower-cased identifying byte strings of this data set, for "clean". */
  identifying: Buffer[];
  /** Days to shift dates back by (Modified Dates option). */
  shiftDays: number;
  /** Original Patient ID bytes (trimmed), keying the Patient ID pseudonym. */
  patientId: Buffer;
}

/** De-identifies a data set (no File Meta) encoded in `transferSyntaxUid`. */
export function deidentifyDataSet(bytes: Buffer, transferSyntaxUid: string, opts: DeidOptions): DeidResult {
  return deidentifyDataSetInternal(bytes, transferSyntaxUid, opts).result;
}

/** De-identifies a Part 10 file: File Meta rebuilt around the new SOP Instance UID. */
export function deidentifyPart10(fileBytes: Buffer, opts: DeidOptions): DeidResult {
  const header = readPart10Header(fileBytes);
  const ts = header.transferSyntaxUid;
  if (header.sopClassUid === MEDIA_STORAGE_DIRECTORY) {
    // A DICOMDIR holds byte offsets of its own records: editing it would corrupt them, and it is
    // an index of files, not an instance that goes to a model.
    throw new DicomParseError('a DICOMDIR (Media Storage Directory) is not de-identified; de-identify the files it lists');
  }
  const { result, sopClassUid, newSopInstanceUid, retainUids } = deidentifyDataSetInternal(
    fileBytes.subarray(header.datasetOffset),
    ts,
    opts,
  );
  const classUid = header.sopClassUid || sopClassUid;
  // Without a SOP Instance UID in the data set, the meta's own is mapped the same way.
  let instanceUid = newSopInstanceUid;
  if (instanceUid === undefined && header.sopInstanceUid !== '') {
    instanceUid = retainUids ? header.sopInstanceUid : mapUid(header.sopInstanceUid, result.uidMap, toSecret(opts.secret));
  }
  let meta: Buffer;
  if (!classUid || !instanceUid) {
    // Not a storable composite instance (test objects, fragments): a minimal meta without the
    // identity it lacks, so the de-identified data set still travels as a Part 10 file.
    meta = minimalFileMeta(ts, classUid || undefined, instanceUid, opts);
  } else
    try {
      meta = buildFileMetaInformation({
        mediaStorageSopClassUid: classUid,
        mediaStorageSopInstanceUid: instanceUid,
        transferSyntaxUid: ts,
        implementationClassUid: opts.implementationClassUid ?? IMPLEMENTATION_CLASS_UID,
        implementationVersionName: opts.implementationVersionName ?? IMPLEMENTATION_VERSION_NAME,
        // With Retain UIDs a non-conformant original UID is carried as it came.
        nonConformantInstanceUidAllowed: retainUids,
      });
    } catch {
      // The builder's message is about a value's shape; ours must not echo values either.
      throw new DicomParseError('cannot write a Part 10 file: SOP Class UID or transfer syntax UID is not a valid UID');
    }
  result.bytes = Buffer.concat([meta, result.bytes]);
  return result;
}

/** Preamble + DICM + File Meta Information with whichever SOP identity is known. */
function minimalFileMeta(ts: string, classUid: string | undefined, instanceUid: string | undefined, opts: DeidOptions): Buffer {
  const nodes: OutNode[] = [{ kind: 'value', tag: TAG.FileMetaInformationVersion, vr: 'OB', value: Buffer.from([0, 1]) }];
  if (classUid) nodes.push({ kind: 'value', tag: TAG.MediaStorageSOPClassUID, vr: 'UI', value: uidValue(classUid) });
  if (instanceUid) nodes.push({ kind: 'value', tag: TAG.MediaStorageSOPInstanceUID, vr: 'UI', value: uidValue(instanceUid) });
  nodes.push({ kind: 'value', tag: TAG.TransferSyntaxUID, vr: 'UI', value: uidValue(ts) });
  nodes.push({
    kind: 'value',
    tag: TAG.ImplementationClassUID,
    vr: 'UI',
    value: uidValue(opts.implementationClassUid ?? IMPLEMENTATION_CLASS_UID),
  });
  nodes.push({
    kind: 'value',
    tag: TAG.ImplementationVersionName,
    vr: 'SH',
    value: textValue(opts.implementationVersionName ?? IMPLEMENTATION_VERSION_NAME),
  });
  const body = encodeNodes(nodes, EXPLICIT_LE);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length);
  return Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    encodeNodes([{ kind: 'value', tag: TAG.FileMetaInformationGroupLength, vr: 'UL', value: groupLength }], EXPLICIT_LE),
    body,
  ]);
}

function toSecret(secret: Buffer | string): Buffer {
  const b = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  if (b.length < 16) throw new Error('de-identification secret must be at least 16 bytes');
  return b;
}

function deidentifyDataSetInternal(
  bytes: Buffer,
  transferSyntaxUid: string,
  opts: DeidOptions,
): { result: DeidResult; sopClassUid?: string; newSopInstanceUid?: string; retainUids: boolean } {
  const secret = toSecret(opts.secret);
  const options = new Set<DeidOption>();
  for (const o of opts.options ?? []) {
    if (!isDeidOption(o)) throw new Error(`unsupported de-identification option: ${o}`);
    options.add(o);
  }
  if (options.has('retain-long-full-dates') && options.has('retain-long-modified-dates')) {
    throw new Error('retain-long-full-dates and retain-long-modified-dates exclude each other');
  }
  const ts = transferSyntaxUid.replace(/[\0 ]+$/, '');
  const deflated = isDeflatedTransferSyntax(ts);
  const syntax = syntaxFor(ts);
  // A data set to be re-emitted must be whole: a deflated stream that stops early is an error.
  const data = deflated ? inflateDataSet(bytes, ts, opts.pixelLimits) : bytes;
  const parsed = parseDataSet(data, syntax, { isSequenceTag });
  const top = parsed.elements;

  const topValue = (tag: number): Buffer | undefined => {
    const el = top.find((e) => e.tag === tag);
    return el && el.length !== UNDEFINED_LENGTH && !el.items ? valueBytes(data, el) : undefined;
  };
  const patientId = trimText(topValue(TAG.PatientID) ?? Buffer.alloc(0));
  const ctx: Context = {
    buf: data,
    secret,
    options,
    uidMap: new Map(),
    actions: [],
    identifying: identifyingValues(IDENTIFYING_TAGS.map(topValue)),
    shiftDays: dateShiftDays(secret, patientId),
    patientId,
  };

  const warnings: string[] = [];
  if (options.has('retain-safe-private')) {
    warnings.push('retain-safe-private: no list of safe private attributes is configured, so every private attribute was removed');
  }
  if (top.some((e) => ((e.tag >>> 16) & 0xff00) === 0x6000 && (e.tag >>> 16) % 2 === 0)) {
    warnings.push('overlay planes (60xx) removed whole: Overlay Data is X in Table E.1-1 and an overlay without it is invalid');
  }

  const edited = editElements(top, syntax, '', 0, ctx);
  const nodes = upsertTopLevel(edited.nodes, methodNodes(options, syntax));
  let out = encodeNodes(nodes, syntax);
  if (deflated) {
    out = zlib.deflateRawSync(out);
    // PS3.5 A.5: the deflated stream is padded to even length.
    if (out.length % 2 === 1) out = Buffer.concat([out, Buffer.from([0])]);
  }

  const risk = burnedInRisk(
    topValue(TAG.BurnedInAnnotation),
    topValue(TAG.Modality),
    topValue(TAG.SOPClassUID),
    top.some((e) => PIXEL_DATA_TAGS.has(e.tag)),
  );
  const sopClass = topValue(TAG.SOPClassUID);
  const sopInstance = topValue(TAG.SOPInstanceUID);
  const retainUids = options.has('retain-uids');
  let newSopInstanceUid: string | undefined;
  if (sopInstance && trimUid(sopInstance) !== '') {
    const orig = trimUid(sopInstance);
    newSopInstanceUid = retainUids ? orig : mapUid(orig, ctx.uidMap, secret);
  }
  return {
    result: {
      bytes: out,
      uidMap: ctx.uidMap,
      burnedInAnnotationRisk: risk.length > 0,
      reasons: risk,
      actions: ctx.actions,
      warnings,
    },
    sopClassUid: sopClass ? trimUid(sopClass) : undefined,
    newSopInstanceUid,
    retainUids,
  };
}

// ---------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------

function editElements(
  elements: readonly ParsedElement[],
  syntax: Syntax,
  path: string,
  depth: number,
  ctx: Context,
): { nodes: OutNode[]; changed: boolean } {
  const nodes: OutNode[] = [];
  let changed = false;
  for (const el of elements) {
    const here = `${path}${formatTag(el.tag)}`;
    const row = profileRowFor(el.tag);
    let action: ResolvedAction | undefined;
    if (isPrivateTag(el.tag)) {
      // No list of safe private attributes is configured: Retain Safe Private keeps none.
      action = 'X';
    } else if (row) {
      action = resolveAction(row, ctx.options);
    } else if (((el.tag >>> 16) & 0xff00) === 0x6000 && depth === 0) {
      // Rest of an overlay plane whose Overlay Data (X) goes: the plane cannot stay without it.
      action = 'X';
    }
    if (row && action !== undefined) {
      ctx.actions.push({ tag: formatTag(el.tag), path: here, name: row.name, action: actionLetter(action) });
    }
    const r = applyAction(el, action, row, syntax, here, depth, ctx);
    if (r.node) nodes.push(r.node);
    changed ||= r.changed;
  }
  return { nodes, changed };
}

function raw(el: ParsedElement, ctx: Context): OutNode {
  return { kind: 'raw', tag: el.tag, bytes: ctx.buf.subarray(el.start, el.end) };
}

/** The VR to write/interpret a value with: the stream's, else the table's. */
function vrFor(el: ParsedElement, row: ProfileRow | undefined): string | undefined {
  if (el.vr !== undefined && el.vr !== 'UN') return el.vr;
  return row?.vr ?? el.vr;
}

function applyAction(
  el: ParsedElement,
  action: ResolvedAction | undefined,
  row: ProfileRow | undefined,
  syntax: Syntax,
  path: string,
  depth: number,
  ctx: Context,
): { node?: OutNode; changed: boolean } {
  if (action === 'X') return { changed: true };
  const vr = vrFor(el, row);
  const headerVr = el.vr ?? vr ?? 'UN';
  if (action === 'Z') {
    if (el.length === 0) return { node: raw(el, ctx), changed: false };
    if (el.items || vr === 'SQ') {
      return {
        node: { kind: 'sequence', tag: el.tag, vr: headerVr, undefinedLength: false, itemSyntax: el.itemSyntax ?? syntax, items: [] },
        changed: true,
      };
    }
    return { node: { kind: 'value', tag: el.tag, vr: headerVr, value: Buffer.alloc(0) }, changed: true };
  }
  // Sequences are kept (K, D, U, C) and de-identified item by item: a dummy sequence would
  // break references, and the profile applies to nested attributes anyway.
  if (el.items) return editSequence(el, path, depth, ctx, headerVr);
  if (action === undefined || action === 'K' || el.encapsulated) {
    if (el.encapsulated && action !== undefined && action !== 'K') {
      return { node: { kind: 'value', tag: el.tag, vr: headerVr, value: dummyValue(vr ?? 'OB', syntax.littleEndian) }, changed: true };
    }
    return { node: raw(el, ctx), changed: false };
  }
  const value = valueBytes(ctx.buf, el);
  // An empty value hides nothing; leaving it empty keeps Type 2 semantics.
  if (value.length === 0) return { node: raw(el, ctx), changed: false };
  const replaced = replaceValue(el.tag, vr, value, action, ctx, syntax);
  if (replaced === undefined) return { node: raw(el, ctx), changed: false };
  return { node: { kind: 'value', tag: el.tag, vr: headerVr, value: replaced }, changed: !replaced.equals(value) };
}

function editSequence(el: ParsedElement, path: string, depth: number, ctx: Context, headerVr: string): { node: OutNode; changed: boolean } {
  const itemSyntax = el.itemSyntax as Syntax;
  let changed = false;
  const items = (el.items ?? []).map((item, i) => {
    const r = editElements(item.elements, itemSyntax, `${path}[${i}].`, depth + 1, ctx);
    changed ||= r.changed;
    return { undefinedLength: item.undefinedLength, nodes: r.nodes };
  });
  if (!changed) return { node: raw(el, ctx), changed: false };
  return {
    node: { kind: 'sequence', tag: el.tag, vr: headerVr, undefinedLength: el.length === UNDEFINED_LENGTH, itemSyntax, items },
    changed: true,
  };
}

/**
 * New value bytes for D, U and C actions; undefined = keep the original bytes.
 * A zero-length Buffer means "empty" (used when the VR is unknown and no valid dummy exists).
 */
function replaceValue(
  tag: number,
  vr: string | undefined,
  value: Buffer,
  action: ResolvedAction,
  ctx: Context,
  syntax: Syntax,
): Buffer | undefined {
  if (vr === 'UI' && (action === 'U' || action === 'D')) {
    // Every replaced UID goes through the same keyed map, so references stay consistent.
    if (ctx.options.has('retain-uids') && action === 'U') return undefined;
    const uids = trimUid(value)
      .split('\\')
      .map((u) => (u.trim() === '' ? '' : mapUid(u.trim(), ctx.uidMap, ctx.secret)));
    return uidValue(uids.join('\\'));
  }
  switch (action) {
    case 'C-shift':
      return shiftDates(vr, value, ctx, syntax);
    case 'C-clean':
      return containsIdentifying(value, ctx.identifying) ? dummyFor(tag, vr, value, ctx, syntax) : undefined;
    default:
      // D, and U on something that is not a UI value (no UID to map): a dummy.
      return dummyFor(tag, vr, value, ctx, syntax);
  }
}

function dummyFor(tag: number, vr: string | undefined, value: Buffer, ctx: Context, syntax: Syntax): Buffer {
  if (vr === undefined) return Buffer.alloc(0); // no VR known: the only valid "dummy" is empty
  if (tag === TAG.PatientID) return textValue(pseudonymousId(ctx.secret, trimText(value)));
  return dummyValue(vr, syntax.littleEndian);
}

function shiftDates(vr: string | undefined, value: Buffer, ctx: Context, syntax: Syntax): Buffer | undefined {
  if (vr === 'TM') return undefined; // whole-day shifts leave times as they are
  if (vr !== 'DA' && vr !== 'DT') return dummyValue(vr ?? 'UN', syntax.littleEndian);
  const fallback = vr === 'DA' ? '19000101' : '19000101000000';
  const shifted = trimText(value)
    .toString('latin1')
    .split('\\')
    .map((v) => {
      const t = v.trim();
      if (t === '') return '';
      return (vr === 'DA' ? shiftDa(t, ctx.shiftDays) : shiftDt(t, ctx.shiftDays)) ?? fallback;
    });
  return textValue(shifted.join('\\'));
}

function mapUid(uid: string, map: Map<string, string>, secret: Buffer): string {
  let n = map.get(uid);
  if (n === undefined) {
    n = replacementUid(secret, uid);
    map.set(uid, n);
  }
  return n;
}

// ---------------------------------------------------------------------------
// Helpers over raw values
// ---------------------------------------------------------------------------

function trimText(b: Buffer): Buffer {
  let end = b.length;
  while (end > 0 && (b[end - 1] === 0x20 || b[end - 1] === 0x00)) end--;
  let start = 0;
  while (start < end && b[start] === 0x20) start++;
  return b.subarray(start, end);
}

function trimUid(b: Buffer): string {
  return b.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
}

function asciiLower(b: Buffer): Buffer {
  const out = Buffer.from(b);
  for (let i = 0; i < out.length; i++) {
    const c = out[i] as number;
    if (c >= 0x41 && c <= 0x5a) out[i] = c + 0x20;
  }
  return out;
}

/**
 * Byte strings that must not survive in a cleaned descriptor: each identifying value, each of
 * its backslash-separated values and each person-name component ('^', '=' separated) of at least
 * 3 bytes. Compared ASCII-case-insensitively, in the data set's own encoding.
 */
function identifyingValues(values: (Buffer | undefined)[]): Buffer[] {
  const out: Buffer[] = [];
  const add = (b: Buffer): void => {
    const t = trimText(b);
    if (t.length >= 3) out.push(asciiLower(t));
  };
  for (const v of values) {
    if (!v) continue;
    add(v);
    for (const part of splitBytes(v, [0x5c, 0x5e, 0x3d])) add(part);
  }
  return out;
}

function splitBytes(b: Buffer, separators: number[]): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= b.length; i++) {
    if (i === b.length || separators.includes(b[i] as number)) {
      parts.push(b.subarray(start, i));
      start = i + 1;
    }
  }
  return parts;
}

function containsIdentifying(value: Buffer, identifying: readonly Buffer[]): boolean {
  const v = asciiLower(value);
  return identifying.some((id) => v.includes(id));
}

/** Reasons why pixel data may carry burned-in identifying text (empty: no known risk). */
function burnedInRisk(bia: Buffer | undefined, modality: Buffer | undefined, sopClass: Buffer | undefined, hasPixels: boolean): string[] {
  return burnedInAnnotationRisk({
    burnedInAnnotation: bia ? trimText(bia).toString('latin1') : undefined,
    modality: modality ? trimText(modality).toString('latin1') : undefined,
    sopClassUid: sopClass ? trimUid(sopClass) : undefined,
    hasPixels,
  });
}

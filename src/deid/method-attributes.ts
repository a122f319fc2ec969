/**
 * The attributes that record what was done (PS3.15 E.1.1 and PS3.3 C.7.1.1 Patient Identification
 * Module / SOP Common): Patient Identity Removed, De-identification Method and its Code Sequence
 * with the CID 7050 codes of the profile and options applied, and Longitudinal Temporal
 * Information Modified when dates were shifted.
 */
import { DeidOption } from './actions';
import { Syntax } from '../dicom/transfer-syntax';
import { OutNode } from './dataset-writer';
import { textValue } from './replacement-values';
import { TAG } from '../dicom/tags';

/** PS3.16 CID 7050 "De-identification Method" codes (scheme DCM). */
const OPTION_CODES: Readonly<Record<DeidOption, [string, string]>> = {
  'clean-descriptors': ['113105', 'Clean Descriptors Option'],
  'retain-long-full-dates': ['113106', 'Retain Longitudinal Temporal Information Full Dates Option'],
  'retain-long-modified-dates': ['113107', 'Retain Longitudinal Temporal Information Modified Dates Option'],
  'retain-patient-characteristics': ['113108', 'Retain Patient Characteristics Option'],
  'retain-device-identity': ['113109', 'Retain Device Identity Option'],
  'retain-uids': ['113110', 'Retain UIDs Option'],
  'retain-safe-private': ['113111', 'Retain Safe Private Option'],
  'retain-institution-identity': ['113112', 'Retain Institution Identity Option'],
};
const BASIC_CODE: [string, string] = ['113100', 'Basic Application Confidentiality Profile'];

/** The nodes to set at the top level, in tag order. */
export function methodNodes(options: ReadonlySet<DeidOption>, syntax: Syntax): OutNode[] {
  const ordered = (Object.keys(OPTION_CODES) as DeidOption[]).filter((o) => options.has(o));
  const codes = [BASIC_CODE, ...ordered.map((o) => OPTION_CODES[o])];
  // LO values are limited to 64 characters; every option keyword is a value of its own.
  const methodText = ['PS3.15 Table E.1-1 Basic Profile', ...ordered].join('\\');
  const nodes: OutNode[] = [
    { kind: 'value', tag: TAG.PatientIdentityRemoved, vr: 'CS', value: textValue('YES') },
    { kind: 'value', tag: TAG.DeidentificationMethod, vr: 'LO', value: textValue(methodText) },
    {
      kind: 'sequence',
      tag: TAG.DeidentificationMethodCodeSequence,
      vr: 'SQ',
      undefinedLength: false,
      itemSyntax: syntax,
      items: codes.map(([value, meaning]) => ({
        undefinedLength: false,
        nodes: [
          { kind: 'value', tag: TAG.CodeValue, vr: 'SH', value: textValue(value) },
          { kind: 'value', tag: TAG.CodingSchemeDesignator, vr: 'SH', value: textValue('DCM') },
          { kind: 'value', tag: TAG.CodeMeaning, vr: 'LO', value: textValue(meaning) },
        ],
      })),
    },
  ];
  if (options.has('retain-long-modified-dates')) {
    nodes.push({ kind: 'value', tag: TAG.LongitudinalTemporalInformationModified, vr: 'CS', value: textValue('MODIFIED') });
  }
  return nodes;
}

/** Replaces or inserts `set` into top-level `nodes`, keeping ascending tag order. */
export function upsertTopLevel(nodes: OutNode[], set: readonly OutNode[]): OutNode[] {
  const replaced = new Set(set.map((n) => n.tag));
  const out = nodes.filter((n) => !replaced.has(n.tag));
  for (const n of set) {
    const at = out.findIndex((m) => m.tag >>> 0 > n.tag >>> 0);
    if (at < 0) out.push(n);
    else out.splice(at, 0, n);
  }
  return out;
}

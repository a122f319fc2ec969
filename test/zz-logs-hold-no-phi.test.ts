// Runs last (file name): every log line written by every node during this test run — in-process
// nodes and `dicom-ai-node serve` child processes — is scanned for the patient names, IDs and birth
// dates of everything the tests sent: the synthetic fixtures and every file of the shared corpus.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { RUN_LOG_DIR } from './helpers/log-sink';
import { SHARED_DICOM } from './helpers/env';
import { SYNTHETIC_PATIENT } from '../fixtures/synthetic-ct';
import { PHANTOM_PATIENT } from '../fixtures/chest-phantom';
import { NIFTI_PATIENT } from '../fixtures/nifti-to-dicom';
import { expandPaths } from '../src/delivery/send-files';
import { readPart10Header } from '../src/dicom/part10';
import { readDatasetHeader } from '../src/dicom/dataset-reader';

/** Values too generic to be identifying (placeholders used by anonymised sample files). */
const GENERIC = /^(anonymous|anonymized|anonymised|unknown|test|patient|none|n\/a|phantom)$/i;

/** Study, series and instance UIDs of the shared corpus (every test sends from it); standard UIDs excluded. */
const corpusUids = new Set<string>();

function identityValues(): Set<string> {
  // The generated series (CT transport fixtures, chest phantoms, the T1 MR series) and the corpus.
  const values = new Set<string>([SYNTHETIC_PATIENT.name, SYNTHETIC_PATIENT.id, SYNTHETIC_PATIENT.birthDate]);
  for (const p of [PHANTOM_PATIENT, NIFTI_PATIENT]) for (const v of [p.name, p.id, p.birthDate]) if (v) values.add(v);
  for (const f of expandPaths([SHARED_DICOM])) {
    try {
      const buf = fs.readFileSync(f);
      const h = readPart10Header(buf);
      const a = readDatasetHeader(buf.subarray(h.datasetOffset), h.transferSyntaxUid, {
        totalLength: buf.length - h.datasetOffset,
      }).attributes;
      for (const uid of [a.StudyInstanceUID, a.SeriesInstanceUID, a.SOPInstanceUID]) {
        // The form log lines hash (src/log/uid-ref.ts): five or more components.
        if (uid && /^\d+(\.\d+){4,}$/.test(uid) && !uid.startsWith('1.2.840.10008.')) corpusUids.add(uid);
      }
      for (const v of [a.PatientName, a.PatientID, a.PatientBirthDate]) {
        const t = (v ?? '').trim();
        if (t.length >= 6 && !GENERIC.test(t)) values.add(t);
      }
    } catch {
      // not a readable Part 10 file: nothing sent from it
    }
  }
  return values;
}

after(() => fs.rmSync(RUN_LOG_DIR, { recursive: true, force: true }));

/** Every log line every node wrote during this test run, or null when none did. */
function runLogText(): string | null {
  if (!fs.existsSync(RUN_LOG_DIR)) return null;
  return fs
    .readdirSync(RUN_LOG_DIR)
    .map((f) => fs.readFileSync(path.join(RUN_LOG_DIR, f), 'utf8'))
    .join('\n');
}

test('no patient name, ID or birth date in any log line of the whole test run', (t) => {
  const text = runLogText();
  if (text === null) {
    t.skip('no node logged in this run (this file was run on its own)');
    return;
  }
  const lines = text.split('\n').filter(Boolean).length;
  assert.ok(lines > 500, `only ${lines} log lines collected: the scan would prove little`);
  const values = identityValues();
  assert.ok(values.size > 20, `only ${values.size} identity values to look for`);
  const found: string[] = [];
  for (const v of values) {
    // Digits-only values (IDs, dates) must not be part of a longer number (ports, sizes, times).
    const re = /^\d+$/.test(v) ? new RegExp(`(?<!\\d)${v}(?!\\d)`) : null;
    if (re ? re.test(text) : text.includes(v)) found.push(v);
  }
  t.diagnostic(`${lines} log lines scanned for ${values.size} identity values`);
  assert.deepEqual(found, [], 'patient data found in logs');
});

test('no original study, series or SOP instance UID of the shared corpus in any log line of the whole test run', (t) => {
  const text = runLogText();
  if (text === null) {
    t.skip('no node logged in this run (this file was run on its own)');
    return;
  }
  if (corpusUids.size === 0) identityValues();
  assert.ok(corpusUids.size > 20, `only ${corpusUids.size} corpus UIDs to look for`);
  const found = [...corpusUids].filter((uid) => new RegExp(`(?<![\\d.])${uid.replace(/\./g, '\\.')}(?!\\.?\\d)`).test(text));
  t.diagnostic(`log lines scanned for ${corpusUids.size} corpus UIDs`);
  assert.deepEqual(found, [], 'original UIDs found in logs (they should be uidRefs)');
});

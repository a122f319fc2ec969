/**
 * bench/enhanced-equivalence: the proof by equivalence of issue 12, full matrix. Each shared scan
 * (LIDC-IDRI-0001 chest CT, the sagittal T1) is loaded as it was stored (single-frame), then
 * converted by fixtures/to-enhanced into every other arrival form — Enhanced and Legacy Converted
 * Enhanced, one object or several, frames in stored or shuffled order — and each form must give
 * the same volume bit for bit (values, positions, spacing, orientation), dciodvfy no errors, and
 * on the CT the reference lung-nodule model the same findings (it finds LIDC-IDRI-0001's LUNA16
 * nodule) and the same SR measurement and coordinate lines (dsrdump).
 *
 *   npm run build && node dist/bench/enhanced-equivalence.js [--shared ../shared] [--no-model]
 *
 * The test suite runs a small share of this: one form per scan (test/enhanced-multiframe.test.ts),
 * and LIDC-IDRI-0001 as Enhanced CT through the node (test/lidc-e2e.test.ts).
 * The helpers here are what both use.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';

import { writeSyntheticPetSeries } from '../fixtures/synthetic-pet';
import { newUidRoot } from '../fixtures/synthetic-ct';
import { convertSeries, type ConvertOptions } from '../fixtures/to-enhanced';
import { deidentifyPart10 } from '../src/deid';
import { readPart10Header } from '../src/dicom/part10';
import { parseManifest } from '../src/inference/manifest';
import { POSTPROCESSORS } from '../src/inference/postprocess';
import { runModel } from '../src/inference/run-model';
import { volumeTensor } from '../src/inference/conform';
import { frameOfReferenceOf, loadSeriesVolume, type SeriesVolume } from '../src/inference/series-volume';
import { loadModel, type ModelSession } from '../src/inference/session';
import { sha256File } from '../src/inference/registry';
import type { SeriesResult } from '../src/inference/findings';
import { buildReport } from '../src/report/build-sr';
import { parseDicomFile } from '../src/imaging/dataset';
import { TAG } from '../src/dicom/tags';

/** Part 10 files of a folder (other files, such as a LICENSE or XML reads, left out). */
export function dicomFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.dcm'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** As the node does: each file de-identified in memory, then loaded (frames from functional groups). */
export async function loadFiles(files: readonly string[]): Promise<SeriesVolume> {
  const secret = randomBytes(32);
  let first: Buffer | undefined;
  const inputs = files.map((file) => {
    const bytes = fs.readFileSync(file);
    first ??= bytes;
    const h = readPart10Header(bytes);
    return { bytes: deidentifyPart10(bytes, { secret }).bytes, sopInstanceUid: h.sopInstanceUid, sopClassUid: h.sopClassUid };
  });
  return loadSeriesVolume(inputs, first ? frameOfReferenceOf(first) : undefined);
}

/** What differs between two volumes ([] when identical: geometry exactly, values bit for bit). */
export function volumeDifferences(a: SeriesVolume, b: SeriesVolume): string[] {
  const out: string[] = [];
  const same = (x: unknown, y: unknown): boolean => JSON.stringify(x) === JSON.stringify(y);
  for (const key of [
    'modality',
    'rows',
    'columns',
    'pixelSpacing',
    'sliceSpacing',
    'orientation',
    'normal',
    'frameOfReferenceUid',
  ] as const) {
    if (!same(a[key], b[key])) out.push(`${key}: ${JSON.stringify(a[key])} vs ${JSON.stringify(b[key])}`);
  }
  if (a.slices.length !== b.slices.length) return [...out, `slices: ${a.slices.length} vs ${b.slices.length}`];
  const moved = a.slices.filter((s, k) => !same(s.position, b.slices[k]!.position)).length;
  if (moved > 0) out.push(`${moved} slice position(s) differ`);
  const changed = a.values.filter((v, k) => !Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(bytesOf(b.values[k]!))).length;
  if (changed > 0) out.push(`${changed} slice(s) with different values`);
  return out;
}

function bytesOf(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** dciodvfy's error lines for a file (empty when it finds none). */
export function dciodvfyErrors(file: string): string[] {
  const r = spawnSync('dciodvfy', [file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`dciodvfy could not run: ${r.error.message}`);
  return `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.startsWith('Error'));
}

export const LUNG_MODEL_DIR = path.resolve(__dirname, '..', '..', 'models', 'lung-nodule-reference');

export interface LoadedBenchModel {
  readonly run: (vol: SeriesVolume) => Promise<SeriesResult>;
  readonly close: () => Promise<void>;
}

export const MESHNET_MODEL_DIR = path.resolve(__dirname, '..', '..', 'models', 'meshnet-gwm');

/** The reference lung-nodule model, run in-process as the CLI does. */
export function openNoduleModel(threads = 1): Promise<LoadedBenchModel> {
  return openModel(LUNG_MODEL_DIR, threads);
}

/** A shipped model (its folder under models/), run in-process as the CLI does (volume models conformed in-process too). */
export async function openModel(dir: string, threads = 1): Promise<LoadedBenchModel> {
  const manifest = parseManifest(JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')), 'model.json');
  const modelPath = path.join(dir, 'model.onnx');
  const session: ModelSession = await loadModel(manifest, modelPath, { intraOpNumThreads: threads });
  const sha256 = await sha256File(modelPath);
  return {
    run: (vol) =>
      runModel(vol, {
        name: manifest.name,
        manifest,
        session,
        sha256,
        postprocessors: POSTPROCESSORS,
        volumeTensor,
        deidentification: 'bench',
      }),
    close: () => session.close(),
  };
}

/** Findings as a comparable summary: everything but which instance/frame the region names. */
export function findingSummary(r: SeriesResult): unknown[] {
  return r.findings.map((f) => ({
    label: f.label,
    text: f.text,
    confidence: f.confidence,
    measurements: f.measurements.map((m) => [m.key, m.value, m.unit.value]),
    site: f.site?.text,
    attributes: f.attributes,
    centre: f.centre,
    region: f.region && { graphicType: f.region.graphicType, graphicData: f.region.graphicData },
  }));
}

const DEVICE = { aeTitle: 'AI_NODE', deviceUid: '2.25.42', manufacturer: 'test', modelName: 'test', softwareVersion: '0' };

/** The Comprehensive 3D SR the node would write for `result` over the series `files`. */
export function reportOf(result: SeriesResult, files: readonly string[]): Buffer {
  const first = fs.readFileSync(files[0]!);
  return buildReport({
    form: 'comprehensive3d',
    language: 'en',
    sourceFile: first,
    sourceInstances: files.map((f) => {
      const h = readPart10Header(fs.readFileSync(f));
      return { sopClassUid: h.sopClassUid, sopInstanceUid: h.sopInstanceUid };
    }),
    sourceSeriesInstanceUid: parseDicomFile(first).dataSet.string(TAG.SeriesInstanceUID)!,
    result,
    device: DEVICE,
    revision: 1,
    contentDateTime: new Date('2026-01-01T00:00:00Z'),
  }).bytes;
}

/** An SR's measurement (NUM) and coordinate (SCOORD, SCOORD3D) lines as DCMTK's dsrdump prints them. */
export function measurementLines(sr: Buffer, dir: string, name: string): string[] {
  const file = path.join(dir, name);
  fs.writeFileSync(file, sr);
  const r = spawnSync('dsrdump', [file], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`dsrdump failed on ${name}: ${r.error?.message ?? r.stderr}`);
  return r.stdout.split('\n').filter((l) => /\bNUM\b|SCOORD3D|SCOORD\b/.test(l));
}

const VARIANTS: readonly (Omit<ConvertOptions, 'outDir'> & { label: string })[] = [
  { label: 'enhanced, 1 object', kind: 'enhanced' },
  { label: 'enhanced, 1 object, shuffled', kind: 'enhanced', shuffleSeed: 11 },
  { label: 'enhanced, 4 objects, shuffled', kind: 'enhanced', objects: 4, shuffleSeed: 12 },
  { label: 'legacy, 1 object', kind: 'legacy' },
  { label: 'legacy, 3 objects, shuffled', kind: 'legacy', objects: 3, shuffleSeed: 13 },
];

const seconds = (t0: number): string => ((Date.now() - t0) / 1000).toFixed(1);

async function main(): Promise<void> {
  const i = process.argv.indexOf('--shared');
  const shared = i > 0 ? path.resolve(process.argv[i + 1]!) : path.resolve(__dirname, '..', '..', '..', 'shared');
  const withModel = !process.argv.includes('--no-model');
  // Each real scan through its model (the CT's nodules, the T1's grey/white-matter volumes): the
  // findings and the SR's measurement lines must not depend on how the frames arrived.
  const scans: { name: string; dir: string; modelDir?: string }[] = [
    {
      name: 'LIDC-IDRI-0001 (CT)',
      dir: path.join(shared, 'data', 'ct-lidc', 'LIDC-IDRI-0001'),
      ...(withModel ? { modelDir: LUNG_MODEL_DIR } : {}),
    },
    { name: 'sagittal T1 (MR)', dir: path.join(shared, 'data', 'mr-t1-sag'), ...(withModel ? { modelDir: MESHNET_MODEL_DIR } : {}) },
  ];
  let model: LoadedBenchModel | undefined;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-enhanced-'));
  // A synthetic PET series (Bq/ml, a slope per slice): Enhanced PET and Legacy Converted Enhanced PET.
  const petDir = path.join(tmp, 'synthetic-pet');
  writeSyntheticPetSeries({ outDir: petDir, uidRoot: newUidRoot() });
  scans.push({ name: 'synthetic PET (PT)', dir: petDir });
  let failures = 0;
  try {
    for (const scan of scans) {
      if (!fs.existsSync(scan.dir)) {
        console.log(`${scan.name}: ${scan.dir} not found, skipped`);
        continue;
      }
      const files = dicomFiles(scan.dir);
      let t0 = Date.now();
      const base = await loadFiles(files);
      console.log(`${scan.name}: ${files.length} single-frame files, ${base.slices.length} slices, loaded in ${seconds(t0)} s`);
      await model?.close();
      model = scan.modelDir ? await openModel(scan.modelDir) : undefined;
      const baseResult = model ? await model.run(base) : undefined;
      const baseFindings = baseResult && findingSummary(baseResult);
      const baseSr = baseResult && measurementLines(reportOf(baseResult, files), tmp, 'single-frame.sr');
      if (baseResult)
        console.log(`  single-frame: ${baseResult.findings.length} finding(s), ${baseSr!.length} SR measurement/coordinate line(s)`);
      for (const v of VARIANTS) {
        const outDir = path.join(tmp, `${path.basename(scan.dir)}-${v.label.replace(/[^a-z0-9]+/g, '-')}`);
        t0 = Date.now();
        const out = await convertSeries(files, { ...v, outDir });
        const convertS = seconds(t0);
        t0 = Date.now();
        const vol = await loadFiles(out);
        const loadS = seconds(t0);
        const diffs = volumeDifferences(base, vol);
        const errors = out.flatMap(dciodvfyErrors);
        let findings = 'not run';
        let sr = 'not run';
        if (baseFindings) {
          const result = await model!.run(vol);
          const same = JSON.stringify(findingSummary(result)) === JSON.stringify(baseFindings);
          findings = same ? `same (${baseFindings.length})` : 'DIFFERENT';
          const sameSr = JSON.stringify(measurementLines(reportOf(result, out), outDir, 'form.sr')) === JSON.stringify(baseSr);
          sr = sameSr ? `same (${baseSr!.length} lines)` : 'DIFFERENT';
          if (!same || !sameSr) failures++;
        }
        if (diffs.length > 0 || errors.length > 0) failures++;
        console.log(
          `  ${v.label.padEnd(30)} convert ${convertS.padStart(5)} s  load ${loadS.padStart(5)} s  volume ${diffs.length === 0 ? 'identical' : diffs.join('; ')}` +
            `  dciodvfy errors ${errors.length}  findings ${findings}  SR measurements ${sr}`,
        );
      }
    }
  } finally {
    await model?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(failures === 0 ? 'every arrival form gave the same volume' : `${failures} form(s) differ`);
  process.exitCode = failures === 0 ? 0 : 1;
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}

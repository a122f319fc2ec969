// bench/nodule-real-scans: the reference lung-nodule model on real chest CT (LIDC-IDRI series with
// LUNA16 reference nodules), scored with LUNA16's rule (bench/lidc-reference).
//
// Each series goes the node's way: every instance de-identified in memory and decoded into a
// volume (buildSeriesVolume, the volume stage), the model run slice-wise like the runner, then the
// manifest's post-processor. Series are matched to LUNA16 rows by their Series Instance UID, never
// by folder name. Seconds per scan = volume + model + post-processing wall time.
//
// node dist/bench/nodule-sensitivity.js --real [FOLDER]   (default ../shared/data/ct-lidc)

import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type * as ort from 'onnxruntime-node';

import { openImage } from '../src/imaging/decode';
import { TAG } from '../src/dicom/tags';
import { DEFAULT_PIXEL_LIMITS } from '../src/dicom/pixel-budget';
import { buildSeriesVolume } from '../src/pipeline/volume-stage';
import type { SourceInstance } from '../src/pipeline/series-instances';
import type { Manifest } from '../src/inference/manifest';
import type { Postprocessor } from '../src/inference/postprocess/types';
import { runSliceModel, measurement } from './nodule-sensitivity';
import {
  markInPatient,
  parseLidcXml,
  parseLuna16Csv,
  scanReference,
  scoreDetections,
  type Detection,
  type InstanceGeometry,
  type Luna16Nodule,
  type ReferenceMark,
  type ScanReference,
  type ScanScore,
} from './lidc-reference';

/** One series folder: its instances (with geometry) and the LIDC XML reads beside them. */
export interface RealScan {
  readonly name: string;
  readonly seriesUid: string;
  readonly instances: readonly SourceInstance[];
  readonly geometry: ReadonlyMap<string, InstanceGeometry>;
  readonly xmlFiles: readonly string[];
}

/** Reads a series folder's headers (no pixel decoding). Files that are not DICOM images are left out. */
export function readScanFolder(dir: string): RealScan {
  const instances: SourceInstance[] = [];
  const geometry = new Map<string, InstanceGeometry>();
  const xmlFiles: string[] = [];
  const seriesUids = new Set<string>();
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    if (name.toLowerCase().endsWith('.xml')) {
      xmlFiles.push(file);
      continue;
    }
    let ds;
    try {
      ds = openImage(fs.readFileSync(file)).dataSet;
    } catch {
      continue; // not a DICOM image
    }
    const sopInstanceUid = ds.string(TAG.SOPInstanceUID) ?? '';
    instances.push({ sopInstanceUid, sopClassUid: ds.string(TAG.SOPClassUID) ?? '', filePath: file });
    seriesUids.add(ds.string(TAG.SeriesInstanceUID) ?? '');
    const [p, o, s] = [ds.numbers(TAG.ImagePositionPatient), ds.numbers(TAG.ImageOrientationPatient), ds.numbers(TAG.PixelSpacing)];
    if (p.length === 3 && o.length === 6 && s.length === 2) {
      geometry.set(sopInstanceUid, {
        position: p as [number, number, number],
        orientation: o as [number, number, number, number, number, number],
        pixelSpacing: s as [number, number],
      });
    }
  }
  if (instances.length === 0) throw new Error(`${dir}: no DICOM images`);
  if (seriesUids.size !== 1) throw new Error(`${dir}: ${seriesUids.size} series in one folder; expected one`);
  return { name: path.basename(dir), seriesUid: [...seriesUids][0]!, instances, geometry, xmlFiles };
}

/** The series' LUNA16 rows and the reader marks from its XML reads, in patient mm. */
export function referenceOf(scan: RealScan, luna: readonly Luna16Nodule[]): ScanReference {
  const marks: ReferenceMark[] = [];
  for (const f of scan.xmlFiles) {
    const xml = fs.readFileSync(f, 'utf8');
    // An XML read belongs to this series only if it says so (LIDC folders can hold other series' reads).
    if (!xml.includes(scan.seriesUid)) continue;
    for (const m of parseLidcXml(xml)) {
      const r = markInPatient(m, scan.geometry);
      if (r) marks.push(r);
    }
  }
  return scanReference(
    luna.filter((n) => n.seriesUid === scan.seriesUid),
    marks,
  );
}

/** The real data is not there: the bench says so and how to point it elsewhere, without a stack trace. */
export class RealDataMissing extends Error {}

/** The series folders under `root` (one level down), and the LUNA16 rows beside them. */
export function readRealDataset(root: string): { scans: string[]; luna: Luna16Nodule[] } {
  const csv = path.join(root, 'luna16-annotations.csv');
  if (!fs.existsSync(root) || !fs.existsSync(csv)) {
    throw new RealDataMissing(
      `real CT data not found: ${root} needs series folders and luna16-annotations.csv (LIDC-IDRI via TCIA, LUNA16 annotations); pass --real FOLDER`,
    );
  }
  const scans = fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => path.join(root, e.name))
    .sort();
  return { scans, luna: parseLuna16Csv(fs.readFileSync(csv, 'utf8')) };
}

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const fmt = (v: number, d = 1): string => v.toFixed(d);

function describeNodules(score: ScanScore): string {
  if (score.nodules.length === 0) return '-';
  return score.nodules
    .map((o) => {
      const ref = fmt(o.nodule.diameterMm);
      if (!o.hit) return `${ref} missed`;
      return `${ref}->${fmt(o.hit.diameterMm)} (err ${fmt(Math.abs(o.hit.diameterMm - o.nodule.diameterMm))}, off ${fmt(o.distanceMm!)} mm)`;
    })
    .join('; ');
}

export interface RealScanRow {
  readonly name: string;
  readonly score: ScanScore;
  readonly seconds: number;
}

/** Runs every series under `root` and prints one row each, then a summary. */
export async function runRealScans(
  root: string,
  session: ort.InferenceSession,
  manifest: Manifest,
  post: Postprocessor,
): Promise<RealScanRow[]> {
  const { scans, luna } = readRealDataset(root);
  console.log(
    `lung-nodule-reference on ${scans.length} real chest CT series under ${root} (LIDC-IDRI, CC BY 3.0, via TCIA; LUNA16 reference)`,
  );
  console.log('scan             slices  mm  found FP irrel  volume_s model_s post_s total_s  LUNA16 nodule mm -> found mm');
  const rows: RealScanRow[] = [];
  for (const dir of scans) {
    const scan = readScanFolder(dir);
    const ref = referenceOf(scan, luna);
    let t = now();
    const vol = await buildSeriesVolume({ instances: scan.instances, secret: randomBytes(32), limits: DEFAULT_PIXEL_LIMITS });
    const volumeMs = now() - t;
    t = now();
    const maps = await runSliceModel(session, vol, manifest);
    const modelMs = now() - t;
    t = now();
    const result = post({ volume: vol, manifest, maps });
    const postMs = now() - t;
    const detections: Detection[] = result.findings.flatMap((f) =>
      f.centre ? [{ centre: f.centre, diameterMm: measurement(f, 'diameterMm') ?? NaN }] : [],
    );
    const score = scoreDetections(ref, detections);
    const seconds = (volumeMs + modelMs + postMs) / 1000;
    rows.push({ name: scan.name, score, seconds });
    const found = score.nodules.filter((o) => o.hit).length;
    console.log(
      `${scan.name.padEnd(16)} ${String(vol.slices.length).padStart(6)} ${fmt(vol.sliceSpacing, 2).padStart(4)} ${`${found}/${score.nodules.length}`.padStart(5)}` +
        ` ${String(score.falsePositives.length).padStart(2)} ${String(score.irrelevant.length).padStart(5)}` +
        ` ${fmt(volumeMs / 1000).padStart(9)} ${fmt(modelMs / 1000).padStart(7)} ${fmt(postMs / 1000).padStart(6)} ${fmt(seconds).padStart(7)}  ${describeNodules(score)}`,
    );
    for (const n of ref.lidcOnlyNodules) {
      const on = score.irrelevant.some(
        (d) => Math.hypot(d.centre.x - n.centre.x, d.centre.y - n.centre.y, d.centre.z - n.centre.z) <= n.diameterMm / 2,
      );
      console.log(
        `   LIDC-only nodule (${n.readers} of 4 readers, ~${fmt(n.diameterMm)} mm): ${on ? 'detected (irrelevant, not scored)' : 'not detected'}`,
      );
    }
    for (const fp of score.falsePositives) {
      // Where it lies and what it is made of: the finding the detection came from (same centre object).
      const f = result.findings.find((x) => x.centre === fp.centre);
      const c = fp.centre;
      console.log(
        `   FP d=${fmt(fp.diameterMm)} mm at (${fmt(c.x)}, ${fmt(c.y)}, ${fmt(c.z)}) ${f?.attributes?.['composition'] ?? ''} ${f ? `mean ${measurement(f, 'meanHu')} HU, ${f.site?.text ?? ''}` : ''}`,
      );
    }
  }
  printSummary(rows);
  return rows;
}

function printSummary(rows: readonly RealScanRow[]): void {
  const outcomes = rows.flatMap((r) => r.score.nodules);
  const hits = outcomes.filter((o) => o.hit);
  const errs = hits.map((o) => Math.abs(o.hit!.diameterMm - o.nodule.diameterMm));
  const fps = rows.map((r) => r.score.falsePositives.length);
  const secs = rows.map((r) => r.seconds);
  const mean = (v: readonly number[]): number => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
  console.log('');
  console.log(`LUNA16 nodules found: ${hits.length}/${outcomes.length}`);
  console.log(`false positives per scan: mean ${fmt(mean(fps), 2)}, max ${fps.length ? Math.max(...fps) : 0}`);
  console.log(
    errs.length ? `diameter |error| (mm), found nodules: ${errs.map((e) => fmt(e)).join(', ')}` : 'diameter |error|: no nodule found',
  );
  console.log(`seconds per scan (volume + model + post): mean ${fmt(mean(secs))}, max ${fmt(secs.length ? Math.max(...secs) : 0)}`);
}

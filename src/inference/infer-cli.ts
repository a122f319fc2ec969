/**
 * `dicom-ai-node infer --model NAME FOLDER [--json] [--models DIR] [--providers cuda,cpu]`
 *
 * Runs one installed model on a series folder exactly as the node would: every file is
 * de-identified in memory first (with a throw-away key: nothing is kept), decoded into a volume,
 * and given to the model through the same runner. Prints the findings; with --json, one object
 * whose numbers carry their unit in the key (diameterMm, volumeMl, centre.xMm ...).
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { expandPaths } from '../delivery/send-files';
import { deidentifyPart10 } from '../deid';
import { readPart10Header } from '../dicom/part10';
import { loadModels } from './registry';
import { loadSeriesVolume, frameOfReferenceOf, VolumeInput } from './series-volume';
import { findingsOnSourcePixels } from './source-pixels';
import { runModel } from './run-model';
import { POSTPROCESSORS } from './postprocess';
import { volumeTensor } from './conform';
import type { SeriesResult } from './findings';
import { DEID_DESCRIPTION } from '../pipeline/deidentify-series';
import { originalFacts } from '../pipeline/original-facts';
import { applyPlausibility, describeIssue, headerIssues, volumeIssues } from './plausibility';
import { createLogger } from '../log/logger';

export interface InferArgs {
  model: string;
  folder: string;
  json: boolean;
  modelsDir: string;
  providers: ('cuda' | 'webgpu' | 'cpu')[];
  intraOpNumThreads: number;
}

export async function runInfer(a: InferArgs): Promise<number> {
  // Warnings (a provider that failed, a refused model) go to stderr: stdout is the result.
  const log = createLogger({ level: 'warn', silentConsole: true, stream: process.stderr });
  const registry = await loadModels(a.modelsDir, { providers: a.providers, intraOpNumThreads: a.intraOpNumThreads, logger: log });
  try {
    const model = registry.get(a.model);
    if (!model) {
      process.stderr.write(`${registry.whyUnavailable(a.model)}\n`);
      return 2;
    }
    const files = expandPaths([a.folder]);
    if (files.length === 0) throw new Error(`no files under ${a.folder}`);
    const secret = randomBytes(32);
    const inputs: VolumeInput[] = [];
    let firstOriginal: Buffer | null = null;
    let skipped = 0;
    for (const f of files) {
      const bytes = fs.readFileSync(f);
      let h;
      try {
        h = readPart10Header(bytes);
      } catch {
        skipped++; // not a DICOM Part 10 file (a DICOMDIR's neighbours, notes, ...)
        continue;
      }
      firstOriginal ??= bytes;
      const deid = deidentifyPart10(bytes, { secret });
      inputs.push({ bytes: deid.bytes, sopInstanceUid: h.sopInstanceUid, sopClassUid: h.sopClassUid });
    }
    if (inputs.length === 0) throw new Error(`no DICOM files under ${a.folder} (${skipped} other files)`);
    const { stack, gantryTilt } = model.manifest;
    const volume = await loadSeriesVolume(inputs, frameOfReferenceOf(firstOriginal!), {
      ...(stack ? { stack } : {}),
      ...(gantryTilt ? { gantryTilt } : {}),
    });
    // The model's plausibility contract, as the node applies it (job-runner.ts): the age from the
    // original header picks the expected ranges' band; a series that fails a skip check is not run.
    const facts = originalFacts(firstOriginal!);
    const inputIssues = [
      ...headerIssues(model.manifest.applicability, facts),
      ...volumeIssues(model.manifest.plausibility?.inputChecks ?? {}, volume, facts),
    ];
    const skip = inputIssues.filter((i) => i.skip);
    if (skip.length > 0) {
      process.stderr.write(`skipped: input outside the model's checks: ${skip.map(describeIssue).join('; ')}\n`);
      return 1;
    }
    const onVolume = await runModel(volume, {
      name: model.name,
      manifest: model.manifest,
      session: model.session,
      sha256: model.sha256,
      postprocessors: POSTPROCESSORS,
      volumeTensor,
      deidentification: DEID_DESCRIPTION,
    });
    const result = findingsOnSourcePixels(applyPlausibility(onVolume, model.manifest, facts.ageYears, inputIssues), volume);
    process.stdout.write(
      a.json
        ? JSON.stringify(inferJson(result, volume.slices.length), null, 2) + '\n'
        : inferText(result, (model.manifest.plausibility?.ranges.length ?? 0) > 0),
    );
    return 0;
  } finally {
    await registry.close();
  }
}

/** The JSON form: numbers with their unit in the key, references to the source instances. */
export function inferJson(r: SeriesResult, slices: number): Record<string, unknown> {
  return {
    model: r.provenance.modelName,
    version: r.provenance.modelVersion,
    executionProvider: r.provenance.executionProvider,
    slices,
    findings: r.findings.map((f) => ({
      id: f.id,
      label: f.label,
      text: f.text,
      confidence: round(f.confidence, 3),
      ...Object.fromEntries(f.measurements.map((m) => [m.key, round(m.value, 2)])),
      ...(f.site ? { location: f.site.text, ...(f.site.laterality ? { laterality: f.site.laterality } : {}) } : {}),
      ...(f.attributes ?? {}),
      ...(f.centre ? { centre: { xMm: round(f.centre.x, 2), yMm: round(f.centre.y, 2), zMm: round(f.centre.z, 2) } } : {}),
      ...(f.region
        ? {
            sopInstanceUid: f.region.sopInstanceUid,
            ...(f.region.frame !== undefined ? { frame: f.region.frame } : {}),
            pixel: { column: round(f.region.graphicData[0] ?? 0, 1), row: round(f.region.graphicData[1] ?? 0, 1) },
            graphicType: f.region.graphicType,
          }
        : {}),
    })),
    impression: r.impression,
    uncertainty: round(r.uncertainty, 3),
    lowConfidence: r.lowConfidence,
    ...(r.lowConfidenceReason ? { lowConfidenceReason: r.lowConfidenceReason } : {}),
    ...(r.plausibility ? { ageBand: r.plausibility.band } : {}),
    provenance: r.provenance,
  };
}

export function inferText(r: SeriesResult, hasExpectedRanges: boolean): string {
  const lines = [
    `${r.provenance.modelName} ${r.provenance.modelVersion} on ${r.provenance.executionProvider}, ${r.provenance.durationMs} ms`,
  ];
  if (r.findings.length === 0) lines.push('  no findings');
  for (const f of r.findings) {
    const ref = f.region
      ? ` [${f.region.sopInstanceUid} @ ${f.region.graphicData
          .slice(0, 2)
          .map((v) => v.toFixed(0))
          .join(',')}]`
      : '';
    lines.push(`  ${f.id}. ${f.text}${ref}`);
  }
  lines.push(`Impression: ${r.impression}`);
  if (r.lowConfidence) lines.push(`Low confidence (uncertainty ${r.uncertainty.toFixed(2)}): correlate clinically.`);
  if (r.lowConfidenceReason) lines.push(`${r.lowConfidenceReason}.`);
  // Say that the contract was checked, not only when it failed: a plain number could mean either.
  if (r.plausibility && r.plausibility.issues.length === 0)
    lines.push(hasExpectedRanges ? `Within the model's expected ranges (${r.plausibility.band}).` : "Within the model's input checks.");
  return lines.join('\n') + '\n';
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/**
 * The models a node serves: every `models/<name>/` folder holding model.json + model.onnx, loaded
 * at start-up.
 *
 * A broken model must not stop the node (the SCP still has to file images), so each folder is
 * loaded on its own and reported as loaded or refused with every reason; jobs routed to a refused
 * model fail with that reason later. The sha256 of each ONNX file is recorded: the report stage puts
 * it in the Structured Report so a result can be traced to the exact weights that produced it.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

import { scanJson } from '../config/json-source';
import type { Logger } from '../log/logger';
import { ManifestError, parseManifest, type Manifest } from './manifest';
import { loadModel, ModelMismatchError, type ModelSession, type SessionOptions } from './session';

export const MANIFEST_FILE = 'model.json';
export const MODEL_FILE = 'model.onnx';

export interface LoadedModel {
  readonly name: string;
  readonly dir: string;
  readonly manifest: Manifest;
  readonly modelPath: string;
  /** Hex sha256 of model.onnx (provenance). */
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly session: ModelSession;
}

export type ModelReport =
  | {
      readonly folder: string;
      readonly status: 'loaded';
      readonly name: string;
      readonly version: string;
      readonly provider: string;
      readonly sha256: string;
      readonly notes: readonly string[];
    }
  | { readonly folder: string; readonly status: 'refused'; readonly reasons: readonly string[] };

export interface RegistryOptions extends SessionOptions {
  readonly logger?: Logger;
}

export class ModelRegistry {
  constructor(
    readonly models: ReadonlyMap<string, LoadedModel>,
    readonly report: readonly ModelReport[],
  ) {}

  get(name: string): LoadedModel | undefined {
    return this.models.get(name);
  }

  /** Why `name` is not available (refused, or no such folder), for a job's error. */
  whyUnavailable(name: string): string {
    const r = this.report.find((x) => x.folder === name);
    if (r && r.status === 'refused') return `model ${name} was refused at start-up: ${r.reasons.join('; ')}`;
    return `no model named ${name} is installed (looked for ${name}/${MANIFEST_FILE} in the models folder)`;
  }

  async close(): Promise<void> {
    await Promise.all([...this.models.values()].map((m) => m.session.close()));
  }
}

/** Streams the file (models can be gigabytes; a sync read would stall the event loop). */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Loads every model folder under `modelsDir`; a missing folder means no models. */
export async function loadModels(modelsDir: string, options: RegistryOptions = {}): Promise<ModelRegistry> {
  const models = new Map<string, LoadedModel>();
  const report: ModelReport[] = [];
  const folders = existsSync(modelsDir)
    ? readdirSync(modelsDir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
        .map((e) => e.name)
        .sort()
    : [];

  // One at a time: each session takes its own memory and threads, and the report order stays stable.
  for (const folder of folders) {
    const result = await loadOne(modelsDir, folder, options);
    if ('reasons' in result) {
      report.push({ folder, status: 'refused', reasons: result.reasons });
      options.logger?.warn('model refused', { model: folder, reasons: result.reasons });
    } else {
      models.set(result.name, result);
      const notes = result.session.failedProviders.map((a) => `execution provider ${a.provider} unavailable: ${firstLine(a.error)}`);
      report.push({
        folder,
        status: 'loaded',
        name: result.name,
        version: result.manifest.version,
        provider: result.session.provider,
        sha256: result.sha256,
        notes,
      });
      options.logger?.info('model loaded', {
        model: result.name,
        version: result.manifest.version,
        provider: result.session.provider,
        sha256: result.sha256,
        notForClinicalUse: result.manifest.notForClinicalUse,
        ...(notes.length > 0 ? { notes } : {}),
      });
    }
  }
  return new ModelRegistry(models, report);
}

async function loadOne(modelsDir: string, folder: string, options: SessionOptions): Promise<LoadedModel | { reasons: string[] }> {
  const dir = path.join(modelsDir, folder);
  // Shown to the site as "models/<name>/model.json", the way they laid the files out.
  const shown = path.join(path.basename(modelsDir), folder, MANIFEST_FILE);
  const manifestPath = path.join(dir, MANIFEST_FILE);
  const modelPath = path.join(dir, MODEL_FILE);
  const reasons: string[] = [];

  let manifest: Manifest | undefined;
  if (!existsSync(manifestPath)) {
    reasons.push(`${shown} is missing: every model folder needs a manifest describing the model`);
  } else {
    const text = readFileSync(manifestPath, 'utf8');
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      const scan = scanJson(text);
      reasons.push(
        scan.error
          ? `${shown}: not valid JSON at line ${scan.error.line}, column ${scan.error.column}: ${scan.error.reason}`
          : `${shown}: not valid JSON: ${(err as Error).message}`,
      );
    }
    if (raw !== undefined) {
      try {
        manifest = parseManifest(raw, shown);
      } catch (err) {
        if (!(err instanceof ManifestError)) throw err;
        reasons.push(...err.problems);
      }
    }
    if (manifest && manifest.name !== folder) {
      reasons.push(
        `${shown}: name: "${manifest.name}" differs from the folder name "${folder}"; rename one so they match (routes refer to models by this name)`,
      );
    }
  }
  const modelShown = path.join(path.basename(modelsDir), folder, MODEL_FILE);
  if (!existsSync(modelPath) || !statSync(modelPath).isFile()) {
    reasons.push(`${modelShown} is missing: copy the model's ONNX file there (see the README, "Installing a model")`);
  }
  if (reasons.length > 0 || !manifest) return { reasons };

  const sha256 = await sha256File(modelPath);
  try {
    const session = await loadModel(manifest, modelPath, options);
    return { name: manifest.name, dir, manifest, modelPath, sha256, sizeBytes: statSync(modelPath).size, session };
  } catch (err) {
    if (err instanceof ModelMismatchError) return { reasons: err.problems.map((p) => `${shown}: ${p}`) };
    return { reasons: [`${modelShown}: ${(err as Error).message}`] };
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}

/**
 * Model manifests: `models/<name>/model.json`, written by whoever installs a model at a site.
 *
 * The manifest is the whole plug-in contract: what the model is for, which series it applies to,
 * how to build its input tensor, how to read its output and how to word findings. Like the node
 * configuration, validation collects every problem at once and names the key path of each
 * (`models/foo/model.json: input.shape[1]: ...`), so a hospital IT person can fix the file in one go
 * without reading code. Keys starting with "//" are comments.
 *
 * This module checks the manifest on its own; model-check.ts checks it against the ONNX file.
 */
import { ImagingError } from '../imaging/pixel-module';
import { parseWindowOption } from '../imaging/voi';
import { closestMatch, describeValue, indexPath, isCommentKey, isPlainObject, keyPath } from '../config/problems';
import { POSTPROCESSORS } from './postprocess';
import { readPlausibility } from './plausibility-manifest';
import type { Plausibility } from './plausibility';
import { PREFERRED_PLANES, type StackPreference } from '../imaging/stacks';

export type OutputKind = 'classification' | 'detection' | 'segmentation' | 'heatmap';
export const OUTPUT_KINDS: readonly OutputKind[] = ['classification', 'detection', 'segmentation', 'heatmap'];

/** Tensor element types the node can build today (the imaging stage produces Float32 tensors). */
export const SUPPORTED_DTYPES = ['float32'] as const;
export type InputDtype = (typeof SUPPORTED_DTYPES)[number];

/** A fixed size, or a named/-1 dimension the model accepts at any size (typically the batch). */
export type Dim = number | 'dynamic';

export interface ManifestInput {
  readonly name: string;
  /** As written, with strings and -1 normalised to 'dynamic'. */
  readonly shape: readonly Dim[];
  /** One letter per dimension: N batch, C channels, D depth, H height, W width (e.g. NCHW, NCDHW). */
  readonly layout: string;
  readonly dtype: InputDtype;
}

/**
 * Intensity step before windowing (volume mode): "none", or "conform-uchar" = FreeSurfer's
 * `mri_convert --conform` mapping to uchar 0..255 with a robust upper bound (intensity-conform.ts).
 */
export type IntensityConform = 'none' | 'conform-uchar';
export const INTENSITY_CONFORMS: readonly IntensityConform[] = ['none', 'conform-uchar'];

export interface Preprocessing {
  /** As for routes: a preset name, "C/W", "percentile", "minmax" or "auto" (parseWindowOption). */
  readonly window: string;
  readonly intensity: IntensityConform;
  /** Spatial size of the tensor in layout order: [height, width] for slices, [depth, height, width] for volumes. */
  readonly targetSize: readonly number[];
  /** Per-channel (x - mean) / std after windowing to [0,1]; null = none. */
  readonly normalization: { readonly mean: readonly number[]; readonly std: readonly number[] } | null;
  readonly channels: 1 | 3;
  /** 2D slice by slice, or the whole series as one 3D volume. */
  readonly mode: 'slice' | 'volume';
  /** Slices per run in slice mode (the batch dimension). */
  readonly batchSize: number;
}

export interface ManifestOutput {
  readonly name: string;
  readonly kind: OutputKind;
  /** Class names in output-channel order (segmentation: index 0 is usually background). */
  readonly labels: readonly string[];
  /** How the raw outputs become probabilities: none (already), sigmoid or softmax over labels. */
  readonly activation: 'none' | 'sigmoid' | 'softmax';
  /** Score at or above which a label counts as a finding; per label, '*' for the others. */
  readonly thresholds: Readonly<Record<string, number>>;
  /** Named post-processor (a key of POSTPROCESSORS) that turns the outputs into findings. */
  readonly postprocess?: string;
}

export interface Manifest {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly intendedUse: string;
  readonly notForClinicalUse: boolean;
  /** Upper-case Modality values (CT, MR, ...) and Body Part Examined values; empty = any. */
  readonly applicability: { readonly modalities: readonly string[]; readonly bodyParts: readonly string[] };
  readonly input: ManifestInput;
  readonly preprocessing: Preprocessing;
  readonly output: ManifestOutput;
  /** Finding text per label ('*' for any label), with {placeholders} filled by the report stage. */
  readonly templates: Readonly<Record<string, string>>;
  /** A series result whose uncertainty exceeds this is flagged "low confidence". In [0,1]. */
  readonly uncertaintyThreshold: number;
  /** Expected ranges by age band and input checks (plausibility.ts); absent = none beyond applicability. */
  readonly plausibility?: Plausibility;
  /** Which stack of a series the model gets (several in one series); parseManifest fills the default (largest). */
  readonly stack?: StackPreference;
  /** A CT acquired with gantry tilt: resampled onto an orthogonal grid (default) or skipped. */
  readonly gantryTilt?: GantryTiltPolicy;
}

export type GantryTiltPolicy = 'resample' | 'skip';

/** Placeholders the findings stage fills in; anything else in a template is a typo. */
export const TEMPLATE_PLACEHOLDERS = [
  'label',
  'confidence',
  'score',
  'volumeMl',
  'volumeMm3',
  'areaMm2',
  'diameterMm',
  'location',
  'count',
  'model',
  'version',
] as const;

export class ManifestError extends Error {
  readonly problems: string[];

  constructor(problems: string[], where: string) {
    super(
      `${where} has ${problems.length === 1 ? '1 problem' : `${problems.length} problems`}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'ManifestError';
    this.problems = problems;
  }
}

const KEYS = {
  root: [
    'name',
    'version',
    'description',
    'intendedUse',
    'notForClinicalUse',
    'applicability',
    'input',
    'preprocessing',
    'output',
    'templates',
    'uncertaintyThreshold',
    'plausibility',
    'stack',
    'gantryTilt',
  ],
  stack: ['prefer', 'echo'],
  applicability: ['modalities', 'bodyParts'],
  input: ['name', 'shape', 'layout', 'dtype'],
  preprocessing: ['window', 'intensity', 'targetSize', 'normalization', 'channels', 'mode', 'batchSize'],
  normalization: ['mean', 'std'],
  output: ['name', 'kind', 'labels', 'activation', 'thresholds', 'postprocess'],
} as const;

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const LAYOUT_LETTERS = /^[NCDHW]+$/;

type Obj = Record<string, unknown>;

class Problems {
  readonly list: string[] = [];
  add(at: string, message: string): void {
    this.list.push(at === '' ? message : `${at}: ${message}`);
  }
}

function has(obj: Obj, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

/**
 * Validates a parsed model.json. `where` prefixes every problem (e.g. "models/foo/model.json").
 * Throws ManifestError listing every problem.
 */
export function parseManifest(raw: unknown, where: string): Manifest {
  const p = new Problems();
  const fail = (): never => {
    throw new ManifestError(
      p.list.map((m) => `${where}: ${m}`),
      where,
    );
  };
  if (!isPlainObject(raw)) {
    p.add('', `a model manifest must be a JSON object { ... }, but the file contains ${describeValue(raw)}`);
    return fail();
  }
  checkKeys(p, raw, '', KEYS.root);

  const name = readString(p, raw, '', 'name', true);
  if (name !== undefined && !NAME.test(name)) {
    p.add(
      'name',
      `${describeValue(name)} is not a usable model name; use lower-case letters, digits, ".", "_" or "-" (it is also the folder name)`,
    );
  }
  const version = readString(p, raw, '', 'version', true);
  const description = readString(p, raw, '', 'description', false) ?? '';
  const intendedUse = readString(p, raw, '', 'intendedUse', true);
  let notForClinicalUse = true;
  if (!has(raw, 'notForClinicalUse')) {
    p.add(
      'notForClinicalUse',
      'missing; write true for research/demo models, false only for a model cleared for clinical use at this site',
    );
  } else if (typeof raw['notForClinicalUse'] !== 'boolean') {
    p.add('notForClinicalUse', `${describeValue(raw['notForClinicalUse'])} is not true or false (without quotes)`);
  } else {
    notForClinicalUse = raw['notForClinicalUse'];
  }

  const applicability = readApplicability(p, raw);
  const input = readInput(p, raw);
  const preprocessing = readPreprocessing(p, raw, input);
  const output = readOutput(p, raw);
  const templates = readTemplates(p, raw, output?.labels);

  let uncertaintyThreshold = 1;
  if (has(raw, 'uncertaintyThreshold')) {
    const v = raw['uncertaintyThreshold'];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) p.add('uncertaintyThreshold', `${describeValue(v)} is not a number from 0 to 1`);
    else uncertaintyThreshold = v;
  } else {
    p.add('uncertaintyThreshold', 'missing; give the uncertainty (0 to 1) above which a result is flagged "low confidence", e.g. 0.3');
  }

  const plausibility = has(raw, 'plausibility')
    ? readPlausibility(raw['plausibility'], output?.labels, (at, m) => p.add(at, m))
    : undefined;
  const stack = readStack(p, raw);
  const gantryTilt = readGantryTilt(p, raw);

  if (p.list.length > 0 || name === undefined || version === undefined || intendedUse === undefined || !input || !preprocessing || !output)
    return fail();
  return {
    name,
    version,
    description,
    intendedUse,
    notForClinicalUse,
    applicability,
    input,
    preprocessing,
    output,
    templates,
    uncertaintyThreshold,
    ...(plausibility ? { plausibility } : {}),
    stack,
    gantryTilt,
  };
}

/** "stack": {"prefer": "largest" | "axial" | "coronal" | "sagittal", "echo": N}; absent = the largest stack. */
function readStack(p: Problems, raw: Obj): StackPreference {
  const obj = section(p, raw, 'stack', false);
  if (!obj) return { prefer: 'largest' };
  checkKeys(p, obj, 'stack', KEYS.stack);
  const allowed = ['largest', ...PREFERRED_PLANES];
  let prefer: StackPreference['prefer'] = 'largest';
  const rawPrefer = readString(p, obj, 'stack', 'prefer', false);
  if (rawPrefer !== undefined) {
    if (allowed.includes(rawPrefer)) prefer = rawPrefer as StackPreference['prefer'];
    else
      p.add(
        'stack.prefer',
        `${describeValue(rawPrefer)} is not one of ${allowed.map((a) => `"${a}"`).join(', ')} (the largest stack, or the largest in that plane)`,
      );
  }
  if (!has(obj, 'echo')) return { prefer };
  const echo = obj['echo'];
  if (typeof echo !== 'number' || !Number.isInteger(echo) || echo < 1) {
    p.add('stack.echo', `${describeValue(echo)} is not an Echo Number (a whole number from 1)`);
    return { prefer };
  }
  return { prefer, echo };
}

function readGantryTilt(p: Problems, raw: Obj): GantryTiltPolicy {
  const v = readString(p, raw, '', 'gantryTilt', false);
  if (v === undefined || v === 'resample' || v === 'skip') return v ?? 'resample';
  p.add(
    'gantryTilt',
    `${describeValue(v)} is not "resample" (shift each tilted slice back onto an orthogonal grid, as dcm2niix does) or "skip" (skip tilted series with the reason)`,
  );
  return 'resample';
}

function checkKeys(p: Problems, obj: Obj, at: string, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (isCommentKey(key) || allowed.includes(key)) continue;
    const guess = closestMatch(key, allowed);
    p.add(keyPath(at, key), `unknown key${guess ? `; did you mean "${guess}"?` : `; allowed here: ${allowed.join(', ')}`}`);
  }
}

function readString(p: Problems, obj: Obj, at: string, key: string, required: boolean): string | undefined {
  const path = keyPath(at, key);
  if (!has(obj, key)) {
    if (required) p.add(path, 'missing');
    return undefined;
  }
  const v = obj[key];
  if (typeof v !== 'string' || v.trim() === '') {
    p.add(path, `${describeValue(v)} is not a non-empty text in quotes`);
    return undefined;
  }
  return v.trim();
}

function section(p: Problems, obj: Obj, key: string, required: boolean): Obj | undefined {
  if (!has(obj, key)) {
    if (required) p.add(key, 'missing');
    return undefined;
  }
  const v = obj[key];
  if (!isPlainObject(v)) {
    p.add(key, `${describeValue(v)} is not an object { ... }`);
    return undefined;
  }
  return v;
}

function readStringList(p: Problems, obj: Obj, at: string, key: string): string[] | undefined {
  if (!has(obj, key)) return undefined;
  const path = keyPath(at, key);
  const v = obj[key];
  if (!Array.isArray(v)) {
    p.add(path, `${describeValue(v)} is not a list of texts, e.g. ["CT"]`);
    return undefined;
  }
  const out: string[] = [];
  v.forEach((item, i) => {
    if (typeof item !== 'string' || item.trim() === '') p.add(indexPath(path, i), `${describeValue(item)} is not a non-empty text`);
    else out.push(item.trim());
  });
  return out;
}

function readApplicability(p: Problems, raw: Obj): Manifest['applicability'] {
  const obj = section(p, raw, 'applicability', false);
  if (!obj) return { modalities: [], bodyParts: [] };
  checkKeys(p, obj, 'applicability', KEYS.applicability);
  // DICOM code strings are upper case; comparing upper-cased values spares sites a silent non-match.
  return {
    modalities: (readStringList(p, obj, 'applicability', 'modalities') ?? []).map((s) => s.toUpperCase()),
    bodyParts: (readStringList(p, obj, 'applicability', 'bodyParts') ?? []).map((s) => s.toUpperCase()),
  };
}

function readInput(p: Problems, raw: Obj): ManifestInput | undefined {
  const obj = section(p, raw, 'input', true);
  if (!obj) return undefined;
  checkKeys(p, obj, 'input', KEYS.input);
  const name = readString(p, obj, 'input', 'name', true);

  let shape: Dim[] | undefined;
  if (!has(obj, 'shape')) p.add('input.shape', 'missing; e.g. ["batch", 1, 512, 512]');
  else if (!Array.isArray(obj['shape']) || obj['shape'].length === 0) {
    p.add('input.shape', `${describeValue(obj['shape'])} is not a list of dimensions, e.g. ["batch", 1, 512, 512]`);
  } else {
    const dims: Dim[] = [];
    let ok = true;
    obj['shape'].forEach((d: unknown, i: number) => {
      if (d === -1 || (typeof d === 'string' && d.trim() !== '')) dims.push('dynamic');
      else if (typeof d === 'number' && Number.isInteger(d) && d >= 1) dims.push(d);
      else {
        ok = false;
        p.add(
          indexPath('input.shape', i),
          `${describeValue(d)} is not a dimension; use a whole number from 1, or -1 / a name such as "batch" for a size the model accepts at any value`,
        );
      }
    });
    if (ok) shape = dims;
  }

  const layout = readString(p, obj, 'input', 'layout', true);
  if (layout !== undefined) {
    if (
      !LAYOUT_LETTERS.test(layout) ||
      new Set(layout).size !== layout.length ||
      !/N/.test(layout) ||
      !/C/.test(layout) ||
      !/H/.test(layout) ||
      !/W/.test(layout)
    ) {
      p.add(
        'input.layout',
        `${describeValue(layout)} is not a tensor layout; use one letter per dimension, each once, from N (batch), C (channels), D (depth), H, W: e.g. "NCHW" or "NCDHW"`,
      );
    } else if (shape && layout.length !== shape.length) {
      p.add('input.layout', `"${layout}" has ${layout.length} letters but input.shape has ${shape.length} dimensions`);
    }
  }

  let dtype: InputDtype | undefined;
  const rawDtype = readString(p, obj, 'input', 'dtype', true);
  if (rawDtype !== undefined) {
    if ((SUPPORTED_DTYPES as readonly string[]).includes(rawDtype)) dtype = rawDtype as InputDtype;
    else
      p.add(
        'input.dtype',
        `${describeValue(rawDtype)} is not supported; the node builds ${SUPPORTED_DTYPES.join(', ')} input tensors (convert the model's input to float32)`,
      );
  }
  if (name === undefined || shape === undefined || layout === undefined || dtype === undefined) return undefined;
  return { name, shape, layout, dtype };
}

function readPreprocessing(p: Problems, raw: Obj, input: ManifestInput | undefined): Preprocessing | undefined {
  const obj = section(p, raw, 'preprocessing', true);
  if (!obj) return undefined;
  checkKeys(p, obj, 'preprocessing', KEYS.preprocessing);

  const window = readString(p, obj, 'preprocessing', 'window', false) ?? 'auto';
  try {
    parseWindowOption(window);
  } catch (err) {
    if (!(err instanceof ImagingError)) throw err;
    p.add('preprocessing.window', err.message);
  }

  let mode: Preprocessing['mode'] | undefined;
  const rawMode = readString(p, obj, 'preprocessing', 'mode', true);
  if (rawMode === 'slice' || rawMode === 'volume') mode = rawMode;
  else if (rawMode !== undefined)
    p.add('preprocessing.mode', `${describeValue(rawMode)} is not "slice" (2D, slice by slice) or "volume" (3D, whole series)`);

  let intensity: IntensityConform = 'none';
  const rawIntensity = readString(p, obj, 'preprocessing', 'intensity', false);
  if (rawIntensity !== undefined) {
    if ((INTENSITY_CONFORMS as readonly string[]).includes(rawIntensity)) intensity = rawIntensity as IntensityConform;
    else
      p.add(
        'preprocessing.intensity',
        `${describeValue(rawIntensity)} is not "none" or "conform-uchar" (FreeSurfer's conform to 0..255, for volume models trained on conformed T1)`,
      );
  }
  if (intensity !== 'none' && mode === 'slice')
    p.add('preprocessing.intensity', `"${intensity}" needs "mode": "volume" (it is computed over the whole series)`);

  let channels: 1 | 3 = 1;
  if (has(obj, 'channels')) {
    const c = obj['channels'];
    if (c === 1 || c === 3) channels = c;
    else p.add('preprocessing.channels', `${describeValue(c)} is not 1 (grey) or 3 (grey repeated into 3 channels)`);
  }

  const spatialRank = mode === 'volume' ? 3 : 2;
  let targetSize: number[] | undefined;
  if (!has(obj, 'targetSize'))
    p.add(
      'preprocessing.targetSize',
      `missing; e.g. ${mode === 'volume' ? '[256, 256, 256] (depth, height, width)' : '[512, 512] (height, width)'}`,
    );
  else {
    const t = obj['targetSize'];
    if (!Array.isArray(t) || t.length !== spatialRank || !t.every((n) => typeof n === 'number' && Number.isInteger(n) && n >= 1)) {
      p.add(
        'preprocessing.targetSize',
        `${describeValue(t)} is not ${spatialRank} whole numbers ${mode === 'volume' ? '[depth, height, width]' : '[height, width]'}`,
      );
    } else targetSize = t as number[];
  }

  let normalization: Preprocessing['normalization'] = null;
  if (has(obj, 'normalization') && obj['normalization'] !== null) {
    const n = obj['normalization'];
    if (!isPlainObject(n)) p.add('preprocessing.normalization', `${describeValue(n)} is not an object {"mean": ..., "std": ...}`);
    else {
      checkKeys(p, n, 'preprocessing.normalization', KEYS.normalization);
      const mean = readPerChannel(p, n, 'preprocessing.normalization', 'mean', channels, false);
      const std = readPerChannel(p, n, 'preprocessing.normalization', 'std', channels, true);
      if (mean && std) normalization = { mean, std };
    }
  }

  let batchSize = 1;
  if (has(obj, 'batchSize')) {
    const b = obj['batchSize'];
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 1 || b > 1024)
      p.add('preprocessing.batchSize', `${describeValue(b)} is not a whole number from 1 to 1024`);
    else batchSize = b;
  }

  // Cross-checks with input: the tensor we build must have the shape the manifest declares.
  if (input && mode) {
    const want = mode === 'volume' ? 'D' : '';
    if (mode === 'volume' && !input.layout.includes('D'))
      p.add('preprocessing.mode', `"volume" needs a 3D input layout with D, e.g. "NCDHW", but input.layout is "${input.layout}"`);
    if (mode === 'slice' && input.layout.includes('D'))
      p.add('preprocessing.mode', `"slice" needs a 2D input layout such as "NCHW", but input.layout is "${input.layout}"`);
    const cAt = input.layout.indexOf('C');
    const cDim = input.shape[cAt];
    if (typeof cDim === 'number' && cDim !== channels) {
      p.add('preprocessing.channels', `${channels} but input.shape[${cAt}] (the C dimension) is ${cDim}`);
    }
    if (targetSize && input.layout.length === input.shape.length) {
      [...want, 'H', 'W'].forEach((letter, i) => {
        const at = input.layout.indexOf(letter);
        const dim = input.shape[at];
        if (at >= 0 && typeof dim === 'number' && dim !== targetSize[i]) {
          p.add(indexPath('preprocessing.targetSize', i), `${targetSize[i]} but input.shape[${at}] (the ${letter} dimension) is ${dim}`);
        }
      });
    }
    const nAt = input.layout.indexOf('N');
    const nDim = input.shape[nAt];
    if (typeof nDim === 'number' && batchSize > nDim) {
      p.add('preprocessing.batchSize', `${batchSize} but input.shape[${nAt}] (the batch dimension N) is fixed at ${nDim}`);
    }
  }
  if (!mode || !targetSize) return undefined;
  return { window, intensity, targetSize, normalization, channels, mode, batchSize };
}

function readPerChannel(p: Problems, obj: Obj, at: string, key: string, channels: number, positive: boolean): number[] | undefined {
  const path = keyPath(at, key);
  if (!has(obj, key)) {
    p.add(path, 'missing');
    return undefined;
  }
  const v = obj[key];
  const list = typeof v === 'number' ? [v] : v;
  const okValue = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && (!positive || n > 0);
  if (!Array.isArray(list) || !(list.length === 1 || list.length === channels) || !list.every(okValue)) {
    p.add(path, `${describeValue(v)} is not ${positive ? 'a positive number' : 'a number'} or a list of ${channels} (one per channel)`);
    return undefined;
  }
  return list.length === channels ? list : new Array<number>(channels).fill(list[0] as number);
}

function readOutput(p: Problems, raw: Obj): ManifestOutput | undefined {
  const obj = section(p, raw, 'output', true);
  if (!obj) return undefined;
  checkKeys(p, obj, 'output', KEYS.output);
  const name = readString(p, obj, 'output', 'name', true);

  let kind: OutputKind | undefined;
  const rawKind = readString(p, obj, 'output', 'kind', true);
  if (rawKind !== undefined) {
    if ((OUTPUT_KINDS as readonly string[]).includes(rawKind)) kind = rawKind as OutputKind;
    else {
      const guess = closestMatch(rawKind, OUTPUT_KINDS);
      p.add(
        'output.kind',
        `${describeValue(rawKind)} is not one of ${OUTPUT_KINDS.join(', ')}${guess ? `; did you mean "${guess}"?` : ''}`,
      );
    }
  }

  const labels = has(obj, 'labels')
    ? readStringList(p, obj, 'output', 'labels')
    : (p.add('output.labels', 'missing; list the class names in output-channel order'), undefined);
  if (labels) {
    if (labels.length === 0) p.add('output.labels', 'the list is empty; list the class names in output-channel order');
    const seen = new Set<string>();
    labels.forEach((l, i) => {
      if (seen.has(l)) p.add(indexPath('output.labels', i), `"${l}" appears twice`);
      seen.add(l);
    });
  }

  let activation: ManifestOutput['activation'] = 'none';
  if (has(obj, 'activation')) {
    const a = obj['activation'];
    if (a === 'none' || a === 'sigmoid' || a === 'softmax') activation = a;
    else
      p.add(
        'output.activation',
        `${describeValue(a)} is not "none" (outputs are probabilities), "sigmoid" or "softmax" (outputs are logits)`,
      );
  }

  const thresholds: Record<string, number> = {};
  if (has(obj, 'thresholds')) {
    const t = obj['thresholds'];
    if (typeof t === 'number') {
      if (t >= 0 && t <= 1) thresholds['*'] = t;
      else p.add('output.thresholds', `${t} is not a score from 0 to 1`);
    } else if (isPlainObject(t)) {
      for (const [label, value] of Object.entries(t)) {
        if (isCommentKey(label)) continue;
        const at = keyPath('output.thresholds', label);
        if (label !== '*' && labels && !labels.includes(label)) {
          const guess = closestMatch(label, labels);
          p.add(at, `"${label}" is not one of output.labels${guess ? `; did you mean "${guess}"?` : ` (${labels.join(', ')})`}`);
        } else if (typeof value !== 'number' || !(value >= 0 && value <= 1))
          p.add(at, `${describeValue(value)} is not a score from 0 to 1`);
        else thresholds[label] = value;
      }
    } else p.add('output.thresholds', `${describeValue(t)} is not a score from 0 to 1 or an object {"label": score, "*": score}`);
  } else if (kind === 'classification' || kind === 'detection') {
    p.add('output.thresholds', `missing; a ${kind} model needs the score at which a label becomes a finding, e.g. 0.5 or {"nodule": 0.4}`);
  }

  let postprocess: string | undefined;
  const rawPost = readString(p, obj, 'output', 'postprocess', false);
  if (rawPost !== undefined) {
    const known = Object.keys(POSTPROCESSORS);
    if (Object.prototype.hasOwnProperty.call(POSTPROCESSORS, rawPost)) postprocess = rawPost;
    else {
      const guess = closestMatch(rawPost, known);
      p.add(
        'output.postprocess',
        `${describeValue(rawPost)} is not a post-processor this node has${guess ? `; did you mean "${guess}"?` : ''} (known: ${known.join(', ') || 'none'})`,
      );
    }
  }

  if (name === undefined || kind === undefined || !labels) return undefined;
  return { name, kind, labels, activation, thresholds, ...(postprocess !== undefined ? { postprocess } : {}) };
}

function readTemplates(p: Problems, raw: Obj, labels: readonly string[] | undefined): Record<string, string> {
  const obj = section(p, raw, 'templates', false);
  const out: Record<string, string> = {};
  if (!obj) return out;
  for (const [label, text] of Object.entries(obj)) {
    if (isCommentKey(label)) continue;
    const at = keyPath('templates', label);
    if (label !== '*' && labels && !labels.includes(label)) {
      const guess = closestMatch(label, labels);
      p.add(at, `"${label}" is not one of output.labels${guess ? `; did you mean "${guess}"?` : ` (${labels.join(', ')})`}`);
      continue;
    }
    if (typeof text !== 'string' || text.trim() === '') {
      p.add(at, `${describeValue(text)} is not a non-empty text`);
      continue;
    }
    // A misspelt placeholder would otherwise show up verbatim in a report sent to PACS.
    for (const m of text.matchAll(/\{([^{}]*)\}/g)) {
      const ph = m[1] as string;
      if (!(TEMPLATE_PLACEHOLDERS as readonly string[]).includes(ph)) {
        const guess = closestMatch(ph, TEMPLATE_PLACEHOLDERS);
        p.add(
          at,
          `unknown placeholder {${ph}}${guess ? `; did you mean {${guess}}?` : `; available: ${TEMPLATE_PLACEHOLDERS.map((x) => `{${x}}`).join(', ')}`}`,
        );
      }
    }
    if (/[{}]/.test(text.replace(/\{[^{}]*\}/g, ''))) p.add(at, 'unbalanced { or }');
    out[label] = text;
  }
  return out;
}

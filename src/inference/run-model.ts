/**
 * One model on one series volume: manifest preprocessing -> ONNX session (in its worker thread)
 * -> activation -> post-processor -> findings worded from the manifest's templates. Used by the
 * node's job runner and by the `infer` CLI, so both produce the same result for the same series.
 *
 * The CPU-heavy steps between runs (windowing, resampling, post-processing) are done in short
 * synchronous pieces with an event-loop turn between batches, so that C-ECHO and C-STORE on the
 * same process keep being answered while a long series is processed.
 */
import { setImmediate as turn } from 'node:timers/promises';
import type { Manifest } from './manifest';
import type { ModelSession, TensorData } from './session';
import type { Finding, Provenance, SeriesResult } from './findings';
import type { SeriesVolume } from './series-volume';
import type { FindingDraft, PostprocessContext, PostprocessResult, Postprocessor } from './postprocess/types';
import { describeVoi, planeToSource, sliceBatch } from './preprocess';
import type { Voi } from '../imaging/voi';
import { VERSION } from '../version';
import { CLASSIFICATION_POSTPROCESSOR, postprocessInWorker, prepareInWorker, volumeTensorInWorker } from './cpu-task';
import { POSTPROCESS_PREPARATIONS } from './postprocess';
import { postprocessorOf, sourceLabelsOrWhyNot, type SourceLabels } from './source-labels';
import { inReportOrder } from './finding-masks';

export interface VolumeTensor {
  readonly data: Float32Array;
  readonly dims: readonly number[];
  readonly voxelVolumeMm3: number;
  readonly description: string;
}

export interface RunModelOptions {
  readonly name: string;
  readonly manifest: Manifest;
  readonly session: Pick<ModelSession, 'run' | 'provider'> & Partial<Pick<ModelSession, 'takeSpareInput'>>;
  readonly sha256: string;
  readonly postprocessors: Readonly<Record<string, Postprocessor>>;
  /** Volume-mode input builder (conform/resample); required for manifests with mode 'volume'. */
  readonly volumeTensor?: (vol: SeriesVolume, m: Manifest) => VolumeTensor;
  /** Overrides the manifest's window (a route's `window` other than "auto"). */
  readonly window?: string;
  readonly deidentification: string;
  /** Rejects with this error once aborted (the job's time limit). */
  readonly signal?: AbortSignal;
  /**
   * Post-processing and volume conforming in a worker thread (the node: its SCP must keep
   * answering). The CLI and benchmarks run them in-process.
   */
  readonly offload?: boolean;
  /**
   * Given: filled in with the result's labels on the source grid for a DICOM Segmentation, or
   * why there are none (a model without a per-voxel label output).
   */
  readonly sourceLabels?: { value?: SourceLabels | string };
  /** Filled in when given: milliseconds of the model (input building and run) and of the post-processing. */
  readonly timings?: { modelMs: number; postprocessingMs: number };
}

export class InferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InferenceError';
  }
}

export async function runModel(vol: SeriesVolume, o: RunModelOptions): Promise<SeriesResult> {
  const started = Date.now();
  const m =
    o.window && o.window !== 'auto' ? { ...o.manifest, preprocessing: { ...o.manifest.preprocessing, window: o.window } } : o.manifest;
  const check = (): void => {
    if (o.signal?.aborted) throw o.signal.reason instanceof Error ? o.signal.reason : new InferenceError('inference aborted');
  };
  let ctx: PostprocessContext;
  let preprocessing: string;
  const outName = m.output.name;
  const name = postprocessorName(m, o.postprocessors);
  // What the post-processor needs of the volume alone starts now, beside the model (types.ts).
  // Should the model stage fail, the job's signal or the worker's own end stops it.
  const preparation = o.offload ? startPreparation(name, vol, o.signal) : null;
  if (m.preprocessing.mode === 'slice') {
    const bs = Math.max(1, m.preprocessing.batchSize);
    // A session that keeps input buffers for reuse gets each batch's back (takeSpareInput).
    const spareInput = o.session.takeSpareInput?.bind(o.session);
    const { maps, firstVoi } = await runSliceMaps(
      vol,
      m,
      (feeds, name) => o.session.run(feeds, [name], { returnInputs: spareInput !== undefined }).then((r) => r[name]),
      check,
      spareInput,
    );
    const voiText = firstVoi ? describeVoi(firstVoi) : '';
    const [H, W] = m.preprocessing.targetSize;
    preprocessing = `${voiText || `window ${m.preprocessing.window}`}; ${H}x${W} letterboxed bilinear; ${m.preprocessing.normalization ? 'mean/std normalised; ' : ''}slice-wise, batch ${bs}`;
    ctx = { volume: vol, manifest: m, maps };
  } else {
    if (!o.volumeTensor && !o.offload)
      throw new InferenceError(`model ${o.name} works on whole volumes, and no volume builder is available`);
    check();
    const t = o.offload ? await volumeTensorInWorker(vol, m) : o.volumeTensor!(vol, m);
    const outputs = await o.session.run({ [m.input.name]: { type: 'float32', data: t.data, dims: t.dims } }, [outName]);
    const out = outputs[outName];
    if (!out) throw new InferenceError(`the model returned no output "${outName}"`);
    ctx = {
      volume: vol,
      manifest: m,
      output: { data: activation(asFloat32(out), out.dims, m.output.activation), dims: out.dims, voxelVolumeMm3: t.voxelVolumeMm3 },
    };
    preprocessing = t.description;
  }
  check();
  const modelDone = Date.now();
  let r: PostprocessResult;
  if (o.offload) {
    // Waiting for a preparation the model did not outlast counts as post-processing.
    if (preparation) ctx = { ...ctx, prepared: await preparation };
    const done = await postprocessInWorker(name, ctx, o.sourceLabels !== undefined);
    r = done.result;
    if (o.sourceLabels) o.sourceLabels.value = done.sourceLabels;
  } else {
    r = (name === CLASSIFICATION_POSTPROCESSOR ? classificationScores : o.postprocessors[name]!)(ctx);
    if (o.sourceLabels) o.sourceLabels.value = sourceLabelsOrWhyNot(name, ctx, r);
  }
  const provenance: Provenance = {
    modelName: o.name,
    modelVersion: m.version,
    modelSha256: o.sha256,
    executionProvider: o.session.provider,
    preprocessing,
    deidentification: o.deidentification,
    nodeVersion: VERSION,
    durationMs: Date.now() - started,
    ...(vol.stack ? { stack: vol.stack } : {}),
  };
  if (o.timings) Object.assign(o.timings, { modelMs: modelDone - started, postprocessingMs: Date.now() - modelDone });
  return finish(r, m, o.name, provenance);
}

/**
 * The slice loop of a slice-mode model: batches of `preprocessing.batchSize` slices through
 * `run`, the manifest's activation, each output plane back onto the source grid. `run` is the
 * node's worker session, or a plain ONNX Runtime session in the benchmarks and model tests. Where
 * the model's grid is the source grid the maps are views into `run`'s outputs (no copy): each run
 * must return fresh buffers, as a session does. `spareInput` (the node's session: takeSpareInput)
 * gives back an earlier batch's input buffer to fill instead of fresh memory.
 */
export async function runSliceMaps(
  vol: SeriesVolume,
  m: Manifest,
  run: (feeds: Record<string, TensorData>, outputName: string) => Promise<TensorData | undefined>,
  check: () => void = () => undefined,
  spareInput?: (length: number) => Float32Array | undefined,
): Promise<{ maps: Float32Array[][]; firstVoi: Voi | undefined }> {
  const outName = m.output.name;
  const n = vol.slices.length;
  const bs = Math.max(1, m.preprocessing.batchSize);
  const maps: Float32Array[][] = [];
  let firstVoi: Voi | undefined;
  for (let from = 0; from < n; from += bs) {
    check();
    const to = Math.min(n, from + bs);
    const [H, W] = m.preprocessing.targetSize;
    const batch = sliceBatch(vol, from, to, m, spareInput?.((to - from) * m.preprocessing.channels * H! * W!));
    firstVoi ??= batch.vois[0];
    const out = await run({ [m.input.name]: { type: 'float32', data: batch.data, dims: batch.dims } }, outName);
    if (!out) throw new InferenceError(`the model returned no output "${outName}"`);
    const data = activation(asFloat32(out), out.dims, m.output.activation);
    if (out.dims.length === 4) {
      const [N, C, H, W] = out.dims as [number, number, number, number];
      if (N !== to - from) throw new InferenceError(`output "${outName}" has batch ${N}, expected ${to - from}`);
      for (let c = 0; c < C; c++) {
        maps[c] ??= [];
        for (let i = 0; i < N; i++) {
          const plane = data.subarray((i * C + c) * H * W, (i * C + c + 1) * H * W);
          maps[c]![from + i] = planeToSource(plane, H, W, vol.rows, vol.columns, batch.scale, batch.offsetX, batch.offsetY);
        }
      }
    } else if (out.dims.length === 2) {
      // Classification per slice: [N, labels] -> one "map" of a single value per slice and label.
      const [N, C] = out.dims as [number, number];
      for (let c = 0; c < C; c++) {
        maps[c] ??= [];
        for (let i = 0; i < N; i++) maps[c]![from + i] = Float32Array.of(data[i * C + c]!);
      }
    } else
      throw new InferenceError(`output "${outName}" has ${out.dims.length} dimensions; slice models give [N,C,H,W] maps or [N,C] scores`);
    await turn();
  }
  return { maps, firstVoi };
}

/**
 * The post-processor's volume preparation in a worker of its own, or null when it has none. It is
 * awaited only once the model is done: a failure meanwhile must not go unhandled.
 */
function startPreparation(name: string, vol: SeriesVolume, signal?: AbortSignal): Promise<unknown> | null {
  if (!POSTPROCESS_PREPARATIONS[name]) return null;
  const result = prepareInWorker(name, vol, signal);
  result.catch(() => undefined);
  return result;
}

/** Which post-processor reads this model's output (by name, so a worker thread can run it). */
function postprocessorName(m: Manifest, registry: Readonly<Record<string, Postprocessor>>): string {
  const named = m.output.postprocess;
  const name = postprocessorOf(m);
  if (registry[name] || (!named && name === CLASSIFICATION_POSTPROCESSOR)) return name;
  const known = `(known: ${Object.keys(registry).join(', ')})`;
  throw new InferenceError(
    named
      ? `model ${m.name} asks for post-processing "${named}", which this node does not have ${known}`
      : `model ${m.name}: output kind "${m.output.kind}" needs a "postprocess" entry in the manifest naming how to read it ${known}`,
  );
}

/**
 * Generic classification: per label, the highest score over the series' slices (or the single
 * volume score); a finding per label at or above its threshold. Uncertainty: how close the
 * decisive score is to its threshold (1 at the threshold, 0 far from it).
 */
export const classificationScores: Postprocessor = (ctx) => {
  const m = ctx.manifest;
  const labels = m.output.labels;
  const scores: number[] = labels.map((_, c) => {
    if (ctx.maps) return Math.max(...(ctx.maps[c] ?? []).map((a) => a[0] ?? 0));
    return ctx.output?.data[c] ?? 0;
  });
  const findings: FindingDraft[] = [];
  let uncertainty = 0;
  labels.forEach((label, c) => {
    const t = threshold(m, label);
    const s = scores[c]!;
    uncertainty = Math.max(uncertainty, 1 - Math.min(1, Math.abs(s - t) / Math.max(t, 1 - t, 1e-6)));
    if (s >= t) {
      findings.push({ label, code: { value: label, scheme: '99DAIN', meaning: label }, confidence: clamp01(s), measurements: [] });
    }
  });
  return { findings, uncertainty };
};

function threshold(m: Manifest, label: string): number {
  return m.output.thresholds[label] ?? m.output.thresholds['*'] ?? 0.5;
}

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0));
}

function finish(r: PostprocessResult, m: Manifest, name: string, provenance: Provenance): SeriesResult {
  // The order finding-masks.ts numbers a SEG's per-finding segments in.
  const ordered = inReportOrder(r.findings);
  const findings: Finding[] = ordered.map((d, i) => {
    const { templateValues, mask, ...rest } = d;
    // The voxels went into the SEG's labels (when asked for): the stored result keeps measurements only.
    void mask;
    return { ...rest, id: i + 1, text: wordFinding(m, name, d, templateValues ?? {}) };
  });
  const uncertainty = clamp01(r.uncertainty);
  const lowConfidence = uncertainty > m.uncertaintyThreshold;
  const impression =
    findings.length === 0
      ? `No finding at or above the model's threshold (${m.name} ${m.version}).`
      : findings.length === 1
        ? findings[0]!.text
        : `${findings.length} findings; the most confident: ${findings[0]!.text}`;
  return { findings, impression, uncertainty, lowConfidence, provenance };
}

/** Fills a manifest template: {placeholder} from measurements (by key), template values, and the basics. */
export function wordFinding(m: Manifest, name: string, d: FindingDraft, extra: Readonly<Record<string, string | number>>): string {
  const template = m.templates[d.label] ?? m.templates['*'] ?? '{label} ({confidence})';
  const values: Record<string, string> = {
    label: d.label,
    confidence: `${Math.round(d.confidence * 100)} %`,
    score: d.confidence.toFixed(2),
    model: name,
    version: m.version,
  };
  if (d.site) values.location = d.site.text;
  for (const ms of d.measurements) values[ms.key] = formatNumber(ms.value);
  for (const [k, v] of Object.entries(extra)) values[k] = typeof v === 'number' ? formatNumber(v) : v;
  return template.replace(/\{([a-zA-Z]+)\}/g, (all, k: string) => values[k] ?? all);
}

/** One decimal (8.2 mm, 518.5 ml), none from 1000 on (518540 mm3). */
function formatNumber(v: number): string {
  return Math.abs(v) >= 1000 ? v.toFixed(0) : v.toFixed(1);
}

function asFloat32(t: TensorData): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (Array.isArray(t.data)) throw new InferenceError('the model returned strings where numbers were expected');
  return Float32Array.from(t.data as ArrayLike<number>, Number);
}

/** The manifest's activation over the channel axis (dim 1). */
function activation(data: Float32Array, dims: readonly number[], kind: 'none' | 'sigmoid' | 'softmax'): Float32Array {
  if (kind === 'none') return data;
  if (kind === 'sigmoid') {
    for (let i = 0; i < data.length; i++) data[i] = 1 / (1 + Math.exp(-data[i]!));
    return data;
  }
  const N = dims[0] ?? 1;
  const C = dims[1] ?? 1;
  const inner = data.length / (N * C);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < inner; j++) {
      let max = -Infinity;
      for (let c = 0; c < C; c++) max = Math.max(max, data[(n * C + c) * inner + j]!);
      let sum = 0;
      for (let c = 0; c < C; c++) sum += Math.exp(data[(n * C + c) * inner + j]! - max);
      for (let c = 0; c < C; c++) {
        const k = (n * C + c) * inner + j;
        data[k] = Math.exp(data[k]! - max) / sum;
      }
    }
  }
  return data;
}

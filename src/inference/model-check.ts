/**
 * The manifest against the ONNX model's real inputs and outputs, at load time.
 *
 * A manifest that disagrees with its model would otherwise fail on the first series (or, worse,
 * run and be decoded wrongly), hours after the site installed it. The problems name the manifest
 * key to fix, and say what the model actually has.
 */
import type { Dim, Manifest } from './manifest';

/** What an ORT session says about one input/output (InferenceSession.ValueMetadata, flattened). */
export interface IoMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  /** Element type ("float32", ...); undefined for non-tensors. */
  readonly type?: string;
  /** Fixed sizes as numbers, symbolic/unknown ones as their name (string). */
  readonly shape?: ReadonlyArray<number | string>;
}

export interface ModelIo {
  readonly inputs: readonly IoMetadata[];
  readonly outputs: readonly IoMetadata[];
}

function showShape(shape: ReadonlyArray<number | string>): string {
  return `[${shape.map((d) => (typeof d === 'number' ? String(d) : d === '' ? '?' : d)).join(', ')}]`;
}

function showDim(d: Dim): string {
  return d === 'dynamic' ? 'a dynamic size' : String(d);
}

/** Problems as `key.path: message`, empty when the manifest fits the model. */
export function checkModelIo(manifest: Manifest, io: ModelIo): string[] {
  const problems: string[] = [];
  const { input, output } = manifest;

  const modelInput = io.inputs.find((m) => m.name === input.name);
  if (!modelInput) {
    problems.push(
      `input.name: the manifest says input "${input.name}" but the ONNX model's inputs are: ${io.inputs.map((m) => m.name).join(', ') || '(none)'}`,
    );
  } else {
    checkTensor(problems, 'input', modelInput, input.dtype, input.shape);
  }
  // The node feeds exactly one tensor; a model needing more cannot run.
  const unfed = io.inputs.filter((m) => m.name !== input.name).map((m) => `"${m.name}"`);
  if (modelInput && unfed.length > 0) {
    problems.push(
      `input.name: the ONNX model also needs input${unfed.length > 1 ? 's' : ''} ${unfed.join(', ')}; the node feeds a single image tensor`,
    );
  }

  const modelOutput = io.outputs.find((m) => m.name === output.name);
  if (!modelOutput) {
    problems.push(
      `output.name: the manifest says output "${output.name}" but the ONNX model's outputs are: ${io.outputs.map((m) => m.name).join(', ') || '(none)'}`,
    );
    return problems;
  }
  if (!modelOutput.isTensor) {
    problems.push(
      `output.name: the ONNX model's output "${output.name}" is not a tensor (a sequence or map); the node decodes float32 tensors`,
    );
    return problems;
  }
  if (modelOutput.type !== 'float32') {
    problems.push(
      `output.name: the ONNX model's output "${output.name}" is ${modelOutput.type ?? 'of unknown type'}; the node decodes float32 scores`,
    );
  }
  checkOutputShape(problems, manifest, modelOutput.shape ?? []);
  return problems;
}

function checkTensor(problems: string[], at: 'input', model: IoMetadata, dtype: string, shape: readonly Dim[]): void {
  if (!model.isTensor) {
    problems.push(`${at}.name: the ONNX model's input "${model.name}" is not a tensor`);
    return;
  }
  if (model.type !== dtype) {
    problems.push(
      `${at}.dtype: the manifest says "${dtype}" but the ONNX model's input "${model.name}" is ${model.type ?? 'of unknown type'}`,
    );
  }
  const modelShape = model.shape ?? [];
  if (modelShape.length !== shape.length) {
    problems.push(
      `${at}.shape: the manifest gives ${shape.length} dimensions but the ONNX model's input "${model.name}" has ${modelShape.length}: ${showShape(modelShape)}`,
    );
    return;
  }
  shape.forEach((d, i) => {
    const m = modelShape[i];
    // A fixed manifest size on a dynamic model dimension is fine (the manifest narrows it); a
    // dynamic manifest size on a fixed model dimension is not: the node would feed other sizes.
    if (typeof m === 'number' && d !== m) {
      problems.push(
        `${at}.shape[${i}]: the manifest says ${showDim(d)} but the ONNX model's input "${model.name}" fixes this dimension at ${m} (model shape ${showShape(modelShape)})`,
      );
    }
  });
}

function checkOutputShape(problems: string[], manifest: Manifest, shape: ReadonlyArray<number | string>): void {
  const { output, input } = manifest;
  const n = output.labels.length;
  const perLabel = (d: number | string | undefined): boolean => typeof d !== 'number' || d === n || (n === 1 && d === 1);
  if (output.kind === 'classification') {
    const last = shape[shape.length - 1];
    if (!perLabel(last)) {
      problems.push(
        `output.labels: the manifest lists ${n} labels but the ONNX model's output "${output.name}" has ${String(last)} scores per image (shape ${showShape(shape)})`,
      );
    }
  } else if (output.kind === 'segmentation' || output.kind === 'heatmap') {
    if (shape.length !== input.shape.length) {
      problems.push(
        `output.kind: a ${output.kind} output has the input's ${input.shape.length} dimensions (${input.layout}) but the ONNX model's output "${output.name}" has ${shape.length}: ${showShape(shape)}`,
      );
      return;
    }
    const c = input.layout.indexOf('C');
    if (!perLabel(shape[c])) {
      problems.push(
        `output.labels: the manifest lists ${n} labels but the ONNX model's output "${output.name}" has ${String(shape[c])} channels (shape ${showShape(shape)})`,
      );
    }
  }
  // detection: box/score tensor layouts vary by model family; the detection decoder checks them.
}

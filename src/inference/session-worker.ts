/**
 * The worker thread that owns one model's onnxruntime-node session (see session.ts for why a
 * worker). It creates the session with the first execution provider that works, reports what the
 * model's inputs/outputs are, then answers run requests one at a time.
 *
 * Tensors travel as transferred ArrayBuffers both ways: a 256³ volume is 64 MiB in and 192 MiB out,
 * and structured-cloning that would cost the main thread more than the inference spares it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

import type { IoMetadata } from './model-check';
import type { ProviderAttempt, TensorData, WorkerReply, WorkerRequest, WorkerSetup } from './session-protocol';
import { transferableBuffers } from './session-protocol';

const setup = workerData as WorkerSetup;
const port = parentPort!;

function metadata(list: readonly ort.InferenceSession.ValueMetadata[]): IoMetadata[] {
  return list.map((m) =>
    m.isTensor ? { name: m.name, isTensor: true, type: m.type, shape: [...m.shape] } : { name: m.name, isTensor: false },
  );
}

function message(err: unknown): string {
  // ORT errors carry the native source location first; the last line is the readable part.
  const text = err instanceof Error ? err.message : String(err);
  return text.trim();
}

/**
 * Why the CUDA provider cannot load, when its library is plainly not installed (the project's
 * .npmrc skips the CUDA download; GPU hosts install it, README "GPU hosts"). Asking ONNX Runtime
 * anyway gives the same fallback, but its native logger first prints a red "Failed to load library"
 * error on stderr, which reads like a crash to whoever runs `infer` or watches the service log.
 * Null when the library is there or the package's layout is not the one known here: then ORT tries.
 */
function missingCudaLibrary(): string | null {
  let binDir: string;
  try {
    binDir = path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return null;
  }
  const library = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  if (!fs.existsSync(binDir) || fs.existsSync(path.join(binDir, library))) return null;
  return `ONNX Runtime's CUDA binaries are not installed (no ${library} beside onnxruntime-node's binding); on a GPU host: npm install --onnxruntime-node-install=cuda12`;
}

async function create(): Promise<void> {
  const attempts: ProviderAttempt[] = [];
  for (const provider of setup.providers) {
    const missing = provider === 'cuda' ? missingCudaLibrary() : null;
    if (missing) {
      attempts.push({ provider, error: missing });
      continue;
    }
    try {
      const options: ort.InferenceSession.SessionOptions = {
        executionProviders: [provider],
        graphOptimizationLevel: 'all',
        ...(setup.intraOpNumThreads > 0 ? { intraOpNumThreads: setup.intraOpNumThreads } : {}),
      };
      const session = await ort.InferenceSession.create(setup.modelPath, options);
      const reply: WorkerReply = {
        type: 'ready',
        provider,
        attempts,
        io: { inputs: metadata(session.inputMetadata), outputs: metadata(session.outputMetadata) },
      };
      port.postMessage(reply);
      serve(session);
      return;
    } catch (err) {
      attempts.push({ provider, error: message(err) });
    }
  }
  port.postMessage({ type: 'failed', attempts } satisfies WorkerReply);
}

function serve(session: ort.InferenceSession): void {
  port.on('message', (req: WorkerRequest) => {
    if (req.type === 'close') {
      void session.release().finally(() => port.close());
      return;
    }
    void runOne(session, req.id, req.feeds, req.outputNames, req.returnInputs === true);
  });
}

async function runOne(
  session: ort.InferenceSession,
  id: number,
  feeds: Record<string, TensorData>,
  outputNames: readonly string[] | undefined,
  returnInputs: boolean,
): Promise<void> {
  try {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds))
      ortFeeds[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, [...t.dims]);
    const results = outputNames ? await session.run(ortFeeds, outputNames) : await session.run(ortFeeds);
    const outputs: Record<string, TensorData> = {};
    for (const [name, tensor] of Object.entries(results)) outputs[name] = { type: tensor.type, data: tensor.data, dims: [...tensor.dims] };
    // The feeds go back when asked: fresh memory costs page faults on every first touch (about
    // 3.5 ms per MB on the VM this was measured on), and a slice model's next batch fills the same
    // size again. Otherwise they are dropped here (a volume model's 64 MB input is not kept).
    const inputs = returnInputs ? transferableBuffers(Object.values(feeds)) : [];
    const transfer = [...inputs, ...transferableBuffers(Object.values(outputs)).filter((b) => !inputs.includes(b))];
    port.postMessage({ type: 'result', id, outputs, ...(returnInputs ? { inputs } : {}) } satisfies WorkerReply, transfer);
  } catch (err) {
    port.postMessage({ type: 'error', id, message: message(err) } satisfies WorkerReply);
  }
}

void create();

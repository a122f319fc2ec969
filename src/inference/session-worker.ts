/**
 * The worker thread that owns one model's onnxruntime-node session (see session.ts for why a
 * worker). It creates the session with the first execution provider that works, reports what the
 * model's inputs/outputs are, then answers run requests one at a time.
 *
 * Tensors travel as transferred ArrayBuffers both ways: a 256³ volume is 64 MiB in and 192 MiB out,
 * and structured-cloning that would cost the main thread more than the inference spares it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

import type { IoMetadata } from './model-check';
import type { ProviderAttempt, TensorData, WorkerReply, WorkerRequest, WorkerSetup } from './session-protocol';

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

async function create(): Promise<void> {
  const attempts: ProviderAttempt[] = [];
  for (const provider of setup.providers) {
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
    void runOne(session, req.id, req.feeds, req.outputNames);
  });
}

async function runOne(
  session: ort.InferenceSession,
  id: number,
  feeds: Record<string, TensorData>,
  outputNames: readonly string[] | undefined,
): Promise<void> {
  try {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds))
      ortFeeds[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, [...t.dims]);
    const results = outputNames ? await session.run(ortFeeds, outputNames) : await session.run(ortFeeds);
    const outputs: Record<string, TensorData> = {};
    // The feeds go back too: fresh memory costs page faults on every first touch (about 3.5 ms per
    // MB on the VM this was measured on), and a slice model's next batch fills the same size again.
    const inputs: ArrayBuffer[] = [];
    for (const t of Object.values(feeds))
      if (!Array.isArray(t.data) && t.data.buffer instanceof ArrayBuffer && !inputs.includes(t.data.buffer)) inputs.push(t.data.buffer);
    const transfer: ArrayBuffer[] = [...inputs];
    for (const [name, tensor] of Object.entries(results)) {
      const data = tensor.data;
      outputs[name] = { type: tensor.type, data, dims: [...tensor.dims] };
      if (!Array.isArray(data) && data.buffer instanceof ArrayBuffer && !transfer.includes(data.buffer)) transfer.push(data.buffer);
    }
    port.postMessage({ type: 'result', id, outputs, inputs } satisfies WorkerReply, transfer);
  } catch (err) {
    port.postMessage({ type: 'error', id, message: message(err) } satisfies WorkerReply);
  }
}

void create();

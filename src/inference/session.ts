/**
 * One onnxruntime-node session per model, created once and reused for every job.
 *
 * Why a worker thread: onnxruntime-node 1.30's `session.run` returns a promise, but its backend
 * (dist/backend.js) only defers the call with setImmediate and then runs the native inference
 * *synchronously on the calling thread*; ORT's intra-op pool helps with the maths, not with the
 * event loop. Measured here: a meshnet 256³ run on the main thread took 5.7 s during which a 10 ms
 * setInterval did not tick once — the Storage SCP would have stopped answering C-ECHO/C-STORE for
 * the whole inference. So each session lives in a worker thread of its own (session-worker.ts);
 * the main thread only posts tensors (transferred, not copied) and awaits the reply. With the same
 * run in a worker, the main thread's longest gap between 10 ms ticks was 25-135 ms on this 2-vCPU
 * machine (typically ~40 ms; the worst on back-to-back runs, from memory traffic rather than CPU:
 * test/inference.test.ts). A worker shares the process: a native crash in ORT still takes the node
 * down, which a child process would not.
 *
 * Execution providers are tried in the configured order (e.g. ["cuda", "webgpu", "cpu"]): when
 * creating the session with one fails (no GPU, CUDA libraries not installed), the next is tried,
 * and `provider` tells which one is in use. ORT itself still runs nodes a GPU provider does not
 * support on the CPU.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import type { Manifest } from './manifest';
import { checkModelIo, type ModelIo } from './model-check';
import type { ProviderAttempt, TensorData, WorkerReply, WorkerRequest, WorkerSetup } from './session-protocol';
import { transferableBuffers } from './session-protocol';

export type { ProviderAttempt, TensorData } from './session-protocol';

export interface SessionOptions {
  /** Execution providers in order of preference; the first that works is used. Default ["cpu"]. */
  readonly providers?: readonly string[];
  /** Threads for one inference (ORT intra-op); 0 or absent = onnxruntime's default (one per physical core). */
  readonly intraOpNumThreads?: number;
}

export class SessionError extends Error {
  override readonly name = 'SessionError';
}

/** The manifest does not fit the ONNX file; `problems` are `key.path: message`. */
export class ModelMismatchError extends Error {
  override readonly name = 'ModelMismatchError';
  constructor(
    readonly model: string,
    readonly problems: readonly string[],
  ) {
    super(`model ${model}: the manifest does not match the ONNX model:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Input buffers kept for reuse: the slice loop has one run in flight at a time. */
const MAX_SPARE_INPUTS = 2;

interface Pending {
  resolve(outputs: Record<string, TensorData>): void;
  reject(err: Error): void;
}

export class ModelSession {
  private readonly pending = new Map<number, Pending>();
  /** Input buffers the worker sent back after their runs (a few: the slice loop runs one at a time). */
  private readonly spareInputs: ArrayBuffer[] = [];
  private nextId = 1;
  private closed = false;
  private failure: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly modelPath: string,
    /** The execution provider in use ("cpu", "cuda", ...). */
    readonly provider: string,
    /** Providers tried before `provider`, with why each failed (for the start-up report). */
    readonly failedProviders: readonly ProviderAttempt[],
    /** The ONNX model's real inputs and outputs. */
    readonly io: ModelIo,
  ) {
    worker.on('message', (reply: WorkerReply) => this.onReply(reply));
    worker.on('error', (err) => this.fail(new SessionError(`inference worker for ${modelPath} failed: ${err.message}`)));
    worker.on('exit', (code) => this.fail(new SessionError(`inference worker for ${modelPath} exited (code ${code})`)));
    // An idle session must not keep the process alive; a running inference must.
    worker.unref();
  }

  /** Creates the session in a worker thread, trying `providers` in order. */
  static open(modelPath: string, options: SessionOptions = {}): Promise<ModelSession> {
    const providers = options.providers ?? ['cpu'];
    if (providers.length === 0) return Promise.reject(new SessionError('no execution providers configured; use e.g. ["cpu"]'));
    const threads = options.intraOpNumThreads ?? 0;
    if (!Number.isInteger(threads) || threads < 0)
      return Promise.reject(new SessionError(`intraOpNumThreads must be a whole number ≥ 0, got ${threads}`));
    const setup: WorkerSetup = { modelPath: path.resolve(modelPath), providers: [...providers], intraOpNumThreads: threads };
    const worker = new Worker(path.join(__dirname, 'session-worker.js'), { workerData: setup });

    return new Promise((resolve, reject) => {
      const onExit = (code: number): void =>
        reject(new SessionError(`inference worker for ${modelPath} exited (code ${code}) before the session was created`));
      const onError = (err: Error): void => reject(new SessionError(`inference worker for ${modelPath} failed: ${err.message}`));
      worker.once('exit', onExit);
      worker.once('error', onError);
      worker.once('message', (reply: WorkerReply) => {
        worker.off('exit', onExit);
        worker.off('error', onError);
        if (reply.type === 'ready') {
          resolve(new ModelSession(worker, setup.modelPath, reply.provider, reply.attempts, reply.io));
        } else {
          void worker.terminate();
          const why =
            reply.type === 'failed' ? reply.attempts.map((a) => `${a.provider}: ${a.error}`).join('; ') : `unexpected reply ${reply.type}`;
          reject(new SessionError(`cannot load ${modelPath} with any of the execution providers ${providers.join(', ')}: ${why}`));
        }
      });
    });
  }

  get inputNames(): string[] {
    return this.io.inputs.map((m) => m.name);
  }

  get outputNames(): string[] {
    return this.io.outputs.map((m) => m.name);
  }

  /**
   * Runs the model. The feeds' buffers are *transferred* to the inference thread (no 64 MiB+
   * copy), so the caller's arrays are detached afterwards: pass a copy if you still need them.
   * Runs on one session are queued by the worker and execute one after the other. With
   * `returnInputs` the feeds' buffers come back after the run and wait for takeSpareInput (a
   * caller that fills the same size again: the slice loop); without it they are dropped.
   */
  run(
    feeds: Record<string, TensorData>,
    outputNames?: readonly string[],
    options: { returnInputs?: boolean } = {},
  ): Promise<Record<string, TensorData>> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new SessionError(`session for ${this.modelPath} is closed`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) this.worker.ref();
      const req: WorkerRequest = {
        type: 'run',
        id,
        feeds,
        ...(outputNames ? { outputNames: [...outputNames] } : {}),
        ...(options.returnInputs ? { returnInputs: true } : {}),
      };
      this.worker.postMessage(req, transferableBuffers(Object.values(feeds)));
    });
  }

  /**
   * A Float32Array of `length` on an input buffer an earlier run sent back, or undefined when there
   * is none of that size: the slice loop fills it with the next batch instead of fresh memory.
   */
  takeSpareInput(length: number): Float32Array | undefined {
    const i = this.spareInputs.findIndex((b) => b.byteLength === length * Float32Array.BYTES_PER_ELEMENT);
    return i < 0 ? undefined : new Float32Array(this.spareInputs.splice(i, 1)[0]!);
  }

  /** Releases the native session and ends the worker; pending runs are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ type: 'close' } satisfies WorkerRequest);
    // A worker stuck in a long native run would not see 'close' until it finishes: do not wait.
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await exited;
    clearTimeout(timer);
  }

  private onReply(reply: WorkerReply): void {
    if (reply.type !== 'result' && reply.type !== 'error') return;
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if (reply.type === 'result') {
      for (const b of reply.inputs ?? []) if (this.spareInputs.push(b) > MAX_SPARE_INPUTS) this.spareInputs.shift();
      p.resolve(reply.outputs);
    } else p.reject(new SessionError(`inference with ${path.basename(path.dirname(this.modelPath))} failed: ${reply.message}`));
  }

  private fail(err: Error): void {
    if (!this.closed) this.failure ??= err;
    for (const p of this.pending.values()) p.reject(this.failure ?? err);
    this.pending.clear();
  }
}

/**
 * Opens the model's session and checks the manifest against the model's real inputs/outputs;
 * on a mismatch the session is closed and ModelMismatchError lists what to fix.
 */
export async function loadModel(manifest: Manifest, modelPath: string, options: SessionOptions = {}): Promise<ModelSession> {
  const session = await ModelSession.open(modelPath, options);
  const problems = checkModelIo(manifest, session.io);
  if (problems.length > 0) {
    await session.close();
    throw new ModelMismatchError(manifest.name, problems);
  }
  return session;
}

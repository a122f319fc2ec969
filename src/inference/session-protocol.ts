// Messages between session.ts (main thread) and session-worker.ts (the thread owning the ORT session).
import type { ModelIo } from './model-check';

export interface WorkerSetup {
  readonly modelPath: string;
  readonly providers: readonly string[];
  /** 0 = onnxruntime's default (one thread per physical core). */
  readonly intraOpNumThreads: number;
}

/** A tensor as plain data: what crosses the thread boundary (the buffer is transferred, not copied). */
export interface TensorData {
  readonly type: string;
  readonly data:
    | Float32Array
    | Uint8Array
    | Int8Array
    | Int32Array
    | BigInt64Array
    | Float64Array
    | Uint16Array
    | Int16Array
    | Uint32Array
    | BigUint64Array
    | string[];
  readonly dims: readonly number[];
}

export interface ProviderAttempt {
  readonly provider: string;
  readonly error: string;
}

export type WorkerRequest =
  | {
      readonly type: 'run';
      readonly id: number;
      readonly feeds: Record<string, TensorData>;
      readonly outputNames?: readonly string[];
      /** Send the feeds' buffers back with the result (the caller fills them again: session.ts takeSpareInput). */
      readonly returnInputs?: boolean;
    }
  | { readonly type: 'close' };

export type WorkerReply =
  | { readonly type: 'ready'; readonly provider: string; readonly attempts: readonly ProviderAttempt[]; readonly io: ModelIo }
  | { readonly type: 'failed'; readonly attempts: readonly ProviderAttempt[] }
  | {
      readonly type: 'result';
      readonly id: number;
      readonly outputs: Record<string, TensorData>;
      /** The feeds' buffers, sent back (transferred) when the run asked for them (returnInputs). */
      readonly inputs?: readonly ArrayBuffer[];
    }
  | { readonly type: 'error'; readonly id: number; readonly message: string };

/**
 * The buffers of `tensors` that can be transferred to another thread, each once: not string
 * tensors, and not SharedArrayBuffers (shared, never moved).
 */
export function transferableBuffers(tensors: Iterable<TensorData>): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const t of tensors)
    if (!Array.isArray(t.data) && t.data.buffer instanceof ArrayBuffer && !out.includes(t.data.buffer)) out.push(t.data.buffer);
  return out;
}

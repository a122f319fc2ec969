/**
 * Candidates segmented ahead by helper threads, with the findings exactly those of one thread.
 *
 * Candidates are segmented strongest first, and each one's segmentation is recorded so that a
 * weaker candidate on a structure already segmented is skipped (segmented-voxels.ts). Candidate
 * i depends on candidates 0..i-1 only through that record's "already segmented?" answers, and
 * about nine in ten are not skipped. So helpers segment candidates ahead of the post-processor
 * against an empty record of their own (SegmentationLog), logging the questions it answered "no"
 * and the records made; when the post-processor reaches such a candidate, the real record is asked
 * the same questions (SegmentedVoxels.takeIn). Where every answer is the same, the segmentation
 * went exactly as it would have here (the same code on the same values) and its records are made
 * here; where one differs, the candidate is segmented again here. Only rejections are taken from a helper: an accepted candidate is
 * segmented again here, with the in-plane averaged series the helpers do not have (a solid
 * nodule's faint halo is read on it), and there are a handful per series.
 *
 * The candidates are dealt round: with one helper, the post-processor segments the even ones and
 * the helper the odd ones. Which thread segments a candidate is claimed in a shared array, so the
 * post-processor, walking in order, takes any candidate whose helper has not started it yet (a
 * helper fallen behind skips it and catches up). Were helpers to take the next free candidate
 * instead, the post-processor would always find the next one taken and only wait. The post-processor
 * blocks on Atomics.wait for a helper's candidate and reads its result with receiveMessageOnPort,
 * so the post-processor stays synchronous. On a 200-slice chest CT (about 4750 candidates) this
 * takes the per-candidate step from one core to two (bench/detector-profile.ts).
 */
import os from 'node:os';
import path from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { SeriesVolume } from '../../series-volume';
import type { CandidateOutcome } from './candidate-segmentation';
import type { Candidate } from './candidates';
import type { SegmentationLogEntry, SegmentedVoxels } from './segmented-voxels';

/** Claims, one Int32 per candidate (and one more: the stop flag). */
export const CLAIM = { free: 0, post: 1, helper: 2, done: 3, notTaken: 4 } as const;
/** Fewer candidates than this: starting a helper (module loading, ~0.2 s) costs more than it saves. */
export const LOOKAHEAD_MIN_CANDIDATES = 400;
/** At most this many helpers: candidates ahead of the post-processor are segmented against an older record (more are segmented again). */
const MAX_HELPERS = 3;
/** A helper silent this long on a candidate it claimed (ms; a candidate takes a few ms) is given up: the post-processor goes on alone. */
const HELPER_SILENCE_LIMIT_MS = 5_000;

/** What the post-processor hands the helpers: the series (shared), the masks segmentation reads, the candidates in order. */
export interface LookaheadWork {
  readonly volume: SeriesVolume;
  readonly filled: readonly Uint8Array[];
  readonly closed: readonly Uint8Array[];
  readonly candidates: readonly Candidate[];
}

/** A helper's rejection of candidate `index`, with its record's log. */
export interface HelperResult {
  readonly index: number;
  readonly outcome: CandidateOutcome;
  readonly log: SegmentationLogEntry;
}

/** Data for each helper thread (segmentation-lookahead-worker.ts). */
export interface HelperData extends LookaheadWork {
  readonly claims: Int32Array;
  readonly port: MessagePort;
  /** This helper's number (1..helpers): its share of the candidates. */
  readonly helper: number;
  readonly helpers: number;
}

/** How many helpers by default: one core fewer than the machine has, at most MAX_HELPERS. */
export function defaultLookaheadHelpers(): number {
  return Math.max(0, Math.min(MAX_HELPERS, os.availableParallelism() - 1));
}

export interface LookaheadCounts {
  /** Candidates whose helper's rejection held against the record. */
  fromHelpers: number;
  /** Candidates a helper segmented that were segmented again here (answers differed, or accepted). */
  segmentedAgain: number;
}

export class SegmentationLookahead {
  readonly counts: LookaheadCounts = { fromHelpers: 0, segmentedAgain: 0 };
  private readonly results = new Map<number, HelperResult>();
  private givenUp = false;

  private constructor(
    private readonly claims: Int32Array,
    private readonly ports: MessagePort[],
    private readonly workers: Worker[],
  ) {}

  /**
   * Starts `helpers` helper threads on `work`, or returns null where they cannot help: no helper
   * asked for, or a series whose values are not shared memory (a copy would cost more than it saves).
   */
  static start(work: LookaheadWork, helpers: number): SegmentationLookahead | null {
    if (helpers < 1 || !work.volume.values.every((v) => v.buffer instanceof SharedArrayBuffer)) return null;
    const claims = new Int32Array(new SharedArrayBuffer((work.candidates.length + 1) * Int32Array.BYTES_PER_ELEMENT));
    const shared = { ...work, filled: work.filled.map(sharedCopy), closed: work.closed.map(sharedCopy) };
    const ports: MessagePort[] = [];
    const workers: Worker[] = [];
    for (let h = 0; h < helpers; h++) {
      const { port1, port2 } = new MessageChannel();
      const data: HelperData = { ...shared, claims, port: port2, helper: h + 1, helpers };
      const worker = new Worker(path.join(__dirname, 'segmentation-lookahead-worker.js'), { workerData: data, transferList: [port2] });
      // A helper that fails only stops helping: its claimed candidate times out and is segmented here.
      worker.on('error', () => undefined);
      worker.unref();
      ports.push(port1);
      workers.push(worker);
    }
    return new SegmentationLookahead(claims, ports, workers);
  }

  /**
   * Candidate `index`'s rejection by a helper, replayed into `record`; undefined when the
   * post-processor must segment it itself (its own share, a helper's not started yet, or the
   * helper's answers do not hold).
   */
  outcomeFor(index: number, record: SegmentedVoxels): CandidateOutcome | undefined {
    if (this.givenUp || index % (this.workers.length + 1) === 0) return undefined;
    if (Atomics.compareExchange(this.claims, index, CLAIM.free, CLAIM.post) === CLAIM.free) return undefined;
    if (!this.awaitHelper(index)) return undefined;
    const result = Atomics.load(this.claims, index) === CLAIM.done ? this.resultOf(index) : undefined;
    if (result && record.takeIn(result.log)) {
      this.counts.fromHelpers++;
      return result.outcome;
    }
    this.counts.segmentedAgain++;
    return undefined;
  }

  /** Stops the helpers (they may still be segmenting a candidate: their threads are ended). */
  stop(): void {
    Atomics.store(this.claims, this.claims.length - 1, 1);
    for (const port of this.ports) port.close();
    for (const worker of this.workers) void worker.terminate();
  }

  /** Waits while a helper segments candidate `index`; false (and no more helping) when it stays silent too long. */
  private awaitHelper(index: number): boolean {
    const deadline = Date.now() + HELPER_SILENCE_LIMIT_MS;
    while (Atomics.load(this.claims, index) === CLAIM.helper) {
      if (Date.now() > deadline) {
        this.givenUp = true;
        this.stop();
        return false;
      }
      Atomics.wait(this.claims, index, CLAIM.helper, 100);
    }
    return true;
  }

  /** The helper's result for `index`: posted before its claim was marked done, so it is in a port's queue. */
  private resultOf(index: number): HelperResult | undefined {
    for (const port of this.ports) {
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
        const result = m.message as HelperResult;
        this.results.set(result.index, result);
      }
    }
    const result = this.results.get(index);
    this.results.delete(index);
    return result;
  }
}

/** `mask` in shared memory (copied once unless it is already there), for the helpers to read in place. */
function sharedCopy(mask: Uint8Array): Uint8Array {
  if (mask.buffer instanceof SharedArrayBuffer) return mask;
  const shared = new Uint8Array(new SharedArrayBuffer(mask.length));
  shared.set(mask);
  return shared;
}

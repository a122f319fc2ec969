/**
 * A lookahead helper thread (segmentation-lookahead.ts): claims its share of the candidates, each
 * unless the post-processor already took it, segments each against an empty logged record, and posts its rejections with the log;
 * an accepted candidate is left to the post-processor (claim marked "not taken").
 */
import { workerData } from 'node:worker_threads';
import { segmentCandidate } from './candidate-segmentation';
import { CLAIM, type HelperData, type HelperResult } from './segmentation-lookahead';
import { SegmentationLog } from './segmented-voxels';
import { volumeGrid } from './volume-grid';

const { volume, filled, closed, candidates, claims, port, helper, helpers } = workerData as HelperData;
const grid = volumeGrid(volume);
const log = new SegmentationLog();
const stopFlag = candidates.length;

// Helper h's share: every (helpers + 1)th candidate from h on (the post-processor's is from 0 on).
for (let index = helper; index < candidates.length && Atomics.load(claims, stopFlag) === 0; index += helpers + 1) {
  if (Atomics.compareExchange(claims, index, CLAIM.free, CLAIM.helper) !== CLAIM.free) continue;
  let outcome;
  try {
    // No averaged series: it is read only around an accepted solid core, and accepted candidates are not taken.
    outcome = segmentCandidate(volume, grid, filled, candidates[index]!, log, closed, undefined);
  } catch {
    outcome = undefined; // segmented again by the post-processor, where the error belongs
  }
  const taken = log.take();
  if (outcome?.outcome === 'rejected') {
    const result: HelperResult = { index, outcome, log: taken };
    port.postMessage(result, [taken.askedNo.buffer as ArrayBuffer, ...taken.recorded.map((r) => r.mask.buffer as ArrayBuffer)]);
    Atomics.store(claims, index, CLAIM.done);
  } else {
    Atomics.store(claims, index, CLAIM.notTaken);
  }
  Atomics.notify(claims, index);
}
// Stay until stopped: results still queued on the port are read after this loop ends.
Atomics.wait(claims, stopFlag, 0);

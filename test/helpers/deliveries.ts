// Queues a delivery the way the job runner does: a row in the store's delivery table (the job
// runner writes it in the same transaction as its report; a test has no job, so it queues alone).
import type { DeliveryAlternative, DeliveryRow, Store } from '../../src/store/store';

export interface QueuedInstance {
  sopInstanceUid: string;
  sopClassUid: string;
  filePath: string;
}

/** `alternatives`: other forms of the same content, sent instead when the destination refuses this one's SOP class. */
export function queueDelivery(
  store: Store,
  inst: QueuedInstance,
  destination: string,
  alternatives: DeliveryAlternative[] = [],
): DeliveryRow {
  return store.enqueueDelivery(
    { sopInstanceUid: inst.sopInstanceUid, sopClassUid: inst.sopClassUid, filePath: inst.filePath, destination, alternatives },
    Date.now(),
  );
}

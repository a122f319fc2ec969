// Group commit of index rows. Every stored instance needs its row committed before its C-STORE is
// answered; with several associations, instances often become ready together (one folder fsync
// covers the renames of all of them: see fsyncDir in instance-writer.ts). Their rows then go in one
// SQLite transaction instead of one each: the pages they share (the series and study rows and
// their indexes) are written to the WAL once, and the locking and commit work is paid once. Each
// caller still waits for the commit that holds its row, so nothing is answered earlier than
// before. One instance whose row fails is rolled back alone (a savepoint each); a failed commit
// fails them all.

import type { IndexAttributes, InstanceRecord, Store } from '../store/store';

type Recorded = ReturnType<Store['recordInstance']>;

interface Pending {
  instance: InstanceRecord;
  attributes: IndexAttributes;
  resolve: (r: Recorded) => void;
  reject: (e: unknown) => void;
}

export class IndexCommits {
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(private readonly store: Store) {}

  /** Resolves once the row is committed (with what recordInstance says), rejects with its error. */
  record(instance: InstanceRecord, attributes: IndexAttributes): Promise<Recorded> {
    return new Promise((resolve, reject) => {
      this.queue.push({ instance, attributes, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      // After the I/O callbacks of this turn of the event loop: every instance whose folder fsync
      // completed in it joins the same transaction.
      setImmediate(() => this.commit());
    });
  }

  private commit(): void {
    const batch = this.queue;
    this.queue = [];
    this.scheduled = false;
    const outcomes: ({ ok: true; value: Recorded } | { ok: false; error: unknown })[] = [];
    try {
      this.store.inOneTransaction(() => {
        for (const p of batch) {
          try {
            outcomes.push({ ok: true, value: this.store.recordInstance(p.instance, p.attributes) });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if (o.ok) p.resolve(o.value);
      else p.reject(o.error);
    });
  }
}

const perStore = new WeakMap<Store, IndexCommits>();

/** The one group-commit queue of a store (every association's writers share it). */
export function indexCommitsFor(store: Store): IndexCommits {
  let c = perStore.get(store);
  if (!c) perStore.set(store, (c = new IndexCommits(store)));
  return c;
}

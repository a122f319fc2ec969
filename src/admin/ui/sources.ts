// What the dashboard reads and does, given by the node (src/node.ts wires it): the store's
// read-only queries, the node's live state, and the operator's actions, each audited by the node.

import type { NodeConfig } from '../../config/config';
import type { EchoOutcome } from '../../delivery/echo-destination';
import type { ModelReport } from '../../inference/registry';
import type { AuditSink } from '../../log/audit';
import type { JobRow, Store } from '../../store/store';

export interface DashboardSources {
  readonly store: Store;
  readonly config: NodeConfig;
  readiness(): { name: string; ok: boolean; detail?: string }[];
  models(): readonly ModelReport[];
  /** The DICOM listeners that are up: "plain" / "TLS" and their port. */
  listeners(): { kind: string; port: number }[];
  diskFreeBytes(): number;
  retryJob(id: number): { job: JobRow } | { error: string };
  /** Queues a failed delivery again (attempts reset) and starts a sweep; audited by the node. */
  retryDelivery(id: number): { ok: true } | { error: string };
  echo(destination: string): Promise<EchoOutcome | { error: string }>;
  /** The window a route's key images use: the route's own, else its model's (as the job runner picks it). */
  keyImageWindow(route: string, model: string): string;
  audit: AuditSink;
}

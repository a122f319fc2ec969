// What the node reports to a hospital's monitoring (Prometheus): associations, instances and
// bytes received, refusals by status, store latency, series by state, free disk space.
// Later stages (queue, inference, delivery) add their own series to the same registry.

import { Counter, GaugeFn, Histogram, Registry } from './metrics';
import { isSuccessOrWarning } from '../dimse/command';

export interface MetricsSources {
  openAssociations: () => number;
  seriesByState: () => { state: string; count: number }[];
  jobsByState: () => { state: string; count: number }[];
  deliveriesByState: () => { state: string; count: number }[];
  /** Deliveries waiting for another attempt after a failed one. */
  retryBacklog: () => number;
  diskFreeBytes: () => number;
}

export class NodeMetrics {
  readonly registry = new Registry();
  readonly associations = this.registry.add(
    new Counter('dicom_ai_associations_total', 'Associations that ended, by outcome (released, aborted).'),
  );
  readonly rejected = this.registry.add(new Counter('dicom_ai_associations_rejected_total', 'Association requests rejected, by reason.'));
  readonly connectionsRefused = this.registry.add(
    new Counter('dicom_ai_connections_refused_total', 'Connections closed before their association request, by reason (pending-limit).'),
  );
  readonly instances = this.registry.add(
    new Counter('dicom_ai_instances_received_total', 'C-STORE requests answered with success (instance durably stored and indexed).'),
  );
  readonly refused = this.registry.add(
    new Counter('dicom_ai_instances_refused_total', 'C-STORE requests answered with a failure, by status (hex).'),
  );
  readonly bytes = this.registry.add(new Counter('dicom_ai_bytes_received_total', 'Bytes received on DICOM associations (all PDUs).'));
  readonly storeSeconds = this.registry.add(
    new Histogram(
      'dicom_ai_store_duration_seconds',
      'From C-STORE request to response, including the durable write.',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
  );

  readonly inferenceSeconds = this.registry.add(
    new Histogram(
      'dicom_ai_inference_duration_seconds',
      'One model run on one series (preprocessing, model, post-processing), by model and execution provider.',
      [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 900],
    ),
  );
  readonly jobsFinished = this.registry.add(
    new Counter('dicom_ai_jobs_finished_total', 'Jobs that ended, by model and outcome (done, failed, skipped).'),
  );
  readonly plausibility = this.registry.add(
    new Counter(
      'dicom_ai_plausibility_total',
      "Results flagged low confidence (outcome flagged) and jobs skipped (outcome skipped) by the model's contract, by model and check (range, age-band, modality, body-part, slices, slice-thickness, coverage, uncertainty).",
    ),
  );
  readonly narratives = this.registry.add(
    new Counter(
      'dicom_ai_narratives_total',
      'Report texts asked of the narrative model, by outcome (accepted, rejected by grounding, failed, skipped).',
    ),
  );
  readonly deliveryAttempts = this.registry.add(
    new Counter('dicom_ai_delivery_attempts_total', 'Attempts to send a report or key image, by destination and outcome (ok, failed).'),
  );

  constructor(src: MetricsSources) {
    this.registry.add(
      new GaugeFn('dicom_ai_delivery_retry_backlog', 'Deliveries waiting for another attempt after a failed one.', () => [
        { labels: {}, value: src.retryBacklog() },
      ]),
    );
    this.registry.add(
      new GaugeFn('dicom_ai_associations_open', 'Associations open now.', () => [{ labels: {}, value: src.openAssociations() }]),
    );
    this.registry.add(stateGauge('dicom_ai_series', 'Series known to the node, by state.', ['receiving', 'stable'], src.seriesByState));
    this.registry.add(
      stateGauge(
        'dicom_ai_jobs',
        'Pipeline jobs by state (queued = waiting for the model; unrouted = no route matched).',
        ['queued', 'unrouted', 'processing', 'done', 'failed', 'skipped'],
        src.jobsByState,
      ),
    );
    this.registry.add(
      stateGauge(
        'dicom_ai_deliveries',
        'Deliveries to destinations by state (queued includes those waiting for a retry).',
        ['queued', 'sending', 'delivered', 'failed'],
        src.deliveriesByState,
      ),
    );
    this.registry.add(
      new GaugeFn('dicom_ai_disk_free_bytes', "Free space on the data folder's file system.", () => {
        const v = src.diskFreeBytes();
        return Number.isFinite(v) ? [{ labels: {}, value: v }] : [];
      }),
    );
  }

  storeResult(status: number, ms: number): void {
    if (isSuccessOrWarning(status)) this.instances.inc();
    else this.refused.inc({ status: status.toString(16).padStart(4, '0') });
    this.storeSeconds.observe(ms / 1000);
  }

  render(): string {
    return this.registry.render();
  }
}

/** A gauge with one sample per state, 0 for states that have no rows (so dashboards see them). */
function stateGauge(name: string, help: string, states: readonly string[], read: () => { state: string; count: number }[]): GaugeFn {
  return new GaugeFn(name, help, () => {
    const rows = read();
    return states.map((state) => ({ labels: { state }, value: rows.find((r) => r.state === state)?.count ?? 0 }));
  });
}

// Stage 3: the result and its provenance, as the row recorded in SQLite. Pure.

import type { SeriesResult } from '../inference/findings';
import type { ResultRecord } from '../store/store';
import type { SeriesInstances } from './series-instances';

export interface ResultInput {
  readonly jobId: number;
  /** The job's burned-in annotation flag, recorded in the result JSON as `flag`. */
  readonly burnedInFlag: string | null;
  readonly model: { readonly name: string; readonly version: string; readonly sha256: string };
  readonly series: SeriesInstances;
  readonly result: SeriesResult;
  /** The key image PNG, when one was made. */
  readonly keyImagePath: string | null;
}

export function resultRecord(input: ResultInput): ResultRecord {
  const { result, series, model } = input;
  return {
    jobId: input.jobId,
    seriesInstanceUid: series.seriesInstanceUid,
    model: model.name,
    modelVersion: model.version,
    modelSha256: model.sha256,
    executionProvider: result.provenance.executionProvider,
    preprocessing: result.provenance.preprocessing,
    deidentification: result.provenance.deidentification,
    instancesHash: series.instancesHash,
    instanceCount: series.instances.length,
    findings: result.findings.length,
    lowConfidence: result.lowConfidence,
    resultJson: JSON.stringify({
      ...result,
      ...(input.burnedInFlag ? { flag: input.burnedInFlag } : {}),
      ...(input.keyImagePath ? { keyImage: input.keyImagePath } : {}),
    }),
    durationMs: result.provenance.durationMs,
  };
}

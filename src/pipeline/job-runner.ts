/**
 * Queued jobs -> results -> reports -> deliveries.
 *
 * One job = one (stable series, route). The runner takes queued jobs urgent-first, at most
 * `inference.concurrency` at a time and one per model at a time (a model's session runs one
 * inference after another anyway; a second job would only wait inside the worker). Each run:
 *
 *   1. reads the stored instances and DE-IDENTIFIES each one in memory (PS3.15 Basic Profile);
 *      only those de-identified objects are decoded into the volume the model sees. The original
 *      SOP Instance UIDs travel beside them, so findings point at what PACS has.
 *   2. runs the model (src/inference/run-model.ts) under the job's time limit;
 *   3. records the result with its provenance in SQLite;
 *   4. builds the SR in every form the route's destinations may need, from the ORIGINAL patient
 *      and study identity, under UIDs derived from (series, model, version, revision): a rerun
 *      after a crash rebuilds the very same objects, so a resend replaces instead of duplicating;
 *   5. writes the files durably, then records reports + deliveries + "done" in one transaction.
 *
 * Late instances: a series routed again after new instances re-queues its job; the run sees a
 * different set of instances, so it writes revision n+1 with the previous report in its
 * Predecessor Documents Sequence.
 */
import fsp from 'node:fs/promises';
import { setImmediate as turn } from 'node:timers/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { REPORT_FORMS } from '../config/config';
import type { NodeConfig, ReportForm, RouteConfig } from '../config/config';
import type { JobRow, Store, DeliveryAlternative, ReportRecord } from '../store/store';
import type { Logger } from '../log/logger';
import type { ModelRegistry, LoadedModel } from '../inference/registry';
import type { Postprocessor } from '../inference/postprocess/types';
import type { SeriesResult } from '../inference/findings';
import { runModel } from '../inference/run-model';
import { loadSeriesVolume, frameOfReferenceOf, VolumeInput } from '../inference/series-volume';
import { deidentifyPart10 } from '../deid';
import { buildReport } from '../report/build-sr';
import { hashUid, reportUids } from '../report/uids';
import { writeFileDurably } from './durable-file';
import { keyImage, KeyImage } from '../inference/key-image';
import { buildKeyImageSc } from '../report/key-image-sc';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, VERSION } from '../version';

export const DEID_DESCRIPTION = 'DICOM PS3.15 Basic Application Level Confidentiality Profile (in memory, before the model)';

export interface JobRunnerDeps {
  readonly config: NodeConfig;
  readonly store: Store;
  readonly log: Logger;
  readonly models: () => ModelRegistry | null;
  readonly deidSecret: Buffer;
  readonly postprocessors: Readonly<Record<string, Postprocessor>>;
  /** Called after a job's reports were queued for delivery. */
  readonly onReportsQueued: () => void;
  /** Metrics: every job that ends (not those interrupted by a stop). */
  readonly onJobFinished?: (e: { model: string; ok: boolean; inferenceMs: number; provider: string }) => void;
  readonly audit: (e: {
    event: string;
    outcome: 'success' | 'failure';
    seriesInstanceUid?: string;
    studyInstanceUid?: string;
    detail?: string;
  }) => void;
}

export class JobRunner {
  private readonly running = new Map<number, { model: string; done: Promise<void> }>();
  private stopped = false;
  private pumping = false;

  constructor(private readonly d: JobRunnerDeps) {}

  /** Starts what can start now (new jobs queued, a job finished, a model loaded). */
  kick(): void {
    if (this.stopped || this.pumping) return;
    this.pumping = true;
    try {
      const reg = this.d.models();
      if (!reg) return;
      const loaded = [...reg.models.keys()];
      while (this.running.size < this.d.config.inference.concurrency) {
        const busy = new Set([...this.running.values()].map((r) => r.model));
        const job = this.d.store.claimNextJob(loaded, busy, Date.now());
        if (!job) break;
        const model = reg.get(job.model!)!;
        const done = this.process(job, model)
          .catch((e: Error) => void this.d.log.error('job ended abnormally', { job: job.id, error: e.message }))
          .finally(() => {
            this.running.delete(job.id);
            setImmediate(() => this.kick());
          });
        this.running.set(job.id, { model: model.name, done });
      }
    } catch (e) {
      this.d.log.error('could not take the next job', { error: (e as Error).message });
    } finally {
      this.pumping = false;
    }
  }

  get activeJobs(): number {
    return this.running.size;
  }

  /** Waits for running jobs up to `graceMs`; what is still running stays 'processing' and is re-queued at the next start. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    const all = Promise.all([...this.running.values()].map((r) => r.done.catch(() => undefined)));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }

  private async process(job: JobRow, model: LoadedModel): Promise<void> {
    const { store, log, config } = this.d;
    const started = Date.now();
    const route = config.routes.find((r) => r.name === job.route);
    const fields = { job: job.id, route: job.route, model: model.name, version: model.manifest.version };
    try {
      if (!route) throw new Error(`route "${job.route}" is no longer configured`);
      const instances = store.listInstances(job.seriesInstanceUid);
      if (instances.length === 0) throw new Error('the series has no stored instances');
      const instancesHash = createHash('sha256')
        .update(
          instances
            .map((i) => i.sopInstanceUid)
            .sort()
            .join('\n'),
        )
        .digest('hex');
      log.info('job started', { ...fields, instances: instances.length, urgent: job.priority === 'urgent' });

      // 1. Original bytes stay here; the model's side only ever gets de-identified copies.
      const inputs: VolumeInput[] = [];
      let firstOriginal: Buffer | null = null;
      for (const inst of instances) {
        const original = await fsp.readFile(inst.filePath);
        firstOriginal ??= original;
        let deidBytes: Buffer;
        try {
          deidBytes = deidentifyPart10(original, {
            secret: this.d.deidSecret,
            implementationClassUid: IMPLEMENTATION_CLASS_UID,
            implementationVersionName: IMPLEMENTATION_VERSION_NAME,
          }).bytes;
        } catch (e) {
          throw new Error(
            `instance ${inst.sopInstanceUid} could not be de-identified, so it is not given to the model: ${(e as Error).message}`,
          );
        }
        inputs.push({ bytes: deidBytes, sopInstanceUid: inst.sopInstanceUid, sopClassUid: inst.sopClassUid });
        await turn(); // one instance at a time, then let DICOM traffic through
      }
      const volume = await loadSeriesVolume(inputs, frameOfReferenceOf(firstOriginal!));
      inputs.length = 0; // let the de-identified copies go before the model allocates its tensors
      // Gaps, uneven spacing, localizers or non-image objects left out: geometry and counts only.
      if (volume.warnings.length > 0) log.warn('series volume has warnings', { ...fields, warnings: volume.warnings });

      // 2. The model, under the time limit.
      const limitMs = config.inference.timeLimitSeconds * 1000;
      const abort = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const timeLimit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new Error(`time limit exceeded (${config.inference.timeLimitSeconds} s, inference.timeLimitSeconds)`);
          abort.abort(err);
          reject(err);
        }, limitMs);
      });
      let result: SeriesResult;
      try {
        result = await Promise.race([
          runModel(volume, {
            name: model.name,
            manifest: model.manifest,
            session: model.session,
            sha256: model.sha256,
            postprocessors: this.d.postprocessors,
            window: route.window,
            deidentification: DEID_DESCRIPTION,
            signal: abort.signal,
            offload: true,
          }),
          timeLimit,
        ]);
      } finally {
        clearTimeout(timer);
      }
      const flagged = job.reason?.startsWith('flagged') ? job.reason : null;

      // The key image of the most confident finding, kept with the job.
      let keyImagePath: string | null = null;
      let key: KeyImage | null = null;
      try {
        const window = route.window && route.window !== 'auto' ? route.window : model.manifest.preprocessing.window;
        key = await keyImage(volume, result.findings, window);
        if (key) {
          keyImagePath = path.join(config.storage.dataDir, 'key-images', `job-${job.id}-${instancesHash.slice(0, 16)}.png`);
          await writeFileDurably(keyImagePath, key.png, config.node.fsync);
        }
      } catch (e) {
        log.warn('key image could not be made; the report goes without it', { ...fields, error: (e as Error).message });
      }

      // 3. The result and its provenance.
      const resultId = store.recordResult(
        {
          jobId: job.id,
          seriesInstanceUid: job.seriesInstanceUid,
          model: model.name,
          modelVersion: model.manifest.version,
          modelSha256: model.sha256,
          executionProvider: result.provenance.executionProvider,
          preprocessing: result.provenance.preprocessing,
          deidentification: result.provenance.deidentification,
          instancesHash,
          instanceCount: instances.length,
          findings: result.findings.length,
          lowConfidence: result.lowConfidence,
          resultJson: JSON.stringify({
            ...result,
            ...(flagged ? { flag: flagged } : {}),
            ...(keyImagePath ? { keyImage: keyImagePath } : {}),
          }),
          durationMs: result.provenance.durationMs,
        },
        Date.now(),
      );

      // 4-5. Reports and their deliveries.
      const latest = store.latestReports(job.seriesInstanceUid, model.name, model.manifest.version);
      const sameInstances = latest.length > 0 && latest[0]!.instancesHash === instancesHash;
      const revision = latest.length === 0 ? 1 : sameInstances ? latest[0]!.revision : latest[0]!.revision + 1;
      const studyUid = store.getSeries(job.seriesInstanceUid)?.studyInstanceUid ?? '';
      // Each form of revision n supersedes the same form of revision n-1 (what that PACS got), or
      // the most capable form when that one was not made.
      const previousRevision =
        revision > 1 ? store.reportsOfRevision(job.seriesInstanceUid, model.name, model.manifest.version, revision - 1) : [];
      const forms = formsNeeded(route, config);
      const base = reportUids(job.seriesInstanceUid, model.name, model.manifest.version, revision);
      const sourceInstances = instances.map((i) => ({ sopClassUid: i.sopClassUid, sopInstanceUid: i.sopInstanceUid }));
      const files = new Map<ReportForm, { sopInstanceUid: string; sopClassUid: string; filePath: string; studyInstanceUid: string }>();
      for (const form of forms) {
        const uids = formUids(base, form);
        const built = buildReport({
          form,
          language: config.report.language,
          sourceFile: firstOriginal!,
          sourceInstances,
          sourceSeriesInstanceUid: job.seriesInstanceUid,
          result,
          device: reportDevice(config),
          revision,
          ...predecessorFor(previousRevision, form, studyUid),
          contentDateTime: new Date(),
          uids,
        });
        const filePath = path.join(config.storage.dataDir, 'reports', built.seriesInstanceUid, `${built.sopInstanceUid}.dcm`);
        await writeFileDurably(filePath, built.bytes, config.node.fsync);
        files.set(form, {
          sopInstanceUid: built.sopInstanceUid,
          sopClassUid: built.sopClassUid,
          filePath,
          studyInstanceUid: built.studyInstanceUid,
        });
      }
      // Optionally the key image as a Secondary Capture, in a series of its own, sent with the SR.
      const extra: { sopInstanceUid: string; sopClassUid: string; filePath: string; form: string }[] = [];
      if (route.keyImage && key) {
        const f = result.findings.find((x) => x.id === key.findingId)!;
        const sc = buildKeyImageSc({
          sourceFile: firstOriginal!,
          sourceSeriesInstanceUid: job.seriesInstanceUid,
          referenced: { sopClassUid: f.region!.sopClassUid, sopInstanceUid: f.region!.sopInstanceUid },
          rgb: key.rgb,
          width: key.width,
          height: key.height,
          caption: `${model.name} ${model.manifest.version}, finding ${f.id}: ${f.text} (AI-generated, unverified)`,
          language: config.report.language,
          device: reportDevice(config),
          uids: {
            seriesInstanceUid: hashUid('dicom-ai-node/key-image-series', base.seriesInstanceUid),
            sopInstanceUid: hashUid('dicom-ai-node/key-image', base.sopInstanceUid),
          },
          contentDateTime: new Date(),
          revision,
        });
        const filePath = path.join(config.storage.dataDir, 'reports', sc.seriesInstanceUid, `${sc.sopInstanceUid}.dcm`);
        await writeFileDurably(filePath, sc.bytes, config.node.fsync);
        extra.push({ sopInstanceUid: sc.sopInstanceUid, sopClassUid: sc.sopClassUid, filePath, form: 'key-image' });
      }
      const deliveries = route.destinations.flatMap((name) => {
        const dest = config.destinations[name];
        if (!dest) return [];
        const [first, ...rest] = dest.reportForms.map((f) => files.get(f)!);
        const alternatives: DeliveryAlternative[] = rest.map((f) => ({
          sopInstanceUid: f.sopInstanceUid,
          sopClassUid: f.sopClassUid,
          filePath: f.filePath,
        }));
        return [
          {
            sopInstanceUid: first!.sopInstanceUid,
            sopClassUid: first!.sopClassUid,
            filePath: first!.filePath,
            destination: name,
            alternatives,
          },
          ...extra.map((x) => ({
            sopInstanceUid: x.sopInstanceUid,
            sopClassUid: x.sopClassUid,
            filePath: x.filePath,
            destination: name,
            alternatives: [],
          })),
        ];
      });
      const now = Date.now();
      store.recordReportAndDeliveries(
        job.id,
        [...[...files.entries()].map(([form, f]) => ({ ...f, form: form })), ...extra].map((f) => ({
          sopInstanceUid: f.sopInstanceUid,
          sopClassUid: f.sopClassUid,
          form: f.form,
          seriesInstanceUid: job.seriesInstanceUid,
          model: model.name,
          modelVersion: model.manifest.version,
          revision,
          instancesHash,
          srSeriesInstanceUid: base.seriesInstanceUid,
          jobId: job.id,
          resultId,
          filePath: f.filePath,
        })),
        deliveries,
        now,
      );
      const study = files.values().next().value?.studyInstanceUid;
      this.d.audit({
        event: 'report-created',
        outcome: 'success',
        seriesInstanceUid: job.seriesInstanceUid,
        ...(study ? { studyInstanceUid: study } : {}),
        detail: `job ${job.id}: ${model.name} ${model.manifest.version} on ${result.provenance.executionProvider}, ${result.findings.length} finding(s), revision ${revision}, forms ${forms.join('/')}, to ${route.destinations.join(', ') || 'no destination'}`,
      });
      log.info('job done', {
        ...fields,
        findings: result.findings.length,
        lowConfidence: result.lowConfidence,
        provider: result.provenance.executionProvider,
        revision,
        inferenceMs: result.provenance.durationMs,
        totalMs: now - started,
      });
      this.d.onJobFinished?.({
        model: model.name,
        ok: true,
        inferenceMs: result.provenance.durationMs,
        provider: result.provenance.executionProvider,
      });
      this.d.onReportsQueued();
    } catch (e) {
      const why = (e as Error).message.slice(0, 500);
      if (this.stopped) {
        // Stopping closed the model or the database under the job: it stays 'processing' and is
        // queued again at the next start, where it rebuilds the same report objects.
        log.warn('job interrupted by the stop; it runs again at the next start', { ...fields });
        return;
      }
      store.finishJob(job.id, 'failed', why, Date.now());
      this.d.onJobFinished?.({ model: model.name, ok: false, inferenceMs: 0, provider: model.session.provider });
      this.d.audit({
        event: 'job-failed',
        outcome: 'failure',
        seriesInstanceUid: job.seriesInstanceUid,
        detail: `job ${job.id} (${job.route}): ${why}`,
      });
      log.error('job failed', { ...fields, error: why, ms: Date.now() - started });
    }
  }
}

/** The node as the Device observer of its reports. */
function reportDevice(config: NodeConfig): {
  aeTitle: string;
  deviceUid: string;
  manufacturer: string;
  modelName: string;
  softwareVersion: string;
} {
  return {
    aeTitle: config.node.aeTitle,
    deviceUid: hashUid('dicom-ai-node/device', config.node.aeTitle, IMPLEMENTATION_CLASS_UID),
    manufacturer: config.report.manufacturer,
    modelName: config.report.modelName,
    softwareVersion: VERSION,
  };
}

/** Every form any destination of the route may need, the default (Comprehensive 3D) first. */
function formsNeeded(route: RouteConfig, config: NodeConfig): ReportForm[] {
  const set = new Set<ReportForm>();
  for (const name of route.destinations) for (const f of config.destinations[name]?.reportForms ?? []) set.add(f);
  if (set.size === 0) set.add('comprehensive3d');
  return [...set];
}

/**
 * The forms of one report revision are different objects (different SOP classes), so each has its
 * own SOP Instance UID; they share the SR series. Comprehensive 3D keeps the base UID.
 */
function formUids(
  base: { seriesInstanceUid: string; sopInstanceUid: string },
  form: ReportForm,
): { seriesInstanceUid: string; sopInstanceUid: string } {
  return form === 'comprehensive3d'
    ? base
    : { seriesInstanceUid: base.seriesInstanceUid, sopInstanceUid: hashUid('dicom-ai-node/sr-form', base.sopInstanceUid, form) };
}

/** The report a form of a new revision supersedes (Predecessor Documents Sequence). */
function predecessorFor(
  previous: readonly ReportRecord[],
  form: ReportForm,
  studyInstanceUid: string,
): { predecessor?: { sopClassUid: string; sopInstanceUid: string; seriesInstanceUid: string; studyInstanceUid: string } } {
  const order: readonly string[] = REPORT_FORMS; // most capable first
  const srs = previous.filter((p) => order.includes(p.form)); // not the key image
  const r = srs.find((p) => p.form === form) ?? [...srs].sort((a, b) => order.indexOf(a.form) - order.indexOf(b.form))[0];
  if (!r) return {};
  return {
    predecessor: {
      sopClassUid: r.sopClassUid,
      sopInstanceUid: r.sopInstanceUid,
      seriesInstanceUid: r.srSeriesInstanceUid,
      studyInstanceUid,
    },
  };
}
